"""Property tests (Hypothesis) for the SP1 decoder and its building blocks.

Two families of properties:

* robustness: whatever text or bytes reach `Verifier.verify` (random, base45 of random bytes,
  CBOR shaped like a code, mutations of real codes, or claims signed by a trusted issuer), the
  only exception that may leave it is `VerificationError`;
* round trips: issuing a code for any valid profile and verifying it gives the profile back;
  base45 and deterministic CBOR encode/decode are inverse to each other, and the strict decoders
  accept only the canonical form.

The worlds (keys, signed trust list, issuer) are made once per module: Hypothesis runs each
test body many times and must not depend on function-scoped fixtures.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import cbor2
import pytest
from cbor2 import CBORTag
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from keys.algorithms import EDDSA, ES256, ES384, generate_private_key
from tests.support.world import NOW, World, elderly, make_world
from verifier import cbor_strict, cose
from verifier.base45 import ALPHABET, Base45Error, b45decode, b45encode
from verifier.claims import (
    CTI,
    EXP,
    IAT,
    ISS,
    P_ENROLLED_UNTIL,
    P_STUDENT_LEVEL,
    P_SUBJECT,
    PROFILE_CLAIM,
    Claims,
    Profile,
    decode_claims,
    encode_claims,
    profile_problems,
)
from verifier.code import PREFIX, device_proof, holder_code, online_code, parse_code
from verifier.errors import Reason, VerificationError
from verifier.verify import HOLDER_BOUND, ONLINE, VerifiedCode

# --------------------------------------------------------------------------- worlds (module level)

WORLD = make_world(ES256)
WORLD_EDDSA = make_world(EDDSA)
WORLDS = (WORLD, WORLD_EDDSA)
KID = WORLD.ring.active().kid
# A few device keys to draw from: generating one per example is needless work.
DEVICE_KEYS = tuple(generate_private_key(ES256) for _ in range(3))

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SIGNING = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _raw(text: str) -> bytes:
    return b45decode(text[len(PREFIX) :])


# Real codes, made once, as the seeds of the mutation strategy.
VALID_TEXTS = (WORLD.online(), WORLD.holder()[0], WORLD_EDDSA.online(), WORLD_EDDSA.holder()[0])
VALID_RAWS = tuple(_raw(t) for t in VALID_TEXTS)


def verify_or_reject(text: str | bytes, world: World = WORLD, now: int | None = None) -> VerifiedCode | None:
    """Verify with a fresh verifier; a VerificationError is a rejection, anything else fails the test."""
    try:
        return world.verifier().verify(text, world.now if now is None else now)
    except VerificationError as exc:
        assert isinstance(exc.reason, Reason)
        return None


# --------------------------------------------------------------------------- strategies

B45_TEXT = st.text(alphabet=ALPHABET, max_size=400)
ASCII_TEXT = st.text(alphabet=st.characters(max_codepoint=127), max_size=400)

# The enrolment dates an issuer accepts (day 0 to 199999 after 1970-01-01); any `date` is tested below.
ENROLMENT_DATES = st.dates(min_value=dt.date(1970, 1, 1), max_value=dt.date(2517, 7, 31))


@st.composite
def profiles(draw: st.DrawFn, dates: st.SearchStrategy[dt.date] = ENROLMENT_DATES) -> Profile:
    disability = draw(st.none() | st.tuples(st.integers(1, 7), st.integers(1, 4)))
    student = draw(st.none() | st.tuples(st.integers(1, 6), dates))
    return Profile(
        subject=draw(st.binary(min_size=8, max_size=32)),
        age_over=draw(st.none() | st.sampled_from((60, 65, 70, 80))),
        disability_category=None if disability is None else disability[0],
        disability_grade=None if disability is None else disability[1],
        martyr_family=draw(st.booleans()),
        entitled_group=draw(st.booleans()),
        student_level=None if student is None else student[0],
        enrolled_until=None if student is None else student[1],
        residence=draw(st.none() | st.integers(100000, 999999)),
        version=draw(st.integers(0, 2**32 - 1)),
    )


@st.composite
def claims_sets(draw: st.DrawFn) -> Claims:
    issued_at = draw(st.integers(0, 2**40 - 2))
    not_before = draw(st.none() | st.integers(0, 2**40 - 1).filter(lambda n: n != issued_at))
    device = draw(st.none() | st.sampled_from(DEVICE_KEYS))
    return Claims(
        issuer=draw(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=23)),
        issued_at=issued_at,
        expires_at=draw(st.integers(issued_at + 1, 2**40 - 1)),
        cti=draw(st.binary(min_size=16, max_size=16)),
        profile=draw(profiles()),
        not_before=not_before,
        device_key=None if device is None else device.public_key(),  # type: ignore[arg-type]
    )


INT64 = st.integers(-(2**64), 2**64 - 1)


def _map_of(keys: st.SearchStrategy[Any], values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[Any, Any]]:
    return st.dictionaries(keys, values, max_size=5)


# Values deterministic CBOR can hold and cbor_strict accepts: integers, bytes, text and booleans,
# in lists and in maps keyed by integers, bytes or text (one family per map, or mixed).
MAP_KEYS = INT64 | st.binary(max_size=8) | st.text(max_size=8)
CBOR_VALUES = st.recursive(
    INT64 | st.binary(max_size=40) | st.text(max_size=20) | st.booleans(),
    lambda children: (
        st.lists(children, max_size=5)
        | _map_of(INT64, children)
        | _map_of(st.text(max_size=8), children)
        | _map_of(MAP_KEYS, children)
    ),
    max_leaves=30,
)

# Anything cbor2 can write, including tags, floats and null, for inputs the decoder must refuse.
ANY_CBOR = st.recursive(
    INT64 | st.binary(max_size=40) | st.text(max_size=20) | st.booleans() | st.none() | st.floats(),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(INT64 | st.text(max_size=8), children, max_size=5)
        | st.builds(CBORTag, st.sampled_from((1, 2, 18, 24, 28, 61, 55799)) | st.integers(0, 2**16), children)
    ),
    max_leaves=20,
)


@st.composite
def code_shaped_cbor(draw: st.DrawFn) -> str:
    """SP1 text whose CBOR looks like a code: tag 18 arrays with plausible headers, our kid or not."""

    def sign1() -> Any:
        header: dict[Any, Any] = {}
        if draw(st.booleans()):
            header[1] = draw(st.sampled_from((ES256, ES384, EDDSA, 0, -257)) | INT64)
        if draw(st.booleans()):
            header[4] = draw(st.just(KID) | st.binary(max_size=12) | st.text(max_size=4))
        if draw(st.booleans()):
            header.update(draw(st.dictionaries(INT64, ANY_CBOR, max_size=2)))
        protected = draw(st.just(cbor2.dumps(header)) | st.binary(max_size=20))
        unprotected = draw(st.just({}) | st.dictionaries(INT64, ANY_CBOR, max_size=2))
        payload = draw(st.binary(max_size=80) | ANY_CBOR.map(cbor2.dumps))
        signature = draw(st.binary(min_size=0, max_size=96))
        body = draw(
            st.permutations([protected, unprotected, payload, signature])
            | st.just([protected, unprotected, payload, signature])
        )
        return CBORTag(18, body) if draw(st.booleans()) else body

    outer = [sign1() for _ in range(draw(st.integers(0, 3)))]
    data = cbor2.dumps(outer if draw(st.booleans()) else draw(ANY_CBOR))
    if draw(st.booleans()):
        data += draw(st.binary(max_size=4))
    return PREFIX + b45encode(data)


@st.composite
def mutated_codes(draw: st.DrawFn) -> tuple[int, str]:
    """(index of the seed in VALID_TEXTS, a real code with a few bytes changed, inserted, removed or
    cut off, re-encoded as valid base45)."""
    seed = draw(st.integers(0, len(VALID_RAWS) - 1))
    buf = bytearray(VALID_RAWS[seed])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("flip", "set", "insert", "delete", "truncate")))
        if not buf:
            break
        i = draw(st.integers(0, len(buf) - 1))
        if op == "flip":
            buf[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            buf[i] = draw(st.integers(0, 255))
        elif op == "insert":
            buf[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del buf[i : i + draw(st.integers(1, 8))]
        else:
            del buf[i:]
    return seed, PREFIX + b45encode(bytes(buf))


SignedFields = tuple[bytes, bytes, bytes | None, bytes | None]


def signed_fields(text: str) -> SignedFields:
    """What the signatures cover: the credential's protected header and payload, and the proof's.

    The signature bytes are left out on purpose: an ECDSA signature (r, s) can be re-encoded as
    (r, n - s) by anyone, so two codes with different signatures can carry the same signed
    content, and that is the replay guard's business (it keys on signed fields), not tampering.
    """
    code = parse_code(text)
    cred, proof = code.credential, code.proof
    return (
        cred.protected_bytes,
        cred.payload,
        None if proof is None else proof.protected_bytes,
        None if proof is None else proof.payload,
    )


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def malleated(text: str) -> str:
    """The same ES256 online code with its signature re-encoded as (r, n - s): still a valid signature."""
    cred = parse_code(text).credential
    assert cred.alg == ES256 and parse_code(text).proof is None
    r, s = cred.signature[:32], int.from_bytes(cred.signature[32:], "big")
    signature = r + (P256_ORDER - s).to_bytes(32, "big")
    return online_code(cose.encode_sign1(cred.protected_bytes, cred.payload, signature, tagged=True))


# --------------------------------------------------------------------------- (a) robustness of Verifier.verify


@FAST
@given(text=st.text(max_size=1200))
def test_any_text_is_rejected_cleanly(text: str) -> None:
    verify_or_reject(text)


@FAST
@given(
    text=st.one_of(ASCII_TEXT, B45_TEXT, st.just(PREFIX) | st.just("")).flatmap(
        lambda t: st.sampled_from((t, PREFIX + t, PREFIX.lower() + t, " " + PREFIX + t))
    )
)
def test_ascii_and_base45_text_with_and_without_prefix_is_rejected_cleanly(text: str) -> None:
    verify_or_reject(text)


@FAST
@given(data=st.binary(max_size=1200))
def test_any_bytes_are_rejected_cleanly(data: bytes) -> None:
    verify_or_reject(data)
    verify_or_reject(b"SP1:" + data)


@FAST
@given(data=st.binary(max_size=700), as_bytes=st.booleans())
def test_base45_of_random_bytes_is_rejected_cleanly(data: bytes, as_bytes: bool) -> None:
    text = PREFIX + b45encode(data)
    verify_or_reject(text.encode() if as_bytes else text)


@FAST
@given(text=code_shaped_cbor())
def test_code_shaped_cbor_is_rejected_cleanly(text: str) -> None:
    verify_or_reject(text)


@FAST
@given(mutant=mutated_codes(), world=st.sampled_from(WORLDS))
@example(mutant=(0, VALID_TEXTS[0]), world=WORLD)  # a mutation that changed nothing
@example(mutant=(0, malleated(VALID_TEXTS[0])), world=WORLD)  # a new signature over the same bytes
def test_mutated_real_codes_are_rejected_unless_the_signed_bytes_are_unchanged(
    mutant: tuple[int, str], world: World
) -> None:
    """A mutated code is rejected with a reason; if it verifies, it signs exactly the seed's bytes.

    The comparison is on decoded bytes, not on text: the mutant's text is base45 of its bytes, and
    the decoder accepts only canonical base45 (tested below), so no other text decodes to the
    seed's bytes. Each verify here uses a fresh verifier, so replay cannot be what rejects a
    mutant; a verifier that has already accepted the seed must then refuse the mutant as REPLAYED
    (the guard keys on kid and cti, never on signature bytes).
    """
    seed, text = mutant
    verified = verify_or_reject(text, world)
    if verified is None:
        return
    assert signed_fields(text) == signed_fields(VALID_TEXTS[seed]), "a mutated code with new signed bytes verified"
    primed = world.verifier()
    primed.verify(VALID_TEXTS[seed], world.now)
    with pytest.raises(VerificationError) as info:
        primed.verify(text, world.now)
    assert info.value.reason is Reason.REPLAYED


@SIGNING
@given(index=st.integers(0, len(VALID_TEXTS) - 1), offset=st.integers(-(10**6), 10**6))
def test_real_codes_at_any_time_verify_or_are_rejected_cleanly(index: int, offset: int) -> None:
    world = WORLDS[index // 2]
    verify_or_reject(VALID_TEXTS[index], world, now=world.now + offset)


@FAST
@given(data=st.binary(max_size=600), aad=st.binary(max_size=16))
def test_verify_sign1_on_random_bytes_raises_only_verification_error(data: bytes, aad: bytes) -> None:
    key = WORLD.issuer_key.public_key()
    with pytest.raises(VerificationError):
        cose.verify_sign1(data, key, aad)  # type: ignore[arg-type]


@FAST
@given(data=st.binary(max_size=300) | ANY_CBOR.map(cbor2.dumps))
def test_decode_claims_on_random_input_raises_only_verification_error(data: bytes) -> None:
    with contextlib.suppress(VerificationError):
        decode_claims(data)


# A trusted issuer (or a partner region's buggy encoder) signing a payload we do not expect:
# the signature is good, so decode_claims is the only guard, and it too may only reject.

PROFILE_KEYS = st.sampled_from(tuple(range(1, 12)))
CLAIM_KEYS = st.sampled_from((ISS, EXP, 5, IAT, CTI, 8, PROFILE_CLAIM, 2, 3))
# Odd values: edge integers (negative, past 32 and 64 bits), short byte strings, or anything.
ODD_VALUES = st.one_of(
    st.integers(-(2**64), 2**64 - 1),
    st.sampled_from((-1, -25, -(2**31), -(2**63), 2**32, 2**40, 2**64 - 1)),
    st.binary(max_size=40),
    ANY_CBOR,
)


@st.composite
def odd_claims_maps(draw: st.DrawFn) -> dict[Any, Any]:
    """A real claims map (timed for WORLD) with one to three entries replaced by odd values or dropped."""
    claims = draw(claims_sets())._replace(
        issuer=WORLD.issuer.issuer, issued_at=WORLD.now, expires_at=WORLD.now + 60, not_before=None
    )
    m = cbor2.loads(encode_claims(claims))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(("profile", "profile", "claims", "drop")))
        if where == "profile" and type(m.get(PROFILE_CLAIM)) is dict:
            m[PROFILE_CLAIM][draw(PROFILE_KEYS)] = draw(ODD_VALUES)
        elif where == "claims":
            m[draw(CLAIM_KEYS)] = draw(ODD_VALUES)
        else:
            m.pop(draw(CLAIM_KEYS), None)
    return m


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims=odd_claims_maps(), deterministic=st.integers(0, 3).map(bool))
@example(  # found by this test: an enrolment "date" that is a byte string
    claims={
        ISS: "CN-SH",
        EXP: NOW + 60,
        IAT: NOW,
        CTI: bytes(16),
        PROFILE_CLAIM: {P_SUBJECT: bytes(8), P_STUDENT_LEVEL: 1, P_ENROLLED_UNTIL: b""},
    },
    deterministic=True,
)
def test_issuer_signed_unexpected_claims_are_rejected_cleanly(claims: dict[Any, Any], deterministic: bool) -> None:
    # Mostly in deterministic order, so that the decoder looks past the key order.
    try:
        payload = cbor_strict.dumps(claims) if deterministic else cbor2.dumps(claims)
    except (cbor2.CBOREncodeError, TypeError):  # a map key cbor_strict cannot order (e.g. a float)
        payload = cbor2.dumps(claims)
    credential = cose.sign1(payload, WORLD.issuer_key, kid=KID)
    verify_or_reject(PREFIX + b45encode(b"\x81" + credential))


def _signed_with_profile_entry(key: int, value: Any) -> str:
    m: dict[int, Any] = {
        ISS: WORLD.issuer.issuer,
        EXP: WORLD.now + 60,
        IAT: WORLD.now,
        CTI: bytes(16),
        PROFILE_CLAIM: {P_SUBJECT: bytes(8), P_STUDENT_LEVEL: 5, key: value},
    }
    credential = cose.sign1(cbor2.dumps(m), WORLD.issuer_key, kid=KID)
    return PREFIX + b45encode(b"\x81" + credential)


@pytest.mark.parametrize(
    "enrolled_until",
    [b"\x00\x01", -(10**6), -(2**40), -(2**63)],
    ids=["bytes", "minus-1e6-days", "minus-2^40-days", "minus-2^63-days"],
)
def test_signed_profile_with_bad_enrolled_until_is_malformed_claims(enrolled_until: Any) -> None:
    """A signed profile whose enrolment date is not a day count in range is MALFORMED_CLAIMS, not a crash."""
    text = _signed_with_profile_entry(P_ENROLLED_UNTIL, enrolled_until)
    with pytest.raises(VerificationError) as info:
        WORLD.verifier().verify(text, WORLD.now)
    assert info.value.reason is Reason.MALFORMED_CLAIMS


# --------------------------------------------------------------------------- (b) round trips through the verifier


def _assert_round_trip(world: World, profile: Profile, holder: bool) -> None:
    verifier = world.verifier()
    if holder:
        device = DEVICE_KEYS[0]
        text, _, _ = world.holder(profile, device=device)
        verified = verifier.verify(text, world.now)
        assert verified.kind == HOLDER_BOUND
        assert verified.proof_time == world.now // 30 * 30
        assert verified.claims.device_key == device.public_key()
    else:
        text = world.online(profile)
        verified = verifier.verify(text, world.now)
        assert verified.kind == ONLINE
        assert verified.claims.device_key is None
    assert verified.issuer == world.issuer.issuer
    assert verified.kid == world.ring.active().kid
    assert verified.profile == profile


# Every attribute at once, entitled_group included: the default ring's ALL_PRIVILEGES must cover it.
EVERYTHING = Profile(
    subject=bytes(range(32)),
    age_over=80,
    disability_category=7,
    disability_grade=4,
    martyr_family=True,
    entitled_group=True,
    student_level=6,
    enrolled_until=dt.date(2517, 7, 31),
    residence=999999,
    version=2**32 - 1,
)


@SIGNING
@given(profile=profiles(), world=st.sampled_from(WORLDS))
@example(profile=EVERYTHING, world=WORLD)
def test_online_code_round_trip(profile: Profile, world: World) -> None:
    _assert_round_trip(world, profile, holder=False)


@SIGNING
@given(profile=profiles(), world=st.sampled_from(WORLDS))
@example(profile=EVERYTHING, world=WORLD_EDDSA)
def test_holder_bound_code_round_trip(profile: Profile, world: World) -> None:
    _assert_round_trip(world, profile, holder=True)


@FAST
@given(claims=claims_sets())
def test_claims_encode_decode_round_trip(claims: Claims) -> None:
    payload = encode_claims(claims)
    assert payload == cbor_strict.dumps(cbor2.loads(payload))  # the encoder writes deterministic CBOR
    assert decode_claims(payload) == claims


@FAST
@given(profile=profiles(dates=st.dates()))
def test_issuer_and_decoder_agree_on_every_enrolment_date(profile: Profile) -> None:
    """Any `date` at all: either the issuer refuses the profile, or every gate reads it back unchanged.

    (An issuer that signs a profile no gate accepts, or that a gate reads with another date, is a bug.)
    """
    claims = Claims("CN-SH", 1_800_000_000, 1_800_000_060, bytes(16), profile)
    if profile_problems(profile):
        with pytest.raises(ValueError):
            encode_claims(claims)
        return
    try:
        decoded = decode_claims(encode_claims(claims))
    except VerificationError as exc:
        raise AssertionError(f"issued profile rejected by the decoder: {exc}") from None
    assert decoded.profile == profile


@SIGNING
@given(device=st.sampled_from(DEVICE_KEYS), step_offset=st.integers(-2, 1), nonce=st.binary(min_size=8, max_size=8))
def test_holder_code_from_parts_round_trip(device: Any, step_offset: int, nonce: bytes) -> None:
    """A proof made at any fresh time step, with any nonce, verifies and reports its step's start."""
    profile = elderly()
    credential = WORLD.issuer.credential(profile, WORLD.now, device_key=device.public_key())
    proof_at = WORLD.now + 30 * step_offset
    text = holder_code(credential, device_proof(credential, device, proof_at, nonce))
    verified = WORLD.verifier().verify(text, WORLD.now)
    assert verified.profile == profile
    assert verified.proof_time == proof_at // 30 * 30


# --------------------------------------------------------------------------- base45


@FAST
@given(data=st.binary(max_size=2000))
def test_base45_round_trip(data: bytes) -> None:
    text = b45encode(data)
    assert set(text) <= set(ALPHABET)
    assert len(text) == len(data) // 2 * 3 + len(data) % 2 * 2
    assert b45decode(text) == data


@FAST
@given(text=B45_TEXT)
def test_base45_decoder_accepts_only_canonical_text(text: str) -> None:
    try:
        data = b45decode(text)
    except Base45Error:
        return
    assert b45encode(data) == text


@FAST
@given(text=st.text(max_size=60))
def test_base45_decoder_raises_only_base45_error(text: str) -> None:
    with contextlib.suppress(Base45Error):
        b45decode(text)


# --------------------------------------------------------------------------- deterministic CBOR


@FAST
@given(value=CBOR_VALUES)
def test_cbor_strict_round_trip(value: Any) -> None:
    data = cbor_strict.dumps(value)
    decoded = cbor_strict.loads(data)
    assert decoded == value
    assert cbor_strict.encoded_size(decoded) == len(data)
    assert cbor_strict.dumps(decoded) == data


@FAST
@given(value=CBOR_VALUES)
def test_cbor_strict_refuses_trailing_bytes_and_non_deterministic_forms(value: Any) -> None:
    data = cbor_strict.dumps(value)
    variants = (
        data + b"\x00",  # trailing byte
        b"\xd9\xd9\xf7" + data,  # self-described CBOR tag, which cbor2 strips
        b"\x98\x01" + data,  # [value] with a non-shortest array head
        b"\x9f" + data + b"\xff",  # [value] with an indefinite length
    )
    for bad in variants:
        with pytest.raises(cbor_strict.CborError):
            cbor_strict.loads(bad)


@FAST
@given(
    data=st.binary(max_size=200)
    | CBOR_VALUES.map(cbor_strict.dumps).flatmap(
        lambda d: st.tuples(st.integers(0, max(len(d) - 1, 0)), st.integers(0, 255)).map(
            lambda m: d[: m[0]] + bytes([m[1]]) + d[m[0] + 1 :]
        )
    )
)
def test_cbor_strict_accepts_only_canonical_bytes(data: bytes) -> None:
    try:
        value = cbor_strict.loads(data)
    except cbor_strict.CborError:
        return
    assert cbor_strict.dumps(value) == data


@pytest.mark.parametrize(
    "data",
    [
        # [28(h'01020304'), 29(0)]: a value marked shareable, then a reference to it
        bytes.fromhex("82d81c4401020304d81d00"),
        # the same with a 10-byte value: the reference "pays" for 6 bytes of trailing garbage
        bytes.fromhex("82d81c4a00010203040506070809d81d00") + b"\xff" * 6,
    ],
    ids=["shared-reference", "shared-reference-plus-trailing-garbage"],
)
def test_cbor_strict_refuses_shared_reference_tags(data: bytes) -> None:
    """Tags 28/29 (value sharing) are neither deterministic nor expected: strict loads must refuse them."""
    with pytest.raises(cbor_strict.CborError):
        cbor_strict.loads(data)


def test_strategies_exercise_the_privileges_world() -> None:
    """Guard for the round-trip tests: the module's worlds trust their issuers and verify a plain code."""
    for world in WORLDS:
        assert verify_or_reject(world.online(), world) is not None
