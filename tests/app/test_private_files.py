"""Personal data on disk is the service's own: every folder made 0700 and every file 0600.

The commands run as a person would run them, under the usual umask 022 (which made 0644 files in
0755 folders before): keys, synthetic registries, a matching run into the services database, a
disclosure export, a server start and a gate run. Then every mode is read back with os.stat.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port, wait_until

SUISHEN = str(Path(sys.executable).parent / "suishen")
GATE = str(Path(sys.executable).parent / "suishen-gate")
ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "private files test passphrase"
ADMIN = "sk_private-files-test-admin-key"


def _usual_umask() -> None:
    os.umask(0o022)


def _environment(base: Path) -> dict[str, str]:
    return {
        **os.environ, "SUISHEN_KEY_PASSPHRASE": PASSPHRASE, "SUISHEN_SETTINGS_FILE": "/nonexistent/suishen.env",
        "SUISHEN_DATA_DIR": str(base / "serve"), "SUISHEN_KEYS_DIR": str(base / "keys"),
        "SUISHEN_MATCHING_DB": str(base / "match" / "matching.duckdb"),
        "SUISHEN_REGISTRIES_DIR": str(base / "registries"), "SUISHEN_ADMIN_KEY": ADMIN,
        "SUISHEN_LOG_REQUESTS": "false",
    }  # fmt: skip


def _run(command: list[str], environment: dict[str, str]) -> None:
    done = subprocess.run(
        command, env=environment, cwd=ROOT, capture_output=True, text=True, timeout=300, preexec_fn=_usual_umask
    )
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"


def _too_open(base: Path) -> list[str]:
    found = []
    for path in [base, *base.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if (path.is_dir() and mode != 0o700) or (path.is_file() and mode != 0o600):
            found.append(f"{oct(mode)} {path.relative_to(base.parent)}")
    return found


def test_every_file_the_commands_server_and_gate_make_is_private(tmp_path: Path) -> None:
    base = tmp_path / "var"
    base.mkdir(mode=0o755)
    base.chmod(0o755)
    environment = _environment(base)
    (base / "serve").mkdir(mode=0o755)  # left open by an earlier version: tightened at start
    (base / "serve").chmod(0o755)
    (base / "serve" / "old-notes.txt").write_text("made before")
    (base / "serve" / "old-notes.txt").chmod(0o644)

    _run([SUISHEN, "keys", "init", "--dir", str(base / "keys")], environment)
    _run([SUISHEN, "data", "synth", "--out", str(base / "registries"), "--persons", "400", "--enterprises", "10"],
         environment)  # fmt: skip
    ledger = f"sqlite:///{base / 'serve' / 'suishen.sqlite'}"
    _run([SUISHEN, "match", "run", "--registries", str(base / "registries"), "--db",
          str(base / "match" / "matching.duckdb"), "--ledger", ledger], environment)  # fmt: skip
    _run([SUISHEN, "match", "disclose", "--db", str(base / "match" / "matching.duckdb"), "--out",
          str(base / "exports" / "disclosure.csv")], environment)  # fmt: skip

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environment, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_usual_umask,
    )  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            wait_until(lambda: client.get("/healthz").status_code == 200, "suishen serve", 60)
            assert client.get("/v1/disclosure").status_code == 200
            (base / "gate-docs").mkdir()
            (base / "gate-docs" / "trust-list.json").write_bytes(client.get("/v1/trust-list").content)
            (base / "gate-docs" / "catalogue.json").write_bytes(client.get("/v1/catalogue/snapshot").content)
            (base / "gate-docs" / "revocations.json").write_bytes(client.get("/v1/revocations").content)
    finally:
        server.terminate()
        server.wait(20)
    (base / "gate-docs").chmod(0o700)  # made by this test, not by the service
    for name in ("trust-list.json", "catalogue.json", "revocations.json"):
        (base / "gate-docs" / name).chmod(0o600)
    (base / "frames").mkdir(mode=0o700)
    _run([GATE, "--venue", "sh-century-park", "--images", str(base / "frames"), "--state", str(base / "gate"),
          "--root", str(base / "keys" / "root.pub.pem"), "--trust-list", str(base / "gate-docs" / "trust-list.json"),
          "--catalogue", str(base / "gate-docs" / "catalogue.json"),
          "--revocations", str(base / "gate-docs" / "revocations.json")], environment)  # fmt: skip

    base.chmod(0o700)  # the test's own folder
    made = {p.name for p in base.rglob("*")}
    assert {"persons.parquet", "matching.duckdb", "suishen.sqlite", "disclosure.csv", "outbox.sqlite"} <= made, made
    assert _too_open(base) == []


def test_the_services_database_and_the_results_are_private_without_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ASGI server or a test builds Services directly: the modes must not depend on the umask set by main()."""
    from app.db.engine import open_database
    from app.matching.engine import connect

    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    old = os.umask(0o022)
    try:
        engine = open_database(f"sqlite:///{data / 'suishen.sqlite'}")
        with engine.connect() as db:
            db.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        engine.dispose()
        connect(data / "results.duckdb").close()
    finally:
        os.umask(old)
    data.chmod(0o700)
    assert _too_open(data) == []


def test_a_shared_sticky_folder_is_left_open_and_the_files_made_in_it_are_private(tmp_path: Path) -> None:
    """A results database given in /tmp (sticky, open to all) once made /tmp 0700 for every user."""
    from app.matching.engine import connect

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    connect(shared / "results.duckdb").close()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "results.duckdb").stat().st_mode) == 0o600
    private = tmp_path / "open"
    private.mkdir(mode=0o755)
    private.chmod(0o755)
    connect(private / "results.duckdb").close()
    assert stat.S_IMODE(private.stat().st_mode) == 0o700  # an ordinary folder is still tightened
