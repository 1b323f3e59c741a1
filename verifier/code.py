"""The SP1 code text: `SP1:` + base45(CBOR array [credential] or [credential, device proof]).

The outer array is written by concatenation (array head + the credential's bytes + the
proof's bytes), so a phone holding its credential bytes needs no CBOR library to make a
code, and the gate recovers the credential's exact bytes (the proof's external AAD) by
slicing rather than re-encoding.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric import ec

from keys.algorithms import PrivateKey
from verifier import cbor_strict, cose
from verifier.base45 import Base45Error, b45decode, b45encode
from verifier.cbor_read import read_uint
from verifier.cbor_strict import CborError
from verifier.claims import Claims, encode_claims
from verifier.errors import Reason, VerificationError

PREFIX = "SP1:"
MAX_TEXT_LENGTH = 1024
TIME_STEP_S = 30
NONCE_LENGTH = 8
_MAX_STEP = 1 << 36


class ParsedCode(NamedTuple):
    """A code split into its signed parts; nothing in it is trusted yet."""

    credential: cose.Sign1
    proof: cose.Sign1 | None

    @property
    def credential_bytes(self) -> bytes:
        """The credential exactly as encoded: the device proof's external AAD."""
        return self.credential.encoded


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


def read_proof_step(payload: bytes) -> int:
    """The time step of a verified device proof payload: exactly [uint, 8-byte nonce]."""
    try:
        if payload[0] != 0x82:
            raise CborError("not an array of two")
        step, i = read_uint(payload, 1)
        if payload[i] != 0x40 + NONCE_LENGTH or i + 1 + NONCE_LENGTH != len(payload) or step >= _MAX_STEP:
            raise CborError("no 8-byte nonce at the end")
    except (CborError, IndexError):
        raise VerificationError(Reason.MALFORMED_CLAIMS, "device proof must be [time step, 8-byte nonce]") from None
    return step


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
        if raw[0] == 0x81:
            credential, end = _read_sign1(raw, 1, tagged=True)
            proof = None
        elif raw[0] == 0x82:
            credential, end = _read_sign1(raw, 1, tagged=True)
            proof, end = _read_sign1(raw, end, tagged=False)
        else:
            raise VerificationError(Reason.MALFORMED_COSE, "code must be an array of one or two COSE_Sign1")
    except IndexError:
        raise VerificationError(Reason.MALFORMED_COSE, "code ends inside a COSE_Sign1") from None
    if end != len(raw):
        raise VerificationError(Reason.MALFORMED_COSE, "trailing bytes after the code")
    return ParsedCode(credential, proof)


def _read_sign1(raw: bytes, start: int, *, tagged: bool) -> tuple[cose.Sign1, int]:
    """Read one COSE_Sign1 whose layout is fixed: [bstr, {}, bstr, bstr], tag 18 or none.

    A generic decoder costs three times as much here, and reading the rigid layout directly
    is strict by construction: only shortest-form heads, definite lengths, an empty
    unprotected map and no other tag can pass.
    """
    head = b"\xd2\x84" if tagged else b"\x84"
    i = start + len(head)
    if raw[start:i] != head:
        what = "a tagged (18)" if tagged else "an untagged"
        raise VerificationError(Reason.MALFORMED_COSE, f"expected {what} COSE_Sign1 array of four")
    protected, i = _read_bstr(raw, i)
    if raw[i] != 0xA0:
        raise VerificationError(Reason.MALFORMED_COSE, "unprotected header must be an empty map")
    payload, i = _read_bstr(raw, i + 1)
    signature, i = _read_bstr(raw, i)
    alg, kid = cose.parse_header(protected)
    return cose.Sign1(protected, alg, kid, payload, signature, raw[start:i]), i


def _read_bstr(raw: bytes, i: int) -> tuple[bytes, int]:
    head = raw[i]
    if 0x40 <= head < 0x58:
        start, n = i + 1, head - 0x40
    elif head == 0x58 and raw[i + 1] >= 24:
        start, n = i + 2, raw[i + 1]
    elif head == 0x59 and raw[i + 1] != 0:
        start, n = i + 3, (raw[i + 1] << 8) | raw[i + 2]
    else:
        raise VerificationError(Reason.MALFORMED_COSE, "expected a byte string in shortest form")
    end = start + n
    if end > len(raw):
        raise IndexError
    return raw[start:end], end
