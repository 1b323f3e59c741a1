"""SM2 private keys at rest: an encrypted container, because PKCS#8 through `cryptography` cannot hold them.

`cryptography` has no SM2 curve, so it can neither write nor read an SM2 PKCS#8 structure. The
container keeps the same promises as our encrypted PKCS#8 files: passphrase-derived key (scrypt,
N=2^15, r=8, p=1), authenticated encryption (AES-256-GCM), PEM armour, and a first line that
says ENCRYPTED. The public point travels in clear inside the authenticated data, so a swapped
point or any flipped byte fails to open; on opening, a sign-and-verify probe confirms that the
scalar belongs to the point.

Body (base64 inside the PEM armour), encrypted form:
  b"SPK2" | 0x01 | log2(N) | r | p | salt (16) | nonce (12) | point (64) | AES-GCM(scalar) (32 + 16 tag)
Unencrypted form (development mode only): b"SPK2" | 0x00 | point (64) | scalar (32).
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from keys.sm2 import SM2Error, SM2PrivateKey, pem

LABEL_WORD = b"SM2 PRIVATE KEY"
ENCRYPTED_LABEL = "SUISHEN ENCRYPTED SM2 PRIVATE KEY"
PLAIN_LABEL = "SUISHEN SM2 PRIVATE KEY"
MAGIC = b"SPK2"
LOG2_N, R, P = 15, 8, 1
MAX_LOG2_N = 18  # a stored file cannot make us spend more than 256 MiB (128 * r * N bytes)
_SALT, _NONCE, _POINT, _SECRET, _TAG = 16, 12, 64, 32, 16


def _derive(passphrase: bytes, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p).derive(passphrase)


def seal(key: SM2PrivateKey, passphrase: bytes | None) -> bytes:
    """PEM text of the key, encrypted when a passphrase is given (the caller decides if plain is allowed)."""
    point = key.public_key().point
    if not passphrase:
        return pem(PLAIN_LABEL, MAGIC + b"\x00" + point + key.secret_bytes())
    salt, nonce = os.urandom(_SALT), os.urandom(_NONCE)
    header = MAGIC + bytes((1, LOG2_N, R, P)) + salt + nonce + point
    sealed = AESGCM(_derive(passphrase, salt, LOG2_N, R, P)).encrypt(nonce, key.secret_bytes(), header)
    return pem(ENCRYPTED_LABEL, header + sealed)


def _body(data: bytes) -> tuple[str, bytes]:
    lines = data.strip().splitlines()
    if len(lines) < 3 or not lines[0].startswith(b"-----BEGIN ") or not lines[-1].startswith(b"-----END "):
        raise SM2Error("not a PEM file")
    label = lines[0][len(b"-----BEGIN ") :].rstrip(b"-").decode("ascii", "replace")
    if lines[-1] != b"-----END " + label.encode() + b"-----":
        raise SM2Error("PEM armour does not match")
    try:
        return label, base64.b64decode(b"".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        raise SM2Error("PEM body is not base64") from None


def open_sealed(data: bytes, passphrase: bytes | None) -> SM2PrivateKey:
    """The key in a container written by `seal`; raises SM2Error without key material in the message."""
    label, body = _body(data)
    if not body.startswith(MAGIC) or len(body) < len(MAGIC) + 1:
        raise SM2Error("not a Suishen SM2 key container")
    mode = body[len(MAGIC)]
    if label == PLAIN_LABEL and mode == 0:
        if len(body) != len(MAGIC) + 1 + _POINT + _SECRET:
            raise SM2Error("damaged SM2 key container")
        point = body[5 : 5 + _POINT]
        return SM2PrivateKey.from_pair(body[5 + _POINT :], point)
    if label != ENCRYPTED_LABEL or mode != 1:
        raise SM2Error("unknown SM2 key container version")
    header_len = len(MAGIC) + 4 + _SALT + _NONCE + _POINT
    if len(body) != header_len + _SECRET + _TAG:
        raise SM2Error("damaged SM2 key container")
    if not passphrase:
        raise SM2Error("the key is encrypted and no passphrase is set")
    log2_n, r, p = body[5], body[6], body[7]
    if not (10 <= log2_n <= MAX_LOG2_N and 1 <= r <= 8 and 1 <= p <= 4):
        raise SM2Error("SM2 key container has unacceptable scrypt parameters")
    salt = body[8 : 8 + _SALT]
    nonce = body[8 + _SALT : 8 + _SALT + _NONCE]
    header = body[:header_len]
    try:
        secret = AESGCM(_derive(passphrase, salt, log2_n, r, p)).decrypt(nonce, body[header_len:], header)
    except InvalidTag:
        raise SM2Error("wrong passphrase or damaged file") from None
    return SM2PrivateKey.from_pair(secret, header[-_POINT:])
