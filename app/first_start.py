"""The first start of a deployment (`suishen init`, or `suishen serve --init`): what an operator can trust.

It makes the data and keys folders (mode 0700), the encrypted issuer key and trust-list root (the
key ring), and the token and pseudonym secrets (mode 0600), and refuses a missing or weak key
passphrase before anything is written. It is idempotent: on a second start everything is found,
the passphrase is checked against the keys already there, and nothing changes. The image and the
compose file start the server this way (docs/deploy.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from app.settings import Settings
from keys import directory
from keys.errors import SuishenError

MIN_PASSPHRASE = 16
LOCK_FILE = ".first-start.lock"
COMMON = frozenset({b"password", b"changeme", b"suishen", b"secret", b"passphrase", b"1234567890", b"qwerty"})


class FirstStartError(SuishenError, ValueError):
    """The deployment cannot start as configured: the message says what to change."""


class FirstStart(NamedTuple):
    created: list[str]  # what this start made (empty: everything was there)
    active_kid: str


def passphrase_problem(passphrase: bytes | None) -> str | None:
    """Why a key passphrase will not do, or None. It encrypts every private key at rest."""
    if not passphrase:
        return "no key passphrase: set SUISHEN_KEY_PASSPHRASE_FILE to a file holding one (a mounted secret)"
    if len(passphrase) < MIN_PASSPHRASE:
        return f"the key passphrase is shorter than {MIN_PASSPHRASE} characters"
    lowered = passphrase.lower()
    if len(set(passphrase)) < 6 or any(word in lowered for word in COMMON):
        return "the key passphrase is too easy to guess (few distinct characters, or a common word)"
    return None


def _private_folder(path: Path, created: list[str]) -> None:
    if not path.exists():
        try:
            path.mkdir(parents=True, mode=0o700)
        except FileExistsError:  # another replica starting beside this one made it first
            pass
        else:
            os.chmod(path, 0o700)  # mkdir's mode is masked by the umask
            created.append(f"folder {path} (0700)")
            return
    if not path.is_dir():
        raise FirstStartError(f"{path} exists and is not a folder")
    if path.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise FirstStartError(f"{path} may be written by other users: chmod 0700 {path}")


def first_start(settings: Settings, passphrase: bytes | None, *, issuer: str = "CN-SH",
                region: str = "310000") -> FirstStart:  # fmt: skip
    """Make what is missing; check what is there. Raises FirstStartError (or the key store's error)."""
    problem = passphrase_problem(passphrase)
    if problem is not None or passphrase is None:
        raise FirstStartError(problem or "no key passphrase")
    created: list[str] = []
    _private_folder(settings.data_dir, created)
    _private_folder(settings.keys_dir, created)
    with _one_start_at_a_time(settings.keys_dir):
        kid = _key_ring(settings, passphrase, issuer, region, created)
    for name, configured in (("token", settings.token_secret), ("subject-pepper", settings.subject_pepper)):
        if configured:
            continue
        path = settings.data_dir / f"{name}.secret"
        if not path.exists():
            settings.secret(name, None)
            created.append(f"secret {path} (0600)")
    return FirstStart(created, kid)


@contextlib.contextmanager
def _one_start_at_a_time(keys_dir: Path) -> Iterator[None]:
    """Replicas sharing a keys folder (one volume) start at once: the first makes the key ring, the others
    wait for it and find it (an flock on a file in that folder)."""
    fd = os.open(keys_dir / LOCK_FILE, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock


def _key_ring(settings: Settings, passphrase: bytes, issuer: str, region: str, created: list[str]) -> str:
    """The active kid of the key ring in the keys folder, made when missing, opened with the passphrase."""
    if (settings.keys_dir / directory.RING_FILE).exists():
        try:
            entry, _ = directory.signing_key(settings.keys_dir, passphrase)
        except SuishenError as exc:
            raise FirstStartError(f"the keys in {settings.keys_dir} cannot be used: {exc}") from None
        except ValueError:
            raise FirstStartError(f"the key passphrase does not open the keys in {settings.keys_dir}") from None
        kid = entry.kid.hex()
    else:
        ring = directory.init_directory(settings.keys_dir, issuer=issuer, region=region, passphrase=passphrase,
                                        now=int(time.time()))  # fmt: skip
        kid = ring.active().kid.hex()
        created.append(f"key ring in {settings.keys_dir}: issuer {issuer}, active kid {kid}, and the trust-list root")
    return kid
