"""Private keys at rest: encrypted PKCS#8 PEM, passphrase from the environment, dev mode."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from keys.algorithms import EDDSA, ES256, ES384, KeyAlgorithmError, generate_private_key, sign, spki_der, verify
from keys.storage import (
    DEV_MODE_ENV,
    PASSPHRASE_ENV,
    PASSPHRASE_FILE_ENV,
    KeyStorageError,
    dev_mode,
    passphrase_from_environment,
    private_key_pem,
    public_key_pem,
    read_private_key,
    read_public_key,
    write_private_key,
)

PASS = b"correct horse battery staple"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (DEV_MODE_ENV, PASSPHRASE_ENV, PASSPHRASE_FILE_ENV):
        monkeypatch.delenv(name, raising=False)


def test_environment_variable_names() -> None:
    assert PASSPHRASE_ENV == "SUISHEN_KEY_PASSPHRASE"
    assert PASSPHRASE_FILE_ENV == "SUISHEN_KEY_PASSPHRASE_FILE"
    assert DEV_MODE_ENV == "SUISHEN_DEV_MODE"


@pytest.mark.parametrize("alg", [ES256, ES384, EDDSA])
def test_encrypted_round_trip(tmp_path: Path, alg: int) -> None:
    key = generate_private_key(alg)
    path = tmp_path / "sub" / "issuer.pem"
    write_private_key(path, key, PASS)
    data = path.read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert b"-----BEGIN PRIVATE KEY-----" not in data
    loaded = read_private_key(path, PASS)
    assert spki_der(loaded.public_key()) == spki_der(key.public_key())
    assert verify(key.public_key(), alg, sign(loaded, alg, b"m"), b"m")
    # the file is encrypted PKCS#8: cryptography needs the passphrase to open it
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(data, None)
    assert not list(tmp_path.glob("**/*.tmp"))


def test_written_key_is_private_to_the_owner(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    write_private_key(path, generate_private_key(), PASS)
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_write_replaces_existing_key(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    first, second = generate_private_key(), generate_private_key()
    write_private_key(path, first, PASS)
    write_private_key(path, second, PASS)
    assert spki_der(read_private_key(path, PASS).public_key()) == spki_der(second.public_key())


def test_refuses_unencrypted_write_without_dev_mode(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    with pytest.raises(KeyStorageError) as info:
        write_private_key(path, generate_private_key(), None)
    message = str(info.value)
    assert PASSPHRASE_ENV in message and DEV_MODE_ENV in message
    assert not path.exists()
    assert not list(tmp_path.iterdir())
    with pytest.raises(KeyStorageError):
        private_key_pem(generate_private_key(), b"")


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_dev_mode_writes_unencrypted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(DEV_MODE_ENV, value)
    assert dev_mode()
    key = generate_private_key()
    path = tmp_path / "dev.pem"
    write_private_key(path, key, None)
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert spki_der(read_private_key(path, None).public_key()) == spki_der(key.public_key())
    # an unencrypted key also opens when a passphrase happens to be set
    assert spki_der(read_private_key(path, PASS).public_key()) == spki_der(key.public_key())


@pytest.mark.parametrize("value", ["", "0", "false", "no", "TRUE "])
def test_dev_mode_off_values(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(DEV_MODE_ENV, value)
    assert not dev_mode()


def test_dev_mode_still_encrypts_when_passphrase_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEV_MODE_ENV, "1")
    path = tmp_path / "k.pem"
    write_private_key(path, generate_private_key(), PASS)
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


def test_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    write_private_key(path, generate_private_key(), PASS)
    with pytest.raises(KeyStorageError) as info:
        read_private_key(path, b"Zq7-not-the-one")
    assert "wrong passphrase" in str(info.value)
    assert str(path) in str(info.value)
    assert "Zq7" not in str(info.value)


def test_missing_passphrase_for_encrypted_key(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    write_private_key(path, generate_private_key(), PASS)
    with pytest.raises(KeyStorageError) as info:
        read_private_key(path, None)
    assert "encrypted" in str(info.value)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyStorageError) as info:
        read_private_key(tmp_path / "absent.pem", PASS)
    assert "cannot read" in str(info.value)


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage\n", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"],
)
def test_damaged_key_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "k.pem"
    path.write_bytes(content)
    with pytest.raises(KeyStorageError):
        read_private_key(path, None)


def test_truncated_encrypted_key(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    write_private_key(path, generate_private_key(), PASS)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2] + lines[-1:]))
    with pytest.raises(KeyStorageError):
        read_private_key(path, PASS)


def test_unsupported_private_key_type_is_refused(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP521R1())
    path = tmp_path / "p521.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASS),
        )
    )
    with pytest.raises((KeyStorageError, KeyAlgorithmError)):
        read_private_key(path, PASS)


def test_passphrase_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert passphrase_from_environment() is None
    monkeypatch.setenv(PASSPHRASE_ENV, "from-env")
    assert passphrase_from_environment() == b"from-env"
    monkeypatch.setenv(PASSPHRASE_ENV, "")
    assert passphrase_from_environment() is None


def test_passphrase_file_is_preferred_and_trailing_newline_stripped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"from-file\r\n")
    monkeypatch.setenv(PASSPHRASE_ENV, "from-env")
    monkeypatch.setenv(PASSPHRASE_FILE_ENV, str(secret))
    assert passphrase_from_environment() == b"from-file"


def test_passphrase_file_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_FILE_ENV, str(tmp_path / "absent"))
    with pytest.raises(KeyStorageError) as info:
        passphrase_from_environment()
    assert "cannot read passphrase file" in str(info.value)
    empty = tmp_path / "empty"
    empty.write_bytes(b"\n")
    monkeypatch.setenv(PASSPHRASE_FILE_ENV, str(empty))
    with pytest.raises(KeyStorageError) as info:
        passphrase_from_environment()
    assert "empty" in str(info.value)


def test_passphrase_from_env_opens_written_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "s3cret")
    path = tmp_path / "k.pem"
    key = generate_private_key(EDDSA)
    write_private_key(path, key, passphrase_from_environment())
    assert b"s3cret" not in path.read_bytes()
    assert spki_der(read_private_key(path, b"s3cret").public_key()) == spki_der(key.public_key())


@pytest.mark.parametrize("alg", [ES256, EDDSA])
def test_public_key_pem_round_trip(tmp_path: Path, alg: int) -> None:
    public = generate_private_key(alg).public_key()
    path = tmp_path / "pub.pem"
    path.write_bytes(public_key_pem(public))
    assert path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert spki_der(read_public_key(path)) == spki_der(public)


def test_read_public_key_errors(tmp_path: Path) -> None:
    with pytest.raises(KeyStorageError):
        read_public_key(tmp_path / "absent.pem")
    bad = tmp_path / "bad.pem"
    bad.write_bytes(b"not a pem")
    with pytest.raises(KeyStorageError) as info:
        read_public_key(bad)
    assert "not a PEM public key" in str(info.value)
