"""The gate against the real server (`app.server:create_app` under uvicorn): documents, events, a restart.

The command fetches the documents and uploads its decisions; then the server is stopped while a
gate (built in process from the same state folder) keeps deciding, and started again on the same
port and data: every decision reaches its database exactly once, and a batch sent twice is stored once.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import pytest

from keys import directory
from keys.storage import read_public_key
from scanner_client.outbox import Outbox
from scanner_client.runner import Settings, build
from scanner_client.server import ServerClient
from tests.scanner_client.conftest import PARK, wait_for
from tests.scanner_client.scenes import make_frame
from tests.servers import free_port
from verifier.claims import Profile
from verifier.code import online_code

ROOT = Path(__file__).resolve().parents[2]
GATE = str(Path(sys.executable).parent / "suishen-gate")
ADMIN_KEY = "sk_gate-tests-admin-" + "0" * 24
PASSPHRASE = "gate tests passphrase"


class RealServer:
    def __init__(self, folder: Path) -> None:
        pytest.importorskip("app.server")
        self.folder = folder
        self.keys = folder / "keys"
        self.data = folder / "serve"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SUISHEN_")
                    and k not in ("REDIS_URL", "DATABASE_URL")}  # fmt: skip
        self.env.update(
            SUISHEN_KEY_PASSPHRASE=PASSPHRASE, SUISHEN_DATA_DIR=str(self.data), SUISHEN_KEYS_DIR=str(self.keys),
            SUISHEN_ADMIN_KEY=ADMIN_KEY, SUISHEN_LOG_REQUESTS="0", SUISHEN_SETTINGS_FILE=str(folder / "none.env"),
        )  # fmt: skip
        directory.init_directory(self.keys, issuer="CN-SH", region="310000", passphrase=PASSPHRASE.encode(),
                                 now=int(time.time()))  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.folder / "server.log").open("ab")
        command = [sys.executable, "-m", "uvicorn", "--factory", "app.server:create_app", "--host", "127.0.0.1",
                   "--port", str(self.port), "--no-access-log"]  # fmt: skip
        self.process = subprocess.Popen(command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

        def up() -> bool:
            assert self.process is not None and self.process.poll() is None, (self.folder / "server.log").read_text()
            try:
                return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(up, 60), "the server did not answer /healthz"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(20)
            self.process = None

    def gate_key(self) -> str:
        answer = httpx.post(self.url + "/v1/admin/devices", headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                            json={"name": "gate-test", "role": "gate", "venue": "sh-century-park"}, timeout=10)
        assert answer.status_code < 300, answer.text  # fmt: skip
        return str(answer.json()["api_key"])

    def stored_events(self) -> list[tuple[str, str, str | None]]:
        with sqlite3.connect(self.data / "suishen.sqlite") as db:
            return db.execute("SELECT id, result, reason FROM events ORDER BY id").fetchall()

    def codes(self, count: int) -> list[str]:
        """Online codes signed with the server's own issuer key (as its signing service would)."""
        from app.issuing import Issuer

        ring = directory.load_ring(self.keys)
        entry, key = directory.signing_key(self.keys, PASSPHRASE.encode())
        issuer = Issuer(ring.issuer, entry, key)
        now = int(time.time())
        return [online_code(issuer.credential(Profile(os.urandom(8), age_over=70, residence=310000, version=1), now,
                                              lifetime=600)) for _ in range(count)]  # fmt: skip


@pytest.fixture
def real_server(tmp_path: Path) -> Iterator[RealServer]:
    server = RealServer(tmp_path)
    server.start()
    yield server
    server.stop()


def frames(folder: Path, codes: list[str], seed: int) -> Path:
    folder.mkdir()
    rng = random.Random(seed)
    for i, code in enumerate(codes):
        cv2.imwrite(str(folder / f"{i:02d}.png"), make_frame(code, 640, 480, rng, "rotation"))
    return folder


def test_gate_with_the_real_server_through_a_restart(real_server: RealServer, tmp_path: Path) -> None:
    env = {**real_server.env, "SUISHEN_GATE_API_KEY": real_server.gate_key()}
    del env["SUISHEN_KEY_PASSPHRASE"]
    state = tmp_path / "gate"

    def gate(images: Path) -> tuple[list[dict[str, object]], str]:
        command = [GATE, "--venue", "sh-century-park", "--images", str(images), "--state", str(state),
                   "--root", str(real_server.keys / directory.ROOT_PUBLIC_FILE), "--server", real_server.url, "--json"]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()], result.stderr

    online, log = gate(frames(tmp_path / "a", real_server.codes(3), 41))
    assert [d["result"] for d in online] == ["GRANTED"] * 3, online
    assert "trust list version" in log and "catalogue snapshot version" in log  # fetched from the server
    assert len(real_server.stored_events()) == 3

    real_server.stop()
    parts = build(Settings(PARK, state, read_public_key(real_server.keys / directory.ROOT_PUBLIC_FILE),
                           server=real_server.url, api_key=env["SUISHEN_GATE_API_KEY"]))  # fmt: skip
    assert all("not refreshed" in m for m in parts.messages)  # the server is down: cached documents
    offline = [parts.gate.on_code(code, time.time()) for code in real_server.codes(3)]
    assert [d.result for d in offline if d] == ["GRANTED"] * 3
    assert parts.uploader is not None and parts.uploader.drain() == 0
    assert parts.outbox.counts().pending == 3

    real_server.start()  # same port, same database
    parts.uploader.next_attempt = 0.0  # as if the backoff had run out
    assert parts.uploader.drain() == 3
    ids = parts.outbox.all_ids()
    stored = real_server.stored_events()
    assert sorted(ids) == [row[0] for row in stored] and len(ids) == 6  # every decision, each once
    assert {row[1] for row in stored} == {"GRANTED"}

    again = ServerClient(real_server.url, env["SUISHEN_GATE_API_KEY"]).post_events(_events(parts.outbox))
    assert again == {"stored": 0, "duplicates": 6}
    assert len(real_server.stored_events()) == 6
    parts.outbox.close()


def _events(outbox: Outbox) -> list[dict[str, object]]:
    with sqlite3.connect(outbox.path) as db:
        return [json.loads(body) for (body,) in db.execute("SELECT body FROM events ORDER BY seq")]
