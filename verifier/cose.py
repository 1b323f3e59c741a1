"""COSE_Sign1 (RFC 9052 §4.2): build, parse and verify, for our codes and partners' objects.

Kept apart from the claims and the code format so that any COSE_Sign1 a partner region makes
can be checked by the same few functions.
"""

from __future__ import annotations

import functools
import io
from typing import Any, NamedTuple

import cbor2
from cbor2 import CBORTag

from keys.algorithms import ALG_NAMES, PrivateKey, PublicKey, RawVerifier, alg_of, raw_verifier, sign
from verifier import cbor_strict
from verifier.errors import Reason, VerificationError

COSE_SIGN1_TAG = 18
CWT_TAG = 61
MAX_PARTNER_MESSAGE = 64 * 1024
HEADER_ALG = 1
HEADER_KID = 4
HEADER_CRIT = 2
_SIG1_CONTEXT = b"\x84\x6aSignature1"


class Sign1(NamedTuple):
    protected_bytes: bytes
    alg: int
    kid: bytes | None
    payload: bytes
    signature: bytes
    encoded: bytes  # the whole COSE_Sign1 as deterministic CBOR (tag included): the proof's external AAD


def _bstr_head(n: int) -> bytes:
    if n < 24:
        return bytes((0x40 | n,))
    if n < 0x100:
        return bytes((0x58, n))
    if n < 0x10000:
        return b"\x59" + n.to_bytes(2, "big")
    return b"\x5a" + n.to_bytes(4, "big")


def sig_structure(protected: bytes, external_aad: bytes, payload: bytes) -> bytes:
    """Sig_structure for COSE_Sign1, built directly (cbor2.dumps costs several µs here)."""
    return b"".join(
        (
            _SIG1_CONTEXT,
            _bstr_head(len(protected)),
            protected,
            _bstr_head(len(external_aad)),
            external_aad,
            _bstr_head(len(payload)),
            payload,
        )
    )


@functools.lru_cache(maxsize=64)
def protected_header(alg: int, kid: bytes | None) -> bytes:
    header: dict[int, Any] = {HEADER_ALG: alg}
    if kid is not None:
        header[HEADER_KID] = kid
    return cbor_strict.dumps(header)


def encode_sign1(protected: bytes, payload: bytes, signature: bytes, *, tagged: bool) -> bytes:
    """A COSE_Sign1 with an empty unprotected header, in deterministic CBOR, by concatenation."""
    return b"".join(
        (
            b"\xd2\x84" if tagged else b"\x84",
            _bstr_head(len(protected)),
            protected,
            b"\xa0",
            _bstr_head(len(payload)),
            payload,
            _bstr_head(len(signature)),
            signature,
        )
    )


def sign1(
    payload: bytes,
    private_key: PrivateKey,
    *,
    kid: bytes | None,
    external_aad: bytes = b"",
    tagged: bool = True,
) -> bytes:
    alg = alg_of(private_key)
    protected = protected_header(alg, kid)
    signature = sign(private_key, alg, sig_structure(protected, external_aad, payload))
    return encode_sign1(protected, payload, signature, tagged=tagged)


@functools.lru_cache(maxsize=256)
def parse_header(protected: bytes, *, strict: bool = True) -> tuple[int, bytes | None]:
    """(alg, kid) from a protected header. Strict (our codes): deterministic, alg and kid only.

    Lenient (partners' objects): other labels are allowed, but not `crit`, whose parameters
    we would have to understand.
    """
    try:
        header = cbor_strict.loads(protected) if strict else _lenient_loads(protected)
    except cbor_strict.CborError as exc:
        raise VerificationError(Reason.MALFORMED_COSE, f"protected header: {exc}") from None
    if type(header) is not dict:
        raise VerificationError(Reason.MALFORMED_COSE, "protected header must be a map")
    allowed = header.keys() <= {HEADER_ALG, HEADER_KID} if strict else HEADER_CRIT not in header
    if not allowed:
        raise VerificationError(Reason.MALFORMED_COSE, "protected header holds unexpected parameters")
    alg = header.get(HEADER_ALG)
    if type(alg) is not int:
        raise VerificationError(Reason.UNSUPPORTED_ALG, "protected header has no integer alg")
    if alg not in ALG_NAMES:
        raise VerificationError(Reason.UNSUPPORTED_ALG, f"alg {alg} is not allowed")
    kid = header.get(HEADER_KID)
    if kid is not None and type(kid) is not bytes:
        raise VerificationError(Reason.MALFORMED_COSE, "kid must be a byte string")
    return alg, kid


def _lenient_loads(data: bytes) -> Any:
    """Any well-formed CBOR item filling `data` exactly: partners' encoders need not be deterministic."""
    try:
        stream = io.BytesIO(data)
        item = cbor2.CBORDecoder(stream).decode()
    except Exception as exc:  # cbor2 raises several types (and RecursionError on deep nesting)
        raise cbor_strict.CborError(f"not CBOR: {type(exc).__name__}") from None
    if stream.tell() != len(data):
        raise cbor_strict.CborError("trailing bytes after the CBOR item")
    return item


def parse_sign1(item: Any, *, tagged: bool | None, strict: bool = True) -> Sign1:
    """Check the shape of a decoded COSE_Sign1. tagged=None accepts either form."""
    tag = type(item) is CBORTag
    if tag:
        if item.tag != COSE_SIGN1_TAG or tagged is False:
            raise VerificationError(Reason.MALFORMED_COSE, f"unexpected CBOR tag {item.tag}")
        item = item.value
    elif tagged:
        raise VerificationError(Reason.MALFORMED_COSE, "COSE_Sign1 tag 18 missing")
    if type(item) is not list or len(item) != 4:
        raise VerificationError(Reason.MALFORMED_COSE, "COSE_Sign1 must be an array of four")
    protected, unprotected, payload, signature = item
    if type(protected) is not bytes or type(payload) is not bytes or type(signature) is not bytes:
        raise VerificationError(Reason.MALFORMED_COSE, "COSE_Sign1 fields have wrong types")
    if type(unprotected) is not dict or unprotected:
        raise VerificationError(Reason.MALFORMED_COSE, "unprotected header must be empty")
    alg, kid = parse_header(protected, strict=strict)
    return Sign1(protected, alg, kid, payload, signature, encode_sign1(protected, payload, signature, tagged=tag))


def check_signature(message: Sign1, check: RawVerifier, key_alg: int, external_aad: bytes, reason: Reason) -> None:
    """`check` verifies with one key; `key_alg` is that key's own algorithm, never the message's claim."""
    if key_alg != message.alg:
        raise VerificationError(Reason.UNSUPPORTED_ALG, f"alg {message.alg} does not match the key's algorithm")
    if not check(message.signature, sig_structure(message.protected_bytes, external_aad, message.payload)):
        raise VerificationError(reason, "signature does not verify")


def verify_sign1(message: bytes, public_key: PublicKey, external_aad: bytes = b"") -> bytes:
    """Verify any tagged or untagged COSE_Sign1 (ES256/ES384/EdDSA) and return its payload.

    Unlike our own codes, a partner object may carry headers in the unprotected map, so that
    map is allowed here; its contents are never trusted.
    """
    if len(message) > MAX_PARTNER_MESSAGE:
        raise VerificationError(Reason.TOO_LARGE, f"COSE message over {MAX_PARTNER_MESSAGE} bytes")
    try:
        item = _lenient_loads(message)
    except cbor_strict.CborError as exc:
        raise VerificationError(Reason.MALFORMED_COSE, str(exc)) from None
    if type(item) is CBORTag and item.tag == CWT_TAG:  # RFC 8392 §6: a CWT may wrap its COSE message
        item = item.value
    if type(item) is CBORTag and item.tag == COSE_SIGN1_TAG and type(item.value) is list:
        item = item.value
    if type(item) is list and len(item) == 4 and type(item[1]) is dict:
        item = [item[0], {}, item[2], item[3]]
    parsed = parse_sign1(item, tagged=False, strict=False)
    alg = alg_of(public_key)
    check_signature(parsed, raw_verifier(public_key, alg), alg, external_aad, Reason.BAD_SIGNATURE)
    return parsed.payload
