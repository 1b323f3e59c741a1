"""Issue, encode, decode and verify: both kinds of code, both issuer algorithms, real keys."""

from __future__ import annotations

import datetime as dt
import json
import os

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization

from keys.algorithms import ALG_NAMES, EDDSA, ES256, alg_of, generate_private_key
from tests.support.world import World, disabled_student, elderly, make_world
from verifier import cose
from verifier.base45 import b45decode
from verifier.claims import Claims, Profile, decode_claims, encode_claims
from verifier.code import PREFIX, device_proof, holder_code, issue_credential, online_code, parse_code
from verifier.verify import HOLDER_BOUND, ONLINE, VerifiedCode


def _point(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def test_online_round_trip(any_alg_world: World) -> None:
    w = any_alg_world
    profile = elderly()
    text = w.online(profile)
    assert text.startswith(PREFIX)
    v = w.verifier().verify(text, w.now)
    assert isinstance(v, VerifiedCode)
    assert v.kind == ONLINE
    assert v.issuer == "CN-SH"
    assert v.region == "310000"
    assert v.kid == w.ring.active().kid
    assert v.alg == alg_of(w.issuer_key)
    assert v.proof_time is None
    assert v.profile == profile
    assert v.claims.issued_at == w.now
    assert v.claims.expires_at == w.now + 60
    assert v.claims.not_before is None
    assert v.claims.device_key is None
    assert len(v.claims.cti) == 16


def test_holder_bound_round_trip(any_alg_world: World) -> None:
    w = any_alg_world
    profile = disabled_student()
    text, cred, device = w.holder(profile)
    v = w.verifier().verify(text, w.now)
    assert v.kind == HOLDER_BOUND
    assert v.alg == alg_of(w.issuer_key)
    assert v.kid == w.ring.active().kid
    assert v.proof_time == (w.now // 30) * 30
    assert v.profile == profile
    assert v.claims.expires_at == w.now + 86400
    assert v.claims.device_key is not None
    assert _point(v.claims.device_key) == _point(device.public_key())
    parsed = parse_code(text)
    assert parsed.credential_bytes == cred
    assert parsed.proof is not None


def test_both_issuer_algorithms_are_distinct(any_alg_world: World) -> None:
    w = any_alg_world
    cred = w.issuer.credential(elderly(), w.now)
    protected = cbor2.loads(cred).value[0]
    assert cbor2.loads(protected) == {1: alg_of(w.issuer_key), 4: w.ring.active().kid}
    assert alg_of(w.issuer_key) in (ES256, EDDSA)


def test_credential_signature_lengths() -> None:
    for alg in (ES256, EDDSA):
        w = make_world(alg)
        sig = cbor2.loads(w.issuer.credential(elderly(), w.now)).value[3]
        assert len(sig) == 64


@pytest.mark.parametrize(
    "profile_factory",
    [
        pytest.param(elderly, id="elderly"),
        pytest.param(disabled_student, id="disabled_student"),
        pytest.param(lambda: elderly(martyr_family=True), id="martyr-family"),
        pytest.param(lambda: elderly(age_over=80, version=(1 << 32) - 1), id="age-80-max-version"),
        pytest.param(lambda: elderly(age_over=None, residence=None, version=0), id="subject-only"),
        pytest.param(lambda: Profile(subject=os.urandom(32), age_over=60, residence=999999), id="32-byte-subject"),
        pytest.param(
            lambda: Profile(
                subject=os.urandom(16),
                age_over=70,
                disability_category=7,
                disability_grade=4,
                martyr_family=True,
                student_level=1,
                enrolled_until=dt.date(1970, 1, 1),
                residence=100000,
                version=300,
            ),
            id="everything-but-entitled-group",
        ),
    ],
)
@pytest.mark.parametrize("kind", ["online", "holder"])
def test_profile_fields_survive(any_alg_world: World, profile_factory: object, kind: str) -> None:
    w = any_alg_world
    profile = profile_factory()  # type: ignore[operator]
    text = w.online(profile) if kind == "online" else w.holder(profile)[0]
    got = w.verifier().verify(text, w.now).profile
    assert got == profile
    assert got._asdict() == profile._asdict()


def test_disabled_student_profile_details(world: World) -> None:
    profile = disabled_student()
    got = world.verifier().verify(world.online(profile), world.now).profile
    assert got.disability_category == 2
    assert got.disability_grade == 1
    assert got.student_level == 5
    assert got.enrolled_until == dt.date(2027, 6, 30)
    assert got.residence == 320000
    assert got.version == 4
    assert got.age_over is None
    assert got.martyr_family is False
    assert got.privileges_asserted() == {"disability", "student", "residence"}


def test_entitled_group_profile_verifies_with_default_privileges(world: World) -> None:
    # app/profiles.py lets an operator issue `entitled_group`, and the claims carry it; an
    # issuer created with the default privileges (ALL_PRIVILEGES, "everything a home issuer
    # may assert") must then be allowed to assert it.
    profile = elderly(entitled_group=True)
    got = world.verifier().verify(world.online(profile), world.now).profile
    assert got.entitled_group is True


def test_to_json_online(world: World) -> None:
    profile = elderly()
    v = world.verifier().verify(world.online(profile), world.now)
    doc = v.to_json()
    assert doc == {
        "kind": "online",
        "issuer": "CN-SH",
        "region": "310000",
        "kid": world.ring.active().kid.hex(),
        "alg": "ES256",
        "issued_at": world.now,
        "expires_at": world.now + 60,
        "proof_time": None,
        "profile": {"subject": profile.subject.hex(), "age_over": 65, "residence": 310000, "version": 1},
    }
    assert json.loads(json.dumps(doc)) == doc


def test_to_json_holder_bound_eddsa() -> None:
    w = make_world(EDDSA)
    profile = disabled_student()
    text, _, _ = w.holder(profile, proof_at=w.now - 45)
    doc = w.verifier().verify(text, w.now).to_json()
    assert doc == {
        "kind": "holder_bound",
        "issuer": "CN-SH",
        "region": "310000",
        "kid": w.ring.active().kid.hex(),
        "alg": "EdDSA",
        "issued_at": w.now,
        "expires_at": w.now + 86400,
        "proof_time": w.now - 60,
        "profile": {
            "subject": profile.subject.hex(),
            "disability_category": 2,
            "disability_grade": 1,
            "student_level": 5,
            "enrolled_until": "2027-06-30",
            "residence": 320000,
            "version": 4,
        },
    }
    json.dumps(doc)


def test_to_json_never_carries_device_key_or_cti(world: World) -> None:
    text, _, _ = world.holder()
    v = world.verifier().verify(text, world.now)
    doc = v.to_json()
    assert set(doc) == {
        "kind", "issuer", "region", "kid", "alg", "issued_at", "expires_at", "proof_time", "profile",
    }
    assert v.claims.cti.hex() not in json.dumps(doc)
    assert ALG_NAMES[v.alg] == doc["alg"]


def test_verify_accepts_ascii_bytes(world: World) -> None:
    text = world.online()
    assert world.verifier().verify(text.encode("ascii"), world.now).kind == "online"


def test_code_text_is_qr_alphanumeric(world: World) -> None:
    alphabet = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    text, _, _ = world.holder(disabled_student())
    assert set(text) <= alphabet
    assert set(world.online()) <= alphabet


def test_online_code_layout(world: World) -> None:
    cred = world.issuer.credential(elderly(), world.now)
    text = online_code(cred)
    assert b45decode(text[4:]) == b"\x81" + cred
    assert cbor2.loads(cred).tag == 18


def test_holder_code_layout_and_proof_binding(world: World) -> None:
    device = generate_private_key(ES256)
    cred = world.issuer.credential(elderly(), world.now, device_key=device.public_key())  # type: ignore[arg-type]
    nonce = b"\x00\x01\x02\x03\x04\x05\x06\x07"
    proof = device_proof(cred, device, world.now + 29, nonce=nonce)  # type: ignore[arg-type]
    raw = b45decode(holder_code(cred, proof)[4:])
    assert raw == b"\x82" + cred + proof
    item = cbor2.loads(proof)
    assert type(item) is list  # untagged
    assert cbor2.loads(item[0]) == {1: ES256}
    assert cbor2.loads(item[2]) == [world.now // 30, nonce]
    # the proof verifies with any COSE_Sign1 verifier given the credential as external AAD
    assert cose.verify_sign1(proof, device.public_key(), external_aad=cred) == item[2]
    v = world.verifier().verify(holder_code(cred, proof), world.now + 29)
    assert v.proof_time == world.now


def test_claims_encode_decode_round_trip(world: World) -> None:
    device = generate_private_key(ES256)
    claims = Claims(
        "CN-310000", world.now, world.now + 100, os.urandom(16), disabled_student(),
        not_before=world.now + 10, device_key=device.public_key(),  # type: ignore[arg-type]
    )
    decoded = decode_claims(encode_claims(claims))
    assert decoded._replace(device_key=None) == claims._replace(device_key=None)
    assert decoded.device_key is not None
    assert _point(decoded.device_key) == _point(device.public_key())
    assert decoded.valid_from == world.now + 10


def test_nbf_equal_to_iat_is_omitted(world: World) -> None:
    claims = Claims("CN-SH", world.now, world.now + 60, os.urandom(16), elderly(), not_before=world.now)
    assert 5 not in cbor2.loads(encode_claims(claims))
    text = online_code(issue_credential(claims, world.issuer_key, world.ring.active().kid))
    assert world.verifier().verify(text, world.now).claims.valid_from == world.now


@pytest.mark.parametrize(
    "enrolled_until",
    [dt.date(1969, 12, 31), dt.date(1970, 1, 1), dt.date(2100, 1, 1), dt.date(2600, 1, 1)],
)
def test_issuer_and_verifier_agree_on_enrolment_dates(world: World, enrolled_until: dt.date) -> None:
    # Whatever enrolment end the issuer agrees to sign must come back unchanged at the gate;
    # a date the format cannot carry must be refused when issuing, not mangled or refused at scan.
    profile = disabled_student()._replace(enrolled_until=enrolled_until)
    try:
        text = world.online(profile)
    except ValueError:
        return
    assert world.verifier().verify(text, world.now).profile.enrolled_until == enrolled_until


@pytest.mark.parametrize(
    "bad",
    [
        lambda p: p._replace(subject=b"short"),
        lambda p: p._replace(age_over=66),
        lambda p: p._replace(disability_category=1),
        lambda p: p._replace(residence=12),
        lambda p: p._replace(version=-1),
    ],
)
def test_issuer_refuses_bad_profiles(world: World, bad: object) -> None:
    with pytest.raises(ValueError):
        world.issuer.credential(bad(elderly()), world.now)  # type: ignore[operator]


@pytest.mark.parametrize("lifetime", [0, -1, 86401])
def test_issuer_refuses_bad_lifetimes(world: World, lifetime: int) -> None:
    with pytest.raises(ValueError):
        world.issuer.credential(elderly(), world.now, lifetime=lifetime)


def test_issuer_repr_hides_key_material(world: World) -> None:
    text = repr(world.issuer)
    assert world.ring.active().kid.hex() in text
    assert "PRIVATE" not in text
    assert "ECPrivateKey" not in text


def test_every_credential_has_fresh_cti(world: World) -> None:
    v = world.verifier()
    ctis = {v.verify(world.online(), world.now).claims.cti for _ in range(20)}
    assert len(ctis) == 20
