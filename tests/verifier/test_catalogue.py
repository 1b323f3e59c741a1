"""Policies from plain data (every problem located), dated versions, and signed snapshots."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest

from keys.algorithms import EDDSA, ES256, generate_private_key
from keys.signed_json import SignedDocumentError, sign_document
from verifier.catalogue import (
    SNAPSHOT_FORMAT,
    Benefit,
    CatalogueError,
    build_snapshot,
    content_hash,
    load_snapshot,
    parse_policy,
)
from verifier.rules.ast import Compare

ROOT = generate_private_key(ES256)


def scan_policy(**changes: Any) -> dict[str, Any]:
    """A valid scan-mode policy as YAML would give it (dates as text)."""
    data: dict[str, Any] = {
        "id": "sh-park-senior-free",
        "title": {"zh": "老年人免费游览公园", "en": "Free park entry for seniors"},
        "lead_department": "上海市绿化和市容管理局",
        "data_departments": ["上海市公安局"],
        "legal_basis": {"title": "《老年人权益保障法》", "reference": "第五十八条"},
        "delivery": "scan",
        "subject": "person",
        "status": "published",
        "region_scope": "residents",
        "venues": {"types": ["park"]},
        "versions": [
            {
                "version": 1,
                "effective_from": "2019-01-01",
                "effective_to": "2024-12-31",
                "eligibility": {"age": {">=": 70}},
                "benefit": {"kind": "free_entry"},
            },
            {
                "version": 2,
                "effective_from": "2025-01-01",
                "eligibility": {"age": {">=": 65}},
                "benefit": {"kind": "free_entry", "companions": 1},
            },
        ],
    }
    data.update(changes)
    return data


def confirm_policy(**changes: Any) -> dict[str, Any]:
    data = scan_policy(
        id="sh-disability-living-subsidy",
        delivery="confirm",
        region_scope="everyone",
        versions=[
            {
                "version": 1,
                "effective_from": "2023-07-01",
                "parameters": {
                    "income_limit": [
                        {"from": "2023-07-01", "value": 1420},
                        {"from": "2024-07-01", "value": 1510},
                    ]
                },
                "eligibility": {
                    "all": [
                        {"member_of": "disabled_persons"},
                        {"income.monthly": {"<": {"param": "income_limit"}}},
                        {"not": {"credit.blacklisted": {"==": True}}},
                    ]
                },
                "benefit": {"kind": "amount", "amount_yuan": 710},
            }
        ],
    )
    del data["venues"]
    data.update(changes)
    return data


def with_version(policy: dict[str, Any], index: int = 0, **changes: Any) -> dict[str, Any]:
    policy = copy.deepcopy(policy)
    policy["versions"][index].update(changes)
    return policy


def problems_of(data: Any) -> list[tuple[str, str, str]]:
    policy, problems = parse_policy(data)
    assert policy is None, "a policy with problems must not parse"
    assert problems
    return [(p.path, p.expected, p.found) for p in problems]


def only(data: Any) -> tuple[str, str, str]:
    found = problems_of(data)
    assert len(found) == 1, found
    return found[0]


# --- valid policies --------------------------------------------------------------------------


def test_a_valid_scan_policy_parses_with_its_versions() -> None:
    policy, problems = parse_policy(scan_policy())
    assert problems == []
    assert policy is not None
    assert policy.id == "sh-park-senior-free"
    assert policy.title_en == "Free park entry for seniors"
    assert policy.legal_basis == "《老年人权益保障法》 第五十八条"
    assert policy.venue_types == frozenset({"park"})
    assert [v.version for v in policy.versions] == [1, 2]
    assert policy.versions[0].rule == Compare("age", ">=", 70)
    assert policy.versions[1].benefit == Benefit("free_entry", companions=1)
    assert policy.attributes_read() == {"age", "residence.region"}  # residents: the region is read too


def test_the_same_policy_on_two_dates_meets_two_versions() -> None:
    policy, _ = parse_policy(scan_policy())
    assert policy is not None
    assert policy.version_on(dt.date(2024, 12, 31)).version == 1  # type: ignore[union-attr]
    assert policy.version_on(dt.date(2025, 1, 1)).version == 2  # type: ignore[union-attr]
    assert policy.version_on(dt.date(2018, 12, 31)) is None
    assert policy.version_on(dt.date(2040, 1, 1)).version == 2  # type: ignore[union-attr]
    v1, v2 = policy.versions
    assert v1.test({"age": 68}, dt.date(2024, 12, 31)) is False
    assert v2.test({"age": 68}, dt.date(2025, 1, 1)) is True


def test_dated_parameter_values_follow_the_decision_date() -> None:
    policy, problems = parse_policy(confirm_policy())
    assert problems == []
    assert policy is not None
    version = policy.versions[0]
    facts = {"registry:disabled_persons": True, "income.monthly": 1450, "credit.blacklisted": False}
    assert version.test(facts, dt.date(2024, 6, 30)) is False  # limit 1420
    assert version.test(facts, dt.date(2024, 7, 1)) is True  # limit 1510
    assert version.test({**facts, "credit.blacklisted": True}, dt.date(2024, 7, 1)) is False


def test_dates_may_be_date_objects_as_yaml_loads_them() -> None:
    data = with_version(scan_policy(), 0, effective_from=dt.date(2019, 1, 1), effective_to=dt.date(2024, 12, 31))
    policy, problems = parse_policy(data)
    assert problems == [] and policy is not None
    assert policy.versions[0].effective_to == dt.date(2024, 12, 31)


# --- each kind of bad policy: located, expected, found ---------------------------------------


def test_not_a_mapping() -> None:
    assert only(["id", "x"]) == ("(file)", "a mapping of policy fields", "['id', 'x']")


def test_top_level_fields() -> None:
    found = problems_of(scan_policy(id="Bad ID!", colour="blue", title={"zh": "x"}, lead_department=" "))
    assert ("colour", found[0][1], "'colour'") == found[0]
    assert found[0][1].startswith("only the fields [")
    assert ("id", "3-64 characters of a-z, 0-9 and -", "'Bad ID!'") in found
    assert ("title", "a mapping with zh and en texts", "{'zh': 'x'}") in found
    assert ("lead_department", "non-empty text", "' '") in found
    assert len(found) == 4


def test_choices() -> None:
    found = problems_of(scan_policy(delivery="post", status="live", region_scope="world"))
    assert ("status", "one of ['draft', 'published', 'retired']", "'live'") in found
    assert ("region_scope", "one of ['residents', 'yrd', 'everyone']", "'world'") in found
    assert ("delivery", "one of ['direct', 'confirm', 'scan']", "'post'") in found
    assert only(scan_policy(subject="robot")) == ("subject", "one of ['person', 'enterprise']", "'robot'")


def test_legal_basis_and_departments() -> None:
    found = problems_of(scan_policy(legal_basis="a law", data_departments=["ok", ""]))
    assert ("legal_basis", "a mapping with title and reference", "'a law'") in found
    assert ("data_departments", "a list of department names", "['ok', '']") in found


def test_venues() -> None:
    path, expected, _ = only(scan_policy(venues=None))
    assert (path, expected) == ("venues", "a mapping with venue types and/or venue ids for a scan-mode policy")
    path, expected, found = only(scan_policy(venues={"types": ["park", "casino"]}))
    assert path == "venues.types" and found == "['park', 'casino']"
    assert expected.startswith("a list of venue types from ['park'")
    assert only(scan_policy(venues={"ids": [""]}))[:1] == ("venues.ids",)
    assert only(confirm_policy(venues={"types": ["park"]})) == (
        "venues",
        "no venues for a direct or confirm policy",
        "{'types': ['park']}",
    )
    policy, _ = parse_policy(scan_policy(venues={"ids": ["museum-001"]}))
    assert policy is not None and policy.venue_ids == frozenset({"museum-001"})


def test_versions_missing_or_malformed() -> None:
    assert only(scan_policy(versions=[])) == ("versions", "a non-empty list of dated versions", "[]")
    path, expected, found = only(scan_policy(versions=["v1"]))
    assert (path, found) == ("versions[0]", "'v1'")
    assert expected == "a mapping with version, effective_from, eligibility and benefit"


def test_version_fields() -> None:
    data = with_version(scan_policy(), 1, version=0, effective_from="2025-13-01")
    found = problems_of(data)
    assert ("versions[1].version", "a whole number from 1 to 1000000", "0") in found
    assert ("versions[1].effective_from", "a date YYYY-MM-DD", "'2025-13-01'") in found
    data = with_version(scan_policy(), 0, effective_to="2018-01-01")
    assert only(data) == ("versions[0].effective_to", "a date on or after effective_from", "'2018-01-01'")
    data = with_version(scan_policy(), 0, effective_to="soon")
    assert only(data) == ("versions[0].effective_to", "a date YYYY-MM-DD or null", "'soon'")


def test_eligibility_problems_carry_the_version_path() -> None:
    data = with_version(scan_policy(), 1, eligibility={"age": {">=": "sixty-five"}})
    assert only(data) == ("versions[1].eligibility.age.>=", "a int value or {param: NAME}", "'sixty-five'")
    data = with_version(scan_policy(), 1, eligibility=None)
    assert only(data)[0] == "versions[1].eligibility"


def test_parameters() -> None:
    unknown = with_version(confirm_policy(), 0, parameters={})
    assert only(unknown) == ("versions[0].eligibility", "a parameter named in versions[0].parameters", "'income_limit'")
    unordered = with_version(
        confirm_policy(),
        0,
        parameters={"income_limit": [{"from": "2024-07-01", "value": 1}, {"from": "2023-07-01", "value": 2}]},
    )
    found = problems_of(unordered)
    assert found[0][0] == "versions[0].parameters.income_limit"
    assert found[0][1] == "dated values in increasing date order, each date once"
    twice = with_version(
        confirm_policy(),
        0,
        parameters={"income_limit": [{"from": "2023-07-01", "value": 1}, {"from": "2023-07-01", "value": 2}]},
    )
    assert problems_of(twice)[0][1] == "dated values in increasing date order, each date once"
    bad_item = with_version(confirm_policy(), 0, parameters={"income_limit": [{"since": "2023-07-01", "value": 1}]})
    assert problems_of(bad_item)[0][:2] == (
        "versions[0].parameters.income_limit[0]",
        "a mapping {from: DATE, value: VALUE}",
    )
    bad_date = with_version(confirm_policy(), 0, parameters={"income_limit": [{"from": "July", "value": 1}]})
    assert ("versions[0].parameters.income_limit[0].from", "a date YYYY-MM-DD", "'July'") in problems_of(bad_date)
    not_value = with_version(confirm_policy(), 0, parameters={"income_limit": {"a": 1}})
    assert ("versions[0].parameters.income_limit", "a value or a list of dated values", "{'a': 1}") in problems_of(
        not_value
    )
    not_mapping = with_version(confirm_policy(), 0, parameters=[1420])
    assert ("versions[0].parameters", "a mapping of parameter names to values", "[1420]") in problems_of(not_mapping)


def test_a_parameter_of_the_wrong_type_is_refused() -> None:
    """A text limit compared with an income would fail at evaluation: the catalogue must refuse it."""
    data = with_version(confirm_policy(), 0, parameters={"income_limit": "1500 yuan"})
    policy, problems = parse_policy(data)
    assert policy is None, "a text parameter compared with an int attribute must be refused"
    assert any("income_limit" in str(p) for p in problems)


def test_a_date_parameter_from_yaml_text_compares_as_a_date() -> None:
    """Snapshots carry dates as text; a date-valued parameter must still compare with dates."""
    data = with_version(
        confirm_policy(),
        0,
        parameters={"cutoff": "2027-01-01"},
        eligibility={"disability.certificate_valid_until": {">=": {"param": "cutoff"}}},
    )
    policy, problems = parse_policy(data)
    assert problems == [] and policy is not None
    test = policy.versions[0].test
    assert test({"disability.certificate_valid_until": dt.date(2027, 6, 1)}, dt.date(2026, 1, 1)) is True
    assert test({"disability.certificate_valid_until": dt.date(2026, 6, 1)}, dt.date(2026, 1, 1)) is False


def test_a_dated_parameter_must_have_a_value_on_every_date_of_its_version() -> None:
    """The version starts 2023-07-01 but the limit only on 2024-07-01: there is no limit in between."""
    data = with_version(
        confirm_policy(),
        0,
        parameters={"income_limit": [{"from": "2024-07-01", "value": 1510}, {"from": "2025-07-01", "value": 1550}]},
    )
    policy, problems = parse_policy(data)
    assert policy is None, "a version in force on dates its parameter has no value for must be refused"
    assert [str(p) for p in problems] == [
        "versions[0].parameters.income_limit: expected a value from 2023-07-01 (effective_from) on, found '2024-07-01'"
    ]
    single = with_version(confirm_policy(), 0, parameters={"income_limit": [{"from": "2024-07-01", "value": 1510}]})
    assert parse_policy(single)[0] is None


def test_benefits() -> None:
    def benefit(policy: dict[str, Any], value: Any) -> list[tuple[str, str, str]]:
        return problems_of(with_version(policy, 0, benefit=value))

    assert benefit(scan_policy(), {"kind": "cash"}) == [
        (
            "versions[0].benefit",
            "a mapping with kind one of ['free_entry', 'discount', 'amount', 'priority']",
            "{'kind': 'cash'}",
        )
    ]
    assert benefit(scan_policy(), {"kind": "discount", "percent": 100}) == [
        ("versions[0].benefit.percent", "1 to 99 for a discount", "100")
    ]
    assert benefit(scan_policy(), {"kind": "discount"}) == [
        ("versions[0].benefit.percent", "1 to 99 for a discount", "0")
    ]
    assert benefit(scan_policy(), {"kind": "discount", "percent": 150})[0] == (
        "versions[0].benefit.percent",
        "a whole number from 0 to 100",
        "150",
    )
    assert benefit(scan_policy(), {"kind": "free_entry", "companions": 6}) == [
        ("versions[0].benefit.companions", "a whole number from 0 to 5", "6")
    ]
    assert benefit(scan_policy(), {"kind": "free_entry", "drinks": 1}) == [
        ("versions[0].benefit", "only kind, percent, amount_yuan and companions", "['drinks']")
    ]
    # amount is for direct/confirm; on-site benefits are for scan
    assert benefit(scan_policy(), {"kind": "amount", "amount_yuan": 100}) == [
        ("versions[0].benefit.kind", "free_entry or discount on site; amount for direct or confirm", "'amount'")
    ]
    assert benefit(confirm_policy(), {"kind": "free_entry"}) == [
        ("versions[0].benefit.kind", "free_entry or discount on site; amount for direct or confirm", "'free_entry'")
    ]
    assert benefit(confirm_policy(), {"kind": "amount"}) == [
        ("versions[0].benefit.amount_yuan", "a positive amount for a payout", "0")
    ]


def test_time_rules_and_limits() -> None:
    def version(**changes: Any) -> list[tuple[str, str, str]]:
        return problems_of(with_version(scan_policy(), 1, **changes))

    assert version(time_rules={"weekdays": [0, 7]}) == [
        ("versions[1].time_rules.weekdays", "a list of ISO weekdays 1 (Monday) to 7 (Sunday)", "[0, 7]")
    ]
    assert version(time_rules={"hours": ["9:00", "16:00"]}) == [
        ("versions[1].time_rules.hours", 'two times ["HH:MM", "HH:MM"]', "['9:00', '16:00']")
    ]
    assert version(time_rules={"hours": ["16:00", "09:00"]}) == [
        ("versions[1].time_rules.hours", "a closing time after the opening time", "['16:00', '09:00']")
    ]
    assert version(time_rules={"days": [1]})[0][:2] == (
        "versions[1].time_rules",
        "a mapping with weekdays and/or hours",
    )
    assert version(limits={"uses_per_day": 1}) == [
        ("versions[1].limits", "a mapping with uses_per_day_per_venue", "{'uses_per_day': 1}")
    ]
    assert version(limits={"uses_per_day_per_venue": 0}) == [
        ("versions[1].limits.uses_per_day_per_venue", "a whole number from 1 to 100", "0")
    ]
    policy, _ = parse_policy(
        with_version(
            scan_policy(),
            1,
            time_rules={"weekdays": [1, 2], "hours": ["09:00", "16:00"]},
            limits={"uses_per_day_per_venue": 2},
        )
    )
    assert policy is not None
    rules = policy.versions[1].time_rules
    assert rules.weekdays == frozenset({1, 2})
    assert (rules.opens, rules.closes) == (dt.time(9), dt.time(16))
    assert policy.versions[1].uses_per_day_per_venue == 2


def test_version_sequence() -> None:
    data = scan_policy()
    data["versions"][1]["version"] = 1
    assert ("versions", "version numbers increasing, each once", "[1, 1]") in problems_of(data)
    overlap = with_version(scan_policy(), 0, effective_to="2025-01-01")
    assert only(overlap) == (
        "versions",
        "date ranges that do not overlap (end the earlier version before the later starts)",
        "'version 1 and version 2'",
    )
    open_ended = with_version(scan_policy(), 0, effective_to=None)
    assert only(open_ended)[0] == "versions"


def test_scan_mode_refuses_registry_only_attributes() -> None:
    for attr, value in (("income.monthly", {"<": 2000}), ("credit.blacklisted", {"==": False})):
        data = with_version(scan_policy(), 1, eligibility={"all": [{"age": {">=": 65}}, {attr: value}]})
        assert only(data) == ("versions[1].eligibility", "attributes a code carries (scan-mode policy)", repr(attr))
    data = with_version(scan_policy(), 1, eligibility={"not": {"hukou.region": {"!=": 310000}}})
    assert only(data)[2] == "'hukou.region'"
    for form, body in (("household.members_aged_over", {"age": 80, ">=": 1}),
                       ("related_to", {"registry": "martyrs", "relations": ["child"]}),
                       ("lives_alone", {"==": True}), ("household.size", {">=": 2})):  # fmt: skip
        data = with_version(scan_policy(), 1, eligibility={"all": [{"age": {">=": 65}}, {form: body}]})
        assert only(data) == ("versions[1].eligibility", "attributes a code carries (scan-mode policy)", repr(form))
    # the same rule is fine for a confirm-mode policy, evaluated by matching
    fine = with_version(confirm_policy(), 0, eligibility={"income.monthly": {"<": 2000}}, parameters={})
    assert parse_policy(fine)[1] == []


def test_scan_mode_refuses_age_bounds_a_code_cannot_show() -> None:
    expected = "age bounds a code can show: [60, 65, 70, 80]"
    assert only(with_version(scan_policy(), 1, eligibility={"age": {">=": 62}})) == (
        "versions[1].eligibility",
        expected,
        "62",
    )
    assert only(with_version(scan_policy(), 1, eligibility={"age": {"between": [60, 66]}})) == (
        "versions[1].eligibility",
        expected,
        "67",
    )
    param = with_version(scan_policy(), 1, eligibility={"age": {">=": {"param": "a"}}}, parameters={"a": 65})
    assert only(param)[1] == expected
    for good in (
        {"age": {"between": [60, 64]}},
        {"age": {"<": 70}},
        {"age": {">=": 80}},
        {"age": {"between": [65, 69]}},
    ):
        assert parse_policy(with_version(scan_policy(), 1, eligibility=good))[1] == [], good
    # matching knows exact ages: any bound is fine off-site
    assert parse_policy(with_version(confirm_policy(), 0, eligibility={"age": {">=": 62}}, parameters={}))[1] == []


def test_subject_mismatches() -> None:
    enterprise_attr = with_version(confirm_policy(), 0, eligibility={"enterprise.employees": {"<": 50}}, parameters={})
    assert only(enterprise_attr) == (
        "versions[0].eligibility.enterprise.employees",
        "an attribute of a person",
        "'enterprise.employees (an attribute of a enterprise)'",
    )
    person_attr = with_version(
        confirm_policy(subject="enterprise"), 0, eligibility={"income.monthly": {"<": 50}}, parameters={}
    )
    assert only(person_attr) == (
        "versions[0].eligibility.income.monthly",
        "an attribute of a enterprise",
        "'income.monthly (an attribute of a person)'",
    )
    # An enterprise code (法人随申码) carries credit_good and its region, not whether it is a small enterprise
    scan_enterprise = with_version(scan_policy(subject="enterprise"), 1, eligibility={"member_of": "small_enterprises"})
    found = problems_of(scan_enterprise)
    carried = "attributes a code carries (scan-mode policy)"
    carries = ("versions[1].eligibility", carried, "'registry:small_enterprises'")
    assert carries in found
    assert not any(field == "subject" for field, _, _ in found)  # scan-mode policies for enterprises are allowed


def test_every_problem_of_a_policy_is_reported_at_once() -> None:
    data = scan_policy(id="X", status="live")
    data = with_version(data, 0, benefit={"kind": "amount", "amount_yuan": 1})
    data = with_version(data, 1, eligibility={"income.monthly": {"<": 1}}, time_rules={"weekdays": [9]})
    paths = [p for p, _, _ in problems_of(data)]
    assert paths == [
        "id",
        "status",
        "versions[0].benefit.kind",
        "versions[1].eligibility",
        "versions[1].time_rules.weekdays",
    ]


# --- snapshots ---------------------------------------------------------------------------------


def snapshot_doc(sources: list[dict[str, Any]], key: Any = ROOT, **kwargs: Any) -> bytes:
    kwargs.setdefault("version", 3)
    kwargs.setdefault("issued_at", 1_800_000_000)
    return build_snapshot(sources, key, **kwargs)


def test_snapshot_round_trip_keeps_only_published_policies() -> None:
    draft = scan_policy(id="sh-draft-policy", status="draft")
    sources = [confirm_policy(), scan_policy(), draft]
    doc = snapshot_doc(sources, max_age=3600, region=320000)
    snap = load_snapshot(doc, ROOT.public_key())
    assert snap.version == 3
    assert snap.issued_at == 1_800_000_000
    assert snap.expires_at == 1_800_000_000 + 3600
    assert snap.region == 320000
    assert [p.id for p in snap.policies] == ["sh-disability-living-subsidy", "sh-park-senior-free"]
    assert snap.content_hash == content_hash([confirm_policy(), scan_policy()])
    assert snap.policies[1].version_on(dt.date(2025, 1, 1)).version == 2  # type: ignore[union-attr]
    payload = json.loads(doc)["payload"]
    assert payload["format"] == SNAPSHOT_FORMAT
    # codes need to carry what scan-mode policies read, and nothing that only matching reads
    assert snap.scan_attributes() == {"age", "residence.region"}


def test_snapshot_default_max_age_is_three_days() -> None:
    snap = load_snapshot(snapshot_doc([scan_policy()]), ROOT.public_key())
    assert snap.max_age == 3 * 86400


def test_a_changed_payload_byte_is_refused() -> None:
    doc = snapshot_doc([scan_policy()])
    tampered = doc.replace(b"Free park entry", b"Free park entrY", 1)
    assert tampered != doc
    with pytest.raises(CatalogueError, match="signature is not valid"):
        load_snapshot(tampered, ROOT.public_key())
    raised_age = doc.replace(b'">=": 65', b'">=": 60', 1)
    assert raised_age != doc
    with pytest.raises(CatalogueError, match="signature is not valid"):
        load_snapshot(raised_age, ROOT.public_key())


def test_a_snapshot_signed_by_another_key_is_refused() -> None:
    doc = snapshot_doc([scan_policy()])
    other = generate_private_key(ES256)
    with pytest.raises(CatalogueError, match="not by the root key"):
        load_snapshot(doc, other.public_key())
    ed = generate_private_key(EDDSA)
    with pytest.raises(CatalogueError, match="signed with ES256, but the root key is EdDSA"):
        load_snapshot(doc, ed.public_key())
    # a forger who signs with their own key and claims the root's kid
    forged = json.loads(snapshot_doc([scan_policy()], key=other))
    forged["signature"]["kid"] = json.loads(doc)["signature"]["kid"]
    with pytest.raises(CatalogueError, match="signature is not valid"):
        load_snapshot(json.dumps(forged).encode(), ROOT.public_key())
    assert issubclass(CatalogueError, SignedDocumentError)


def test_a_bad_content_hash_is_refused_even_when_signed() -> None:
    payload = json.loads(snapshot_doc([scan_policy()]))["payload"]
    payload["content_hash"] = "0" * 64
    with pytest.raises(CatalogueError, match="content hash does not match"):
        load_snapshot(sign_document(payload, ROOT), ROOT.public_key())
    payload = json.loads(snapshot_doc([scan_policy()]))["payload"]
    payload["policies"].append(scan_policy(id="sh-extra-policy"))  # policies added after hashing
    with pytest.raises(CatalogueError, match="content hash does not match"):
        load_snapshot(sign_document(payload, ROOT), ROOT.public_key())


def test_signed_snapshots_with_bad_fields_are_refused() -> None:
    good = json.loads(snapshot_doc([scan_policy()]))["payload"]

    def refused(match: str, **changes: Any) -> None:
        payload = {**good, **changes}
        with pytest.raises(CatalogueError, match=match):
            load_snapshot(sign_document(payload, ROOT), ROOT.public_key())

    refused("format must be 'suishen-catalogue/1'", format="suishen-catalogue/2")
    refused("version must be an integer, found '3'", version="3")
    refused("max_age must be an integer", max_age=1.5)
    refused("policies must be a list", policies={})
    bad_policy = [scan_policy(delivery="post")]
    refused(
        "catalogue snapshot policy 0: delivery: expected one of",
        policies=bad_policy,
        content_hash=content_hash(bad_policy),
    )


def test_garbage_is_refused_with_catalogue_error() -> None:
    with pytest.raises(CatalogueError, match="not valid JSON"):
        load_snapshot(b"\x00not json", ROOT.public_key())
    with pytest.raises(CatalogueError, match="must be an object with 'payload' and 'signature'"):
        load_snapshot(b"[]", ROOT.public_key())
    doc = json.loads(snapshot_doc([scan_policy()]))
    del doc["signature"]["value"]
    with pytest.raises(CatalogueError, match="signature must have string fields"):
        load_snapshot(json.dumps(doc).encode(), ROOT.public_key())


# --- text that only looks right: whole-text, ASCII-only forms ---------------------------------


def test_an_id_is_matched_whole_in_ascii() -> None:
    expected = "3-64 characters of a-z, 0-9 and -"
    for bad in ("sh-park-senior-free\n", "sh-park\r\n", "ｓｈ-park", "sh-park\u0660"):
        assert only(scan_policy(id=bad)) == ("id", expected, repr(bad))


def test_hours_are_exactly_hh_mm_in_ascii_digits() -> None:
    """'09:00\\n' and '1٣:00' once passed the pattern, and dt.time.fromisoformat then raised ValueError."""
    for hours in (
        ["09:00\n", "16:00"],
        ["09:00", "16:00\n"],
        ["1٣:00", "16:00"],
        ["０９:００", "16:00"],
        ["09:००", "16:00"],
    ):
        data = with_version(scan_policy(), 1, time_rules={"hours": hours})
        assert only(data) == ("versions[1].time_rules.hours", 'two times ["HH:MM", "HH:MM"]', repr(hours))


def test_dates_are_exactly_yyyy_mm_dd() -> None:
    """date.fromisoformat (3.11) also reads 20250101, '20250101ab' and ISO week dates: none is accepted."""
    for day in ("20250101ab", "2025-W01-1", "2025W011", "20250101", "2025-01-01\n", "٢٠٢٥-٠١-٠١", "0000-01-01"):
        data = with_version(scan_policy(), 1, effective_from=day)
        assert only(data) == ("versions[1].effective_from", "a date YYYY-MM-DD", repr(day)), day
    data = with_version(scan_policy(), 1, effective_to="2030-W01-1")
    assert only(data) == ("versions[1].effective_to", "a date YYYY-MM-DD or null", "'2030-W01-1'")


def test_dates_in_parameters_and_rules_are_exactly_yyyy_mm_dd() -> None:
    dated = with_version(
        confirm_policy(), 0, parameters={"income_limit": [{"from": "2023-W27-6", "value": 1420}]}
    )  # 2023-W27-6 is 2023-07-08
    assert ("versions[0].parameters.income_limit[0].from", "a date YYYY-MM-DD", "'2023-W27-6'") in problems_of(dated)
    rule = {"disability.certificate_valid_until": {">=": {"param": "cutoff"}}}
    param = with_version(confirm_policy(), 0, parameters={"cutoff": "20270101"}, eligibility=rule)
    assert only(param) == (
        "versions[0].parameters.cutoff",
        "a date value (it is compared with a date attribute)",
        "'20270101'",
    )
    literal = with_version(
        confirm_policy(), 0, parameters={}, eligibility={"disability.certificate_valid_until": {">=": "2027-W01-1"}}
    )
    assert only(literal) == (
        "versions[0].eligibility.disability.certificate_valid_until.>=",
        "a date YYYY-MM-DD, today, {today: N} or {param: NAME}",
        "'2027-W01-1'",
    )


def _signed(change: Any) -> bytes:
    """A one-policy snapshot with the sample value sets, its payload edited and re-hashed, signed by ROOT."""
    from tests.support.handheld_decisions import value_sets

    payload = json.loads(snapshot_doc([scan_policy()], value_sets=value_sets()))["payload"]
    change(payload)
    payload["content_hash"] = content_hash(payload["policies"], payload.get("value_sets") or [])
    return sign_document(payload, ROOT)


def test_a_snapshot_with_a_bad_hour_is_refused_in_one_located_line() -> None:
    def edit(p: dict[str, Any]) -> None:
        p["policies"][0]["versions"][1]["time_rules"] = {"hours": ["09:00\n", "16:00"]}

    with pytest.raises(CatalogueError) as raised:
        load_snapshot(_signed(edit), ROOT.public_key())
    assert str(raised.value) == (
        "catalogue snapshot policy 0: versions[1].time_rules.hours: "
        "expected two times [\"HH:MM\", \"HH:MM\"], found ['09:00\\n', '16:00']"
    )


def test_a_snapshot_value_set_of_an_unknown_name_is_refused_by_name() -> None:
    """It once loaded, and Decider() then raised KeyError building its partner tables."""
    from verifier.decide import Decider

    def edit(p: dict[str, Any]) -> None:
        p["value_sets"][0]["name"] = "shoe.size"  # disability.category, with CN-JS and CN-ZJ tables

    with pytest.raises(CatalogueError) as raised:
        load_snapshot(_signed(edit), ROOT.public_key())
    assert str(raised.value) == (
        "catalogue snapshot value set 0: name: expected one of "
        "['disability.category', 'residence.region', 'student.level'], found 'shoe.size'"
    )
    snapshot = load_snapshot(_signed(lambda p: None), ROOT.public_key())
    assert [v.name for v in snapshot.value_sets] == ["disability.category", "residence.region", "student.level"]
    Decider(snapshot)  # what loads can be decided with


def test_snapshot_value_set_codes_are_read_only_as_written() -> None:
    """A code key is str(int) in ASCII digits; int() would also read ' 3 ', '1_0' and '٨' (which the page refused)."""

    def refused(change: Any, message: str) -> None:
        with pytest.raises(CatalogueError) as raised:
            load_snapshot(_signed(change), ROOT.public_key())
        assert str(raised.value) == message

    ours = "[1, 2, 3, 4, 5, 6, 7]"
    for key in (" 3 ", "1_0", "٨", "03", "+3"):
        refused(
            lambda p, k=key: p["value_sets"][0]["mappings"]["CN-JS"].update({k: 4}),
            f"catalogue snapshot value set 0: mappings.CN-JS.{key}: expected an integer code mapped to one of {ours}, "
            "found 4",
        )
    for to in (True, "4", 4.0, 99):
        refused(
            lambda p, t=to: p["value_sets"][0]["mappings"]["CN-JS"].update({"9": t}),
            f"catalogue snapshot value set 0: mappings.CN-JS.9: expected an integer code mapped to one of {ours}, "
            f"found {to!r}",
        )
    refused(
        lambda p: p["value_sets"][0]["values"].update({"1" + "0" * 20: "?"}),
        f"catalogue snapshot value set 0: values.1{'0' * 20}: expected an integer code with a text label, found '?'",
    )
    refused(
        lambda p: p["value_sets"][2].update(name="disability.category"),
        "catalogue snapshot value set 2: name 'disability.category' is also value set 0",
    )
    refused(
        lambda p: p["value_sets"].append([1]),
        "catalogue snapshot value set 3: (file): expected a mapping with name, version, values and mappings, found [1]",
    )
    big = load_snapshot(
        _signed(lambda p: p["value_sets"][0]["values"].update({"1" + "0" * 19: "?"})), ROOT.public_key()
    )
    assert 10**19 in big.value_sets[0].values


def test_a_value_set_mapping_to_true_is_refused_from_yaml_too() -> None:
    """True == 1 in Python, so {5: true} once passed `ours in values` and was signed as true."""
    from verifier.valuesets import parse_value_set

    data = {"name": "disability.category", "version": 1, "values": {1: "visual"}, "mappings": {"CN-ZJ": {5: True}}}
    value_set, problems = parse_value_set(data)
    assert value_set is None
    assert [str(p) for p in problems] == ["mappings.CN-ZJ.5: expected an integer code mapped to one of [1], found True"]
    value_set, problems = parse_value_set({**data, "name": ["disability.category"]})  # unhashable: no TypeError
    assert value_set is None and problems[0].path == "name"
