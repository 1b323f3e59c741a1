"""CWT claims (RFC 8392) of a Suishen credential and the holder's profile claim.

A profile carries group flags only: a keyed-hash subject and the attributes some scan-mode
policy reads. No name, no birth date, no ID number. Integer map keys keep codes small.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from verifier import cbor_strict
from verifier.errors import Reason, VerificationError

# CWT claim keys (RFC 8392 §4, RFC 8747 §3.1)
ISS, EXP, NBF, IAT, CTI, CNF = 1, 4, 5, 6, 7, 8
PROFILE_CLAIM = -65537  # private use (< -65536)
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


# Profile map keys, in deterministic order.
P_SUBJECT, P_AGE_OVER, P_DIS_CAT, P_DIS_GRADE, P_MARTYR = 1, 2, 3, 4, 5
P_STUDENT_LEVEL, P_ENROLLED_UNTIL, P_RESIDENCE, P_VERSION, P_ENTITLED = 6, 7, 8, 9, 10


class Claims(NamedTuple):
    issuer: str
    issued_at: int
    expires_at: int
    cti: bytes
    profile: Profile
    not_before: int | None = None
    device_key: ec.EllipticCurvePublicKey | None = None

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
    return problems


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
    return cbor_strict.dumps(m)


def _bad(detail: str) -> VerificationError:
    return VerificationError(Reason.MALFORMED_CLAIMS, detail)


def _uint(value: Any, name: str, limit: int = _MAX_TIME) -> int:
    if type(value) is not int or not 0 <= value < limit:
        raise _bad(f"{name} must be an integer in range")
    return value


_COSE_KEY_LABELS = [1, -1, -2, -3]


def _device_key(cnf: Any) -> tuple[ec.EllipticCurvePublicKey, int]:
    """The holder's P-256 key from `cnf`, and the claim's encoded size (key included)."""
    if type(cnf) is not dict or len(cnf) != 1 or type(next(iter(cnf))) is not int or CNF_COSE_KEY not in cnf:
        raise _bad("cnf must hold exactly one COSE_Key")
    key = cnf[CNF_COSE_KEY]
    if type(key) is not dict or list(key) != _COSE_KEY_LABELS or type(next(iter(key))) is not int:
        raise _bad("device key must be a COSE_Key with kty, crv, x, y in that order")
    kty, crv, x, y = key[1], key[-1], key[-2], key[-3]
    if type(kty) is not int or kty != 2 or type(crv) is not int or crv != 1:
        raise _bad("device key must be an EC2 P-256 COSE_Key")
    if type(x) is not bytes or len(x) != 32:
        raise _bad("device key x must be 32 bytes")
    if type(y) is bytes and len(y) == 32:
        point, size = b"\x04" + x + y, 78
    elif type(y) is bool:
        point, size = (b"\x03" if y else b"\x02") + x, 45
    else:
        raise _bad("device key y must be 32 bytes or a sign bit")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_P256, point), size
    except ValueError:
        raise _bad("device key is not a point on P-256") from None


_P256 = ec.SECP256R1()


def _profile(m: Any) -> tuple[Profile, int]:
    """The profile and its encoded size (the caller checks the payload's size adds up).

    Each value is checked against its allowed set as it is sized; only the pairings
    (category with grade, level with end date) are left to profile_problems.
    """
    if type(m) is not dict or P_SUBJECT not in m:
        raise _bad("profile must be a map with a subject")
    keys = list(m)
    if keys != [k for k in _PROFILE_ORDER if k in m]:
        raise _bad("profile has unknown keys or keys out of order")
    subject = m[P_SUBJECT]
    if type(subject) is not bytes or len(subject) not in SUBJECT_LENGTHS:
        raise _bad("subject must be 8 to 32 bytes")
    if not all(type(k) is int for k in keys):  # True == 1 as a dict key: a CBOR `true` key must not pass
        raise _bad("profile keys must be integers")
    size = 3 + len(subject) if len(subject) < 24 else 4 + len(subject)  # map head, key, bstr head
    for key in keys[1:]:
        value = m[key]
        allowed = _PROFILE_VALUES[key]
        if allowed is True:
            if value is not True:
                raise _bad("profile flags are present only as true")
            size += 2
            continue
        if type(value) is not int or value not in allowed:
            raise _bad(f"profile value for key {key} is out of range")
        size += 2 if value < 24 else 3 if value < 0x100 else 4 if value < 0x10000 else 6
    enrolled = m.get(P_ENROLLED_UNTIL)
    profile = Profile(
        subject,
        m.get(P_AGE_OVER),
        m.get(P_DIS_CAT),
        m.get(P_DIS_GRADE),
        P_MARTYR in m,
        P_ENTITLED in m,
        m.get(P_STUDENT_LEVEL),
        None if enrolled is None else _EPOCH + dt.timedelta(days=enrolled),
        m.get(P_RESIDENCE),
        m.get(P_VERSION, 0),
    )
    if (P_DIS_CAT in m) != (P_DIS_GRADE in m) or (P_STUDENT_LEVEL in m) != (P_ENROLLED_UNTIL in m):
        raise _bad("; ".join(profile_problems(profile)))
    return profile, size


_PROFILE_VALUES: dict[int, Any] = {
    P_AGE_OVER: frozenset(AGE_THRESHOLDS),
    P_DIS_CAT: range(1, 8),
    P_DIS_GRADE: range(1, 5),
    P_MARTYR: True,
    P_STUDENT_LEVEL: frozenset(STUDENT_LEVELS),
    P_ENROLLED_UNTIL: range(0, _MAX_DAYS),
    P_RESIDENCE: range(100000, 1000000),
    P_VERSION: range(1, 1 << 32),
    P_ENTITLED: True,
}


_PROFILE_ORDER = (
    P_SUBJECT,
    P_AGE_OVER,
    P_DIS_CAT,
    P_DIS_GRADE,
    P_MARTYR,
    P_STUDENT_LEVEL,
    P_ENROLLED_UNTIL,
    P_RESIDENCE,
    P_VERSION,
    P_ENTITLED,
)
_CLAIM_ORDER = (ISS, EXP, NBF, IAT, CTI, CNF, PROFILE_CLAIM)
_REQUIRED_CLAIMS = (ISS, EXP, IAT, CTI, PROFILE_CLAIM)


def _layouts(order: tuple[int, ...], required: tuple[int, ...]) -> frozenset[tuple[int, ...]]:
    """Every allowed key sequence of a map: the required keys plus any optional ones, in order."""
    optional = [k for k in order if k not in required]
    layouts = set()
    for mask in range(1 << len(optional)):
        chosen = {k for bit, k in enumerate(optional) if mask >> bit & 1}
        layouts.add(tuple(k for k in order if k in required or k in chosen))
    return frozenset(layouts)


_CLAIM_KEY_LAYOUTS = _layouts(_CLAIM_ORDER, _REQUIRED_CLAIMS)
_PROFILE_KEY_LAYOUTS = _layouts(_PROFILE_ORDER, (P_SUBJECT,))


def _time_size(value: Any) -> int:
    """Encoded size of a NumericDate claim, key included."""
    if type(value) is not int or not 0 <= value < _MAX_TIME:
        raise _bad("iat, nbf and exp must be integers in range")
    return 6 if 0x10000 <= value < 0x100000000 else 1 + cbor_strict.head_size(value)


def decode_claims(payload: bytes) -> Claims:
    """Parse a verified payload; anything unexpected or not deterministic is MALFORMED_CLAIMS.

    Validation and the deterministic-size check are done in one pass over the claims: this
    runs on every scan, next to a 60 µs signature check.
    """
    try:
        m = cbor2.loads(payload)
    except Exception as exc:  # cbor2 raises several types
        raise _bad(f"not CBOR: {type(exc).__name__}") from None
    if type(m) is not dict:
        raise _bad("claims must be a map")
    keys = tuple(m)
    # Key 1 is always first and is the only key a CBOR `true` could pose as (True == 1).
    if keys not in _CLAIM_KEY_LAYOUTS or type(keys[0]) is not int:
        missing = [k for k in _REQUIRED_CLAIMS if k not in m]
        raise _bad(f"claims {missing} missing" if missing else "claims have unknown keys or keys out of order")
    issuer, cti = m[ISS], m[CTI]
    if type(issuer) is not str or not 0 < len(issuer) < 24 or not issuer.isascii():
        raise _bad("iss must be a short ASCII text")
    if type(cti) is not bytes or len(cti) != CTI_LENGTH:
        raise _bad("cti must be 16 bytes")
    issued_at, expires_at, not_before = m[IAT], m[EXP], m.get(NBF)
    size = 1 + (2 + len(issuer)) + (2 + CTI_LENGTH) + _time_size(issued_at) + _time_size(expires_at)
    if not_before is not None:
        size += _time_size(not_before)
    if expires_at <= issued_at:
        raise _bad("exp must be after iat")
    device_key = None
    if CNF in m:
        device_key, cnf_size = _device_key(m[CNF])
        size += cnf_size
    profile, profile_size = _profile(m[PROFILE_CLAIM])
    if size + 5 + profile_size != len(payload):
        raise _bad("claims not in deterministic encoding (or trailing bytes)")
    try:
        cbor_strict.check_no_references(m, payload)
    except cbor_strict.CborError as exc:
        raise _bad(str(exc)) from None
    return Claims(issuer, issued_at, expires_at, cti, profile, not_before, device_key)
