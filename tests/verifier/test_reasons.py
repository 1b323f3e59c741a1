"""Every reason code the offline verifier can produce, each reached by a crafted input.

All inputs are real: real keys, real signatures (made with the world's own issuer key where a
test needs the signature to pass so that a later check is the one that fails), a fixed clock.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import cbor2
import pytest
from cbor2 import CBORTag

from app.issuing import Issuer
from keys.algorithms import EDDSA, ES256, ES384, PrivateKey, alg_of, generate_private_key, sign
from keys.revocation_list import RevocationList, credential_id
from keys.ring import KeyRing, new_entry
from keys.trust_list import payload_from_rings, sign_trust_list
from tests.support.world import World, disabled_student, elderly, make_world
from verifier import cbor_strict, cose
from verifier.base45 import b45encode
from verifier.claims import Claims, cose_key_map, decode_claims
from verifier.code import device_proof, holder_code, issue_credential, online_code, parse_code
from verifier.errors import Reason, VerificationError
from verifier.trust import TrustStore
from verifier.verify import Verifier

Case = tuple[Verifier, Any, int]
Builder = Callable[[World], Case]

# --- helpers ------------------------------------------------------------------------------


def code_of(raw: bytes) -> str:
    return "SP1:" + b45encode(raw)


def kid(w: World) -> bytes:
    return w.ring.active().kid


def signed(
    protected: bytes, payload: bytes, key: PrivateKey, *, aad: bytes = b"", tagged: bool = True
) -> Any:
    """A COSE_Sign1 value with an arbitrary protected header and a real signature over it."""
    signature = sign(key, alg_of(key), cose.sig_structure(protected, aad, payload))
    body = [protected, {}, payload, signature]
    return CBORTag(18, body) if tagged else body


def credential_item(w: World) -> CBORTag:
    cred = w.issuer.credential(elderly(), w.now)
    item = cbor2.loads(cred)
    assert type(item) is CBORTag
    return item


def claims_map(w: World) -> dict[int, Any]:
    m: dict[int, Any] = {
        1: w.issuer.issuer,
        4: w.now + 60,
        6: w.now,
        7: os.urandom(16),
        -65537: {1: os.urandom(8), 2: 65},
    }
    return m


def signed_claims_code(w: World, payload: bytes) -> str:
    """An online code whose credential payload is `payload`, really signed by the world's key."""
    return online_code(cose.sign1(payload, w.issuer_key, kid=kid(w)))


def manual_map(items: list[tuple[bytes, bytes]]) -> bytes:
    """A CBOR map from already-encoded (key, value) pairs, in the order given."""
    assert len(items) < 24
    return bytes((0xA0 | len(items),)) + b"".join(k + v for k, v in items)


def base_claim_items(w: World, profile: bytes | None = None) -> list[tuple[bytes, bytes]]:
    return [
        (b"\x01", cbor2.dumps(w.issuer.issuer)),
        (b"\x04", cbor2.dumps(w.now + 60)),
        (b"\x06", cbor2.dumps(w.now)),
        (b"\x07", cbor2.dumps(os.urandom(16))),
        (cbor2.dumps(-65537), profile if profile is not None else cbor2.dumps({1: os.urandom(8), 2: 65})),
    ]


def store_for(rings: list[KeyRing], root: PrivateKey, now: int, max_age: int = 7 * 86400) -> TrustStore:
    doc = sign_trust_list(payload_from_rings(rings, version=1, issued_at=now, max_age=max_age), root)
    return TrustStore.from_document(doc, root.public_key(), now)


def fresh(w: World, text: Any) -> Case:
    return w.verifier(), text, w.now


def assert_reason(case: Case, reason: Reason) -> VerificationError:
    verifier, text, now = case
    with pytest.raises(VerificationError) as info:
        verifier.verify(text, now)
    assert info.value.reason is reason, f"expected {reason.value}, got {info.value}"
    assert str(info.value).startswith(reason.value)
    return info.value


# --- MALFORMED_PREFIX ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t[4:], id="no-prefix"),
        pytest.param(lambda t: "sp1:" + t[4:], id="lowercase-prefix"),
        pytest.param(lambda t: "SP2:" + t[4:], id="other-version"),
        pytest.param(lambda t: "SP1" + t[4:], id="no-colon"),
        pytest.param(lambda t: " " + t, id="leading-space"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: t.encode()[:-1] + b"\xff", id="non-ascii-bytes"),
        pytest.param(lambda t: "\u00dfP1:" + t[4:], id="non-ascii-text"),
        pytest.param(lambda t: 12345, id="int"),
        pytest.param(lambda t: None, id="none"),
        pytest.param(lambda t: [t], id="list"),
        pytest.param(lambda t: bytearray(t.encode()), id="bytearray"),
    ],
)
def test_malformed_prefix(world: World, mangle: Callable[[str], Any]) -> None:
    assert_reason(fresh(world, mangle(world.online())), Reason.MALFORMED_PREFIX)


# --- MALFORMED_BASE45 ---------------------------------------------------------------------


def _pad_to_one_mod_three(body: str) -> str:
    while len(body) % 3 != 1:
        body += "0"
    return body


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda b: "GGW", id="non-canonical-triple-GGW"),
        pytest.param(lambda b: b[:3] + "GGW" + b[6:], id="GGW-inside-code"),
        pytest.param(lambda b: ":::", id="largest-triple"),
        pytest.param(lambda b: "BB8V5", id="final-pair-256"),
        pytest.param(_pad_to_one_mod_three, id="length-mod-3-is-1"),
        pytest.param(lambda b: "0", id="single-char"),
        pytest.param(lambda b: b.lower(), id="lowercase"),
        pytest.param(lambda b: b[:10] + "#" + b[11:], id="hash-char"),
        pytest.param(lambda b: b[:10] + "\u00e9" + b[11:], id="non-ascii-char"),
        pytest.param(lambda b: b[:10] + "\n" + b[11:], id="newline"),
    ],
)
def test_malformed_base45(world: World, mangle: Callable[[str], str]) -> None:
    body = world.online()[4:]
    assert any(c.isalpha() for c in body)
    assert_reason(fresh(world, "SP1:" + mangle(body)), Reason.MALFORMED_BASE45)


# --- MALFORMED_COSE -----------------------------------------------------------------------


def _cose_cases() -> list[Any]:
    def raw_online(w: World) -> bytes:
        return cbor_strict.dumps([credential_item(w)])

    def body(w: World) -> list[Any]:
        return list(credential_item(w).value)

    def with_body(change: Callable[[list[Any], World], list[Any]]) -> Builder:
        return lambda w: fresh(w, code_of(cbor_strict.dumps([CBORTag(18, change(body(w), w))])))

    def with_header(protected: Callable[[World], bytes]) -> Builder:
        def build(w: World) -> Case:
            item = signed(protected(w), body(w)[2], w.issuer_key)
            return fresh(w, code_of(cbor_strict.dumps([item])))

        return build

    def holder_parts(w: World) -> tuple[bytes, PrivateKey]:
        device = generate_private_key(ES256)
        return w.issuer.credential(elderly(), w.now, device_key=device.public_key()), device  # type: ignore[arg-type]

    def tagged_proof(w: World) -> Case:
        cred, device = holder_parts(w)
        proof = cbor2.loads(device_proof(cred, device, w.now))  # type: ignore[arg-type]
        return fresh(w, code_of(cbor_strict.dumps([cbor2.loads(cred), CBORTag(18, proof)])))

    def proof_with_kid(w: World) -> Case:
        cred, device = holder_parts(w)
        payload = cbor_strict.dumps([w.now // 30, os.urandom(8)])
        proof = cose.sign1(payload, device, kid=b"\x01" * 8, external_aad=cred, tagged=False)
        return fresh(w, holder_code(cred, proof))

    def proof_on_online_credential(w: World) -> Case:
        cred = w.issuer.credential(elderly(), w.now)
        device = generate_private_key(ES256)
        return fresh(w, holder_code(cred, device_proof(cred, device, w.now)))  # type: ignore[arg-type]

    def no_kid(w: World) -> Case:
        payload = body(w)[2]
        return fresh(w, online_code(cose.sign1(payload, w.issuer_key, kid=None)))

    def non_shortest_payload_length(w: World) -> Case:
        p, _, payload, sig = body(w)
        assert 24 <= len(payload) < 256
        enc = (
            b"\x81\xd2\x84"
            + cbor2.dumps(p)
            + b"\xa0"
            + b"\x59"
            + len(payload).to_bytes(2, "big")
            + payload
            + cbor2.dumps(sig)
        )
        return fresh(w, code_of(enc))

    def indefinite_cose_array(w: World) -> Case:
        enc = b"\x81\xd2\x9f" + b"".join(cbor2.dumps(x) for x in body(w)) + b"\xff"
        return fresh(w, code_of(enc))

    def indefinite_payload(w: World) -> Case:
        p, _, payload, sig = body(w)
        chunks = b"\x5f" + cbor2.dumps(payload[:10]) + cbor2.dumps(payload[10:]) + b"\xff"
        enc = b"\x81\xd2\x84" + cbor2.dumps(p) + b"\xa0" + chunks + cbor2.dumps(sig)
        return fresh(w, code_of(enc))

    def indefinite_unprotected(w: World) -> Case:
        p, _, payload, sig = body(w)
        enc = b"\x81\xd2\x84" + cbor2.dumps(p) + b"\xbf\xff" + cbor2.dumps(payload) + cbor2.dumps(sig)
        return fresh(w, code_of(enc))

    def holder_trailing_byte(w: World) -> Case:
        cred, device = holder_parts(w)
        proof = device_proof(cred, device, w.now)  # type: ignore[arg-type]
        return fresh(w, code_of(b"\x82" + cred + proof + b"\x00"))

    def holder_proof_non_shortest(w: World) -> Case:
        cred, device = holder_parts(w)
        proof = device_proof(cred, device, w.now)  # type: ignore[arg-type]
        assert proof[0] == 0x84
        return fresh(w, code_of(b"\x82" + cred + b"\x98\x04" + proof[1:]))

    return [
        pytest.param(lambda w: fresh(w, code_of(b"\x01")), id="not-an-array"),
        pytest.param(lambda w: fresh(w, code_of(cbor_strict.dumps({1: credential_item(w)}))), id="a-map"),
        pytest.param(lambda w: fresh(w, code_of(b"\x80")), id="empty-array"),
        pytest.param(lambda w: fresh(w, code_of(b"")), id="no-bytes"),
        pytest.param(
            lambda w: fresh(w, code_of(cbor_strict.dumps([credential_item(w)] * 3))), id="three-items"
        ),
        pytest.param(
            lambda w: fresh(w, code_of(cbor_strict.dumps(credential_item(w)))), id="credential-without-array"
        ),
        pytest.param(
            lambda w: fresh(w, code_of(cbor_strict.dumps([CBORTag(17, body(w))]))), id="wrong-tag-17"
        ),
        pytest.param(
            lambda w: fresh(w, code_of(cbor_strict.dumps([CBORTag(98, body(w))]))), id="wrong-tag-98"
        ),
        pytest.param(lambda w: fresh(w, code_of(cbor_strict.dumps([body(w)]))), id="untagged-credential"),
        pytest.param(
            lambda w: fresh(w, code_of(cbor_strict.dumps([CBORTag(18, CBORTag(18, body(w)))]))),
            id="double-tag",
        ),
        pytest.param(with_body(lambda b, w: b[:3]), id="cose-array-of-3"),
        pytest.param(with_body(lambda b, w: [*b, b""]), id="cose-array-of-5"),
        pytest.param(with_body(lambda b, w: [b[0], {4: kid(w)}, b[2], b[3]]), id="non-empty-unprotected"),
        pytest.param(with_body(lambda b, w: [b[0], [], b[2], b[3]]), id="unprotected-not-a-map"),
        pytest.param(with_body(lambda b, w: [b[0], {}, b[2].hex(), b[3]]), id="payload-is-text"),
        pytest.param(with_body(lambda b, w: [b[0], {}, b[2], 0]), id="signature-is-int"),
        pytest.param(with_body(lambda b, w: [cbor2.loads(b[0]), {}, b[2], b[3]]), id="protected-is-a-map"),
        pytest.param(lambda w: fresh(w, code_of(raw_online(w) + b"\x00")), id="trailing-byte"),
        pytest.param(lambda w: fresh(w, code_of(raw_online(w) + raw_online(w))), id="two-codes-concatenated"),
        pytest.param(lambda w: fresh(w, code_of(b"\x9f" + raw_online(w)[1:] + b"\xff")), id="indefinite-outer"),
        pytest.param(indefinite_cose_array, id="indefinite-cose-array"),
        pytest.param(indefinite_payload, id="indefinite-payload"),
        pytest.param(indefinite_unprotected, id="indefinite-unprotected"),
        pytest.param(lambda w: fresh(w, code_of(b"\x98\x01" + raw_online(w)[1:])), id="non-shortest-outer-head"),
        pytest.param(lambda w: fresh(w, code_of(b"\x81\xd8\x12" + raw_online(w)[2:])), id="non-shortest-tag"),
        pytest.param(non_shortest_payload_length, id="non-shortest-payload-length"),
        pytest.param(lambda w: fresh(w, code_of(b"\x81" + cbor2.dumps(CBORTag(28, credential_item(w))))),
                     id="value-sharing-tag"),
        pytest.param(lambda w: fresh(w, code_of(b"\x81" * 679 + b"\x00")), id="deep-nesting"),
        pytest.param(lambda w: fresh(w, code_of(b"\x81\xd2\x84\x43")), id="truncated"),
        pytest.param(
            with_header(lambda w: b"\xa3\x01\x26\x04\x48" + kid(w) + b"\x01\x26"),
            id="duplicate-key-in-protected-header",
        ),
        pytest.param(
            with_header(lambda w: b"\xa2\x04\x48" + kid(w) + b"\x01\x26"), id="protected-keys-out-of-order"
        ),
        pytest.param(
            with_header(lambda w: b"\xa2\x01\x38\x06\x04\x48" + kid(w)), id="non-shortest-alg-in-protected"
        ),
        pytest.param(
            with_header(lambda w: b"\xbf\x01\x26\x04\x48" + kid(w) + b"\xff"), id="indefinite-protected-map"
        ),
        pytest.param(
            with_header(lambda w: cbor_strict.dumps({1: -7, 3: 0, 4: kid(w)})), id="extra-protected-parameter"
        ),
        pytest.param(
            with_header(lambda w: cbor_strict.dumps({1: -7, 2: [1], 4: kid(w)})), id="crit-in-protected"
        ),
        pytest.param(with_header(lambda w: b"\x01"), id="protected-not-a-map"),
        pytest.param(with_header(lambda w: b""), id="protected-empty"),
        pytest.param(with_header(lambda w: cbor_strict.dumps({1: -7, 4: kid(w).hex()})), id="kid-is-text"),
        pytest.param(no_kid, id="credential-without-kid"),
        pytest.param(tagged_proof, id="tagged-device-proof"),
        pytest.param(proof_with_kid, id="device-proof-with-kid"),
        pytest.param(proof_on_online_credential, id="proof-on-online-credential"),
        pytest.param(holder_trailing_byte, id="holder-trailing-byte"),
        pytest.param(holder_proof_non_shortest, id="holder-proof-non-shortest-head"),
    ]


@pytest.mark.parametrize("build", _cose_cases())
def test_malformed_cose(world: World, build: Builder) -> None:
    assert_reason(build(world), Reason.MALFORMED_COSE)


# --- MALFORMED_CLAIMS ---------------------------------------------------------------------


def _claims_cases() -> list[Any]:
    def dumps_changed(change: Callable[[dict[int, Any], World], None], strict: bool = True) -> Builder:
        def build(w: World) -> Case:
            m = claims_map(w)
            change(m, w)
            return fresh(w, signed_claims_code(w, cbor_strict.dumps(m) if strict else cbor2.dumps(m)))

        return build

    def delete(key: int) -> Callable[[dict[int, Any], World], None]:
        return lambda m, w: m.pop(key)

    def setter(key: int, value: Any) -> Callable[[dict[int, Any], World], None]:
        return lambda m, w: m.__setitem__(key, value)

    def profile_setter(key: int, value: Any) -> Callable[[dict[int, Any], World], None]:
        return lambda m, w: m[-65537].__setitem__(key, value)

    def raw(payload: Callable[[World], bytes]) -> Builder:
        return lambda w: fresh(w, signed_claims_code(w, payload(w)))

    def with_cnf(cose_key: Callable[[dict[int, Any]], Any]) -> Builder:
        def build(w: World) -> Case:
            device = generate_private_key(ES256)
            m = claims_map(w)
            m[8] = {1: cose_key(cose_key_map(device.public_key()))}  # type: ignore[arg-type]
            payload = cbor_strict.dumps(m)
            cred = cose.sign1(payload, w.issuer_key, kid=kid(w))
            return fresh(w, holder_code(cred, device_proof(cred, device, w.now)))  # type: ignore[arg-type]

        return build

    def out_of_order(w: World) -> bytes:
        items = base_claim_items(w)
        items[0], items[1] = items[1], items[0]
        return manual_map(items)

    def duplicate_iss(w: World) -> bytes:
        items = base_claim_items(w)
        return manual_map([items[0], *items])

    def non_shortest_iat(w: World) -> bytes:
        items = base_claim_items(w)
        items[2] = (b"\x06", b"\x1b" + w.now.to_bytes(8, "big"))
        return manual_map(items)

    def indefinite_map(w: World) -> bytes:
        return b"\xbf" + manual_map(base_claim_items(w))[1:] + b"\xff"

    def proof_payload(payload: bytes) -> Builder:
        def build(w: World) -> Case:
            device = generate_private_key(ES256)
            cred = w.issuer.credential(elderly(), w.now, device_key=device.public_key())  # type: ignore[arg-type]
            proof = cose.sign1(payload, device, kid=None, external_aad=cred, tagged=False)
            return fresh(w, holder_code(cred, proof))

        return build

    step = make_world().now // 30
    return [
        pytest.param(raw(lambda w: b"\xff"), id="payload-not-cbor"),
        pytest.param(raw(lambda w: b""), id="payload-empty"),
        pytest.param(raw(lambda w: cbor_strict.dumps([1, 2])), id="payload-is-array"),
        pytest.param(dumps_changed(delete(4)), id="missing-exp"),
        pytest.param(dumps_changed(delete(1)), id="missing-iss"),
        pytest.param(dumps_changed(delete(6)), id="missing-iat"),
        pytest.param(dumps_changed(delete(7)), id="missing-cti"),
        pytest.param(dumps_changed(delete(-65537)), id="missing-profile"),
        pytest.param(dumps_changed(setter(7, os.urandom(15))), id="cti-15-bytes"),
        pytest.param(dumps_changed(setter(7, os.urandom(17))), id="cti-17-bytes"),
        pytest.param(dumps_changed(setter(7, "x" * 16)), id="cti-is-text"),
        pytest.param(dumps_changed(lambda m, w: m.__setitem__(4, float(w.now + 60)), strict=False), id="float-exp"),
        pytest.param(dumps_changed(profile_setter(2, 65.0), strict=False), id="float-in-profile"),
        pytest.param(dumps_changed(setter(9, 1)), id="unknown-claim-key-9"),
        pytest.param(dumps_changed(setter(2, "sub")), id="unknown-claim-key-2-sub"),
        pytest.param(dumps_changed(setter(-65539, 1)), id="unknown-private-claim"),
        pytest.param(dumps_changed(setter(-65538, 0)), id="card-number-zero"),
        pytest.param(dumps_changed(setter(-65538, 1 << 40)), id="card-number-too-large"),
        pytest.param(dumps_changed(setter(-65538, "SC 0000 0000 0001")), id="card-number-as-text"),
        pytest.param(raw(out_of_order), id="keys-out-of-order"),
        pytest.param(raw(duplicate_iss), id="duplicate-iss"),
        pytest.param(raw(non_shortest_iat), id="non-shortest-iat"),
        pytest.param(raw(indefinite_map), id="indefinite-claims-map"),
        pytest.param(raw(lambda w: cbor_strict.dumps(claims_map(w)) + b"\x00"), id="trailing-byte"),
        pytest.param(dumps_changed(setter(1, "CN-" + "X" * 30)), id="iss-too-long"),
        pytest.param(dumps_changed(setter(1, "")), id="iss-empty"),
        pytest.param(dumps_changed(setter(1, "CN-\u4e0a\u6d77")), id="iss-non-ascii"),
        pytest.param(dumps_changed(setter(1, b"CN-SH")), id="iss-is-bytes"),
        pytest.param(dumps_changed(lambda m, w: m.__setitem__(4, w.now)), id="exp-equals-iat"),
        pytest.param(dumps_changed(lambda m, w: m.__setitem__(4, w.now - 1)), id="exp-before-iat"),
        pytest.param(dumps_changed(setter(6, -5)), id="negative-iat"),
        pytest.param(dumps_changed(setter(4, 1 << 41)), id="exp-out-of-range"),
        pytest.param(dumps_changed(lambda m, w: m.__setitem__(-65537, {2: 65})), id="profile-without-subject"),
        pytest.param(dumps_changed(lambda m, w: m.__setitem__(-65537, [1])), id="profile-not-a-map"),
        pytest.param(dumps_changed(profile_setter(1, os.urandom(7))), id="subject-7-bytes"),
        pytest.param(dumps_changed(profile_setter(1, os.urandom(33))), id="subject-33-bytes"),
        pytest.param(dumps_changed(profile_setter(2, 66)), id="age-over-66"),
        pytest.param(dumps_changed(profile_setter(11, 1)), id="unknown-profile-key"),
        pytest.param(dumps_changed(profile_setter(9, 0)), id="explicit-version-0"),
        pytest.param(dumps_changed(profile_setter(3, 2)), id="disability-without-grade"),
        pytest.param(dumps_changed(profile_setter(5, False)), id="martyr-false"),
        pytest.param(dumps_changed(profile_setter(5, 1)), id="martyr-int-1"),
        pytest.param(dumps_changed(profile_setter(5, 0)), id="martyr-int-0"),
        pytest.param(dumps_changed(profile_setter(2, 1 << 33)), id="profile-int-too-big"),
        pytest.param(dumps_changed(profile_setter(8, 99)), id="residence-not-six-digits"),
        pytest.param(dumps_changed(lambda m, w: m[-65537].update({6: 9, 7: 20000})), id="unknown-student-level"),
        pytest.param(dumps_changed(profile_setter(6, 5)), id="student-level-without-date"),
        pytest.param(with_cnf(lambda k: {**k, 1: 1}), id="cnf-kty-okp"),
        pytest.param(with_cnf(lambda k: {**k, -1: 2}), id="cnf-curve-p384"),
        pytest.param(with_cnf(lambda k: {**k, -2: k[-2][:31]}), id="cnf-x-31-bytes"),
        pytest.param(with_cnf(lambda k: {**k, -3: b"\x00" * 32}), id="cnf-point-not-on-curve"),
        pytest.param(with_cnf(lambda k: {1: 2, -1: 1, -2: k[-2]}), id="cnf-without-y"),
        pytest.param(with_cnf(lambda k: [k]), id="cnf-key-is-array"),
        pytest.param(proof_payload(b"\xff"), id="proof-payload-not-cbor"),
        pytest.param(proof_payload(cbor_strict.dumps([step])), id="proof-payload-one-item"),
        pytest.param(proof_payload(cbor_strict.dumps([step, os.urandom(7)])), id="proof-nonce-7-bytes"),
        pytest.param(proof_payload(cbor_strict.dumps([-1, os.urandom(8)])), id="proof-negative-step"),
        pytest.param(proof_payload(cbor_strict.dumps({step: os.urandom(8)})), id="proof-payload-map"),
        pytest.param(proof_payload(b"\x82\x1b" + step.to_bytes(8, "big") + cbor2.dumps(os.urandom(8))),
                     id="proof-step-non-shortest"),
    ]


@pytest.mark.parametrize("build", _claims_cases())
def test_malformed_claims(world: World, build: Builder) -> None:
    assert_reason(build(world), Reason.MALFORMED_CLAIMS)


def test_claims_template_is_accepted_when_unchanged(world: World) -> None:
    # The helpers above only make the claims malformed through the change under test.
    code = signed_claims_code(world, cbor_strict.dumps(claims_map(world)))
    verified = world.verifier().verify(code, world.now)
    assert verified.claims.profile.age_over == 65
    code = signed_claims_code(world, manual_map(base_claim_items(world)))
    assert world.verifier().verify(code, world.now).issuer == "CN-SH"


# Claims that no honest issuer writes but that a verifier must still refuse cleanly: the
# decoder promises that no exception other than VerificationError leaves it.


def test_bool_map_key_is_not_the_integer_claim_key(world: World) -> None:
    # `true` (0xf5) in place of the iss label 1 (0x01): same size, but not an integer key.
    items = base_claim_items(world)
    items[0] = (b"\xf5", items[0][1])
    assert_reason(fresh(world, signed_claims_code(world, manual_map(items))), Reason.MALFORMED_CLAIMS)


def test_bool_map_key_is_not_the_integer_profile_key(world: World) -> None:
    profile = manual_map([(b"\xf5", cbor2.dumps(os.urandom(8))), (b"\x02", cbor2.dumps(65))])
    items = base_claim_items(world, profile)
    assert_reason(fresh(world, signed_claims_code(world, manual_map(items))), Reason.MALFORMED_CLAIMS)


def test_bool_map_key_in_cnf_is_refused(world: World) -> None:
    device = generate_private_key(ES256)
    key = cose_key_map(device.public_key())  # type: ignore[arg-type]
    cnf = manual_map([(b"\xf5", cbor_strict.dumps(key))])
    items = base_claim_items(world)
    items.insert(4, (b"\x08", cnf))
    cred = cose.sign1(manual_map(items), world.issuer_key, kid=kid(world))
    text = holder_code(cred, device_proof(cred, device, world.now))  # type: ignore[arg-type]
    assert_reason(fresh(world, text), Reason.MALFORMED_CLAIMS)


def test_enrolled_until_as_bytes_is_malformed_claims(world: World) -> None:
    m = claims_map(world)
    m[-65537] = {1: os.urandom(8), 6: 5, 7: b"\x01\x02"}
    assert_reason(fresh(world, signed_claims_code(world, cbor_strict.dumps(m))), Reason.MALFORMED_CLAIMS)


def test_enrolled_until_before_year_one_is_malformed_claims(world: World) -> None:
    m = claims_map(world)
    m[-65537] = {1: os.urandom(8), 6: 5, 7: -800_000}
    assert_reason(fresh(world, signed_claims_code(world, cbor_strict.dumps(m))), Reason.MALFORMED_CLAIMS)


# --- TOO_LARGE ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "SP1:" + "0" * 1021,
        "X" * 5000,
        b"SP1:" + b"0" * 2000,
    ],
    ids=["1025-chars", "5000-chars-no-prefix", "bytes-2004"],
)
def test_too_large(world: World, text: Any) -> None:
    assert_reason(fresh(world, text), Reason.TOO_LARGE)


def test_exactly_1024_characters_is_not_too_large(world: World) -> None:
    text = "SP1:" + "0" * 1020
    assert len(text) == 1024
    err = assert_reason(fresh(world, text), Reason.MALFORMED_COSE)
    assert err.reason is not Reason.TOO_LARGE


# --- UNSUPPORTED_ALG ----------------------------------------------------------------------


def _alg_header_code(w: World, protected: bytes) -> str:
    payload = list(credential_item(w).value)[2]
    return code_of(cbor_strict.dumps([signed(protected, payload, w.issuer_key)]))


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(lambda k: {1: -37, 4: k}, id="PS256-not-allowed"),
        pytest.param(lambda k: {1: -257, 4: k}, id="RS256-not-allowed"),
        pytest.param(lambda k: {1: 0, 4: k}, id="alg-0"),
        pytest.param(lambda k: {4: k}, id="no-alg"),
        pytest.param(lambda k: {1: "ES256", 4: k}, id="alg-as-text"),
        pytest.param(lambda k: {1: EDDSA, 4: k}, id="EdDSA-header-ES256-key"),
        pytest.param(lambda k: {1: ES384, 4: k}, id="ES384-header-ES256-key"),
    ],
)
def test_unsupported_alg_es256_world(world: World, header: Callable[[bytes], dict[int, Any]]) -> None:
    text = _alg_header_code(world, cbor_strict.dumps(header(kid(world))))
    assert_reason(fresh(world, text), Reason.UNSUPPORTED_ALG)


def test_unsupported_alg_es256_header_with_eddsa_key() -> None:
    w = make_world(EDDSA)
    text = _alg_header_code(w, cbor_strict.dumps({1: ES256, 4: kid(w)}))
    assert_reason(fresh(w, text), Reason.UNSUPPORTED_ALG)


def test_unsupported_alg_bool_alg() -> None:
    w = make_world()
    text = _alg_header_code(w, b"\xa2\x01\xf5\x04\x48" + kid(w))
    assert_reason(fresh(w, text), Reason.UNSUPPORTED_ALG)


def test_unsupported_alg_eddsa_device_proof(world: World) -> None:
    device = generate_private_key(ES256)
    cred = world.issuer.credential(elderly(), world.now, device_key=device.public_key())  # type: ignore[arg-type]
    other = generate_private_key(EDDSA)
    proof = cose.sign1(cbor_strict.dumps([world.now // 30, os.urandom(8)]), other, kid=None,
                       external_aad=cred, tagged=False)
    assert_reason(fresh(world, holder_code(cred, proof)), Reason.UNSUPPORTED_ALG)


# --- UNKNOWN_KID, KEY_NOT_VALID_NOW, KEY_REVOKED -------------------------------------------


def test_unknown_kid_other_issuer(world: World) -> None:
    other = make_world()
    assert_reason(fresh(world, other.online()), Reason.UNKNOWN_KID)


def test_unknown_kid_random_kid_signed_by_trusted_key(world: World) -> None:
    payload = list(credential_item(world).value)[2]
    text = online_code(cose.sign1(payload, world.issuer_key, kid=os.urandom(8)))
    assert_reason(fresh(world, text), Reason.UNKNOWN_KID)


def test_unknown_kid_short_kid(world: World) -> None:
    payload = list(credential_item(world).value)[2]
    text = online_code(cose.sign1(payload, world.issuer_key, kid=kid(world)[:7]))
    assert_reason(fresh(world, text), Reason.UNKNOWN_KID)


def _ring_world(w: World, entry_change: Callable[[Any], Any]) -> Verifier:
    entry = entry_change(new_entry(w.issuer_key.public_key(), w.now - 3600))
    ring = KeyRing(w.ring.issuer, w.ring.region, w.ring.privileges, (entry,))
    return Verifier(store_for([ring], w.root_key, w.now))


def test_key_not_valid_now_before_not_before(world: World) -> None:
    v = _ring_world(world, lambda e: dataclasses.replace(e, not_before=world.now + 3600))
    assert_reason((v, world.online(), world.now), Reason.KEY_NOT_VALID_NOW)


def test_key_not_valid_now_after_not_after(world: World) -> None:
    v = _ring_world(world, lambda e: dataclasses.replace(e, not_after=world.now - 3600))
    assert_reason((v, world.online(), world.now), Reason.KEY_NOT_VALID_NOW)


def test_key_validity_window_uses_clock_skew(world: World) -> None:
    v = _ring_world(world, lambda e: dataclasses.replace(e, not_before=world.now + 60))
    assert v.verify(world.online(), world.now).kid == kid(world)
    v = _ring_world(world, lambda e: dataclasses.replace(e, not_before=world.now + 61))
    assert_reason((v, world.online(), world.now), Reason.KEY_NOT_VALID_NOW)
    v = _ring_world(world, lambda e: dataclasses.replace(e, not_after=world.now - 60))
    assert v.verify(world.online(), world.now).kid == kid(world)
    v = _ring_world(world, lambda e: dataclasses.replace(e, not_after=world.now - 61))
    assert_reason((v, world.online(), world.now), Reason.KEY_NOT_VALID_NOW)


def test_key_revoked(world: World) -> None:
    ring = world.ring.with_revoked(kid(world))
    v = Verifier(store_for([ring], world.root_key, world.now))
    assert_reason((v, world.online(), world.now), Reason.KEY_REVOKED)
    text, _, _ = world.holder()
    assert_reason((v, text, world.now), Reason.KEY_REVOKED)


def test_revoked_beats_bad_signature(world: World) -> None:
    # A revoked key is named as revoked even if the code's signature is also broken.
    ring = world.ring.with_revoked(kid(world))
    v = Verifier(store_for([ring], world.root_key, world.now))
    item = credential_item(world)
    body = list(item.value)
    body[3] = bytes(64)
    assert_reason((v, code_of(cbor_strict.dumps([CBORTag(18, body)])), world.now), Reason.KEY_REVOKED)


# --- BAD_SIGNATURE ------------------------------------------------------------------------


def test_bad_signature_other_key_same_kid(any_alg_world: World) -> None:
    w = any_alg_world
    impostor = generate_private_key(alg_of(w.issuer_key))
    claims = Claims("CN-SH", w.now, w.now + 60, os.urandom(16), elderly())
    text = online_code(issue_credential(claims, impostor, kid(w)))
    assert_reason(fresh(w, text), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("position", [0, 1, 31, 32, 33, 63])
def test_bad_signature_flipped_signature_byte(any_alg_world: World, position: int) -> None:
    w = any_alg_world
    body = list(credential_item(w).value)
    sig = bytearray(body[3])
    sig[position] ^= 0x01
    body[3] = bytes(sig)
    assert_reason(fresh(w, code_of(cbor_strict.dumps([CBORTag(18, body)]))), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("length", [0, 63, 65, 128])
def test_bad_signature_wrong_length(any_alg_world: World, length: int) -> None:
    w = any_alg_world
    body = list(credential_item(w).value)
    body[3] = (body[3] * 3)[:length]
    assert_reason(fresh(w, code_of(cbor_strict.dumps([CBORTag(18, body)]))), Reason.BAD_SIGNATURE)


def test_bad_signature_swapped_payload(world: World) -> None:
    a = list(credential_item(world).value)
    b = list(credential_item(world).value)
    a[2] = b[2]
    assert_reason(fresh(world, code_of(cbor_strict.dumps([CBORTag(18, a)]))), Reason.BAD_SIGNATURE)


def test_bad_signature_is_checked_before_claims(world: World) -> None:
    # A payload that is garbage but unsigned is BAD_SIGNATURE, not MALFORMED_CLAIMS.
    body = list(credential_item(world).value)
    body[2] = b"\xff\xff"
    assert_reason(fresh(world, code_of(cbor_strict.dumps([CBORTag(18, body)]))), Reason.BAD_SIGNATURE)


# --- NOT_YET_VALID, EXPIRED ---------------------------------------------------------------


def test_not_yet_valid_iat_in_future(world: World) -> None:
    assert_reason(fresh(world, world.online(at=world.now + 3600)), Reason.NOT_YET_VALID)


def test_not_yet_valid_nbf_in_future(world: World) -> None:
    claims = Claims("CN-SH", world.now, world.now + 3600, os.urandom(16), elderly(), not_before=world.now + 600)
    text = online_code(issue_credential(claims, world.issuer_key, kid(world)))
    assert_reason(fresh(world, text), Reason.NOT_YET_VALID)
    assert world.verifier().verify(text, world.now + 600).claims.not_before == world.now + 600


def test_expired(world: World) -> None:
    assert_reason(fresh(world, world.online(at=world.now - 3600)), Reason.EXPIRED)


def test_expired_holder_bound(world: World) -> None:
    text, _, _ = world.holder(at=world.now - 2 * 86400)
    assert_reason(fresh(world, text), Reason.EXPIRED)


# --- device proofs ------------------------------------------------------------------------


def test_device_proof_missing(world: World) -> None:
    _, cred, _ = world.holder()
    assert_reason(fresh(world, online_code(cred)), Reason.DEVICE_PROOF_MISSING)


def test_bad_device_signature_other_device_key(world: World) -> None:
    _, cred, _ = world.holder()
    thief = generate_private_key(ES256)
    text = holder_code(cred, device_proof(cred, thief, world.now))  # type: ignore[arg-type]
    assert_reason(fresh(world, text), Reason.BAD_DEVICE_SIGNATURE)


def test_bad_device_signature_proof_bound_to_other_credential(world: World) -> None:
    _, cred, device = world.holder()
    _, other_cred, _ = world.holder(device=device)
    proof_for_other = device_proof(other_cred, device, world.now)  # type: ignore[arg-type]
    assert_reason(fresh(world, holder_code(cred, proof_for_other)), Reason.BAD_DEVICE_SIGNATURE)
    # and the same proof is fine with the credential it was made for
    assert world.verifier().verify(holder_code(other_cred, proof_for_other), world.now).kind == "holder_bound"


def test_bad_device_signature_flipped_proof_signature(world: World) -> None:
    _, cred, device = world.holder()
    proof = list(cbor2.loads(device_proof(cred, device, world.now)))  # type: ignore[arg-type]
    sig = bytearray(proof[3])
    sig[10] ^= 0x80
    proof[3] = bytes(sig)
    text = holder_code(cred, cbor_strict.dumps(proof))
    assert_reason(fresh(world, text), Reason.BAD_DEVICE_SIGNATURE)


def test_proof_too_old(world: World) -> None:
    text, _, _ = world.holder(proof_at=world.now - 120)
    assert_reason(fresh(world, text), Reason.PROOF_TOO_OLD)


def test_proof_in_future(world: World) -> None:
    text, _, _ = world.holder(proof_at=world.now + 120)
    assert_reason(fresh(world, text), Reason.PROOF_IN_FUTURE)


# --- REPLAYED -----------------------------------------------------------------------------


def test_replayed_online(world: World) -> None:
    v = world.verifier()
    text = world.online()
    assert v.verify(text, world.now).kind == "online"
    assert_reason((v, text, world.now + 1), Reason.REPLAYED)


def test_replayed_holder(world: World) -> None:
    v = world.verifier()
    text, _, _ = world.holder()
    assert v.verify(text, world.now).kind == "holder_bound"
    assert_reason((v, text, world.now), Reason.REPLAYED)


# --- ISSUER_NOT_RECOGNISED ----------------------------------------------------------------


def test_issuer_not_recognised_iss_differs(world: World) -> None:
    rogue = Issuer("CN-XX", world.ring.active(), world.issuer_key)
    text = online_code(rogue.credential(elderly(), world.now))
    err = assert_reason(fresh(world, text), Reason.ISSUER_NOT_RECOGNISED)
    assert "CN-XX" in err.detail


@pytest.mark.parametrize(
    ("granted", "profile"),
    [
        pytest.param(("residence",), elderly, id="age-not-granted"),
        pytest.param(("age_over",), elderly, id="residence-not-granted"),
        pytest.param(("residence", "student"), disabled_student, id="disability-not-granted"),
        pytest.param(("residence", "disability"), disabled_student, id="student-not-granted"),
        pytest.param(("age_over", "residence"), lambda: elderly(martyr_family=True), id="martyr-not-granted"),
        pytest.param((), elderly, id="nothing-granted"),
    ],
)
def test_issuer_not_recognised_privilege_not_granted(
    world: World, granted: tuple[str, ...], profile: Callable[[], Any]
) -> None:
    ring = dataclasses.replace(world.ring, privileges=granted)
    v = Verifier(store_for([ring], world.root_key, world.now))
    err = assert_reason((v, world.online(profile()), world.now), Reason.ISSUER_NOT_RECOGNISED)
    assert "may not assert" in err.detail


def test_restricted_privileges_still_accept_what_is_granted(world: World) -> None:
    ring = dataclasses.replace(world.ring, privileges=("age_over", "residence"))
    v = Verifier(store_for([ring], world.root_key, world.now))
    assert v.verify(world.online(elderly()), world.now).profile.age_over == 65
    v2 = Verifier(store_for([ring], world.root_key, world.now))
    text = world.online(elderly(residence=None))
    assert v2.verify(text, world.now).profile.residence is None


# --- TRUST_LIST_STALE ---------------------------------------------------------------------


def test_trust_list_stale() -> None:
    w = make_world(max_age=3600)
    text = w.online(lifetime=86400)
    assert w.verifier().verify(text, w.now + 3600).kind == "online"
    assert_reason((w.verifier(), w.online(lifetime=86400), w.now + 3601), Reason.TRUST_LIST_STALE)


def test_trust_list_stale_is_reported_before_unknown_kid() -> None:
    w = make_world(max_age=3600)
    other = make_world(now=w.now + 4000)
    assert_reason((w.verifier(), other.online(), w.now + 4000), Reason.TRUST_LIST_STALE)


# --- every reason the verifier can produce is reached ---------------------------------------

NOT_VERIFIER_REASONS = {Reason.NOT_ELIGIBLE, Reason.NO_POLICY_FOR_VENUE, Reason.CATALOGUE_STALE}


def test_every_verifier_reason_is_reachable() -> None:
    """One crafted input per reason, all against one world: together they name every reason."""
    w = make_world(max_age=3600)
    device = generate_private_key(ES256)
    holder_cred = w.issuer.credential(elderly(), w.now, device_key=device.public_key())  # type: ignore[arg-type]
    body = list(credential_item(w).value)
    body[3] = bytes(64)
    m = claims_map(w)
    del m[4]
    revoked = Verifier(store_for([w.ring.with_revoked(kid(w))], w.root_key, w.now))
    stale_soon = Verifier(store_for([w.ring], w.root_key, w.now, max_age=10))
    late_key = _ring_world(w, lambda e: dataclasses.replace(e, not_before=w.now + 3600))
    narrow = Verifier(store_for([dataclasses.replace(w.ring, privileges=())], w.root_key, w.now))
    used = w.online()
    replay_verifier = w.verifier()
    replay_verifier.verify(used, w.now)
    withdrawn = w.online()
    withdrawn_claims = decode_claims(parse_code(withdrawn).credential.payload)
    revocations = RevocationList(1, w.now, 3600)
    revocations.add_credential(credential_id(kid(w), withdrawn_claims.cti), w.now + 120)
    revoking = Verifier(w.store, revocations=revocations)
    cases: list[Case] = [
        fresh(w, "XP1:0"),
        fresh(w, "SP1:GGW"),
        fresh(w, code_of(b"\x80")),
        fresh(w, signed_claims_code(w, cbor_strict.dumps(m))),
        fresh(w, "SP1:" + "0" * 1100),
        fresh(w, _alg_header_code(w, cbor_strict.dumps({1: -37, 4: kid(w)}))),
        fresh(w, make_world().online()),
        (late_key, w.online(), w.now),
        (revoked, w.online(), w.now),
        fresh(w, code_of(cbor_strict.dumps([CBORTag(18, body)]))),
        fresh(w, w.online(at=w.now + 600)),
        fresh(w, w.online(at=w.now - 600)),
        fresh(w, online_code(holder_cred)),
        fresh(w, holder_code(holder_cred, device_proof(holder_cred, generate_private_key(ES256), w.now))),  # type: ignore[arg-type]
        fresh(w, holder_code(holder_cred, device_proof(holder_cred, device, w.now - 300))),  # type: ignore[arg-type]
        fresh(w, holder_code(holder_cred, device_proof(holder_cred, device, w.now + 300))),  # type: ignore[arg-type]
        (replay_verifier, used, w.now),
        (revoking, withdrawn, w.now),
        (narrow, w.online(), w.now),
        (stale_soon, w.online(), w.now + 11),
    ]
    seen: list[Reason] = []
    for verifier, text, now in cases:
        with pytest.raises(VerificationError) as info:
            verifier.verify(text, now)
        seen.append(info.value.reason)
    expected = [r for r in Reason if r not in NOT_VERIFIER_REASONS]
    assert seen == expected
