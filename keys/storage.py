"""Private keys at rest: encrypted PKCS#8 PEM, with the passphrase from the environment.

The passphrase never comes from a command line (it would land in shell history and `ps`).
An unencrypted key is written only in an explicit dev mode (SUISHEN_DEV_MODE=1). SM2 keys,
which `cryptography` cannot serialise, go into the encrypted container of `keys.sm2_storage`.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from keys import sm2_storage
from keys.algorithms import KeyAlgorithmError, PrivateKey, PublicKey, alg_of, load_public_key
from keys.errors import SuishenError
from keys.sm2 import SM2Error, SM2PrivateKey, SM2PublicKey

PASSPHRASE_ENV = "SUISHEN_KEY_PASSPHRASE"
PASSPHRASE_FILE_ENV = "SUISHEN_KEY_PASSPHRASE_FILE"
DEV_MODE_ENV = "SUISHEN_DEV_MODE"


class KeyStorageError(SuishenError):
    """A key could not be stored or loaded; the message says why, without key material."""


def dev_mode() -> bool:
    return os.environ.get(DEV_MODE_ENV, "") in {"1", "true", "yes"}


def passphrase_from_environment() -> bytes | None:
    """The passphrase from SUISHEN_KEY_PASSPHRASE_FILE (preferred) or SUISHEN_KEY_PASSPHRASE."""
    path = os.environ.get(PASSPHRASE_FILE_ENV)
    if path:
        try:
            value = Path(path).read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise KeyStorageError(f"cannot read passphrase file {path}: {exc.strerror}") from None
        if not value:
            raise KeyStorageError(f"passphrase file {path} is empty")
        return value
    value_text = os.environ.get(PASSPHRASE_ENV)
    return value_text.encode() if value_text else None


def private_key_pem(key: PrivateKey, passphrase: bytes | None) -> bytes:
    if isinstance(key, SM2PrivateKey):
        if not passphrase and not dev_mode():
            _refuse_unencrypted()
        return sm2_storage.seal(key, passphrase)
    if passphrase:
        encryption: serialization.KeySerializationEncryption = serialization.BestAvailableEncryption(passphrase)
    elif dev_mode():
        encryption = serialization.NoEncryption()
    else:
        _refuse_unencrypted()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _refuse_unencrypted() -> None:
    raise KeyStorageError(
        f"refusing to write an unencrypted private key: set {PASSPHRASE_FILE_ENV} or "
        f"{PASSPHRASE_ENV} (or {DEV_MODE_ENV}=1 for throwaway development keys)"
    )


def write_private_key(path: Path, key: PrivateKey, passphrase: bytes | None) -> None:
    data = private_key_pem(key, passphrase)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def read_private_key(path: Path, passphrase: bytes | None) -> PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyStorageError(f"cannot read private key {path}: {exc.strerror}") from None
    first_line = data.split(b"\n", 1)[0]
    encrypted = b"ENCRYPTED" in first_line
    if encrypted and not passphrase:
        raise KeyStorageError(f"{path} is encrypted: set {PASSPHRASE_FILE_ENV} or {PASSPHRASE_ENV}")
    if sm2_storage.LABEL_WORD in first_line:
        try:
            return sm2_storage.open_sealed(data, passphrase if encrypted else None)
        except SM2Error as exc:
            raise KeyStorageError(f"cannot open {path}: {exc}") from None
    try:
        key = serialization.load_pem_private_key(data, passphrase if encrypted else None)
    except (ValueError, TypeError):
        raise KeyStorageError(f"cannot decrypt {path}: wrong passphrase or damaged file") from None
    alg_of(key)  # type: ignore[arg-type]
    return key  # type: ignore[return-value]


def public_key_pem(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def read_public_key(path: Path) -> PublicKey:
    try:
        return public_key_from_pem(path.read_bytes())
    except OSError as exc:
        raise KeyStorageError(f"cannot read public key {path}: {exc.strerror}") from None
    except KeyStorageError as exc:
        raise KeyStorageError(f"{path}: {exc}") from None


def public_key_from_pem(data: bytes) -> PublicKey:
    """A PEM SubjectPublicKeyInfo (EC, Ed25519 or SM2): SM2 is parsed here, as `cryptography` cannot."""
    try:
        key = serialization.load_pem_public_key(data)
    except UnsupportedAlgorithm:
        return _sm2_public_key_from_pem(data)
    except ValueError:
        raise KeyStorageError("not a PEM public key") from None
    try:
        alg_of(key)  # type: ignore[arg-type]
    except KeyAlgorithmError as exc:
        raise KeyStorageError(str(exc)) from None
    return key  # type: ignore[return-value]


def _sm2_public_key_from_pem(data: bytes) -> SM2PublicKey:
    lines = data.strip().splitlines()
    if len(lines) < 3 or lines[0] != b"-----BEGIN PUBLIC KEY-----" or lines[-1] != b"-----END PUBLIC KEY-----":
        raise KeyStorageError("not a PEM public key")
    try:
        key = load_public_key(base64.b64decode(b"".join(lines[1:-1]), validate=True))
    except (ValueError, KeyAlgorithmError) as exc:
        raise KeyStorageError(f"not a usable public key: {exc}") from None
    if not isinstance(key, SM2PublicKey):
        raise KeyStorageError("not a usable public key")
    return key
