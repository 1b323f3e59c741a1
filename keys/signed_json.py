"""Signed JSON documents (trust lists, catalogue snapshots): a payload and a detached signature.

The signature covers the payload's canonical JSON (sorted keys, no spaces, UTF-8), so any
tool can check it; the signing key is the trust-list root that verifiers are configured with.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from keys.algorithms import ALG_IDS, ALG_NAMES, PrivateKey, PublicKey, alg_of, kid_of, sign, verify
from keys.errors import SuishenError


class SignedDocumentError(SuishenError):
    """A signed document cannot be used; the message says exactly why."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_document(payload: dict[str, Any], key: PrivateKey) -> bytes:
    alg = alg_of(key)
    signature = sign(key, alg, canonical_json(payload))
    document = {
        "payload": payload,
        "signature": {"alg": ALG_NAMES[alg], "kid": kid_of(key.public_key()).hex(), "value": b64url(signature)},
    }
    return json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True).encode() + b"\n"


def open_document(
    document: bytes, public_key: PublicKey, what: str, error: type[SignedDocumentError] = SignedDocumentError
) -> dict[str, Any]:
    """The payload of a document signed by `public_key`; raises `error` naming `what` otherwise."""
    try:
        doc = json.loads(document)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise error(f"{what} is not valid JSON: {type(exc).__name__}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), dict):
        raise error(f"{what} must be an object with 'payload' and 'signature'")
    sig = doc.get("signature")
    if not isinstance(sig, dict) or not all(isinstance(sig.get(f), str) for f in ("alg", "kid", "value")):
        raise error(f"{what} signature must have string fields alg, kid and value")
    key_alg = alg_of(public_key)
    if ALG_IDS.get(sig["alg"]) != key_alg:
        raise error(f"{what} signed with {sig['alg']}, but the root key is {ALG_NAMES[key_alg]}")
    kid = kid_of(public_key)
    if sig["kid"] != kid.hex():
        raise error(f"{what} signed by key {sig['kid']}, not by the root key {kid.hex()}")
    try:
        signature = unb64url(sig["value"])
    except (binascii.Error, ValueError):
        raise error(f"{what} signature is not base64url") from None
    payload: dict[str, Any] = doc["payload"]
    try:
        signed = canonical_json(payload)
    except UnicodeEncodeError:  # JSON may escape a lone surrogate ("\udddd"), which UTF-8 cannot hold
        raise error(f"{what} holds text that is not valid Unicode (an unpaired surrogate)") from None
    if not verify(public_key, key_alg, signature, signed):
        raise error(f"{what} signature is not valid for the root key")
    return payload
