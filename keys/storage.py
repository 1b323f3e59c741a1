"""Private keys at rest: encrypted PKCS#8 PEM, with the passphrase from the environment.

The passphrase never comes from a command line (it would land in shell history and `ps`).
An unencrypted key is written only in an explicit dev mode (SUISHEN_DEV_MODE=1).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from keys.algorithms import PrivateKey, PublicKey, alg_of

PASSPHRASE_ENV = "SUISHEN_KEY_PASSPHRASE"
PASSPHRASE_FILE_ENV = "SUISHEN_KEY_PASSPHRASE_FILE"
DEV_MODE_ENV = "SUISHEN_DEV_MODE"


class KeyStorageError(Exception):
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
    if passphrase:
        encryption: serialization.KeySerializationEncryption = serialization.BestAvailableEncryption(passphrase)
    elif dev_mode():
        encryption = serialization.NoEncryption()
    else:
        raise KeyStorageError(
            f"refusing to write an unencrypted private key: set {PASSPHRASE_FILE_ENV} or "
            f"{PASSPHRASE_ENV} (or {DEV_MODE_ENV}=1 for throwaway development keys)"
        )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


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
    encrypted = b"ENCRYPTED" in data.split(b"\n", 1)[0]
    if encrypted and not passphrase:
        raise KeyStorageError(f"{path} is encrypted: set {PASSPHRASE_FILE_ENV} or {PASSPHRASE_ENV}")
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
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise KeyStorageError(f"cannot read public key {path}: {exc.strerror}") from None
    except ValueError:
        raise KeyStorageError(f"{path} is not a PEM public key") from None
    alg_of(key)  # type: ignore[arg-type]
    return key  # type: ignore[return-value]
