"""`suishen revoke`: credential, subject, status and export on a real SQLite services database and real keys."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import app
from app.db.engine import open_database
from app.db.schema import audit, revocations
from app.revocations import subject_entries
from keys import directory
from keys.revocation_list import credential_id, load_revocation_list

PEPPER = "cli-test-pepper-0123456789"
PASSPHRASE = "cli test passphrase"


@pytest.fixture
def server_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment `suishen serve` would run with: its database, data dir, keys and pepper."""
    for name in ("DATABASE_URL", "SUISHEN_DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUISHEN_DATA_DIR", str(tmp_path / "serve"))
    monkeypatch.setenv("SUISHEN_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("SUISHEN_SUBJECT_PEPPER", PEPPER)
    monkeypatch.setenv("SUISHEN_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("SUISHEN_SETTINGS_FILE", str(tmp_path / "none.env"))
    directory.init_directory(tmp_path / "keys", issuer="CN-SH", region="310000", passphrase=PASSPHRASE.encode(),
                             now=int(time.time()))  # fmt: skip
    return tmp_path / "serve" / "suishen.sqlite"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["revoke", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def stored(database: Path) -> tuple[list[tuple[str, bytes, str]], list[str]]:
    engine = open_database(f"sqlite:///{database}")
    try:
        with engine.connect() as db:
            rows = [(r.kind, bytes(r.key), r.cause) for r in db.execute(select(revocations).order_by(revocations.c.id))]
            trail = [f"{r.actor}|{r.subject}|{r.detail}" for r in db.execute(select(audit).order_by(audit.c.id))]
    finally:
        engine.dispose()
    return rows, trail


def test_revoke_a_credential_and_a_subject_see_the_status_and_export_the_signed_list(
    server_settings: Path, tmp_path: Path
) -> None:
    kid, cti = "0123456789abcdef", "ab" * 16
    code, out = run("credential", "--kid", kid, "--cti", cti)
    assert code == 0 and "credential withdrawn in revocation list version" in out, out
    code, out = run("subject", "--subject", "P00000042")
    assert code == 0 and "withdrawn in revocation list version" in out and "P00000042" not in out, out

    rows, trail = stored(server_settings)
    pseudonyms = {e.key for e in subject_entries(PEPPER.encode(), "P00000042", time.time())}
    assert rows[0] == ("credential", credential_id(bytes.fromhex(kid), bytes.fromhex(cti)), "admin")
    assert {key for kind, key, _ in rows[1:] if kind == "subject"} == pseudonyms
    assert len(trail) == len(rows) and all(line.startswith("cli||") and "cause admin" in line for line in trail)
    assert not any("P00000042" in line for line in trail)

    code, out = run("status")
    assert code == 0 and "admin                credential 1" in out and "admin                subject" in out, out

    document = tmp_path / "revocations.json"
    code, out = run("export", "--out", str(document))
    assert code == 0 and "wrote the revocation list" in out, out
    listed = load_revocation_list(document.read_bytes(), directory.root_public_key(tmp_path / "keys"), time.time())
    assert credential_id(bytes.fromhex(kid), bytes.fromhex(cti)) in listed.credentials
    assert set(listed.subjects) == pseudonyms


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("credential", "--kid", "0123", "--cti", "ab" * 16), "--kid must be 8 bytes in lower-case hex"),
        (("credential", "--kid", "0123456789ABCDEF", "--cti", "ab" * 16), "--kid must be 8 bytes"),
        (("credential", "--kid", "0123456789abcdef", "--cti", "zz" * 16), "--cti must be 16 bytes"),
        (("credential", "--kid", "0123456789abcdef", "--cti", "ab" * 16, "--until", "5"), "--until must be"),
        (("subject", "--subject", "P 1"), "--subject must be 1 to 64 letters"),
    ],
)
def test_bad_input_is_one_line_and_stores_nothing(server_settings: Path, args: tuple[str, ...], words: str) -> None:
    code, out = run(*args)
    lines = out.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], out
    assert not server_settings.exists() or stored(server_settings) == ([], [])
