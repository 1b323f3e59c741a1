"""COSE algorithm ids and the raw sign/verify primitives every other layer uses.

COSE carries ECDSA signatures as fixed-width r||s, while `cryptography` speaks DER, so the
conversion lives here once, beside the allow-list of algorithms we accept. SM2 with SM3
(`keys.sm2`, through gmssl-pyx) is allowed when that package is installed, under the private-use
COSE algorithm id -65600.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Union

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from keys import sm2
from keys.der import der_signature as _der_signature
from keys.errors import SuishenError
from keys.sm2 import SM2PrivateKey, SM2PublicKey

ES256 = -7
ES384 = -35
EDDSA = -8
# SM2 signature over SM3(Z || M), Z with the default signer id: no COSE id is registered for it,
# so it lives in the private-use range (below -65536), documented in README.md.
SM2 = -65600

ALG_NAMES: dict[int, str] = {ES256: "ES256", ES384: "ES384", EDDSA: "EdDSA"}
if sm2.AVAILABLE:
    ALG_NAMES[SM2] = "SM2"
ALG_IDS: dict[str, int] = {name: alg for alg, name in ALG_NAMES.items()}

PrivateKey = Union[ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, SM2PrivateKey]
PublicKey = Union[ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, SM2PublicKey]

_EC_PARAMS: dict[int, tuple[type[ec.EllipticCurve], ec.ECDSA, int]] = {
    ES256: (ec.SECP256R1, ec.ECDSA(hashes.SHA256()), 32),
    ES384: (ec.SECP384R1, ec.ECDSA(hashes.SHA384()), 48),
}


class KeyAlgorithmError(SuishenError, ValueError):
    """A key does not fit the algorithm asked of it, or the algorithm is not allowed."""


def generate_private_key(alg: int = ES256) -> PrivateKey:
    if alg == EDDSA:
        return ed25519.Ed25519PrivateKey.generate()
    if alg == SM2 and alg in ALG_NAMES:
        return SM2PrivateKey.generate()
    if alg in _EC_PARAMS:
        return ec.generate_private_key(_EC_PARAMS[alg][0]())
    raise KeyAlgorithmError(f"unsupported algorithm {alg!r}")


def alg_of(key: PrivateKey | PublicKey) -> int:
    """The one COSE algorithm a key may be used with (a key never serves two algorithms)."""
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return EDDSA
    if isinstance(key, (SM2PrivateKey, SM2PublicKey)):
        return SM2
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        for alg, (curve, _, _) in _EC_PARAMS.items():
            if isinstance(key.curve, curve):
                return alg
    raise KeyAlgorithmError(f"unsupported key type {type(key).__name__}")


def spki_der(public_key: PublicKey) -> bytes:
    if isinstance(public_key, SM2PublicKey):
        return public_key.spki_der()
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def kid_of(public_key: PublicKey) -> bytes:
    """kid = first 8 bytes of SHA-256 over SubjectPublicKeyInfo DER (as in the EU DCC)."""
    return hashlib.sha256(spki_der(public_key)).digest()[:8]


def load_public_key(spki: bytes) -> PublicKey:
    """A public key from SubjectPublicKeyInfo DER; raises ValueError or KeyAlgorithmError."""
    if spki.startswith(sm2.SPKI_PREFIX):
        if SM2 not in ALG_NAMES:
            raise KeyAlgorithmError("an SM2 key, but gmssl-pyx is not installed")
        sm2_key = sm2.public_key_from_spki(spki)
        if sm2_key is None:
            raise KeyAlgorithmError("a damaged SM2 SubjectPublicKeyInfo")
        return sm2_key
    try:
        key = serialization.load_der_public_key(spki)
    except UnsupportedAlgorithm:  # e.g. an EC key on a curve OpenSSL does not know
        raise KeyAlgorithmError("a public key of an algorithm or curve this verifier does not support") from None
    if not isinstance(key, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
        raise KeyAlgorithmError("only EC, Ed25519 and SM2 public keys are accepted")
    alg_of(key)
    return key


def sign(private_key: PrivateKey, alg: int, data: bytes) -> bytes:
    """Signature in COSE form: r||s for ECDSA, raw for EdDSA."""
    if alg_of(private_key) != alg:
        raise KeyAlgorithmError("key does not match algorithm")
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(data)
    if isinstance(private_key, SM2PrivateKey):
        return sm2.sign_raw(private_key, data)
    _, ecdsa, width = _EC_PARAMS[alg]
    r, s = decode_dss_signature(private_key.sign(data, ecdsa))
    return r.to_bytes(width, "big") + s.to_bytes(width, "big")


RawVerifier = Callable[[bytes, bytes], bool]


def raw_verifier(public_key: PublicKey, alg: int) -> RawVerifier:
    """A `(signature, data) -> bool` check bound to one key, with every type check done now.

    A verifier builds one per trusted key when it loads its trust list, so the per-scan path
    is the signature check itself (isinstance checks on key classes cost ~1 µs a call).
    """
    if alg_of(public_key) != alg:
        raise KeyAlgorithmError("key does not match algorithm")
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        ed_verify = public_key.verify

        def check_eddsa(signature: bytes, data: bytes) -> bool:
            try:
                ed_verify(signature, data)
            except InvalidSignature:
                return False
            return True

        return check_eddsa
    if isinstance(public_key, SM2PublicKey):
        return _sm2_check(public_key)
    return _ecdsa_check(public_key, alg)


def p256_verifier(public_key: ec.EllipticCurvePublicKey) -> RawVerifier:
    """ES256 check for a key already known to be P-256 (just decoded from a COSE_Key)."""
    return _ecdsa_check(public_key, ES256)


def _ecdsa_check(public_key: ec.EllipticCurvePublicKey, alg: int) -> RawVerifier:
    _, ecdsa, width = _EC_PARAMS[alg]
    ec_verify = public_key.verify

    def check_ecdsa(signature: bytes, data: bytes) -> bool:
        if len(signature) != 2 * width:
            return False
        try:
            ec_verify(_der_signature(signature, width), data, ecdsa)
        except InvalidSignature:
            return False
        return True

    return check_ecdsa


def _sm2_check(public_key: SM2PublicKey) -> RawVerifier:
    return functools.partial(sm2.verify_raw, public_key)


def verify(public_key: PublicKey, alg: int, signature: bytes, data: bytes) -> bool:
    """True when `signature` (COSE form) is valid for `alg`; never raises for a bad signature."""
    try:
        return raw_verifier(public_key, alg)(signature, data)
    except KeyAlgorithmError:
        return False
