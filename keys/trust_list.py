"""Signed trust lists: which issuer keys a verifier accepts, for what, and until when.

The document is JSON so that a partner region can read it with any tool: a `payload` object
and a detached `signature` over the payload's canonical JSON bytes (sorted keys, no spaces),
made with a trust-list root key that is kept apart from every issuer key.

A key entry may carry `residence_region` (a six-digit region code): a partner region's issuers
may then assert residence only inside that province, so a partner cannot make its holders
residents of ours. Our own keys never carry it; `keys.partners` sets it on every partner key.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from typing import Any

from keys.algorithms import (
    ALG_IDS,
    ALG_NAMES,
    KeyAlgorithmError,
    PrivateKey,
    PublicKey,
    RawVerifier,
    alg_of,
    kid_of,
    load_public_key,
    raw_verifier,
    spki_der,
)
from keys.ring import ALL_PRIVILEGES, REVOKED, STATUSES, KeyRing
from keys.signed_json import SignedDocumentError, b64url, open_document, sign_document, unb64url

FORMAT = "suishen-trust-list/1"
DEFAULT_MAX_AGE_S = 7 * 86400
ISSUED_AT_SKEW_S = 300
_EVERY_PRIVILEGE = frozenset(ALL_PRIVILEGES)
# Algorithms a verifier may lack (an optional library): their keys are left out of the store
# there, rather than the whole list refused, so one partner's SM2 key cannot stop every code.
OPTIONAL_ALGS = frozenset({"SM2"})


class TrustListError(SignedDocumentError):
    """The trust list cannot be used; the message says exactly why."""


@dataclass(frozen=True, slots=True)
class TrustedKey:
    kid: bytes
    alg: int
    public_key: PublicKey
    issuer: str
    region: str
    not_before: int
    not_after: int
    status: str
    privileges: frozenset[str]
    check: RawVerifier = field(compare=False, repr=False)
    residence_region: str | None = None
    # Computed at load so the gate path tests one flag: True when the key may assert less than
    # everything (fewer privileges, or residence only inside one province).
    limited: bool = field(default=True, compare=False, repr=False)

    @property
    def residence_province(self) -> int | None:
        """The first two digits of `residence_region` (e.g. 32 for Jiangsu), or None."""
        return int(self.residence_region[:2]) if self.residence_region else None


@dataclass(frozen=True, slots=True)
class TrustList:
    version: int
    issued_at: int
    max_age: int
    keys: tuple[TrustedKey, ...]
    root_kid: bytes

    @property
    def expires_at(self) -> int:
        return self.issued_at + self.max_age


def payload_from_rings(
    rings: list[KeyRing], *, version: int, issued_at: int, max_age: int = DEFAULT_MAX_AGE_S
) -> dict[str, Any]:
    keys = [
        {
            "kid": e.kid.hex(),
            "alg": e.alg_name,
            "public_key": b64url(spki_der(e.public_key)),
            "issuer": ring.issuer,
            "region": ring.region,
            "not_before": e.not_before,
            "not_after": e.not_after,
            "status": e.status,
            "privileges": sorted(ring.privileges),
        }
        for ring in rings
        for e in ring.keys
    ]
    return {
        "format": FORMAT,
        "version": version,
        "issued_at": issued_at,
        "max_age": max_age,
        "keys": keys,
    }


def trust_list_payload(
    keys: list[dict[str, Any]], *, version: int, issued_at: int, max_age: int = DEFAULT_MAX_AGE_S
) -> dict[str, Any]:
    """A payload from key entries already in document form (see `key_entry`)."""
    return {"format": FORMAT, "version": version, "issued_at": issued_at, "max_age": max_age, "keys": keys}


def key_entry(key: TrustedKey) -> dict[str, Any]:
    """A trusted key back in document form: what `_parse_key` reads, so a list can be re-signed."""
    entry: dict[str, Any] = {
        "kid": key.kid.hex(),
        "alg": ALG_NAMES[key.alg],
        "public_key": b64url(spki_der(key.public_key)),
        "issuer": key.issuer,
        "region": key.region,
        "not_before": key.not_before,
        "not_after": key.not_after,
        "status": key.status,
        "privileges": sorted(key.privileges),
    }
    if key.residence_region is not None:
        entry["residence_region"] = key.residence_region
    return entry


def revocations(trust_list: TrustList) -> dict[str, Any]:
    """`{"version", "revoked_kids"}`: the short answer a gate can poll between full list syncs."""
    revoked = sorted(k.kid.hex() for k in trust_list.keys if k.status == REVOKED)
    return {"version": trust_list.version, "revoked_kids": revoked}


def sign_trust_list(payload: dict[str, Any], root_key: PrivateKey) -> bytes:
    return sign_document(payload, root_key)


def load_trust_list(
    document: bytes, root_public_key: PublicKey, now: float, *, allow_stale: bool = False
) -> TrustList:
    """Verify and parse a trust list; refuse a bad signature, a stale list or a bad entry.

    `allow_stale` skips the time checks (age and issue time): for reading back a list already
    verified and held, never for a gate.
    """
    payload = open_document(document, root_public_key, "trust list", TrustListError)
    return _parse_payload(payload, kid_of(root_public_key), now, allow_stale)


def _field(obj: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = obj.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TrustListError(f"{where}.{name} must be {kind.__name__}, found {value!r}")
    return value


def _parse_payload(payload: dict[str, Any], root_kid: bytes, now: float, allow_stale: bool = False) -> TrustList:
    if payload.get("format") != FORMAT:
        raise TrustListError(f"trust list format must be {FORMAT!r}, found {payload.get('format')!r}")
    version = _field(payload, "version", int, "payload")
    issued_at = _field(payload, "issued_at", int, "payload")
    max_age = _field(payload, "max_age", int, "payload")
    if issued_at > now + ISSUED_AT_SKEW_S and not allow_stale:
        raise TrustListError(f"trust list version {version} is issued in the future ({issued_at})")
    if max_age < 0:
        raise TrustListError(f"trust list version {version} has a negative max_age")
    if now > issued_at + max_age and not allow_stale:
        raise TrustListError(
            f"trust list version {version} is stale: issued {issued_at}, max age {max_age} s "
            f"ended {int(now - issued_at - max_age)} s ago"
        )
    entries = _field(payload, "keys", list, "payload")
    keys: list[TrustedKey] = []
    seen: set[bytes] = set()
    for i, raw in enumerate(entries):
        where = f"payload.keys[{i}]"
        if not isinstance(raw, dict):
            raise TrustListError(f"{where} must be an object")
        if raw.get("alg") in OPTIONAL_ALGS and raw["alg"] not in ALG_IDS:
            continue  # e.g. a partner's SM2 key on a gate without gmssl-pyx: its codes go unrecognised
        key = _parse_key(raw, where)
        if key.kid in seen:
            raise TrustListError(f"{where}: duplicate kid {key.kid.hex()}")
        seen.add(key.kid)
        keys.append(key)
    return TrustList(version, issued_at, max_age, tuple(keys), root_kid)


def _parse_key(raw: dict[str, Any], where: str) -> TrustedKey:
    alg = ALG_IDS.get(_field(raw, "alg", str, where))
    if alg is None:
        raise TrustListError(f"{where}.alg {raw['alg']!r} is not one of {sorted(ALG_IDS)}")
    try:
        public_key = load_public_key(unb64url(_field(raw, "public_key", str, where)))
    except (binascii.Error, ValueError, KeyAlgorithmError):
        raise TrustListError(f"{where}.public_key is not a usable SubjectPublicKeyInfo") from None
    if alg_of(public_key) != alg:
        raise TrustListError(f"{where}: public key does not match alg {raw['alg']}")
    kid = kid_of(public_key)
    if _field(raw, "kid", str, where) != kid.hex():
        raise TrustListError(f"{where}.kid does not match the public key (expected {kid.hex()})")
    status = _field(raw, "status", str, where)
    if status not in STATUSES:
        raise TrustListError(f"{where}.status {status!r} is not one of {list(STATUSES)}")
    privileges = _field(raw, "privileges", list, where)
    if not all(isinstance(p, str) for p in privileges):
        raise TrustListError(f"{where}.privileges must be a list of strings")
    residence_region = raw.get("residence_region")
    if residence_region is not None and not (
        isinstance(residence_region, str)
        and len(residence_region) == 6
        and residence_region.isascii()
        and residence_region.isdigit()
    ):
        raise TrustListError(f"{where}.residence_region must be a six-digit region code, found {residence_region!r}")
    limited = residence_region is not None or not frozenset(privileges) >= _EVERY_PRIVILEGE
    return TrustedKey(
        kid=kid,
        alg=alg,
        public_key=public_key,
        issuer=_field(raw, "issuer", str, where),
        region=_field(raw, "region", str, where),
        not_before=_field(raw, "not_before", int, where),
        not_after=_field(raw, "not_after", int, where),
        status=status,
        privileges=frozenset(privileges),
        check=raw_verifier(public_key, alg),
        residence_region=residence_region,
        limited=limited,
    )
