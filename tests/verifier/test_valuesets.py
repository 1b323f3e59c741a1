"""Value sets: versioned code lists, partner mappings, and their effect on gate decisions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.catalogue import load_catalogue, load_value_sets
from keys.algorithms import generate_private_key
from tests.support.world import NOW, make_world
from verifier.catalogue import CatalogueError, build_snapshot, load_snapshot
from verifier.claims import Profile
from verifier.decide import Decider, Venue
from verifier.errors import Reason
from verifier.valuesets import map_profile, parse_value_set, partner_mapper

DATA = Path(__file__).resolve().parents[2] / "data"

DISABILITY = {
    "name": "disability.category",
    "version": 2,
    "values": {1: "visual", 2: "hearing", 4: "physical"},
    "mappings": {"CN-ZJ": {1: 4, 2: 1}},  # the partner numbers physical first
}

DISABLED_MUSEUM = {
    "id": "test-disabled-museum",
    "title": {"zh": "残疾人免费参观博物馆", "en": "Disabled persons free at museums"},
    "lead_department": "上海市残疾人联合会",
    "legal_basis": {"title": "上海市残疾人保障条例"},
    "delivery": "scan",
    "subject": "person",
    "status": "published",
    "region_scope": "everyone",
    "venues": {"types": ["museum"]},
    "versions": [
        {
            "version": 1,
            "effective_from": "2020-01-01",
            "eligibility": {"disability.category": {"in": [4]}},
            "benefit": {"kind": "free_entry", "companions": 1},
        }
    ],
}


def test_a_value_set_parses_with_its_mappings() -> None:
    value_set, problems = parse_value_set(DISABILITY)
    assert problems == [] and value_set is not None
    assert value_set.version == 2 and value_set.values[4] == "physical"
    assert value_set.mappings == {"CN-ZJ": {1: 4, 2: 1}}


def test_every_problem_of_a_value_set_is_located() -> None:
    bad = dict(DISABILITY, name="shoe.size", version=0, mappings={"CN-ZJ": {15: 5, "x": 1}})  # 5: not ours
    value_set, problems = parse_value_set(bad)
    assert value_set is None
    paths = [p.path for p in problems]
    assert paths == ["name", "version", "mappings.CN-ZJ.15", "mappings.CN-ZJ.x"]
    assert "mapped to one of [1, 2, 4]" in problems[2].expected


def test_partner_codes_are_mapped_and_unknown_ones_dropped() -> None:
    value_set, _ = parse_value_set(DISABILITY)
    assert value_set is not None
    tables = partner_mapper({value_set.name: value_set})["CN-ZJ"]
    mapped = map_profile(Profile(os.urandom(8), disability_category=1, disability_grade=2), tables)
    assert (mapped.disability_category, mapped.disability_grade) == (4, 2)
    unknown = map_profile(Profile(os.urandom(8), disability_category=3, disability_grade=2), tables)
    assert unknown.disability_category is None and unknown.disability_grade is None


def _decider(value_sets: tuple) -> tuple[Decider, bytes]:  # type: ignore[type-arg]
    root = generate_private_key()
    document = build_snapshot([DISABLED_MUSEUM], root, version=3, issued_at=NOW, value_sets=value_sets)
    return Decider(load_snapshot(document, root.public_key())), document  # type: ignore[arg-type]


def test_a_partner_code_is_decided_in_our_codes() -> None:
    value_set, _ = parse_value_set(DISABILITY)
    decider, _ = _decider((value_set,))
    partner = make_world(issuer="CN-ZJ")
    museum = Venue("sh-museum", "museum")

    verified = partner.verifier().verify(
        partner.online(Profile(os.urandom(8), disability_category=1, disability_grade=1)), NOW
    )
    decision = decider.decide(verified, museum, NOW)
    assert decision.granted and decision.best is not None
    assert decision.best.policy_id == "test-disabled-museum" and decision.best.benefit.companions == 1

    unmapped = partner.verifier().verify(
        partner.online(Profile(os.urandom(8), disability_category=3, disability_grade=1)), NOW
    )
    refused = decider.decide(unmapped, museum, NOW)
    assert refused.reason is Reason.NOT_ELIGIBLE
    assert any("disability category not known" in line for line in refused.explain())


def test_home_codes_are_not_mapped() -> None:
    value_set, _ = parse_value_set(DISABILITY)
    decider, _ = _decider((value_set,))
    home = make_world()
    verified = home.verifier().verify(
        home.online(Profile(os.urandom(8), disability_category=4, disability_grade=3)), NOW
    )
    assert decider.decide(verified, Venue("m", "museum"), NOW).granted


def test_value_sets_are_covered_by_the_content_hash() -> None:
    value_set, _ = parse_value_set(DISABILITY)
    _, document = _decider((value_set,))
    doc = json.loads(document)
    doc["payload"]["value_sets"][0]["mappings"]["CN-ZJ"]["14"] = 1
    root = generate_private_key()
    from keys.signed_json import sign_document

    resigned = sign_document(doc["payload"], root)  # a valid signature, but the hash no longer matches
    with pytest.raises(CatalogueError, match="content hash"):
        load_snapshot(resigned, root.public_key())  # type: ignore[arg-type]


def test_the_sample_value_sets_load_and_travel_with_the_catalogue() -> None:
    sets, problems = load_value_sets(DATA / "value_sets")
    assert problems == []
    assert {s.name for s in sets} == {"residence.region", "disability.category", "student.level"}
    catalogue = load_catalogue(DATA / "catalogue")
    assert catalogue.problems == () and len(catalogue.value_sets) == 3


def test_a_bad_value_set_file_stops_publication(tmp_path: Path) -> None:
    (tmp_path / "catalogue").mkdir()
    (tmp_path / "value_sets").mkdir()
    (tmp_path / "catalogue" / "test-disabled-museum.yaml").write_text(json.dumps(DISABLED_MUSEUM))
    (tmp_path / "value_sets" / "broken.yaml").write_text("name: disability.category\nversion: 1\nvalues: [1, 2]\n")
    catalogue = load_catalogue(tmp_path / "catalogue")
    assert [(p.file, p.path) for p in catalogue.problems] == [("broken.yaml", "values")]


def test_an_unmapped_partner_attribute_is_ignored_and_the_decision_says_so() -> None:
    value_set, _ = parse_value_set(DISABILITY)
    decider, _ = _decider((value_set,))
    partner = make_world(issuer="CN-ZJ")
    museum = Venue("sh-museum", "museum")
    verified = partner.verifier().verify(
        partner.online(Profile(os.urandom(8), disability_category=3, disability_grade=1)), NOW
    )
    decision = decider.decide(verified, museum, NOW)
    assert decision.profile.disability_category is None and decision.profile.disability_grade is None
    lines = decision.explain()
    assert lines[0] == (
        "CN-ZJ code 3 for disability.category has no mapping in value set disability.category v2: ignored"
    )
    assert any("disability category not known" in line for line in lines)
    assert decision.to_json()["explanation"][0] == {"zh": decision.explain("zh")[0], "en": lines[0]}
    assert decision.explain("zh")[0].endswith("中没有对应：已忽略")
    mapped = partner.verifier().verify(
        partner.online(Profile(os.urandom(8), disability_category=1, disability_grade=1)), NOW
    )
    assert not any("ignored" in line for line in decider.decide(mapped, museum, NOW).explain())
    home = make_world()  # our own issuer has no mapping table: nothing is ever "ignored"
    ours = home.verifier().verify(home.online(Profile(os.urandom(8), disability_category=3, disability_grade=1)), NOW)
    assert decider.ignored(ours) == []
