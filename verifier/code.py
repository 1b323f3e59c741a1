"""The SP1 code text: `SP1:` + base45(CBOR array [credential] or [credential, device proof]).

The outer array is written by concatenation (array head + the credential's bytes + the
proof's bytes), so a phone holding its credential bytes needs no CBOR library to make a
code, and the gate recovers the credential's exact bytes (the proof's external AAD) by
slicing rather than re-encoding.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from cbor2 import CBORTag
from cryptography.hazmat.primitives.asymmetric import ec

from keys.algorithms import PrivateKey
from verifier import cbor_strict, cose
from verifier.base45 import Base45Error, b45decode, b45encode
from verifier.claims import Claims, encode_claims
from verifier.errors import Reason, VerificationError

PREFIX = "SP1:"
MAX_TEXT_LENGTH = 1024
TIME_STEP_S = 30
NONCE_LENGTH = 8


class ParsedCode(NamedTuple):
    """A code split into its signed parts; nothing in it is trusted yet."""

    credential: cose.Sign1
    credential_bytes: bytes
    proof: cose.Sign1 | None


def issue_credential(claims: Claims, private_key: PrivateKey, kid: bytes) -> bytes:
    """A tagged COSE_Sign1 over the claims, signed by an issuer key."""
    return cose.sign1(encode_claims(claims), private_key, kid=kid, tagged=True)


def online_code(credential: bytes) -> str:
    return PREFIX + b45encode(b"\x81" + credential)


def device_proof(
    credential: bytes, device_key: ec.EllipticCurvePrivateKey, now: float, nonce: bytes | None = None
) -> bytes:
    """Untagged COSE_Sign1 over [time step, nonce], bound to the credential by external AAD."""
    step = int(now) // TIME_STEP_S
    payload = cbor_strict.dumps([step, nonce if nonce is not None else os.urandom(NONCE_LENGTH)])
    return cose.sign1(payload, device_key, kid=None, external_aad=credential, tagged=False)


def holder_code(credential: bytes, proof: bytes) -> str:
    return PREFIX + b45encode(b"\x82" + credential + proof)


def parse_code(text: Any) -> ParsedCode:
    """Strictly split code text into credential and proof. Raises VerificationError only."""
    if type(text) is not str:
        if type(text) is not bytes:
            raise VerificationError(Reason.MALFORMED_PREFIX, "code must be text")
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise VerificationError(Reason.MALFORMED_PREFIX, "code is not ASCII text") from None
    if len(text) > MAX_TEXT_LENGTH:
        raise VerificationError(Reason.TOO_LARGE, f"code longer than {MAX_TEXT_LENGTH} characters")
    if not text.startswith(PREFIX):
        raise VerificationError(Reason.MALFORMED_PREFIX, "code does not start with SP1:")
    try:
        raw = b45decode(text[len(PREFIX) :])
    except Base45Error as exc:
        raise VerificationError(Reason.MALFORMED_BASE45, str(exc)) from None
    try:
        outer = cbor_strict.loads_unchecked(raw)
    except cbor_strict.CborError as exc:
        raise VerificationError(Reason.MALFORMED_COSE, str(exc)) from None
    if type(outer) is not list or not 1 <= len(outer) <= 2:
        raise VerificationError(Reason.MALFORMED_COSE, "code must be an array of one or two COSE_Sign1")
    credential_item = outer[0]
    if type(credential_item) is not CBORTag:
        raise VerificationError(Reason.MALFORMED_COSE, "credential must be a tagged COSE_Sign1")
    credential = cose.parse_sign1(credential_item, tagged=True)
    proof = cose.parse_sign1(outer[1], tagged=False) if len(outer) == 2 else None
    # parse_sign1 rebuilt each message in deterministic form from its checked fields; the
    # code must be exactly those bytes (no long heads, indefinite lengths, tags or trailing data).
    if proof is None:
        exact = raw[0] == 0x81 and raw[1:] == credential.encoded
    else:
        exact = raw[0] == 0x82 and raw[1:] == credential.encoded + proof.encoded
    if not exact:
        raise VerificationError(Reason.MALFORMED_COSE, "code is not in deterministic CBOR (or has trailing bytes)")
    return ParsedCode(credential, credential.encoded, proof)
