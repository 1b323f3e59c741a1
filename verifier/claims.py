"""CWT claims (RFC 8392) of a Suishen credential and the holder's profile claim.

A profile carries group flags only: a keyed-hash subject and the attributes some scan-mode
policy reads. No name, no birth date, no ID number. Integer map keys keep codes small.

An enterprise code (法人随申码) is the same claims set whose profile has the subject-kind key
(P_KIND = 1, enterprise), present only for enterprises, so every person's code decodes exactly as
before; its subject is a keyed pseudonym of the unified social credit code, and it carries only
enterprise attributes (守信 credit_good, the registered region), never a person's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from operator import attrgetter
from typing import Any, NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from verifier import cbor_strict
from verifier.cbor_read import read_ascii, read_bytes, read_uint
from verifier.cbor_strict import CborError
from verifier.errors import Reason, VerificationError

# CWT claim keys (RFC 8392 §4, RFC 8747 §3.1)
ISS, EXP, NBF, IAT, CTI, CNF = 1, 4, 5, 6, 7, 8
PROFILE_CLAIM = -65537  # private use (< -65536)
CARD_CLAIM = -65538  # a printed card's number: present on cards only
CARD_NUMBERS = range(1, 1 << 40)
CARD_MAX_LIFE_S = 731 * 86400  # two years and a day: issuers cap a card at 730 days
CNF_COSE_KEY = 1
CTI_LENGTH = 16
SUBJECT_LENGTHS = range(8, 33)
_MAX_TIME = 1 << 40

AGE_THRESHOLDS = (60, 65, 70, 80)
STUDENT_LEVELS = {
    1: "primary",
    2: "junior_secondary",
    3: "senior_secondary",
    4: "vocational",
    5: "undergraduate",
    6: "postgraduate",
}
_EPOCH = dt.date(1970, 1, 1)
_MAX_DAYS = 200000
_LAST_DATE = _EPOCH + dt.timedelta(days=_MAX_DAYS)


class Profile(NamedTuple):
    """What a gate may learn about a holder. `None`/False means the attribute is not asserted."""

    subject: bytes
    age_over: int | None = None
    disability_category: int | None = None
    disability_grade: int | None = None
    martyr_family: bool = False
    entitled_group: bool = False
    student_level: int | None = None
    enrolled_until: dt.date | None = None
    residence: int | None = None
    version: int = 0
    # -- an enterprise's code (法人随申码): these are set on enterprise profiles only
    enterprise: bool = False  # the subject is an enterprise (profile key P_KIND)
    credit_good: bool = False  # 守信: an A-level taxpayer with no blacklist entry
    enterprise_region: int | None = None  # the region the enterprise is registered in

    def privileges_asserted(self) -> set[str]:
        """The trust-list privilege names this profile relies on."""
        asserted = set()
        if self.age_over is not None:
            asserted.add("age_over")
        if self.disability_category is not None:
            asserted.add("disability")
        if self.martyr_family:
            asserted.add("martyr_family")
        if self.entitled_group:
            asserted.add("entitled_group")
        if self.student_level is not None:
            asserted.add("student")
        if self.residence is not None:
            asserted.add("residence")
        if self.enterprise:  # no trust-list privilege names it: only our own unrestricted keys assert it
            asserted.add(ENTERPRISE_PRIVILEGE)
        return asserted

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self._asdict().items():
            if value is None or value is False:
                continue
            if isinstance(value, bytes):
                value = value.hex()
            elif isinstance(value, dt.date):
                value = value.isoformat()
            out[name] = value
        return out


# The group attributes: every field but who the holder is (subject) and the profile's version.
# Eligibility depends on these alone, so deciders remember their answers per group key; a field
# added to Profile joins the key by itself, and a memo can never mix up two kinds of holder.
GROUP_FIELDS: tuple[str, ...] = tuple(f for f in Profile._fields if f not in ("subject", "version"))
GroupKey = tuple[Any, ...]
group_key: Callable[[Profile], GroupKey] = attrgetter(*GROUP_FIELDS)  # one C call: about a slice's cost

# Profile map keys, in deterministic order.
P_SUBJECT, P_AGE_OVER, P_DIS_CAT, P_DIS_GRADE, P_MARTYR = 1, 2, 3, 4, 5
P_STUDENT_LEVEL, P_ENROLLED_UNTIL, P_RESIDENCE, P_VERSION, P_ENTITLED = 6, 7, 8, 9, 10
P_KIND, P_CREDIT_GOOD, P_ENTERPRISE_REGION = 11, 12, 13  # enterprise codes only
KIND_ENTERPRISE = 1  # the one value of P_KIND; a person's profile has no P_KIND
ENTERPRISE_PRIVILEGE = "enterprise"  # asserted by every enterprise profile; not in keys.ring.ALL_PRIVILEGES
_PERSON_KEYS = frozenset({P_AGE_OVER, P_DIS_CAT, P_DIS_GRADE, P_MARTYR, P_STUDENT_LEVEL, P_ENROLLED_UNTIL,
                          P_RESIDENCE, P_ENTITLED})  # fmt: skip


class Claims(NamedTuple):
    issuer: str
    issued_at: int
    expires_at: int
    cti: bytes
    profile: Profile
    not_before: int | None = None
    device_key: ec.EllipticCurvePublicKey | None = None
    card_number: int | None = None  # set on printed cards (no device key, long life)

    @property
    def valid_from(self) -> int:
        return self.issued_at if self.not_before is None else self.not_before


def profile_problems(p: Profile) -> list[str]:
    """Everything wrong with a profile, in words; empty when it can be issued."""
    problems = []
    if type(p.subject) is not bytes or len(p.subject) not in SUBJECT_LENGTHS:
        problems.append("subject must be 8 to 32 bytes")
    if p.age_over is not None and p.age_over not in AGE_THRESHOLDS:
        problems.append(f"age_over must be one of {AGE_THRESHOLDS}")
    if (p.disability_category is None) != (p.disability_grade is None):
        problems.append("disability category and grade come together")
    if p.disability_category is not None and p.disability_category not in range(1, 8):
        problems.append("disability category must be 1-7")
    if p.disability_grade is not None and p.disability_grade not in range(1, 5):
        problems.append("disability grade must be 1-4")
    if (p.student_level is None) != (p.enrolled_until is None):
        problems.append("student level and enrolled_until come together")
    if p.enrolled_until is not None and not _EPOCH <= p.enrolled_until < _LAST_DATE:
        problems.append(f"enrolled_until must be from {_EPOCH} to {_LAST_DATE}")
    if p.student_level is not None and p.student_level not in STUDENT_LEVELS:
        problems.append(f"student level must be one of {sorted(STUDENT_LEVELS)}")
    if p.residence is not None and p.residence not in range(100000, 1000000):
        problems.append("residence must be a six-digit region code")
    if type(p.version) is not int or not 0 <= p.version < (1 << 32):
        problems.append("version must be a non-negative 32-bit integer")
    if p.enterprise:
        person = [f for f in _PERSON_FIELDS if getattr(p, f) not in (None, False)]
        if person:
            problems.append(f"an enterprise's profile carries no person attributes ({', '.join(person)})")
        if p.enterprise_region is not None and p.enterprise_region not in range(100000, 1000000):
            problems.append("enterprise_region must be a six-digit region code")
    elif p.credit_good or p.enterprise_region is not None:
        problems.append("credit_good and enterprise_region belong to an enterprise's profile")
    return problems


_PERSON_FIELDS = ("age_over", "disability_category", "disability_grade", "martyr_family", "entitled_group",
                  "student_level", "enrolled_until", "residence")  # fmt: skip


def _profile_map(p: Profile) -> dict[int, Any]:
    m: dict[int, Any] = {P_SUBJECT: p.subject}
    if p.age_over is not None:
        m[P_AGE_OVER] = p.age_over
    if p.disability_category is not None:
        m[P_DIS_CAT] = p.disability_category
        m[P_DIS_GRADE] = p.disability_grade
    if p.martyr_family:
        m[P_MARTYR] = True
    if p.student_level is not None and p.enrolled_until is not None:
        m[P_STUDENT_LEVEL] = p.student_level
        m[P_ENROLLED_UNTIL] = (p.enrolled_until - _EPOCH).days
    if p.residence is not None:
        m[P_RESIDENCE] = p.residence
    if p.version:
        m[P_VERSION] = p.version
    if p.entitled_group:
        m[P_ENTITLED] = True
    if p.enterprise:
        m[P_KIND] = KIND_ENTERPRISE
        if p.credit_good:
            m[P_CREDIT_GOOD] = True
        if p.enterprise_region is not None:
            m[P_ENTERPRISE_REGION] = p.enterprise_region
    return m


def cose_key_map(key: ec.EllipticCurvePublicKey) -> dict[int, Any]:
    """COSE_Key (RFC 9053 §7.1.1) for a P-256 device key, x and y in full."""
    point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {1: 2, -1: 1, -2: point[1:33], -3: point[33:]}


def encode_claims(c: Claims) -> bytes:
    problems = profile_problems(c.profile)
    if problems:
        raise ValueError("; ".join(problems))
    if len(c.cti) != CTI_LENGTH:
        raise ValueError("cti must be 16 bytes")
    m: dict[int, Any] = {ISS: c.issuer, EXP: c.expires_at, IAT: c.issued_at, CTI: c.cti}
    if c.not_before is not None and c.not_before != c.issued_at:
        m[NBF] = c.not_before
    if c.device_key is not None:
        m[CNF] = {CNF_COSE_KEY: cose_key_map(c.device_key)}
    m[PROFILE_CLAIM] = _profile_map(c.profile)
    if c.card_number is not None:
        if c.device_key is not None:
            raise ValueError("a card carries no device key")
        if c.card_number not in CARD_NUMBERS:
            raise ValueError(f"card number must be 1 to {CARD_NUMBERS.stop - 1}")
        m[CARD_CLAIM] = c.card_number
    return cbor_strict.dumps(m)


_COSE_KEY_EC2_P256_X = b"\xa1\x01\xa4\x01\x02\x20\x01\x21\x58\x20"  # {1: {1: 2, -1: 1, -2: h'<32 bytes>'
_Y_FULL = b"\x22\x58\x20"  # -3: h'<32 bytes>'
_PROFILE_CLAIM_KEY = b"\x3a\x00\x01\x00\x00"  # -65537
_CARD_CLAIM_KEY = b"\x3a\x00\x01\x00\x01"  # -65538
_P256 = ec.SECP256R1()
_FLAGS = (P_MARTYR, P_ENTITLED, P_CREDIT_GOOD)
_PROFILE_VALUES: dict[int, Any] = {
    P_AGE_OVER: frozenset(AGE_THRESHOLDS),
    P_DIS_CAT: range(1, 8),
    P_DIS_GRADE: range(1, 5),
    P_STUDENT_LEVEL: frozenset(STUDENT_LEVELS),
    P_ENROLLED_UNTIL: range(0, _MAX_DAYS),
    P_RESIDENCE: range(100000, 1000000),
    P_VERSION: range(1, 1 << 32),
    P_KIND: range(KIND_ENTERPRISE, KIND_ENTERPRISE + 1),
    P_ENTERPRISE_REGION: range(100000, 1000000),
}


def decode_claims(payload: bytes) -> Claims:
    """Parse a verified payload; anything unexpected or not deterministic is MALFORMED_CLAIMS.

    The claims have one layout (keys in deterministic order, optional nbf and cnf), read
    field by field: this runs on every scan, next to a 60 µs signature check.
    """
    try:
        return _read_claims(payload)
    except (CborError, IndexError) as exc:
        detail = str(exc) if isinstance(exc, CborError) else "claims end early"
        raise VerificationError(Reason.MALFORMED_CLAIMS, detail) from None


def _read_claims(d: bytes) -> Claims:
    count = d[0] - 0xA0
    if not 5 <= count <= 8 or d[1] != ISS:
        raise CborError("claims must be a map starting with iss")
    issuer, i = read_ascii(d, 2)
    if not 0 < len(issuer) < 24:
        raise CborError("iss must be 1 to 23 characters")
    if d[i] != EXP:
        raise CborError("exp missing or out of order")
    expires_at, i = read_uint(d, i + 1)
    not_before = None
    if d[i] == NBF:
        not_before, i = read_uint(d, i + 1)
    if d[i] != IAT:
        raise CborError("iat missing or out of order")
    issued_at, i = read_uint(d, i + 1)
    if d[i] != CTI or d[i + 1] != 0x40 + CTI_LENGTH:
        raise CborError("cti (16 bytes) missing or out of order")
    cti, i = d[i + 2 : i + 2 + CTI_LENGTH], i + 2 + CTI_LENGTH
    device_key = None
    if d[i] == CNF:
        device_key, i = _read_device_key(d, i + 1)
    if d[i : i + 5] != _PROFILE_CLAIM_KEY:
        raise CborError("profile claim missing, or an unknown claim")
    profile, i = _read_profile(d, i + 5)
    card_number = None
    if i != len(d):
        if d[i : i + 5] != _CARD_CLAIM_KEY:
            raise CborError("bytes after the claims")
        card_number, i = read_uint(d, i + 5)
        if i != len(d):
            raise CborError("bytes after the claims")
        if card_number not in CARD_NUMBERS:
            raise CborError("card number out of range")
    if count != 5 + (not_before is not None) + (device_key is not None) + (card_number is not None):
        raise CborError("claims map count does not match its entries")
    if expires_at >= _MAX_TIME or expires_at <= issued_at or (not_before or 0) >= _MAX_TIME:
        raise CborError("exp must be after iat, and times in range")
    if card_number is not None:
        if device_key is not None:
            raise CborError("a card carries no device key")
        if expires_at - issued_at > CARD_MAX_LIFE_S:
            raise CborError("a card lives at most two years")
    return Claims(issuer, issued_at, expires_at, cti, profile, not_before, device_key, card_number)


def _read_device_key(d: bytes, i: int) -> tuple[ec.EllipticCurvePublicKey, int]:
    """cnf: {1: COSE_Key EC2 P-256}, x in full, y in full or as a sign bit."""
    end = i + len(_COSE_KEY_EC2_P256_X)
    if d[i:end] != _COSE_KEY_EC2_P256_X:
        raise CborError("cnf must hold one EC2 P-256 COSE_Key (kty, crv, x, y in order)")
    x, i = d[end : end + 32], end + 32
    if d[i : i + 3] == _Y_FULL:
        point, i = b"\x04" + x + d[i + 3 : i + 35], i + 35
    elif d[i] == 0x22 and d[i + 1] in (0xF4, 0xF5):
        point, i = (b"\x03" if d[i + 1] == 0xF5 else b"\x02") + x, i + 2
    else:
        raise CborError("device key y must be 32 bytes or a sign bit")
    if i > len(d):
        raise IndexError(i)
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_P256, point), i
    except ValueError:
        raise CborError("device key is not a point on P-256") from None


def _read_profile(d: bytes, i: int) -> tuple[Profile, int]:
    count = d[i] - 0xA0
    if not 1 <= count <= 13 or d[i + 1] != P_SUBJECT:
        raise CborError("profile must be a map starting with the subject")
    subject, i = read_bytes(d, i + 2)
    if len(subject) not in SUBJECT_LENGTHS:
        raise CborError("subject must be 8 to 32 bytes")
    values: dict[int, Any] = {}
    last = P_SUBJECT
    for _ in range(count - 1):
        key = d[i]
        if not last < key <= P_ENTERPRISE_REGION:
            raise CborError("profile has unknown keys or keys out of order")
        last = key
        if key in _FLAGS:
            if d[i + 1] != 0xF5:
                raise CborError("profile flags are present only as true")
            values[key], i = True, i + 2
            continue
        value, i = read_uint(d, i + 1)
        if value not in _PROFILE_VALUES[key]:
            raise CborError(f"profile value for key {key} is out of range")
        values[key] = value
    get = values.get
    enrolled = get(P_ENROLLED_UNTIL)
    profile = Profile(
        subject,
        get(P_AGE_OVER),
        get(P_DIS_CAT),
        get(P_DIS_GRADE),
        P_MARTYR in values,
        P_ENTITLED in values,
        get(P_STUDENT_LEVEL),
        None if enrolled is None else _EPOCH + dt.timedelta(days=enrolled),
        get(P_RESIDENCE),
        get(P_VERSION, 0),
    )
    if P_KIND in values:  # an enterprise's code: no person attribute beside the enterprise's own
        if not _PERSON_KEYS.isdisjoint(values):
            raise CborError("an enterprise's profile carries no person attributes")
        profile = profile._replace(
            enterprise=True, credit_good=P_CREDIT_GOOD in values, enterprise_region=get(P_ENTERPRISE_REGION)
        )
    elif P_CREDIT_GOOD in values or P_ENTERPRISE_REGION in values:
        raise CborError("credit_good and enterprise_region belong to an enterprise's profile")
    if (P_DIS_CAT in values) != (P_DIS_GRADE in values) or (P_STUDENT_LEVEL in values) != (enrolled is not None):
        raise CborError("; ".join(profile_problems(profile)))
    return profile, i
