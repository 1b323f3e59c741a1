"""Signed trust lists: which issuer keys a verifier accepts, for what, and until when.

The document is JSON so that a partner region can read it with any tool: a `payload` object
and a detached `signature` over the payload's canonical JSON bytes (sorted keys, no spaces),
made with a trust-list root key that is kept apart from every issuer key.
"""

from __future__ import annotations

import base64
import binascii
import json
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
    sign,
    spki_der,
    verify,
)
from keys.ring import STATUSES, KeyRing

FORMAT = "suishen-trust-list/1"
DEFAULT_MAX_AGE_S = 7 * 86400
ISSUED_AT_SKEW_S = 300


class TrustListError(Exception):
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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def payload_from_rings(
    rings: list[KeyRing], *, version: int, issued_at: int, max_age: int = DEFAULT_MAX_AGE_S
) -> dict[str, Any]:
    keys = [
        {
            "kid": e.kid.hex(),
            "alg": e.alg_name,
            "public_key": _b64(spki_der(e.public_key)),
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


def sign_trust_list(payload: dict[str, Any], root_key: PrivateKey) -> bytes:
    alg = alg_of(root_key)
    signature = sign(root_key, alg, canonical_json(payload))
    document = {
        "payload": payload,
        "signature": {
            "alg": ALG_NAMES[alg],
            "kid": kid_of(root_key.public_key()).hex(),
            "value": _b64(signature),
        },
    }
    return json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True).encode() + b"\n"


def load_trust_list(document: bytes, root_public_key: PublicKey, now: float) -> TrustList:
    """Verify and parse a trust list; refuse a bad signature, a stale list or a bad entry."""
    try:
        doc = json.loads(document)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise TrustListError(f"trust list is not valid JSON: {type(exc).__name__}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), dict):
        raise TrustListError("trust list must be an object with 'payload' and 'signature'")
    sig = doc.get("signature")
    if not isinstance(sig, dict) or not all(isinstance(sig.get(f), str) for f in ("alg", "kid", "value")):
        raise TrustListError("trust list signature must have string fields alg, kid and value")
    root_alg = alg_of(root_public_key)
    if ALG_IDS.get(sig["alg"]) != root_alg:
        raise TrustListError(f"trust list signed with {sig['alg']}, but the root key is {ALG_NAMES[root_alg]}")
    root_kid = kid_of(root_public_key)
    if sig["kid"] != root_kid.hex():
        raise TrustListError(f"trust list signed by key {sig['kid']}, not by the root key {root_kid.hex()}")
    try:
        signature = _unb64(sig["value"])
    except (binascii.Error, ValueError):
        raise TrustListError("trust list signature is not base64url") from None
    payload = doc["payload"]
    if not verify(root_public_key, root_alg, signature, canonical_json(payload)):
        raise TrustListError("trust list signature is not valid for the root key")
    return _parse_payload(payload, root_kid, now)


def _field(obj: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = obj.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TrustListError(f"{where}.{name} must be {kind.__name__}, found {value!r}")
    return value


def _parse_payload(payload: dict[str, Any], root_kid: bytes, now: float) -> TrustList:
    if payload.get("format") != FORMAT:
        raise TrustListError(f"trust list format must be {FORMAT!r}, found {payload.get('format')!r}")
    version = _field(payload, "version", int, "payload")
    issued_at = _field(payload, "issued_at", int, "payload")
    max_age = _field(payload, "max_age", int, "payload")
    if issued_at > now + ISSUED_AT_SKEW_S:
        raise TrustListError(f"trust list version {version} is issued in the future ({issued_at})")
    if now > issued_at + max_age:
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
        public_key = load_public_key(_unb64(_field(raw, "public_key", str, where)))
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
    )
