"""A simulated partner region (Jiangsu, 320000) end to end: its keys, its list, its codes at our gates.

Jiangsu has its own keys directory (Ed25519 issuer, its own trust-list root) and codes some
attributes its own way (city-level residence, its own disability numbering). We register its
root, import its signed list, merge it into the list our gates load, and decide its holders'
codes by each policy's region scope. Then Jiangsu revokes a key: a gate that syncs refuses that
key's codes; a gate that has not synced keeps its last good list until it does.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.issuing import Issuer
from keys import directory
from keys.algorithms import EDDSA, SM2, generate_private_key
from keys.partners import import_partner_trust_list, merge, merged_trust_list, register_partner
from keys.signed_json import sign_document
from keys.storage import read_private_key
from keys.trust_list import TrustListError
from verifier.catalogue import build_snapshot, load_snapshot
from verifier.claims import Profile
from verifier.code import online_code
from verifier.decide import GRANTED, REJECTED, Decider, Venue
from verifier.errors import Reason, VerificationError
from verifier.trust import TrustStore
from verifier.valuesets import parse_value_set
from verifier.verify import Verifier

PASS = b"correct horse battery staple"
NOW = 1_800_000_000  # 2027-01-15 16:00 in Shanghai, a Friday
DAY = 86400
PARK = Venue("sh-park-001", "park", 310000)
MUSEUM = Venue("sh-museum-001", "museum", 310000)


def _policy(policy_id: str, scope: str, eligibility: dict[str, Any], types: list[str]) -> dict[str, Any]:
    return {
        "id": policy_id,
        "title": {"zh": policy_id, "en": policy_id},
        "lead_department": "上海市某局",
        "legal_basis": {"title": "某条例"},
        "delivery": "scan",
        "subject": "person",
        "status": "published",
        "region_scope": scope,
        "venues": {"types": types},
        "versions": [
            {
                "version": 1,
                "effective_from": "2020-01-01",
                "eligibility": eligibility,
                "benefit": {"kind": "free_entry"},
            }
        ],
    }


POLICIES = [
    _policy("yrd-park-senior-free", "yrd", {"age": {">=": 65}}, ["park"]),  # Delta seniors: yes
    _policy("sh-park-senior-pass", "residents", {"age": {">=": 60}}, ["park"]),  # Shanghai-only: no
    _policy("all-museum-disabled-free", "everyone", {"disability.category": {"in": [4]}}, ["museum"]),
]
# Our value sets, with the mapping tables for Jiangsu's codes (theirs -> ours).
VALUE_SETS = [
    {
        "name": "residence.region",
        "version": 3,
        "values": {310000: "上海市", 320000: "江苏省", 330000: "浙江省", 340000: "安徽省", 110000: "北京市"},
        "mappings": {"CN-JS": {320000: 320000, 320100: 320000, 320200: 320000, 320500: 320000}},
    },
    {
        "name": "disability.category",
        "version": 2,
        "values": {1: "visual", 2: "hearing", 3: "speech", 4: "physical"},
        "mappings": {"CN-JS": {1: 4, 2: 1, 3: 2, 4: 3}},  # Jiangsu numbers physical first
    },
]


@dataclass
class Region:
    """One region's keys directory and issuer, as that region's own signing service holds them."""

    keys: Path
    issuer_id: str

    def issuer(self) -> Issuer:
        entry, key = directory.signing_key(self.keys, PASS)
        return Issuer(self.issuer_id, entry, key)

    def code(self, profile: Profile, at: int = NOW) -> str:
        return online_code(self.issuer().credential(profile, at))

    def own_list(self, at: int = NOW, max_age: int = 7 * DAY) -> bytes:
        return directory.export_trust_list(self.keys, passphrase=PASS, now=at, max_age=max_age)

    def root_pem(self) -> bytes:
        return (self.keys / directory.ROOT_PUBLIC_FILE).read_bytes()


@dataclass
class World:
    shanghai: Region
    jiangsu: Region
    decider: Decider

    def sync(self, at: int) -> TrustStore:
        """What a gate gets on its next sync: the merged list, checked with our root like any gate does."""
        document = merged_trust_list(self.shanghai.keys, at, passphrase=PASS)
        return TrustStore.from_document(document, directory.root_public_key(self.shanghai.keys), at)


def senior(residence: int | None, **more: Any) -> Profile:
    return Profile(os.urandom(8), age_over=65, residence=residence, **more)


@pytest.fixture
def world(tmp_path: Path) -> World:
    shanghai = Region(tmp_path / "shanghai", "CN-SH")
    jiangsu = Region(tmp_path / "jiangsu", "CN-JS")
    directory.init_directory(shanghai.keys, issuer="CN-SH", region="310000", passphrase=PASS, now=NOW - DAY)
    directory.init_directory(jiangsu.keys, issuer="CN-JS", region="320000", passphrase=PASS, now=NOW - DAY, alg=EDDSA)
    register_partner(
        shanghai.keys,
        "320000",
        jiangsu.root_pem(),
        issuers=["CN-JS"],
        privileges=["age_over", "disability", "residence"],
        name="江苏省 Jiangsu",
        now=NOW - DAY,
    )
    import_partner_trust_list(shanghai.keys, "320000", jiangsu.own_list(NOW - 60), NOW - 60)
    sets = tuple(vs for vs, _ in map(parse_value_set, VALUE_SETS) if vs is not None)
    root = read_private_key(shanghai.keys / directory.ROOT_KEY_FILE, PASS)
    snapshot = build_snapshot(POLICIES, root, version=1, issued_at=NOW - 60, max_age=30 * DAY, value_sets=sets)
    decider = Decider(load_snapshot(snapshot, directory.root_public_key(shanghai.keys)))
    return World(shanghai, jiangsu, decider)


def _refusal(gate: Verifier, text: str, at: int = NOW) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        gate.verify(text, at)
    return caught.value


# --- scope ---------------------------------------------------------------------------------


def test_a_jiangsu_senior_gets_the_delta_privilege_not_the_shanghai_only_one(world: World) -> None:
    gate = Verifier(world.sync(NOW))
    verified = gate.verify(world.jiangsu.code(senior(320100)), NOW)  # Nanjing, in Jiangsu's own codes
    assert (verified.issuer, verified.region) == ("CN-JS", "320000")
    decision = world.decider.decide(verified, PARK, NOW)
    assert decision.result == GRANTED
    assert [p.policy_id for p in decision.privileges] == ["yrd-park-senior-free"]
    assert decision.profile.residence == 320000  # mapped from the city code
    lines = decision.explain()
    assert (
        "yrd-park-senior-free (yrd-park-senior-free v1): "
        "granted (Yangtze River Delta residents: the code states 320000)"
    ) in lines
    assert "sh-park-senior-pass (sh-park-senior-pass v1): for residents of 310000 only (code: 320000)" in lines


def test_our_own_senior_gets_both(world: World) -> None:
    gate = Verifier(world.sync(NOW))
    decision = world.decider.decide(gate.verify(world.shanghai.code(senior(310000)), NOW), PARK, NOW)
    assert {p.policy_id for p in decision.privileges} == {"yrd-park-senior-free", "sh-park-senior-pass"}


def test_partner_codes_are_mapped_through_our_value_sets(world: World) -> None:
    gate = Verifier(world.sync(NOW))
    physical = Profile(os.urandom(8), disability_category=1, disability_grade=2, residence=320500)
    decision = world.decider.decide(gate.verify(world.jiangsu.code(physical), NOW), MUSEUM, NOW)
    assert decision.result == GRANTED and decision.profile.disability_category == 4  # their 1 = our physical


def test_an_unmapped_partner_code_is_ignored_and_the_decision_says_so(world: World) -> None:
    gate = Verifier(world.sync(NOW))
    decision = world.decider.decide(gate.verify(world.jiangsu.code(senior(321300)), NOW), PARK, NOW)  # Suqian
    assert decision.result == REJECTED and decision.reason is Reason.NOT_ELIGIBLE
    lines = decision.explain()
    assert lines[0] == (
        "CN-JS code 321300 for residence.region has no mapping in value set residence.region v3: ignored"
    )
    assert any("for Yangtze River Delta residents only (the code states no residence)" in line for line in lines)


# --- what a partner may assert -------------------------------------------------------------


def test_a_partner_asserts_only_what_it_was_registered_for(world: World) -> None:
    gate = Verifier(world.sync(NOW))
    refused = _refusal(gate, world.jiangsu.code(senior(320000, martyr_family=True)))
    assert refused.reason is Reason.ISSUER_NOT_RECOGNISED and "martyr_family" in refused.detail


def test_a_partner_cannot_make_its_holders_our_residents(world: World) -> None:
    gate = Verifier(world.sync(NOW))
    refused = _refusal(gate, world.jiangsu.code(senior(310000)))
    assert refused.reason is Reason.ISSUER_NOT_RECOGNISED
    assert refused.detail == "issuer CN-JS may assert residence in 320000 only, not 310000"


def test_a_partner_key_cannot_sign_as_our_issuer(world: World) -> None:
    gate = Verifier(world.sync(NOW))
    entry, key = directory.signing_key(world.jiangsu.keys, PASS)
    text = online_code(Issuer("CN-SH", entry, key).credential(senior(320000), NOW))
    assert _refusal(gate, text).reason is Reason.ISSUER_NOT_RECOGNISED


# --- revocation, sync and the offline gate ---------------------------------------------------


def test_a_revoked_partner_key_is_refused_after_sync_and_kept_by_the_offline_gate(world: World) -> None:
    synced = Verifier(world.sync(NOW))
    offline = Verifier(world.sync(NOW))  # loaded the same list, then lost its network
    old_code = world.jiangsu.code(senior(320000))
    assert synced.verify(old_code, NOW).issuer == "CN-JS"

    # Jiangsu finds its key compromised: a new key, the old one revoked, a new list (version 3).
    old_kid = directory.load_ring(world.jiangsu.keys).active().kid
    directory.rotate(world.jiangsu.keys, passphrase=PASS, now=NOW + 60)
    directory.revoke(world.jiangsu.keys, old_kid)
    later = NOW + 120
    import_partner_trust_list(world.shanghai.keys, "320000", world.jiangsu.own_list(later), later)

    synced = Verifier(world.sync(later))
    old_key_code = _old_key_code(world, old_kid, later)
    refused = _refusal(synced, old_key_code, later)
    assert refused.reason is Reason.KEY_REVOKED and old_kid.hex() in refused.detail
    new_code = world.jiangsu.code(senior(320000), at=later)
    assert synced.verify(new_code, later).kid != old_kid

    # The offline gate still holds the last good list: it knows nothing of the revocation or the new key.
    assert offline.verify(old_key_code, later).kid == old_kid
    assert _refusal(offline, new_code, later).reason is Reason.UNKNOWN_KID
    # ...until its list passes its max age, when it answers "manual check" rather than guess.
    stale = _refusal(offline, world.jiangsu.code(senior(320000), at=NOW + 8 * DAY), NOW + 8 * DAY)
    assert stale.reason is Reason.TRUST_LIST_STALE


def _old_key_code(world: World, old_kid: bytes, at: int) -> str:
    """A code signed by the revoked key (as whoever holds it would make one)."""
    key = read_private_key(directory.issuer_key_path(world.jiangsu.keys, old_kid), PASS)
    entry = directory.load_ring(world.jiangsu.keys).entry(old_kid)
    return online_code(Issuer("CN-JS", entry, key).credential(senior(320000), at))


def test_a_forged_partner_update_changes_nothing(world: World) -> None:
    before = merge(world.shanghai.keys, NOW, passphrase=PASS)[1]
    payload = json.loads(world.jiangsu.own_list(NOW + 60))["payload"]
    payload["version"] = 50
    payload["keys"][0]["status"] = "revoked"
    forged = sign_document(payload, generate_private_key(EDDSA))
    with pytest.raises(TrustListError, match=r"refused.*version 1 stays in force"):
        import_partner_trust_list(world.shanghai.keys, "320000", forged, NOW + 60)
    after = merge(world.shanghai.keys, NOW + 60, passphrase=PASS)[1]
    assert after.version == before.version and after.included == {"320000": 1}
    assert Verifier(world.sync(NOW + 60)).verify(world.jiangsu.code(senior(320000), at=NOW + 60), NOW + 60)


def test_a_partner_who_stops_publishing_fades_out_by_itself(world: World) -> None:
    """Its keys are cut at its own list's expiry even inside our fresher merged list."""
    late = NOW - 60 + 7 * DAY + 10
    _, result = merge(world.shanghai.keys, late, passphrase=PASS)
    assert "320000" in result.skipped
    gate = Verifier(world.sync(late))
    assert _refusal(gate, world.jiangsu.code(senior(320000), at=late), late).reason is Reason.UNKNOWN_KID
    assert gate.verify(world.shanghai.code(senior(310000), at=late), late).issuer == "CN-SH"


# --- the other direction, and a national-algorithm partner ------------------------------------


def test_jiangsu_recognises_our_codes_the_same_way(world: World) -> None:
    register_partner(world.jiangsu.keys, "310000", world.shanghai.root_pem(), issuers=["CN-SH"], now=NOW)
    import_partner_trust_list(world.jiangsu.keys, "310000", world.shanghai.own_list(NOW), NOW)
    document = merged_trust_list(world.jiangsu.keys, NOW, passphrase=PASS)
    their_gate = Verifier(TrustStore.from_document(document, directory.root_public_key(world.jiangsu.keys), NOW))
    assert their_gate.verify(world.shanghai.code(senior(310000)), NOW).issuer == "CN-SH"


def test_an_sm2_partner_is_merged_and_decided_like_any_other(world: World, tmp_path: Path) -> None:
    zhejiang = Region(tmp_path / "zhejiang", "CN-ZJ")
    directory.init_directory(zhejiang.keys, issuer="CN-ZJ", region="330000", passphrase=PASS, now=NOW - DAY, alg=SM2)
    register_partner(world.shanghai.keys, "330000", zhejiang.root_pem(), issuers=["CN-ZJ"], now=NOW)
    import_partner_trust_list(world.shanghai.keys, "330000", zhejiang.own_list(NOW), NOW)
    gate = Verifier(world.sync(NOW))
    verified = gate.verify(zhejiang.code(senior(330000)), NOW)
    assert verified.alg == SM2 and verified.region == "330000"
    decision = world.decider.decide(verified, PARK, NOW)
    assert [p.policy_id for p in decision.privileges] == ["yrd-park-senior-free"]
