"""SM2 signatures over SM3 (GB/T 32918, GM/T 0009) through gmssl-pyx, for national-algorithm deployments.

`cryptography` has no SM2 curve, so SM2 keys are small classes of their own that offer the few
methods the rest of `keys/` calls on key objects (`public_key()`, `public_bytes(...)`). The
signature is the standard one: e = SM3(Z || M) with Z over the default signer id
"1234567812345678", so any GM/T 0009 implementation checks it; COSE carries it as r||s like ECDSA.
Z depends only on the public key, so it is computed once per key, not per scan.
"""

from __future__ import annotations

import base64
import textwrap

from cryptography.hazmat.primitives import serialization

from keys.der import der_signature
from keys.errors import SuishenError

try:  # optional: without gmssl-pyx, SM2 is simply not an allowed algorithm
    import gmssl_pyx as _gm

    AVAILABLE = True
except ImportError:  # pragma: no cover - exercised only where gmssl-pyx is absent
    _gm = None  # type: ignore[assignment]
    AVAILABLE = False

SIGNER_ID = b"1234567812345678"  # GM/T 0009 default user id
SIGNATURE_WIDTH = 32
# SubjectPublicKeyInfo DER = this prefix + 64-byte point: id-ecPublicKey with curve sm2p256v1
# (1.2.156.10197.1.301), the encoding OpenSSL and GmSSL write for SM2 public keys.
SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004")
_CURVE_A = bytes.fromhex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC")
_CURVE_B = bytes.fromhex("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93")
_GENERATOR = bytes.fromhex(
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"
)


class SM2Error(SuishenError, ValueError):
    """An SM2 key or signature cannot be used (or gmssl-pyx is not installed)."""


def _lib() -> object:
    if _gm is None:
        raise SM2Error("SM2 needs the gmssl-pyx package (pip install gmssl-pyx)")
    return _gm


def z_value(point: bytes) -> bytes:
    """Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA) (GB/T 32918.2 §5.5)."""
    _lib()
    entl = (len(SIGNER_ID) * 8).to_bytes(2, "big")
    return _gm.sm3_hash(entl + SIGNER_ID + _CURVE_A + _CURVE_B + _GENERATOR + point)


class SM2PublicKey:
    """An SM2 public key: the 64-byte point x||y, checked to lie on the curve."""

    __slots__ = ("point", "z")

    def __init__(self, point: bytes) -> None:
        _lib()
        try:
            self.point: bytes = _gm.normalize_sm2_public_key(point)
        except _gm.InvalidValueError:
            raise SM2Error("not a point on the SM2 curve") from None
        self.z: bytes = z_value(self.point)

    def spki_der(self) -> bytes:
        return SPKI_PREFIX + self.point

    def public_bytes(self, encoding: serialization.Encoding, format: serialization.PublicFormat) -> bytes:
        """SubjectPublicKeyInfo as DER or PEM, like `cryptography` keys (the only format kept)."""
        if format is not serialization.PublicFormat.SubjectPublicKeyInfo:
            raise SM2Error("SM2 public keys are written as SubjectPublicKeyInfo only")
        if encoding is serialization.Encoding.DER:
            return self.spki_der()
        if encoding is serialization.Encoding.PEM:
            return pem("PUBLIC KEY", self.spki_der())
        raise SM2Error(f"unsupported encoding {encoding}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SM2PublicKey) and other.point == self.point

    def __hash__(self) -> int:
        return hash(self.point)

    def __repr__(self) -> str:
        return f"SM2PublicKey({self.point[:8].hex()}...)"


class SM2PrivateKey:
    """An SM2 private key (32-byte scalar) with its public key, which signing needs for Z."""

    __slots__ = ("_public", "_secret")

    def __init__(self, secret: bytes, public: SM2PublicKey) -> None:
        if len(secret) != 32:
            raise SM2Error("an SM2 private key is 32 bytes")
        self._secret = secret
        self._public = public

    @classmethod
    def generate(cls) -> SM2PrivateKey:
        _lib()
        point, secret = _gm.sm2_key_generate()
        return cls(secret, SM2PublicKey(point))

    @classmethod
    def from_pair(cls, secret: bytes, point: bytes) -> SM2PrivateKey:
        """Rebuild a stored key, refusing a scalar that does not belong to the point."""
        key = cls(secret, SM2PublicKey(point))
        probe = b"suishen-sm2-pair-check"
        if not verify_raw(key.public_key(), sign_raw(key, probe), probe):
            raise SM2Error("the SM2 private key does not match its public key")
        return key

    def public_key(self) -> SM2PublicKey:
        return self._public

    def secret_bytes(self) -> bytes:
        """The raw scalar, for `keys.storage` to encrypt; never logged or printed."""
        return self._secret

    def __repr__(self) -> str:
        return f"SM2PrivateKey(public={self._public!r})"


def pem(label: str, der: bytes) -> bytes:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


def public_key_from_spki(spki: bytes) -> SM2PublicKey | None:
    """The SM2 key in a SubjectPublicKeyInfo, or None when it is not an SM2 key."""
    if len(spki) != len(SPKI_PREFIX) + 64 or not spki.startswith(SPKI_PREFIX):
        return None
    return SM2PublicKey(spki[len(SPKI_PREFIX) :])


def _der_length_ok(der: bytes) -> bool:
    return len(der) > 8 and der[0] == 0x30 and der[1] == len(der) - 2


def _raw_from_der(der: bytes) -> bytes:
    """gmssl-pyx returns DER (SEQUENCE of two INTEGERs); COSE wants fixed-width r||s."""
    if not _der_length_ok(der):
        raise SM2Error("gmssl-pyx returned a malformed signature")
    out = b""
    pos = 2
    for _ in range(2):
        if der[pos] != 0x02:
            raise SM2Error("gmssl-pyx returned a malformed signature")
        n = der[pos + 1]
        value = der[pos + 2 : pos + 2 + n].lstrip(b"\x00")
        out += value.rjust(SIGNATURE_WIDTH, b"\x00")
        pos += 2 + n
    return out


def sign_raw(key: SM2PrivateKey, data: bytes) -> bytes:
    """SM2 signature (r||s, 64 bytes) over SM3(Z || data)."""
    _lib()
    digest = _gm.sm3_hash(key.public_key().z + data)
    return _raw_from_der(_gm.sm2_sign_sm3_digest(key.secret_bytes(), digest))


def verify_raw(key: SM2PublicKey, signature: bytes, data: bytes) -> bool:
    """True when `signature` (r||s) is valid over SM3(Z || data); never raises for a bad signature."""
    if len(signature) != 2 * SIGNATURE_WIDTH:
        return False
    der = der_signature(signature, SIGNATURE_WIDTH)
    try:
        return bool(_gm.sm2_verify_sm3_digest(key.point, _gm.sm3_hash(key.z + data), der))
    except _gm.GmsslInnerError:
        return False
