"""Interoperability with python-cwt, an independent COSE/CWT implementation.

DESIGN.md promises that a partner region can check our codes "with any COSE library". Here
python-cwt does so, using only what a partner has: the code text and our published trust list
(JSON; issuer keys as base64url SubjectPublicKeyInfo DER). Conversely, our
`verifier.cose.verify_sign1` must accept the COSE_Sign1 objects python-cwt makes, and our
verifier must accept codes whose COSE layer python-cwt wrote.

python-cwt checks `exp`/`nbf` against the wall clock, so these worlds live at the real time.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import time
from typing import Any

import cbor2
import cwt
import pytest
from cbor2 import CBORTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from keys.algorithms import ALG_IDS, EDDSA, ES256, ES384, PrivateKey, PublicKey, generate_private_key
from tests.support.world import World, make_world
from verifier import cbor_strict
from verifier.base45 import b45decode
from verifier.claims import (
    CNF,
    CTI,
    EXP,
    IAT,
    ISS,
    PROFILE_CLAIM,
    Claims,
    Profile,
    encode_claims,
)
from verifier.code import PREFIX, TIME_STEP_S, device_proof, holder_code, online_code
from verifier.cose import verify_sign1
from verifier.errors import Reason, VerificationError
from verifier.verify import HOLDER_BOUND, ONLINE

PARTNER_KID = b"partner-key-1"


def full_profile() -> Profile:
    """Every attribute the default issuer may assert (keys.ring.ALL_PRIVILEGES)."""
    return Profile(
        subject=os.urandom(16),
        age_over=70,
        disability_category=2,
        disability_grade=1,
        martyr_family=True,
        entitled_group=True,
        student_level=5,
        enrolled_until=dt.date(2031, 6, 30),
        residence=310000,
        version=7,
    )


def expected_profile_claim(p: Profile) -> dict[int, Any]:
    """The private profile claim as DESIGN.md and claims.py lay it out, written independently here."""
    assert p.enrolled_until is not None
    return {
        1: p.subject,
        2: p.age_over,
        3: p.disability_category,
        4: p.disability_grade,
        5: True,
        6: p.student_level,
        7: (p.enrolled_until - dt.date(1970, 1, 1)).days,
        8: p.residence,
        9: p.version,
        10: True,
    }


# --------------------------------------------------------------------------- what a partner has


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def trust_list_entries(world: World) -> list[dict[str, Any]]:
    """The key entries of our trust list document, read as plain JSON (signature checked elsewhere)."""
    return json.loads(world.trust_document)["payload"]["keys"]


def cwt_key_from_pem(entry: dict[str, Any]) -> Any:
    spki = serialization.load_der_public_key(_unb64url(entry["public_key"]))
    pem = spki.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cwt.COSEKey.from_pem(pem, alg=entry["alg"], kid=bytes.fromhex(entry["kid"]))


def cwt_key_from_jwk(entry: dict[str, Any]) -> Any:
    public = serialization.load_der_public_key(_unb64url(entry["public_key"]))
    jwk: dict[str, Any] = {"alg": entry["alg"], "kid": bytes.fromhex(entry["kid"])}
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        jwk.update(kty="OKP", crv="Ed25519", x=_b64url(raw))
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        numbers = public.public_numbers()
        size = (public.curve.key_size + 7) // 8
        jwk.update(
            kty="EC",
            crv={256: "P-256", 384: "P-384"}[public.curve.key_size],
            x=_b64url(numbers.x.to_bytes(size, "big")),
            y=_b64url(numbers.y.to_bytes(size, "big")),
        )
    return cwt.COSEKey.from_jwk(jwk)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def split_code(text: str) -> tuple[bytes, bytes | None]:
    """(credential bytes, proof bytes or None) the way a partner would: decode, re-encode element 0."""
    assert text.startswith(PREFIX)
    raw = b45decode(text[len(PREFIX) :])
    outer = cbor2.loads(raw)
    assert type(outer) is list and len(outer) in (1, 2)
    credential = cbor2.dumps(outer[0])
    assert raw[1 : 1 + len(credential)] == credential  # re-encoding and slicing agree: we write deterministic CBOR
    proof = cbor2.dumps(outer[1]) if len(outer) == 2 else None
    if proof is not None:
        assert raw == b"\x82" + credential + proof
    return credential, proof


def _pem_private(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cwt_signing_key(key: PrivateKey, kid: bytes | None = PARTNER_KID) -> Any:
    is_ed25519 = isinstance(key, ed25519.Ed25519PrivateKey)
    alg = "EdDSA" if is_ed25519 else {256: "ES256", 384: "ES384"}[key.curve.key_size]  # type: ignore[union-attr]
    return cwt.COSEKey.from_pem(_pem_private(key), alg=alg, kid=kid or b"")


# --------------------------------------------------------------------------- worlds at the real time


@pytest.fixture(params=["ES256", "EdDSA"])
def live_world(request: pytest.FixtureRequest) -> World:
    """A world at the wall-clock time, made per test: an online code lives only 60 s."""
    return make_world(ALG_IDS[request.param], now=int(time.time()))


KEY_LOADERS = {"pem": cwt_key_from_pem, "jwk": cwt_key_from_jwk}


# --------------------------------------------------------------------------- python-cwt verifies our codes


@pytest.mark.parametrize("loader", sorted(KEY_LOADERS))
def test_python_cwt_verifies_online_code_with_trust_list_key(live_world: World, loader: str) -> None:
    w = live_world
    profile = full_profile()
    text = w.online(profile)
    ours = w.verifier().verify(text, w.now)
    assert ours.kind == ONLINE

    credential, proof = split_code(text)
    assert proof is None
    (entry,) = trust_list_entries(w)
    key = KEY_LOADERS[loader](entry)

    claims = cwt.decode(credential, key)  # checks the signature, the kid, and exp against the wall clock
    assert claims == {
        ISS: "CN-SH",
        EXP: ours.claims.expires_at,
        IAT: ours.claims.issued_at,
        CTI: ours.claims.cti,
        PROFILE_CLAIM: expected_profile_claim(profile),
    }
    assert claims[EXP] == claims[IAT] + 60
    assert claims[IAT] == w.now
    assert len(claims[CTI]) == 16


def test_python_cwt_sees_alg_and_kid_in_the_protected_header(live_world: World) -> None:
    w = live_world
    credential, _ = split_code(w.online())
    (entry,) = trust_list_entries(w)
    protected, unprotected, payload = cwt.COSE.new(verify_kid=True).decode_with_headers(
        credential, cwt_key_from_pem(entry)
    )
    assert protected == {1: ALG_IDS[entry["alg"]], 4: bytes.fromhex(entry["kid"])}
    assert unprotected == {}
    assert cbor2.loads(credential).tag == 18
    assert cbor2.loads(payload)[ISS] == entry["issuer"]


def test_python_cwt_rejects_tampered_credential_and_wrong_key(live_world: World) -> None:
    w = live_world
    credential, _ = split_code(w.online())
    (entry,) = trust_list_entries(w)
    key = cwt_key_from_pem(entry)

    item = cbor2.loads(credential)
    claims = cbor2.loads(item.value[2])
    claims[PROFILE_CLAIM][2] = 80  # age_over raised after signing
    item.value[2] = cbor_strict.dumps(claims)
    with pytest.raises(cwt.VerifyError):
        cwt.decode(cbor2.dumps(item), key)

    other = generate_private_key(ALG_IDS[entry["alg"]])
    wrong = cwt.COSEKey.from_pem(
        other.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        alg=entry["alg"],
        kid=bytes.fromhex(entry["kid"]),
    )
    with pytest.raises(cwt.VerifyError):
        cwt.decode(credential, wrong)


def test_python_cwt_verifies_holder_bound_code_and_its_device_proof(live_world: World) -> None:
    w = live_world
    profile = full_profile()
    text, issued_credential, device = w.holder(profile)
    ours = w.verifier().verify(text, w.now)
    assert ours.kind == HOLDER_BOUND

    credential, proof = split_code(text)
    assert credential == issued_credential
    assert proof is not None
    (entry,) = trust_list_entries(w)
    claims = cwt.decode(credential, cwt_key_from_pem(entry))
    assert claims[PROFILE_CLAIM] == expected_profile_claim(profile)
    assert claims[EXP] - claims[IAT] == 24 * 3600

    # cnf (RFC 8747): the device's P-256 key as a COSE_Key, usable directly by python-cwt.
    cose_key = claims[CNF][1]
    numbers = device.public_key().public_numbers()
    assert cose_key == {1: 2, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
    device_keys = {
        "cnf": cwt.COSEKey.new({**cose_key, 3: -7}),
        "pem": cwt.COSEKey.from_pem(
            device.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            alg="ES256",
        ),
    }

    # The proof is an untagged COSE_Sign1; python-cwt wants the tag, which is not signed.
    proof_item = cbor2.loads(proof)
    assert type(proof_item) is list and len(proof_item) == 4
    tagged_proof = cbor2.dumps(CBORTag(18, proof_item))
    ctx = cwt.COSE.new()
    for name, key in device_keys.items():
        protected, unprotected, payload = ctx.decode_with_headers(tagged_proof, key, external_aad=credential)
        assert protected == {1: ES256}, name
        assert unprotected == {}, name
        step, nonce = cbor2.loads(payload)
        assert step == w.now // TIME_STEP_S, name
        assert ours.proof_time == step * TIME_STEP_S
        assert type(nonce) is bytes and len(nonce) == 8

    # The external AAD binds the proof to this credential: another credential's bytes do not verify.
    other_credential = w.issuer.credential(profile, w.now, device_key=device.public_key())  # type: ignore[arg-type]
    with pytest.raises(cwt.VerifyError):
        ctx.decode(tagged_proof, device_keys["cnf"], external_aad=other_credential)
    with pytest.raises(cwt.VerifyError):
        ctx.decode(tagged_proof, device_keys["cnf"])


# --------------------------------------------------------------------------- our verifier accepts python-cwt's COSE


ALGS = {"ES256": ES256, "ES384": ES384, "EdDSA": EDDSA}


def _strip_tag(message: bytes) -> bytes:
    item = cbor2.loads(message)
    assert type(item) is CBORTag and item.tag == 18
    return cbor2.dumps(item.value)


def _cose_message(key: PrivateKey, payload: bytes, aad: bytes, tagged: bool, kid_where: str) -> bytes:
    signer = cwt_signing_key(key)
    if kid_where == "unprotected":
        ctx = cwt.COSE.new(alg_auto_inclusion=True, kid_auto_inclusion=True)
        message = ctx.encode_and_sign(payload, signer, external_aad=aad)
    else:  # kid protected; alg added after it, so the protected map is not in deterministic order
        ctx = cwt.COSE.new(alg_auto_inclusion=True)
        message = ctx.encode_and_sign(payload, signer, protected={4: PARTNER_KID}, external_aad=aad)
    assert isinstance(message, bytes)
    return message if tagged else _strip_tag(message)


@pytest.mark.parametrize("alg", sorted(ALGS))
@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "untagged"])
@pytest.mark.parametrize("aad", [b"", b"credential bytes as external AAD"], ids=["no-aad", "aad"])
@pytest.mark.parametrize("kid_where", ["unprotected", "protected"])
def test_verify_sign1_accepts_python_cwt_cose_sign1(alg: str, tagged: bool, aad: bytes, kid_where: str) -> None:
    key = generate_private_key(ALGS[alg])
    payload = os.urandom(40)
    message = _cose_message(key, payload, aad, tagged, kid_where)
    assert verify_sign1(message, key.public_key(), aad) == payload


@pytest.mark.parametrize("alg", sorted(ALGS))
@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "untagged"])
@pytest.mark.parametrize("aad", [b"", b"credential bytes as external AAD"], ids=["no-aad", "aad"])
def test_verify_sign1_rejects_python_cwt_cose_sign1_with_wrong_key_or_aad(alg: str, tagged: bool, aad: bytes) -> None:
    key = generate_private_key(ALGS[alg])
    message = _cose_message(key, b"payload", aad, tagged, "unprotected")

    def rejected(public_key: PublicKey, external_aad: bytes) -> Reason:
        with pytest.raises(VerificationError) as info:
            verify_sign1(message, public_key, external_aad)
        return info.value.reason

    assert rejected(generate_private_key(ALGS[alg]).public_key(), aad) is Reason.BAD_SIGNATURE
    assert rejected(key.public_key(), aad + b"x") is Reason.BAD_SIGNATURE
    if aad:
        assert rejected(key.public_key(), b"") is Reason.BAD_SIGNATURE
    # A key of another algorithm is refused on the algorithm, before any signature check.
    other_alg = ES256 if ALGS[alg] != ES256 else EDDSA
    assert rejected(generate_private_key(other_alg).public_key(), aad) is Reason.UNSUPPORTED_ALG


def _cwt_claims(now: int) -> dict[int, Any]:
    return {ISS: "PARTNER-1", EXP: now + 600, IAT: now, CTI: os.urandom(16), PROFILE_CLAIM: {1: os.urandom(8), 2: 65}}


@pytest.mark.parametrize("alg", sorted(ALGS))
@pytest.mark.parametrize("tagged", [True, False], ids=["tag18", "untagged"])
def test_verify_sign1_accepts_python_cwt_tokens(alg: str, tagged: bool) -> None:
    key = generate_private_key(ALGS[alg])
    signer = cwt_signing_key(key)
    claims = _cwt_claims(int(time.time()))
    token = cwt.encode(claims, signer)  # a CWT: a tag-18 COSE_Sign1 (no CWT tag 61)
    message = token if tagged else _strip_tag(token)
    payload = verify_sign1(message, key.public_key())
    decoded = cbor2.loads(payload)
    assert {k: decoded[k] for k in claims} == claims
    # and python-cwt reads its own token back with the same public key
    verifier_key = cwt.COSEKey.from_pem(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        alg=alg,
        kid=PARTNER_KID,
    )
    assert cwt.decode(token, verifier_key)[CTI] == claims[CTI]
    with pytest.raises(VerificationError) as info:
        verify_sign1(message, generate_private_key(ALGS[alg]).public_key())
    assert info.value.reason is Reason.BAD_SIGNATURE


@pytest.mark.parametrize("alg", sorted(ALGS))
def test_verify_sign1_on_cwt_tag_61_token(alg: str) -> None:
    """RFC 8392 §6 lets a CWT carry the CWT tag 61 before the COSE tag: verify_sign1 accepts it, and the
    bare COSE_Sign1 inside verifies the same way."""
    key = generate_private_key(ALGS[alg])
    claims = _cwt_claims(int(time.time()))
    token = cwt.encode(claims, cwt_signing_key(key), tagged=True)
    outer = cbor2.loads(token)
    assert type(outer) is CBORTag and outer.tag == 61
    assert cbor2.loads(verify_sign1(token, key.public_key()))[CTI] == claims[CTI]
    assert cbor2.loads(verify_sign1(cbor2.dumps(outer.value), key.public_key()))[CTI] == claims[CTI]
    with pytest.raises(VerificationError) as wrong:
        verify_sign1(token, generate_private_key(ALGS[alg]).public_key())
    assert wrong.value.reason is Reason.BAD_SIGNATURE


# --------------------------------------------------------------------------- codes whose COSE python-cwt wrote


def test_verifier_accepts_holder_code_with_device_proof_made_by_python_cwt(live_world: World) -> None:
    """A phone (or partner app) using python-cwt for the device proof: untagged ES256 Sign1, AAD = credential."""
    w = live_world
    device = generate_private_key(ES256)
    profile = full_profile()
    credential = w.issuer.credential(profile, w.now, device_key=device.public_key())  # type: ignore[arg-type]
    payload = cbor_strict.dumps([w.now // TIME_STEP_S, os.urandom(8)])
    signed = cwt.COSE.new(alg_auto_inclusion=True).encode_and_sign(
        payload, cwt_signing_key(device, kid=None), external_aad=credential
    )
    assert isinstance(signed, bytes)
    proof = _strip_tag(signed)
    verified = w.verifier().verify(holder_code(credential, proof), w.now)
    assert verified.kind == HOLDER_BOUND
    assert verified.profile == profile
    assert verified.proof_time == w.now // TIME_STEP_S * TIME_STEP_S

    # and our own proof and python-cwt's are interchangeable in form: same protected header, no unprotected
    ours = cbor2.loads(device_proof(credential, device, w.now))  # type: ignore[arg-type]
    theirs = cbor2.loads(proof)
    assert ours[0] == theirs[0] == cbor2.dumps({1: ES256})
    assert ours[1] == theirs[1] == {}


def test_verifier_accepts_credential_signed_by_python_cwt(live_world: World) -> None:
    """A partner issuer: claims written with plain cbor2 in deterministic order, COSE by python-cwt."""
    w = live_world
    profile = full_profile()
    (entry,) = trust_list_entries(w)
    kid = bytes.fromhex(entry["kid"])
    claims = {
        ISS: entry["issuer"],
        EXP: w.now + 60,
        IAT: w.now,
        CTI: os.urandom(16),
        PROFILE_CLAIM: expected_profile_claim(profile),
    }
    payload = cbor2.dumps(claims)
    # The payload is exactly what our encoder writes for the same claims.
    assert payload == encode_claims(Claims(entry["issuer"], w.now, w.now + 60, claims[CTI], profile))
    ctx = cwt.COSE.new(alg_auto_inclusion=True, deterministic_header=True)
    credential = ctx.encode_and_sign(payload, cwt_signing_key(w.issuer_key, kid=None), protected={4: kid})
    assert isinstance(credential, bytes)
    verified = w.verifier().verify(online_code(credential), w.now)
    assert verified.kind == ONLINE
    assert verified.kid == kid
    assert verified.profile == profile
    assert verified.claims.cti == claims[CTI]
