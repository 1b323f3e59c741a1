"""Bad SP1 codes, each with the one reason code the verifier must name (generator part of the corpus).

Every code is built from real parts: the corpus's fixed keys, real signatures where a later check
is the one meant to fail, and the fixed clock. A case names the trust store it is judged by
(`world.TRUST_VARIANTS`), the clock offset, and codes that must verify first (for replays).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import cbor2
from cbor2 import CBORTag

from keys.algorithms import EDDSA, ES384, PrivateKey, alg_of, kid_of
from tests.corpus.world import (
    DAY,
    ISSUER,
    ISSUER_ED_KEY,
    ISSUER_KEY,
    NOW,
    PARTNER_ISSUER,
    PARTNER_ISSUER_KEY,
    STRANGER_KEY,
    device_key,
)
from verifier import cbor_strict, cose
from verifier.base45 import b45decode, b45encode
from verifier.claims import cose_key_map
from verifier.code import TIME_STEP_S, device_proof, holder_code, online_code

Case = dict[str, Any]
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256 group order


class Maker:
    """Claims, credentials and proofs with seeded randomness (cti, subjects, nonces)."""

    def __init__(self, seed: int = 12) -> None:
        self.rng = random.Random(seed)

    def random_bytes(self, n: int) -> bytes:
        return self.rng.randbytes(n)

    def claims(self, *, at: int = NOW, life: int = 60, iss: str = ISSUER) -> dict[int, Any]:
        p: dict[int, Any] = {1: self.random_bytes(8), 2: 65, 8: 310104}
        return {1: iss, 4: at + life, 6: at, 7: self.random_bytes(16), -65537: p}

    def credential(
        self, claims: dict[int, Any] | bytes, key: PrivateKey = ISSUER_KEY, *, kid: bytes | None = None
    ) -> bytes:
        payload = claims if isinstance(claims, bytes) else cbor_strict.dumps(claims)
        return cose.sign1(payload, key, kid=kid if kid is not None else kid_of(key.public_key()))

    def online(self, **kwargs: Any) -> str:
        return online_code(self.credential(self.claims(**kwargs)))

    def holder_parts(self, *, at: int = NOW, life: int = DAY, phone: int = 0) -> tuple[bytes, Any]:
        device = device_key(phone)
        claims = self.claims(at=at, life=life)
        claims[8] = {1: cose_key_map(device.public_key())}
        return self.credential(claims), device

    def proof(self, cred: bytes, device: Any, at: int = NOW) -> bytes:
        return device_proof(cred, device, at, nonce=self.random_bytes(8))

    def holder(self, *, at: int = NOW, proof_at: int = NOW, phone: int = 0) -> str:
        cred, device = self.holder_parts(at=at, phone=phone)
        return holder_code(cred, self.proof(cred, device, proof_at))


def code_of(raw: bytes) -> str:
    return "SP1:" + b45encode(raw)


def signed_header(protected: bytes, payload: bytes, key: PrivateKey = ISSUER_KEY) -> bytes:
    """A tagged COSE_Sign1 with any protected header bytes and a real signature over them."""
    signature = cose.sign(key, alg_of(key), cose.sig_structure(protected, b"", payload))
    return cose.encode_sign1(protected, payload, signature, tagged=True)


def manual_map(items: list[tuple[bytes, bytes]], head: bytes | None = None) -> bytes:
    return (head if head is not None else bytes((0xA0 | len(items),))) + b"".join(k + v for k, v in items)


def codes_cases() -> list[Case]:
    m = Maker()
    cases: list[Case] = []
    kid = kid_of(ISSUER_KEY.public_key())
    ed_kid = kid_of(ISSUER_ED_KEY.public_key())

    def add(case_id: str, text: str, expect: str, **extra: Any) -> None:
        cases.append({"id": case_id, "text": text, "expect": expect, **extra})

    good = m.online()
    body = good[4:]
    raw = b45decode(body)
    cred = raw[1:]
    item = cbor2.loads(cred)
    protected, _, payload, signature = item.value

    def with_body(parts: list[Any], tag: int | None = 18) -> str:
        inner: Any = CBORTag(tag, parts) if tag is not None else parts
        return code_of(cbor2.dumps([inner]))

    def claims_code(payload_bytes: bytes, key: PrivateKey = ISSUER_KEY) -> str:
        return online_code(m.credential(payload_bytes, key))

    def changed(change: Callable[[dict[int, Any]], None], strict: bool = True) -> str:
        c = m.claims()
        change(c)
        return claims_code(cbor_strict.dumps(c) if strict else cbor2.dumps(c))

    def items() -> list[tuple[bytes, bytes]]:
        return [
            (b"\x01", cbor2.dumps(ISSUER)),
            (b"\x04", cbor2.dumps(NOW + 60)),
            (b"\x06", cbor2.dumps(NOW)),
            (b"\x07", cbor2.dumps(m.random_bytes(16))),
            (cbor2.dumps(-65537), cbor2.dumps({1: m.random_bytes(8), 2: 65})),
        ]

    # --- MALFORMED_PREFIX: the text is not an SP1 code at all
    for case_id, text in [
        ("no-prefix", body),
        ("lowercase-prefix", "sp1:" + body),
        ("other-version-SP2", "SP2:" + body),
        ("no-colon", "SP1" + body),
        ("leading-space", " " + good),
        ("empty", ""),
        ("eu-dcc-prefix", "HC1:" + body),
        ("url-around-code", "https://pass.example/#" + good),
        ("fullwidth-S", "\uff33P1:" + body),
        ("bom-first", "\ufeff" + good),
    ]:
        add(case_id, text, "MALFORMED_PREFIX")

    # --- TOO_LARGE: checked before anything is decoded
    add("1025-characters", "SP1:" + "0" * 1021, "TOO_LARGE")
    add("5000-characters-no-prefix", "X" * 5000, "TOO_LARGE")
    add("valid-code-padded-past-1-KiB", good + " " * (1025 - len(good)), "TOO_LARGE")

    # --- MALFORMED_BASE45: non-canonical or impossible base45
    for case_id, text in [
        ("non-canonical-triple-GGW", "SP1:GGW"),
        ("largest-triple", "SP1:::::"),
        ("final-pair-over-255", "SP1:BB8V5"),
        ("single-character", "SP1:0"),
        ("lowercase-body", "SP1:" + body.lower()),
        ("hash-character", "SP1:" + body[:9] + "#" + body[10:]),
        ("newline-inside", "SP1:" + body[:9] + "\n" + body[10:]),
        ("trailing-newline", good + "\n"),
        (
            "length-one-mod-three",
            "SP1:" + body + ("0" if len(body) % 3 == 0 else "00" if len(body) % 3 == 2 else "000"),
        ),
        ("GGW-inside-code", "SP1:" + body[:3] + "GGW" + body[6:]),
    ]:
        add(case_id, text, "MALFORMED_BASE45")

    # --- MALFORMED_COSE: structure around the signature
    b = list(item.value)
    add("not-an-array", code_of(b"\x01"), "MALFORMED_COSE")
    add("empty-array", code_of(b"\x80"), "MALFORMED_COSE")
    add("no-bytes", code_of(b""), "MALFORMED_COSE")
    add("a-map", code_of(cbor2.dumps({1: item})), "MALFORMED_COSE")
    add("three-items", code_of(b"\x83" + cred * 3), "MALFORMED_COSE")
    add("credential-without-array", code_of(cred), "MALFORMED_COSE")
    add("wrong-tag-17-mac0", with_body(b, 17), "MALFORMED_COSE")
    add("wrong-tag-98-sign", with_body(b, 98), "MALFORMED_COSE")
    add("cwt-tag-61-around", code_of(b"\x81" + cbor2.dumps(CBORTag(61, item))), "MALFORMED_COSE")
    add("untagged-credential", with_body(b, None), "MALFORMED_COSE")
    add("double-tag-18", code_of(b"\x81\xd2" + cred), "MALFORMED_COSE")
    add("cose-array-of-3", with_body(b[:3]), "MALFORMED_COSE")
    add("cose-array-of-5", with_body([*b, b""]), "MALFORMED_COSE")
    add("kid-in-unprotected-header", with_body([b[0], {4: kid}, b[2], b[3]]), "MALFORMED_COSE")
    add("unprotected-not-a-map", with_body([b[0], [], b[2], b[3]]), "MALFORMED_COSE")
    add("payload-is-text", with_body([b[0], {}, b[2].hex(), b[3]]), "MALFORMED_COSE")
    add("signature-is-int", with_body([b[0], {}, b[2], 0]), "MALFORMED_COSE")
    add("trailing-zero-byte", code_of(raw + b"\x00"), "MALFORMED_COSE")
    add("two-codes-concatenated", code_of(raw + raw), "MALFORMED_COSE")
    add("indefinite-outer-array", code_of(b"\x9f" + cred + b"\xff"), "MALFORMED_COSE")
    add(
        "indefinite-cose-array",
        code_of(b"\x81\xd2\x9f" + b"".join(cbor2.dumps(x) for x in b) + b"\xff"),
        "MALFORMED_COSE",
    )
    chunks = b"\x5f" + cbor2.dumps(payload[:10]) + cbor2.dumps(payload[10:]) + b"\xff"
    add(
        "indefinite-payload-bytes",
        code_of(b"\x81\xd2\x84" + cbor2.dumps(protected) + b"\xa0" + chunks + cbor2.dumps(signature)),
        "MALFORMED_COSE",
    )
    add("non-shortest-outer-head", code_of(b"\x98\x01" + cred), "MALFORMED_COSE")
    add("non-shortest-tag-head", code_of(b"\x81\xd8\x12" + cred[1:]), "MALFORMED_COSE")
    long_payload = b"\x59" + len(payload).to_bytes(2, "big") + payload
    add(
        "non-shortest-payload-length",
        code_of(b"\x81\xd2\x84" + cbor2.dumps(protected) + b"\xa0" + long_payload + cbor2.dumps(signature)),
        "MALFORMED_COSE",
    )
    add("value-sharing-tag-28", code_of(b"\x81" + cbor2.dumps(CBORTag(28, item))), "MALFORMED_COSE")
    add("680-nested-arrays", code_of(b"\x81" * 679 + b"\x00"), "MALFORMED_COSE")
    add("truncated-in-protected", code_of(b"\x81\xd2\x84\x43"), "MALFORMED_COSE")
    add("truncated-half", code_of(raw[: len(raw) // 2]), "MALFORMED_COSE")
    add(
        "protected-duplicate-alg",
        online_code(signed_header(b"\xa3\x01\x26\x04\x48" + kid + b"\x01\x26", payload)),
        "MALFORMED_COSE",
    )
    add(
        "protected-keys-out-of-order",
        online_code(signed_header(b"\xa2\x04\x48" + kid + b"\x01\x26", payload)),
        "MALFORMED_COSE",
    )
    add(
        "protected-indefinite-map",
        online_code(signed_header(b"\xbf\x01\x26\x04\x48" + kid + b"\xff", payload)),
        "MALFORMED_COSE",
    )
    add(
        "protected-extra-content-type",
        online_code(signed_header(cbor_strict.dumps({1: -7, 3: 0, 4: kid}), payload)),
        "MALFORMED_COSE",
    )
    add(
        "protected-crit",
        online_code(signed_header(cbor_strict.dumps({1: -7, 2: [1], 4: kid}), payload)),
        "MALFORMED_COSE",
    )
    add("protected-not-a-map", online_code(signed_header(b"\x01", payload)), "MALFORMED_COSE")
    add("kid-is-text", online_code(signed_header(cbor_strict.dumps({1: -7, 4: kid.hex()}), payload)), "MALFORMED_COSE")
    add("credential-without-kid", online_code(cose.sign1(payload, ISSUER_KEY, kid=None)), "MALFORMED_COSE")
    hcred, hdev = m.holder_parts()
    proof = m.proof(hcred, hdev)
    add("tagged-device-proof", code_of(b"\x82" + hcred + b"\xd2" + proof), "MALFORMED_COSE")
    kid_proof = cose.sign1(
        cbor_strict.dumps([NOW // TIME_STEP_S, m.random_bytes(8)]),
        hdev,
        kid=b"\x01" * 8,
        external_aad=hcred,
        tagged=False,
    )
    add("device-proof-with-kid", holder_code(hcred, kid_proof), "MALFORMED_COSE")
    add("proof-on-online-credential", holder_code(cred, m.proof(cred, device_key(1))), "MALFORMED_COSE")
    add("holder-trailing-byte", code_of(b"\x82" + hcred + proof + b"\x00"), "MALFORMED_COSE")

    # --- MALFORMED_CLAIMS: signed, but the claims are not what an issuer writes
    add("payload-not-cbor", claims_code(b"\xff"), "MALFORMED_CLAIMS")
    add("payload-empty", claims_code(b""), "MALFORMED_CLAIMS")
    add("payload-is-array", claims_code(cbor_strict.dumps([1, 2])), "MALFORMED_CLAIMS")
    add("missing-exp", changed(lambda c: c.pop(4)), "MALFORMED_CLAIMS")
    add("missing-iss", changed(lambda c: c.pop(1)), "MALFORMED_CLAIMS")
    add("missing-cti", changed(lambda c: c.pop(7)), "MALFORMED_CLAIMS")
    add("missing-profile", changed(lambda c: c.pop(-65537)), "MALFORMED_CLAIMS")
    add("cti-15-bytes", changed(lambda c: c.__setitem__(7, m.random_bytes(15))), "MALFORMED_CLAIMS")
    add("cti-is-text", changed(lambda c: c.__setitem__(7, "x" * 16)), "MALFORMED_CLAIMS")
    add("exp-as-float", changed(lambda c: c.__setitem__(4, float(NOW + 60)), strict=False), "MALFORMED_CLAIMS")
    add("exp-huge-uint64", changed(lambda c: c.__setitem__(4, 2**64 - 1)), "MALFORMED_CLAIMS")
    add("exp-bignum-tag-2", changed(lambda c: c.__setitem__(4, 2**70), strict=False), "MALFORMED_CLAIMS")
    add("iat-negative", changed(lambda c: c.__setitem__(6, -5)), "MALFORMED_CLAIMS")
    add(
        "exp-datetime-tag-1",
        changed(lambda c: c.__setitem__(4, CBORTag(1, NOW + 60)), strict=False),
        "MALFORMED_CLAIMS",
    )
    add("exp-before-iat", changed(lambda c: c.__setitem__(4, NOW - 1)), "MALFORMED_CLAIMS")
    add("unknown-claim-sub", changed(lambda c: c.__setitem__(2, "sub")), "MALFORMED_CLAIMS")
    add("unknown-private-claim", changed(lambda c: c.__setitem__(-65539, 1)), "MALFORMED_CLAIMS")
    add("iss-empty", changed(lambda c: c.__setitem__(1, "")), "MALFORMED_CLAIMS")
    add("iss-is-bytes", changed(lambda c: c.__setitem__(1, b"CN-SH")), "MALFORMED_CLAIMS")
    add("iss-non-ascii", changed(lambda c: c.__setitem__(1, "CN-\u4e0a\u6d77")), "MALFORMED_CLAIMS")
    parts = items()
    add("claims-keys-out-of-order", claims_code(manual_map([parts[1], parts[0], *parts[2:]])), "MALFORMED_CLAIMS")
    parts = items()
    add("claims-duplicate-iss", claims_code(manual_map([parts[0], *parts])), "MALFORMED_CLAIMS")
    parts = items()
    parts[2] = (b"\x06", b"\x1b" + NOW.to_bytes(8, "big"))
    add("iat-non-shortest", claims_code(manual_map(parts)), "MALFORMED_CLAIMS")
    add("claims-indefinite-map", claims_code(b"\xbf" + manual_map(items())[1:] + b"\xff"), "MALFORMED_CLAIMS")
    add("claims-trailing-byte", claims_code(cbor_strict.dumps(m.claims()) + b"\x00"), "MALFORMED_CLAIMS")
    parts = items()
    parts[0] = (b"\xf5", parts[0][1])
    add("claims-key-true-for-iss", claims_code(manual_map(parts)), "MALFORMED_CLAIMS")

    def profile(change: dict[int, Any]) -> str:
        return changed(lambda c: c[-65537].update(change))

    add("profile-age-over-66", profile({2: 66}), "MALFORMED_CLAIMS")
    add("profile-age-over-text", profile({2: "65"}), "MALFORMED_CLAIMS")
    add("profile-subject-7-bytes", profile({1: m.random_bytes(7)}), "MALFORMED_CLAIMS")
    add("profile-subject-33-bytes", profile({1: m.random_bytes(33)}), "MALFORMED_CLAIMS")
    add("profile-martyr-int-1", profile({5: 1}), "MALFORMED_CLAIMS")
    add("profile-disability-without-grade", profile({3: 2}), "MALFORMED_CLAIMS")
    add("profile-residence-99", profile({8: 99}), "MALFORMED_CLAIMS")
    add("profile-int-over-32-bits", profile({9: 1 << 33}), "MALFORMED_CLAIMS")
    add("profile-unknown-key-11", profile({11: 1}), "MALFORMED_CLAIMS")
    add("profile-not-a-map", changed(lambda c: c.__setitem__(-65537, [1])), "MALFORMED_CLAIMS")
    add("enrolled-until-before-year-one", profile({6: 5, 7: -800_000}), "MALFORMED_CLAIMS")

    def with_cnf(cnf: Any) -> str:
        device = device_key(2)
        c = m.claims(life=DAY)
        c[8] = cnf(cose_key_map(device.public_key()))
        hc = m.credential(c)
        return holder_code(hc, m.proof(hc, device))

    add("cnf-kty-okp", with_cnf(lambda k: {1: {**k, 1: 1}}), "MALFORMED_CLAIMS")
    add("cnf-curve-p384", with_cnf(lambda k: {1: {**k, -1: 2}}), "MALFORMED_CLAIMS")
    add("cnf-point-not-on-curve", with_cnf(lambda k: {1: {**k, -3: b"\x00" * 32}}), "MALFORMED_CLAIMS")
    add("cnf-without-y", with_cnf(lambda k: {1: {1: 2, -1: 1, -2: k[-2]}}), "MALFORMED_CLAIMS")
    add("cnf-key-is-array", with_cnf(lambda k: {1: [k]}), "MALFORMED_CLAIMS")

    def proof_payload(proof_bytes: bytes) -> str:
        pc, pd = m.holder_parts(phone=3)
        return holder_code(pc, cose.sign1(proof_bytes, pd, kid=None, external_aad=pc, tagged=False))

    step = NOW // TIME_STEP_S
    add("proof-payload-not-cbor", proof_payload(b"\xff"), "MALFORMED_CLAIMS")
    add("proof-nonce-7-bytes", proof_payload(cbor_strict.dumps([step, m.random_bytes(7)])), "MALFORMED_CLAIMS")
    add("proof-negative-step", proof_payload(cbor_strict.dumps([-1, m.random_bytes(8)])), "MALFORMED_CLAIMS")
    add("proof-step-uint64-max", proof_payload(cbor_strict.dumps([2**64 - 1, m.random_bytes(8)])), "MALFORMED_CLAIMS")
    add("proof-payload-map", proof_payload(cbor_strict.dumps({step: m.random_bytes(8)})), "MALFORMED_CLAIMS")

    # --- UNSUPPORTED_ALG: the header's alg is not allowed, or not the key's own (alg confusion)
    for case_id, header in [
        ("alg-PS256", {1: -37, 4: kid}),
        ("alg-RS256", {1: -257, 4: kid}),
        ("alg-0", {1: 0, 4: kid}),
        ("alg-missing", {4: kid}),
        ("alg-as-text", {1: "ES256", 4: kid}),
        ("alg-EdDSA-on-ES256-key", {1: EDDSA, 4: kid}),
        ("alg-ES384-on-ES256-key", {1: ES384, 4: kid}),
        ("alg-ES256-on-EdDSA-key", {1: -7, 4: ed_kid}),
        ("alg-HS256-symmetric", {1: 5, 4: kid}),
    ]:
        add(case_id, online_code(signed_header(cbor_strict.dumps(header), payload)), "UNSUPPORTED_ALG")
    add("alg-true", online_code(signed_header(b"\xa2\x01\xf5\x04\x48" + kid, payload)), "UNSUPPORTED_ALG")
    ed_proof_cred, _ = m.holder_parts(phone=4)
    ed_proof = cose.sign1(
        cbor_strict.dumps([step, m.random_bytes(8)]), ISSUER_ED_KEY, kid=None, external_aad=ed_proof_cred, tagged=False
    )
    add("device-proof-in-EdDSA", holder_code(ed_proof_cred, ed_proof), "UNSUPPORTED_ALG")

    # --- UNKNOWN_KID
    add("stranger-issuer-key", online_code(m.credential(m.claims(), STRANGER_KEY)), "UNKNOWN_KID")
    add("random-kid-trusted-signature", online_code(m.credential(m.claims(), kid=m.random_bytes(8))), "UNKNOWN_KID")
    add("kid-7-bytes", online_code(m.credential(m.claims(), kid=kid[:7])), "UNKNOWN_KID")
    add("kid-9-bytes", online_code(m.credential(m.claims(), kid=kid + b"\x00")), "UNKNOWN_KID")
    add("kid-empty", online_code(m.credential(m.claims(), kid=b"")), "UNKNOWN_KID")
    add(
        "partner-key-not-in-our-list",
        online_code(m.credential(m.claims(iss=PARTNER_ISSUER), PARTNER_ISSUER_KEY)),
        "UNKNOWN_KID",
    )

    # --- the key's own state in the trust list
    add("key-not-yet-valid", m.online(), "KEY_NOT_VALID_NOW", trust="key_later")
    add("key-past-not-after", m.online(), "KEY_NOT_VALID_NOW", trust="key_ended")
    add("revoked-key-online", m.online(), "KEY_REVOKED", trust="revoked")
    add("revoked-key-holder", m.holder(), "KEY_REVOKED", trust="revoked")
    zeroed = list(b)
    zeroed[3] = bytes(64)
    add("revoked-key-broken-signature", with_body(zeroed), "KEY_REVOKED", trust="revoked")

    # --- BAD_SIGNATURE
    for position in (0, 31, 32, 63):
        flipped = bytearray(signature)
        flipped[position] ^= 0x01
        add(f"signature-bit-flip-{position}", with_body([b[0], {}, b[2], bytes(flipped)]), "BAD_SIGNATURE")
    for length in (0, 63, 65, 128):
        add(f"signature-{length}-bytes", with_body([b[0], {}, b[2], (signature * 3)[:length]]), "BAD_SIGNATURE")
    add("signature-all-zero", with_body(zeroed), "BAD_SIGNATURE")
    add("signature-s-zero", with_body([b[0], {}, b[2], signature[:32] + bytes(32)]), "BAD_SIGNATURE")
    add("signature-r-is-order", with_body([b[0], {}, b[2], _N.to_bytes(32, "big") + signature[32:]]), "BAD_SIGNATURE")
    other = cbor2.loads(b45decode(m.online()[4:])[1:]).value
    add("payload-swapped-from-other-code", with_body([b[0], {}, other[2], b[3]]), "BAD_SIGNATURE")
    add("payload-garbage-unsigned", with_body([b[0], {}, b"\xff\xff", b[3]]), "BAD_SIGNATURE")
    impostor = cose.sign1(payload, STRANGER_KEY, kid=kid)
    add("impostor-key-claims-our-kid", online_code(impostor), "BAD_SIGNATURE")
    ed_cred = m.credential(m.claims(), ISSUER_ED_KEY)
    ed = cbor2.loads(ed_cred).value
    ed_sig = bytearray(ed[3])
    ed_sig[5] ^= 0x80
    add("eddsa-signature-bit-flip", with_body([ed[0], {}, ed[2], bytes(ed_sig)]), "BAD_SIGNATURE")

    # --- time
    add("issued-an-hour-ahead", m.online(at=NOW + 3600), "NOT_YET_VALID")
    nbf = m.claims(life=3600)
    nbf[5] = NOW + 600
    add("nbf-ten-minutes-ahead", claims_code(cbor_strict.dumps(nbf)), "NOT_YET_VALID")
    add("expired-an-hour-ago", m.online(at=NOW - 3600), "EXPIRED")
    add("expired-just-past-skew", m.online(at=NOW - 121), "EXPIRED")
    add("holder-credential-expired", m.holder(at=NOW - 2 * DAY), "EXPIRED")
    add("stale-trust-list", m.online(), "TRUST_LIST_STALE", at=8 * DAY)

    # --- holder binding
    add("holder-credential-without-proof", online_code(hcred), "DEVICE_PROOF_MISSING")
    hcred2, _ = m.holder_parts(phone=5)
    add("proof-by-another-phone", holder_code(hcred2, m.proof(hcred2, device_key(6))), "BAD_DEVICE_SIGNATURE")
    other_cred, same_device = m.holder_parts(phone=7)
    mine, _ = m.holder_parts(phone=7)
    add("proof-bound-to-other-credential", holder_code(mine, m.proof(other_cred, same_device)), "BAD_DEVICE_SIGNATURE")
    flipped_proof = bytearray(proof)
    flipped_proof[-5] ^= 0x04
    add("proof-signature-bit-flip", holder_code(hcred, bytes(flipped_proof)), "BAD_DEVICE_SIGNATURE")
    add("proof-two-minutes-old", m.holder(proof_at=NOW - 120), "PROOF_TOO_OLD")
    add("proof-a-day-old", m.holder(proof_at=NOW - DAY + 60), "PROOF_TOO_OLD")
    add("proof-two-minutes-ahead", m.holder(proof_at=NOW + 120), "PROOF_IN_FUTURE")

    # --- REPLAYED: the same signed fields again
    first = m.online()
    add("online-code-twice", first, "REPLAYED", first=[first])
    again = m.online()
    a = cbor2.loads(b45decode(again[4:])[1:]).value
    r, s = int.from_bytes(a[3][:32], "big"), int.from_bytes(a[3][32:], "big")
    malleated = with_body([a[0], {}, a[2], r.to_bytes(32, "big") + (_N - s).to_bytes(32, "big")])
    add("signature-re-encoded-as-n-minus-s", malleated, "REPLAYED", first=[again])
    held = m.holder(phone=8)
    add("holder-code-twice", held, "REPLAYED", first=[held])
    rcred, rdev = m.holder_parts(phone=9)
    add(
        "holder-new-nonce-same-step",
        holder_code(rcred, m.proof(rcred, rdev)),
        "REPLAYED",
        first=[holder_code(rcred, m.proof(rcred, rdev))],
    )

    # --- ISSUER_NOT_RECOGNISED: a trusted key asserting what it may not
    add("iss-differs-from-key", m.online(iss="CN-XX"), "ISSUER_NOT_RECOGNISED")
    add("age-not-granted-to-issuer", m.online(), "ISSUER_NOT_RECOGNISED", trust="narrow")
    partner = m.claims(iss=PARTNER_ISSUER)
    add(
        "partner-makes-a-shanghai-resident",
        online_code(m.credential(partner, PARTNER_ISSUER_KEY)),
        "ISSUER_NOT_RECOGNISED",
        trust="with_partner",
    )
    partner = m.claims(iss=PARTNER_ISSUER)
    partner[-65537] = {1: m.random_bytes(8), 3: 1, 4: 1, 8: 320100}
    add(
        "partner-asserts-disability",
        online_code(m.credential(partner, PARTNER_ISSUER_KEY)),
        "ISSUER_NOT_RECOGNISED",
        trust="with_partner",
    )
    add(
        "our-iss-on-partner-key",
        online_code(m.credential(m.claims(), PARTNER_ISSUER_KEY)),
        "ISSUER_NOT_RECOGNISED",
        trust="with_partner",
    )

    # --- printed cards (claim -65538, the card number): no device key, at most two years, no proof
    add("card-number-zero", changed(lambda c: c.__setitem__(-65538, 0)), "MALFORMED_CLAIMS")
    add("card-number-as-text", changed(lambda c: c.__setitem__(-65538, "SC 0000 0000 0001")), "MALFORMED_CLAIMS")
    add("card-number-over-40-bits", changed(lambda c: c.__setitem__(-65538, 1 << 40)), "MALFORMED_CLAIMS")
    add(
        "card-living-three-years",
        changed(lambda c: c.update({-65538: 1, 4: NOW + 3 * 365 * DAY})),
        "MALFORMED_CLAIMS",
    )
    card_with_key = m.claims(life=DAY)
    card_with_key[8] = {1: cose_key_map(device_key(4).public_key())}
    card_with_key[-65538] = 2
    add("card-with-device-key", online_code(m.credential(card_with_key)), "MALFORMED_CLAIMS")
    card_claims = m.claims(life=30 * DAY)
    card_claims[-65538] = 3
    card_cred = m.credential(card_claims)
    add("card-with-device-proof", holder_code(card_cred, m.proof(card_cred, device_key(5))), "MALFORMED_COSE")
    assert len({c["id"] for c in cases}) == len(cases), "case ids must be unique"
    return cases


def good_codes() -> dict[str, str]:
    """Codes that verify under the 'ours' store at NOW: the judge checks its own world with them."""
    m = Maker(seed=99)
    return {"online": m.online(), "holder": m.holder(), "eddsa": online_code(m.credential(m.claims(), ISSUER_ED_KEY))}


__all__ = ["codes_cases", "good_codes"]
