"""`suishen init` (and `suishen serve --init`, the image's start): a first start makes keys and folders once,
a second changes nothing, and a missing, weak or wrong passphrase is refused before anything is written."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

SUISHEN = str(Path(sys.executable).parent / "suishen")
GOOD = "correct horse battery staple 42"


def _init(tmp: Path, passphrase: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUISHEN_")}
    env.update(SUISHEN_DATA_DIR=str(tmp / "var" / "serve"), SUISHEN_KEYS_DIR=str(tmp / "var" / "keys"),
               SUISHEN_SETTINGS_FILE=str(tmp / "none.env"))  # fmt: skip
    if passphrase is not None:
        (tmp / "passphrase").write_text(passphrase + "\n")
        env["SUISHEN_KEY_PASSPHRASE_FILE"] = str(tmp / "passphrase")
    return subprocess.run([SUISHEN, "init"], capture_output=True, text=True, env=env, timeout=60)


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_mode) for p in sorted(root.rglob("*"))}


def test_a_missing_or_weak_passphrase_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    refused = [(None, "no key passphrase"), ("short-one", "shorter than 16"), ("aaaaaaaaaaaaaaaaaaaa", "too easy"),
               ("my-suishen-password-2026", "too easy")]
    for passphrase, words in refused:
        done = _init(tmp_path, passphrase)
        assert done.returncode == 2 and words in done.stderr, (passphrase, done.stderr)
        assert "Traceback" not in done.stderr
        assert not (tmp_path / "var").exists()


def test_the_first_start_makes_keys_and_folders_and_the_second_changes_nothing(tmp_path: Path) -> None:
    first = _init(tmp_path, GOOD)
    assert first.returncode == 0, first.stderr
    assert "created key ring" in first.stdout and "token.secret" in first.stdout
    keys, data = tmp_path / "var" / "keys", tmp_path / "var" / "serve"
    for folder in (keys, data):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert (keys / "ring.json").exists() and (keys / "root.pub.pem").exists()
    for secret in ("token.secret", "subject-pepper.secret"):
        assert stat.S_IMODE((data / secret).stat().st_mode) == 0o600
    assert all(b"ENCRYPTED" in p.read_bytes() for p in keys.glob("*.pem") if "pub" not in p.name)
    before = _tree(tmp_path / "var")
    second = _init(tmp_path, GOOD)
    assert second.returncode == 0 and "already set up" in second.stdout and "nothing changed" in second.stdout
    assert _tree(tmp_path / "var") == before  # not a byte, time or mode changed
    wrong = _init(tmp_path, "a different long key phrase 99")
    assert wrong.returncode == 2 and ("cannot be used" in wrong.stderr or "does not open" in wrong.stderr), wrong
    assert _tree(tmp_path / "var") == before


def test_a_keys_folder_others_may_write_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "var" / "keys"
    keys.mkdir(parents=True)
    os.chmod(keys, 0o777)
    done = _init(tmp_path, GOOD)
    assert done.returncode == 2 and "may be written by other users" in done.stderr
    assert not (keys / "ring.json").exists()


def test_replicas_sharing_a_keys_folder_and_starting_at_once_make_one_key_ring(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUISHEN_")}
    (tmp_path / "passphrase").write_text(GOOD + "\n")
    env.update(SUISHEN_KEYS_DIR=str(tmp_path / "keys"), SUISHEN_KEY_PASSPHRASE_FILE=str(tmp_path / "passphrase"),
               SUISHEN_SETTINGS_FILE=str(tmp_path / "none.env"))  # fmt: skip
    starts = [
        subprocess.Popen([SUISHEN, "init"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**env, "SUISHEN_DATA_DIR": str(tmp_path / f"data-{i}")})
        for i in range(4)
    ]  # fmt: skip
    outputs = [start.communicate(timeout=120)[0] for start in starts]
    assert all(start.returncode == 0 for start in starts), outputs
    assert sum(out.count("created key ring") for out in outputs) == 1, outputs
    kids = {line.split("active kid ")[1].split()[0].rstrip(",;") for out in outputs for line in out.splitlines()
            if "active kid " in line}  # fmt: skip
    assert len(kids) == 1, outputs  # the three that waited found the one the first made


def test_settings_are_read_from_secret_files_and_an_admin_key_that_cannot_work_is_refused(tmp_path: Path) -> None:
    import pytest
    from pydantic import ValidationError

    from app.settings import Settings

    (tmp_path / "database_url").write_text("postgresql+psycopg://suishen@db/suishen")
    (tmp_path / "suishen_token_secret").write_text("from-a-mounted-secret")
    fresh = Settings(_env_file=None, _secrets_dir=tmp_path)  # as SUISHEN_SECRETS_DIR names it (the topology test)
    assert fresh.database_url == "postgresql+psycopg://suishen@db/suishen"
    assert fresh.token_secret == "from-a-mounted-secret"
    for bad in ("adm-0123456789abcdef0123456789", "sk_short"):
        with pytest.raises(ValidationError, match="must start with sk_"):
            Settings(_env_file=None, admin_key=bad)
