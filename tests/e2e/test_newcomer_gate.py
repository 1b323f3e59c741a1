"""A newcomer goes from the demo to a gate with nothing but what the commands print.

`suishen serve --demo` (what `make run` runs) and `suishen demo --out DIR` each print one
`suishen-gate` command; these tests run that line through a shell exactly as printed and read the
decisions the gate reports.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.servers import free_port, wait_until

SUISHEN = str(Path(sys.executable).parent / "suishen")
DECISION = re.compile(r"^\d\d:\d\d:\d\d (GRANTED|REJECTED) ", re.MULTILINE)


def clean_environment(home: Path) -> dict[str, str]:
    """No SUISHEN_ settings, no Redis or database URL: what a fresh checkout's `make run` sees."""
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("SUISHEN_") and k not in ("REDIS_URL", "DATABASE_URL")}  # fmt: skip
    environment["SUISHEN_SETTINGS_FILE"] = str(home / "none.env")
    return environment


class DemoServer:
    """`suishen serve --demo` in its own folder (its var/ under it, as `make run` makes var/ in the checkout)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"serve-{self.port}.log"
        self.env = clean_environment(folder)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> DemoServer:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [SUISHEN, "serve", "--demo", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.folder, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            wait_until(self._up, f"suishen serve --demo on port {self.port}", 120)
        except (TimeoutError, AssertionError):
            self.stop()
            raise AssertionError(f"the demo server did not start; its output:\n{self.output()[-3000:]}") from None
        return self

    def _up(self) -> bool:
        assert self.process is not None and self.process.poll() is None, "exited"
        return httpx.get(self.url + "/healthz", timeout=2).status_code == 200 and "--server" in self.output()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def printed(self, prefix: str) -> str:
        """The one printed line starting (after its indent) with `prefix`; its end kept (a code may end in a space)."""
        lines = [line.lstrip() for line in self.output().splitlines() if line.lstrip().startswith(prefix)]
        assert len(lines) == 1, f"expected one line starting {prefix!r}:\n{self.output()}"
        return lines[0]

    def gate_command(self) -> str:
        lines = [line.strip() for line in self.output().splitlines() if " --server " in line]
        assert len(lines) == 1, f"expected one gate command:\n{self.output()}"
        return lines[0]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


def run_as_printed(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The printed line through /bin/sh, from another folder, untouched."""
    return subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def option(command: str, name: str) -> str:
    words = shlex.split(command)
    return words[words.index(name) + 1]


def demo_devices(database: Path) -> list[tuple[str, str, str | None, int]]:
    with sqlite3.connect(database) as db:
        return db.execute(
            "SELECT id, role, venue, revoked FROM devices WHERE name LIKE 'demo %' ORDER BY role, created_at"
        ).fetchall()


def test_make_run_prints_a_gate_command_that_works_as_printed_and_stays_the_same_after_a_restart(
    tmp_path: Path,
) -> None:
    server = DemoServer(tmp_path).start()
    try:
        command = server.gate_command()
        assert option(command, "--server") == server.url
        key_file = Path(option(command, "--api-key-file"))
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert (Path(option(command, "--root"))).read_bytes() == (tmp_path / "var/keys/root.pub.pem").read_bytes()
        assert any(Path(option(command, "--images")).glob("*.png")), "no QR image of the sample code"

        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        ran = run_as_printed(command, elsewhere, server.env)
        assert ran.returncode == 0, ran.stderr + ran.stdout
        assert DECISION.search(ran.stdout), ran.stdout
        assert "MANUAL_CHECK" not in ran.stdout  # documents fetched from the server with the root key given
        database = tmp_path / "var/serve/suishen.sqlite"
        gate_id = next(d[0] for d in demo_devices(database) if d[1] == "gate")
        with sqlite3.connect(database) as db:  # uploaded with the key from the file
            stored = db.execute("SELECT venue, result FROM events WHERE device = ?", (gate_id,)).fetchall()
        assert stored and {v for v, _ in stored} == {option(command, "--venue")}
        assert {r for _, r in stored} <= {"GRANTED", "REJECTED"}

        handheld = server.printed("demo handheld key").split()[3]
        code = server.printed("a sample code for").split(": ", 1)[1]
        answer = httpx.post(server.url + "/v1/verify", json={"code": code, "venue": "sh-museum"},
                            headers={"Authorization": f"Bearer {handheld}"}, timeout=10)  # fmt: skip
        assert answer.status_code == 200 and answer.json()["result"] in ("VALID", "REJECTED"), answer.text
        assert f"{server.url}/staff" in server.printed("demo handheld key")
        key, written = key_file.read_text(), key_file.stat().st_mtime_ns
    finally:
        server.stop()

    again = DemoServer(tmp_path)
    again.port, again.url = server.port, server.url  # the same command, port included
    again.start()
    try:
        assert again.gate_command() == command
        assert key_file.read_text() == key and key_file.stat().st_mtime_ns == written  # reused, not rewritten
        assert again.printed("demo handheld key").split()[3] == handheld
        assert [(role, revoked) for _, role, _, revoked in demo_devices(database)] == [("gate", 0), ("handheld", 0)]
        ran = run_as_printed(command, elsewhere, again.env)
        assert ran.returncode == 0 and "refused" not in ran.stdout, ran.stderr + ran.stdout
    finally:
        again.stop()


def test_suishen_demo_leaves_the_documents_and_a_gate_command_that_decides_on_its_images_offline(
    tmp_path: Path,
) -> None:
    out = tmp_path / "demo out"  # a space: the printed command must quote it
    env = clean_environment(tmp_path)
    demo = subprocess.run([SUISHEN, "demo", "--out", str(out)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert demo.returncode == 0, demo.stdout + demo.stderr
    for name in ("root.pub.pem", "trust-list.json", "catalogue.json", "revocations.json"):
        assert (out / name).is_file(), name
    lines = [line.strip() for line in demo.stdout.splitlines() if " --images " in line]
    assert len(lines) == 1, demo.stdout
    command = lines[0]
    assert "--server" not in command and option(command, "--images") == str(out)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ran = run_as_printed(command, elsewhere, env)
    assert ran.returncode == 0, ran.stderr + ran.stdout
    assert "trust list version 1 installed" in ran.stdout and "catalogue snapshot version 1 installed" in ran.stdout
    assert "revocation list version 1 installed" in ran.stdout
    assert DECISION.search(ran.stdout) and "MANUAL_CHECK" not in ran.stdout, ran.stdout
    assert "GRANTED" in ran.stdout  # the demo's senior, at the park
