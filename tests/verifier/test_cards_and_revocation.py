"""Printed cards and the revocation list, in the offline verifier: what a gate decides with no network."""

from __future__ import annotations

import json

import pytest

from app.issuing import IssueError
from keys.algorithms import ES256, generate_private_key
from keys.revocation_list import (
    RevocationList,
    RevocationListError,
    credential_id,
    list_payload,
    load_revocation_list,
    sign_revocation_list,
)
from keys.signed_json import sign_document
from tests.support.world import World, elderly, make_world
from verifier import cbor_strict, cose
from verifier.claims import CARD_CLAIM, Claims, decode_claims, encode_claims
from verifier.code import device_proof, holder_code, online_code, parse_code
from verifier.decide import card_label
from verifier.errors import Reason, VerificationError
from verifier.local_time import LOCAL_OFFSET_S
from verifier.verify import CARD, Verifier

DAY = 86400


@pytest.fixture()
def world() -> World:
    return make_world()


def claims_of(text: str) -> Claims:
    return decode_claims(parse_code(text).credential.payload)


def reason(verifier: Verifier, text: str, now: float, venue: str = "") -> Reason:
    with pytest.raises(VerificationError) as info:
        verifier.verify(text, now, venue)
    return info.value.reason


def local_noon(now: int) -> int:
    """Noon local time on the day of `now`: a whole morning and afternoon on the same local day."""
    return (now + LOCAL_OFFSET_S) // DAY * DAY - LOCAL_OFFSET_S + 12 * 3600


def test_a_card_is_accepted_once_per_venue_per_local_day(world: World) -> None:
    noon = local_noon(world.now + DAY)
    card = world.card(number=12345)
    v = world.verifier()
    verified = v.verify(card, noon, "museum-1")
    assert (verified.kind, verified.card_number) == (CARD, 12345)
    assert verified.to_json()["card_number"] == 12345
    assert reason(v, card, noon + 3 * 3600, "museum-1") is Reason.REPLAYED  # the same afternoon
    assert v.verify(card, noon + 60, "park-2").kind == CARD  # another venue, the same day
    assert v.verify(card, noon + 12 * 3600 + 1, "museum-1").kind == CARD  # local midnight passed


def test_the_card_day_turns_at_local_midnight_not_utc(world: World) -> None:
    noon = local_noon(world.now + DAY)
    card = world.card()
    v = world.verifier()
    late_evening = noon + 11 * 3600 + 59 * 60  # 23:59 local, 15:59 UTC
    v.verify(card, late_evening, "gate")
    assert reason(v, card, late_evening + 30, "gate") is Reason.REPLAYED
    assert v.verify(card, late_evening + 61, "gate").kind == CARD  # 00:00:01 local


def test_card_labels_group_twelve_digits() -> None:
    assert card_label(1) == "SC 0000 0000 0001"
    assert card_label(123456789012) == "SC 1234 5678 9012"


def test_a_card_with_a_device_key_or_a_proof_is_refused(world: World) -> None:
    device = generate_private_key(ES256)
    claims = Claims("CN-SH", world.now, world.now + DAY, bytes(16), elderly(), None, device.public_key())  # type: ignore[arg-type]
    claims_map = cbor_strict.loads(_encode_without_card(claims))
    claims_map[CARD_CLAIM] = 5
    cred = _sign(world, cbor_strict.dumps(claims_map))
    assert reason(world.verifier(), online_code(cred), world.now, "v") is Reason.MALFORMED_CLAIMS
    card_cred = world.issuer.credential(elderly(), world.now, card_number=9)
    proof = device_proof(card_cred, generate_private_key(ES256), world.now)  # type: ignore[arg-type]
    assert reason(world.verifier(), holder_code(card_cred, proof), world.now, "v") is Reason.MALFORMED_COSE


def test_a_card_living_beyond_two_years_is_refused(world: World) -> None:
    claims = Claims("CN-SH", world.now, world.now + 800 * DAY, bytes(16), elderly())
    claims_map = cbor_strict.loads(_encode_without_card(claims))
    claims_map[CARD_CLAIM] = 5
    text = online_code(_sign(world, cbor_strict.dumps(claims_map)))
    assert reason(world.verifier(), text, world.now, "v") is Reason.MALFORMED_CLAIMS


def test_issuing_refuses_a_card_with_a_device_key(world: World) -> None:
    device = generate_private_key(ES256).public_key()
    with pytest.raises(IssueError, match="no device key"):
        world.issuer.credential(elderly(), world.now, card_number=3, device_key=device)  # type: ignore[arg-type]


def test_a_card_never_outlives_its_signing_key(world: World) -> None:
    card = world.card()
    assert claims_of(card).expires_at == min(world.now + 365 * DAY, world.ring.active().not_after)
    late = world.card(at=world.ring.active().not_after - 10 * DAY)
    assert claims_of(late).expires_at == world.ring.active().not_after


# -- revocation list --------------------------------------------------------------------------


def signed_list(world: World, revocations: RevocationList, **kwargs: object) -> bytes:
    return sign_revocation_list(list_payload(revocations, **kwargs), world.root_key)  # type: ignore[arg-type]


def test_a_revoked_credential_is_refused_and_others_pass(world: World) -> None:
    withdrawn, kept = world.online(), world.online()
    held = RevocationList(1, world.now, DAY)
    held.add_credential(credential_id(world.ring.active().kid, claims_of(withdrawn).cti), world.now + 120)
    loaded = load_revocation_list(signed_list(world, held), world.root_key.public_key(), world.now)
    v = Verifier(world.store, revocations=loaded)
    assert reason(v, withdrawn, world.now) is Reason.CREDENTIAL_REVOKED
    assert v.verify(kept, world.now).kind == "online"


def test_a_subject_entry_revokes_only_credentials_issued_before_it(world: World) -> None:
    profile = elderly()
    old_text, _, _ = world.holder(profile, at=world.now - 600)
    new_text, _, _ = world.holder(profile, at=world.now)
    revocations = RevocationList(3, world.now, DAY)
    revocations.add_subject(profile.subject, world.now - 1, world.now + DAY)
    v = Verifier(world.store, revocations=revocations)
    assert reason(v, old_text, world.now) is Reason.CREDENTIAL_REVOKED
    assert v.verify(new_text, world.now).kind == "holder_bound"


def test_a_revoked_credential_is_refused_before_the_replay_guard_counts_it(world: World) -> None:
    text = world.online()
    revocations = RevocationList(1, world.now, DAY)
    revocations.add_credential(credential_id(world.ring.active().kid, claims_of(text).cti), world.now + 60)
    v = Verifier(world.store, revocations=revocations)
    assert reason(v, text, world.now) is Reason.CREDENTIAL_REVOKED
    assert len(v.replay) == 0  # type: ignore[arg-type]


def test_an_expired_entry_no_longer_counts(world: World) -> None:
    text = world.online()
    revocations = RevocationList(1, world.now, DAY)
    revocations.add_credential(credential_id(world.ring.active().kid, claims_of(text).cti), world.now - 1)
    assert Verifier(world.store, revocations=revocations).verify(text, world.now).kind == "online"


def test_a_stale_revocation_list_means_a_check_by_hand(world: World) -> None:
    v = Verifier(world.store, revocations=RevocationList(4, world.now - 3 * DAY, 2 * DAY))
    assert reason(v, world.online(), world.now) is Reason.TRUST_LIST_STALE


def test_a_delta_applies_only_on_top_of_its_base(world: World) -> None:
    root = world.root_key.public_key()
    base = RevocationList(5, world.now, DAY)
    base.add_credential(b"\x01" * 8, world.now + DAY)
    held = load_revocation_list(signed_list(world, base), root, world.now)
    added = RevocationList(6, world.now, DAY)
    added.add_subject(b"\x02" * 8, world.now, world.now + DAY)
    delta = signed_list(world, added, since=5)
    merged = load_revocation_list(delta, root, world.now, held=held)
    assert (merged.version, len(merged)) == (6, 2)
    assert len(held) == 1  # the held list is never changed by a delta
    with pytest.raises(RevocationListError, match="does not apply to the held version 6"):
        load_revocation_list(delta, root, world.now, held=merged)
    with pytest.raises(RevocationListError, match="no list is held"):
        load_revocation_list(delta, root, world.now)


def test_a_later_subject_entry_covers_an_earlier_one() -> None:
    revocations = RevocationList(1, 0, DAY)
    revocations.add_subject(b"s" * 8, 100, 1000)
    revocations.add_subject(b"s" * 8, 50, 2000)
    assert revocations.subjects[b"s" * 8] == (100, 2000)


def _mutated(world: World, change: object) -> bytes:
    payload = list_payload(RevocationList(1, world.now, DAY))
    change(payload)  # type: ignore[operator]
    return sign_document(payload, world.root_key)


BAD_LISTS = {
    "not JSON": lambda w: b"{not json",
    "signed by another key": lambda w: sign_revocation_list(
        list_payload(RevocationList(1, w.now, DAY)), generate_private_key(ES256)
    ),
    "wrong format": lambda w: _mutated(w, lambda p: p.__setitem__("format", "suishen-trust-list/1")),
    "short credential id": lambda w: _mutated(w, lambda p: p.__setitem__("credentials", [["abcd", w.now]])),
    "upper-case hex": lambda w: _mutated(w, lambda p: p.__setitem__("credentials", [["ABCDEF0123456789", w.now]])),
    "entry not a list": lambda w: _mutated(w, lambda p: p.__setitem__("subjects", [{"subject": "00" * 8}])),
    "until not a time": lambda w: _mutated(w, lambda p: p.__setitem__("credentials", [["00" * 8, "soon"]])),
    "negative version": lambda w: _mutated(w, lambda p: p.__setitem__("version", -1)),
    "since not a version": lambda w: _mutated(w, lambda p: p.__setitem__("since", "yesterday")),
    "stale": lambda w: _mutated(w, lambda p: p.__setitem__("issued_at", w.now - 3 * DAY)),
    "from the future": lambda w: _mutated(w, lambda p: p.__setitem__("issued_at", w.now + 3600)),
}


@pytest.mark.parametrize("case", sorted(BAD_LISTS))
def test_a_malformed_revocation_list_is_refused_in_one_line(world: World, case: str) -> None:
    document = BAD_LISTS[case](world)
    with pytest.raises(RevocationListError) as info:
        load_revocation_list(document, world.root_key.public_key(), world.now)
    message = str(info.value)
    assert "revocation list" in message
    assert "\n" not in message


def test_the_document_is_canonical_json_any_tool_can_read(world: World) -> None:
    revocations = RevocationList(2, world.now, DAY)
    revocations.add_credential(b"\xab" * 8, world.now + 10)
    document = json.loads(signed_list(world, revocations))
    assert document["payload"]["credentials"] == [["ab" * 8, world.now + 10]]
    assert document["payload"]["since"] is None
    assert set(document["signature"]) == {"alg", "kid", "value"}


def _encode_without_card(claims: Claims) -> bytes:
    return encode_claims(claims)


def _sign(world: World, payload: bytes) -> bytes:
    return cose.sign1(payload, world.issuer_key, kid=world.ring.active().kid, tagged=True)
