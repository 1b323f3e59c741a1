"""Clock skew, expiry and proof-age edges, the replay guard, ECDSA re-encoding, key rotation.

The clock is always a parameter; nothing here sleeps.
"""

from __future__ import annotations

import dataclasses
import os

import cbor2
import pytest
from cbor2 import CBORTag

from app.issuing import Issuer
from keys.algorithms import ES256, PrivateKey, generate_private_key, verify
from keys.ring import ROTATION_GRACE_S, KeyRing
from keys.trust_list import payload_from_rings, sign_trust_list
from tests.support.world import NOW, World, elderly, make_world
from verifier import cbor_strict, cose
from verifier.base45 import b45decode, b45encode
from verifier.code import TIME_STEP_S, device_proof, holder_code, online_code
from verifier.errors import Reason, VerificationError
from verifier.replay import InMemoryReplayGuard, replay_key
from verifier.trust import TrustStore
from verifier.verify import DEFAULT_CLOCK_SKEW_S, DEFAULT_PROOF_MAX_AGE_S, Verifier

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def reason_of(verifier: Verifier, text: str, now: float) -> Reason:
    with pytest.raises(VerificationError) as info:
        verifier.verify(text, now)
    return info.value.reason


def test_defaults_match_the_design() -> None:
    assert DEFAULT_CLOCK_SKEW_S == 60
    assert DEFAULT_PROOF_MAX_AGE_S == 90
    assert TIME_STEP_S == 30
    assert NOW % TIME_STEP_S == 0  # the edges below rely on NOW being on a step boundary


# --- credential validity and clock skew ---------------------------------------------------


def test_online_expiry_edge(world: World) -> None:
    text = world.online(lifetime=60)
    exp = world.now + 60
    assert world.verifier().verify(text, exp + 60).claims.expires_at == exp
    assert reason_of(world.verifier(), text, exp + 61) is Reason.EXPIRED


def test_online_not_yet_valid_edge(world: World) -> None:
    text = world.online()
    assert world.verifier().verify(text, world.now - 60).kind == "online"
    assert reason_of(world.verifier(), text, world.now - 61) is Reason.NOT_YET_VALID


def test_fractional_clock(world: World) -> None:
    text = world.online()
    assert world.verifier().verify(text, world.now + 120.0).kind == "online"
    assert reason_of(world.verifier(), text, world.now + 120.001) is Reason.EXPIRED
    assert reason_of(world.verifier(), text, world.now - 60.5) is Reason.NOT_YET_VALID


@pytest.mark.parametrize("skew", [0, 1, 300])
def test_custom_clock_skew(world: World, skew: int) -> None:
    text = world.online(lifetime=60)
    exp = world.now + 60
    assert world.verifier(clock_skew=skew).verify(text, exp + skew).kind == "online"
    assert reason_of(world.verifier(clock_skew=skew), text, exp + skew + 1) is Reason.EXPIRED
    assert world.verifier(clock_skew=skew).verify(text, world.now - skew).kind == "online"
    assert reason_of(world.verifier(clock_skew=skew), text, world.now - skew - 1) is Reason.NOT_YET_VALID


def test_holder_bound_expiry_edge(world: World) -> None:
    exp = world.now + 86400
    late = exp + 60
    text, _, _ = world.holder(proof_at=late)
    assert world.verifier().verify(text, late).kind == "holder_bound"
    text, _, _ = world.holder(proof_at=late + 1)
    assert reason_of(world.verifier(), text, late + 1) is Reason.EXPIRED


def test_nbf_edge(world: World) -> None:
    from verifier.claims import Claims
    from verifier.code import issue_credential

    claims = Claims("CN-SH", world.now, world.now + 3600, os.urandom(16), elderly(), not_before=world.now + 600)
    text = online_code(issue_credential(claims, world.issuer_key, world.ring.active().kid))
    assert world.verifier().verify(text, world.now + 540).kind == "online"
    assert reason_of(world.verifier(), text, world.now + 539) is Reason.NOT_YET_VALID


# --- device proof age ---------------------------------------------------------------------


def test_proof_made_90_s_ago_is_accepted_91_is_too_old(world: World) -> None:
    text, _, _ = world.holder(proof_at=world.now - 90)
    assert world.verifier().verify(text, world.now).proof_time == world.now - 90
    # 91 s ago falls in the step that started 120 s ago
    text, _, _ = world.holder(proof_at=world.now - 91)
    assert reason_of(world.verifier(), text, world.now) is Reason.PROOF_TOO_OLD


def test_proof_age_edge_as_the_clock_moves(world: World) -> None:
    text, _, _ = world.holder(proof_at=world.now)
    assert world.verifier().verify(text, world.now + 90).proof_time == world.now
    assert reason_of(world.verifier(), text, world.now + 91) is Reason.PROOF_TOO_OLD


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(0, 0), (1, -30), (29, -30), (30, -30), (31, -60), (60, -60), (61, -90), (90, -90), (91, None), (120, None)],
)
def test_proof_time_is_the_start_of_its_step(world: World, offset: int, expected: int | None) -> None:
    text, _, _ = world.holder(proof_at=world.now - offset)
    if expected is None:
        assert reason_of(world.verifier(), text, world.now) is Reason.PROOF_TOO_OLD
    else:
        assert world.verifier().verify(text, world.now).proof_time == world.now + expected


def test_custom_proof_max_age(world: World) -> None:
    text, _, _ = world.holder(proof_at=world.now - 30)
    assert world.verifier(proof_max_age=30).verify(text, world.now).kind == "holder_bound"
    text, _, _ = world.holder(proof_at=world.now - 31)
    assert reason_of(world.verifier(proof_max_age=30), text, world.now) is Reason.PROOF_TOO_OLD


def test_proof_in_future_edges(world: World) -> None:
    # proof time = start of its step; accepted up to now + clock skew
    for made in (world.now + 60, world.now + 89):
        text, _, _ = world.holder(proof_at=made)
        assert world.verifier().verify(text, world.now).proof_time == world.now + 60
    text, _, _ = world.holder(proof_at=world.now + 90)
    assert reason_of(world.verifier(), text, world.now) is Reason.PROOF_IN_FUTURE


def test_proof_in_future_with_zero_skew(world: World) -> None:
    text, _, _ = world.holder(proof_at=world.now + 29)
    assert world.verifier(clock_skew=0).verify(text, world.now).proof_time == world.now
    text, _, _ = world.holder(proof_at=world.now + 30)
    assert reason_of(world.verifier(clock_skew=0), text, world.now) is Reason.PROOF_IN_FUTURE


# --- replay -------------------------------------------------------------------------------


def test_online_code_used_once(world: World) -> None:
    v = world.verifier()
    text = world.online()
    v.verify(text, world.now)
    assert reason_of(v, text, world.now) is Reason.REPLAYED
    assert reason_of(v, text, world.now + 119) is Reason.REPLAYED
    # other codes are unaffected
    assert v.verify(world.online(), world.now).kind == "online"


def test_expired_replay_names_expiry_not_replay(world: World) -> None:
    v = world.verifier()
    text = world.online()
    v.verify(text, world.now)
    assert reason_of(v, text, world.now + 121) is Reason.EXPIRED


def test_rejected_codes_do_not_occupy_the_guard(world: World) -> None:
    v = world.verifier()
    text = world.online()
    assert reason_of(v, text, world.now - 61) is Reason.NOT_YET_VALID
    assert v.verify(text, world.now).kind == "online"
    held, _cred, _device = world.holder(proof_at=world.now + 90)
    assert reason_of(v, held, world.now) is Reason.PROOF_IN_FUTURE
    assert v.verify(held, world.now + 30).kind == "holder_bound"


def test_holder_same_step_is_replayed_next_step_accepted(world: World) -> None:
    v = world.verifier()
    text, cred, device = world.holder(proof_at=world.now)
    assert v.verify(text, world.now).proof_time == world.now
    assert reason_of(v, text, world.now + 1) is Reason.REPLAYED
    # a fresh proof in the same 30 s step (new nonce, new signature) is the same (kid, cti, t)
    again = holder_code(cred, device_proof(cred, device, world.now + 29))  # type: ignore[arg-type]
    assert again != text
    assert reason_of(v, again, world.now + 29) is Reason.REPLAYED
    nxt = holder_code(cred, device_proof(cred, device, world.now + 30))  # type: ignore[arg-type]
    assert v.verify(nxt, world.now + 30).proof_time == world.now + 30
    assert reason_of(v, nxt, world.now + 31) is Reason.REPLAYED


@pytest.mark.parametrize("order", [(-2, -1, 0, 1, 2), (2, 1, 0, -1, -2), (0, 2, -2, 1, -1), (1, -1, 2, -2, 0)])
def test_proofs_for_every_step_of_the_skew_window_give_one_acceptance(world: World, order: tuple[int, ...]) -> None:
    """The reported attack: steps -2 ... +2 are all inside the skew window; shown at once, one passes."""
    v = Verifier(world.store)
    now = world.now + 15  # mid-step
    _, cred, device = world.holder()
    codes = [holder_code(cred, device_proof(cred, device, now + 30 * step)) for step in order]  # type: ignore[arg-type]
    assert v.verify(codes[0], now).proof_time is not None
    assert [reason_of(v, code, now + 0.01 * i) for i, code in enumerate(codes[1:], 1)] == [Reason.REPLAYED] * 4


def test_a_holder_scanned_again_one_step_later_is_accepted_whatever_the_phone_clock(world: World) -> None:
    for offset in (-60, -30, 0, 30, 55):  # the phone's clock against the verifier's
        v = Verifier(world.store)
        _, cred, device = world.holder()
        now = world.now + 10
        first = holder_code(cred, device_proof(cred, device, now + offset))  # type: ignore[arg-type]
        assert v.verify(first, now).proof_time is not None
        later = holder_code(cred, device_proof(cred, device, now + 30 + offset))  # type: ignore[arg-type]
        assert reason_of(v, later, now + 29) is Reason.REPLAYED  # the next code, but within 30 s of the last
        assert v.verify(later, now + 30).proof_time is not None  # the refusal above occupied nothing
        if offset >= 0:  # (a phone behind by a minute made a proof too old by now)
            earlier = holder_code(cred, device_proof(cred, device, now + offset))  # type: ignore[arg-type]
            assert reason_of(v, earlier, now + 60) is Reason.REPLAYED  # an earlier step, even a minute on


def test_a_step_ahead_of_the_verifier_pins_the_credential(world: World) -> None:
    """A proof from a clock 60 s ahead is accepted, and then no step up to it passes, however long one waits."""
    v = Verifier(world.store)
    _, cred, device = world.holder()
    now = world.now + 5
    assert v.verify(holder_code(cred, device_proof(cred, device, now + 60)), now)  # type: ignore[arg-type]
    for wait in (30, 60):
        behind = holder_code(cred, device_proof(cred, device, now + wait))  # type: ignore[arg-type]
        assert reason_of(v, behind, now + wait) is Reason.REPLAYED
    assert v.verify(holder_code(cred, device_proof(cred, device, now + 90)), now + 90)  # type: ignore[arg-type]


def test_in_memory_guard_step_rule() -> None:
    guard = InMemoryReplayGuard()
    assert guard.first_step(b"c", 10, expires_at=1000, now=300)
    assert not guard.first_step(b"c", 10, expires_at=1000, now=400)  # the same step
    assert not guard.first_step(b"c", 9, expires_at=1000, now=400)  # an earlier one
    assert not guard.first_step(b"c", 11, expires_at=1000, now=329.9)  # later, but within 30 s
    assert guard.first_step(b"c", 11, expires_at=1000, now=330)
    assert guard.first_step(b"d", 1, expires_at=1000, now=330)  # credentials are apart
    assert guard.first_step(b"c", 5, expires_at=2000, now=1001)  # the entry expired with its credential
    assert len(guard) == 2


def test_replay_guard_shared_between_verifiers(world: World) -> None:
    guard = InMemoryReplayGuard()
    gate_a = Verifier(world.store, guard)
    gate_b = Verifier(world.store, guard)
    text = world.online()
    gate_a.verify(text, world.now)
    assert reason_of(gate_b, text, world.now) is Reason.REPLAYED
    assert len(guard) == 1


def test_replay_key_is_built_from_signed_fields() -> None:
    kid, cti = b"K" * 8, b"C" * 16
    assert replay_key(kid, cti) == kid + cti
    assert replay_key(kid, cti, 5) == kid + cti + (5).to_bytes(8, "big")
    assert replay_key(kid, cti, 5) != replay_key(kid, cti, 6)


def test_in_memory_guard_expiry() -> None:
    guard = InMemoryReplayGuard()
    assert guard.first_use(b"a", expires_at=100, now=0)
    assert not guard.first_use(b"a", expires_at=100, now=50)
    assert not guard.first_use(b"a", expires_at=100, now=100)
    assert guard.first_use(b"a", expires_at=300, now=101)
    assert not guard.first_use(b"a", expires_at=300, now=200)
    assert guard.first_use(b"b", expires_at=100, now=50)


def test_in_memory_guard_sweeps_expired_entries() -> None:
    guard = InMemoryReplayGuard()
    for i in range(1023):
        assert guard.first_use(i.to_bytes(4, "big"), expires_at=10, now=0)
    assert len(guard) == 1023
    assert guard.first_use(b"late", expires_at=1000, now=500)
    assert len(guard) == 1  # everything expired was swept
    assert not guard.first_use(b"late", expires_at=1000, now=600)
    assert guard.first_use((0).to_bytes(4, "big"), expires_at=1000, now=600)


def test_guard_entries_of_many_live_codes_survive_sweeps() -> None:
    guard = InMemoryReplayGuard()
    for i in range(3000):
        assert guard.first_use(i.to_bytes(4, "big"), expires_at=10_000, now=i)
    assert len(guard) == 3000
    assert all(not guard.first_use(i.to_bytes(4, "big"), expires_at=10_000, now=5000) for i in range(3000))


# --- ECDSA re-encoding --------------------------------------------------------------------


def _flip_s(signature: bytes) -> bytes:
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    return r.to_bytes(32, "big") + (P256_N - s).to_bytes(32, "big")


def test_reencoded_ecdsa_signature_of_used_online_code_is_replayed(world: World) -> None:
    text = world.online()
    outer = cbor2.loads(b45decode(text[4:]))
    body = list(outer[0].value)
    body[3] = _flip_s(body[3])
    assert body[3] != outer[0].value[3]
    modified = "SP1:" + b45encode(cbor_strict.dumps([CBORTag(18, body)]))
    assert modified != text

    # the modified signature is a valid one: alone, on a fresh gate, it verifies
    assert verify(world.issuer_key.public_key(), ES256, body[3],
                  cose.sig_structure(body[0], b"", body[2]))
    assert world.verifier().verify(modified, world.now).claims.cti == cbor2.loads(body[2])[7]

    gate = world.verifier()
    gate.verify(text, world.now)
    assert reason_of(gate, modified, world.now) is Reason.REPLAYED


def test_reencoded_ecdsa_device_proof_is_replayed(world: World) -> None:
    text, cred, _device = world.holder()
    raw = b45decode(text[4:])
    proof_bytes = raw[1 + len(cred):]
    proof = list(cbor2.loads(proof_bytes))
    proof[3] = _flip_s(proof[3])
    modified = holder_code(cred, cbor_strict.dumps(proof))
    assert modified != text
    assert world.verifier().verify(modified, world.now).kind == "holder_bound"
    gate = world.verifier()
    gate.verify(text, world.now)
    assert reason_of(gate, modified, world.now) is Reason.REPLAYED


# --- key rotation and revocation through the trust list ------------------------------------


def _store(rings: list[KeyRing], root: PrivateKey, now: int, version: int = 1) -> TrustStore:
    doc = sign_trust_list(payload_from_rings(rings, version=version, issued_at=now), root)
    return TrustStore.from_document(doc, root.public_key(), now)


def test_rotation_keeps_old_codes_valid_until_not_after_then_revocation() -> None:
    w = make_world()
    old_entry = w.ring.active()
    device = generate_private_key(ES256)
    old_cred = w.issuer.credential(elderly(), w.now, device_key=device.public_key())  # type: ignore[arg-type]

    new_key = generate_private_key(ES256)
    ring = w.ring.with_new_active(new_key.public_key(), w.now)
    assert ring.generation == w.ring.generation + 1
    retired = ring.entry(old_entry.kid)
    assert retired.status == "retired"
    assert retired.not_after == w.now + ROTATION_GRACE_S
    store = _store([ring], w.root_key, w.now, version=2)
    assert store.version == 2

    new_issuer = Issuer(ring.issuer, ring.active(), new_key)
    assert ring.active().kid != old_entry.kid
    new_code = online_code(new_issuer.credential(elderly(), w.now))
    assert Verifier(store).verify(new_code, w.now).kid == ring.active().kid

    # the old key's last credential (24 h) is still accepted up to the key's not_after
    def old_code(at: int) -> str:
        return holder_code(old_cred, device_proof(old_cred, device, at))  # type: ignore[arg-type]

    assert Verifier(store).verify(old_code(w.now + 10), w.now + 10).kid == old_entry.kid
    last = w.now + 86400 + 60
    assert last == retired.not_after
    assert Verifier(store).verify(old_code(last), last).kid == old_entry.kid
    too_late = retired.not_after + 61
    assert reason_of(Verifier(store), old_code(too_late), too_late) is Reason.KEY_NOT_VALID_NOW

    # revocation stops the old key at once; the new key is unaffected
    revoked = ring.with_revoked(old_entry.kid)
    store = _store([revoked], w.root_key, w.now + 20, version=3)
    assert reason_of(Verifier(store), old_code(w.now + 20), w.now + 20) is Reason.KEY_REVOKED
    fresh_code = online_code(new_issuer.credential(elderly(), w.now + 20))
    assert Verifier(store).verify(fresh_code, w.now + 20).kind == "online"


def test_trust_list_max_age_edge() -> None:
    w = make_world(max_age=600)
    text = w.online(at=w.now + 600)
    assert w.verifier().verify(text, w.now + 600).kind == "online"
    assert reason_of(w.verifier(), w.online(at=w.now + 601), w.now + 601) is Reason.TRUST_LIST_STALE


def test_retired_key_from_ring_verifies_only_within_window(world: World) -> None:
    entry = dataclasses.replace(world.ring.active(), status="retired", not_after=world.now + 100)
    ring = dataclasses.replace(world.ring, keys=(entry,))
    store = _store([ring], world.root_key, world.now)
    text = world.online(lifetime=60)
    assert Verifier(store).verify(text, world.now).kind == "online"
    assert reason_of(Verifier(store), world.online(at=world.now + 150), world.now + 161) is Reason.KEY_NOT_VALID_NOW
