"""The gate against the real server (`app.api.server:create_app` under uvicorn): documents, events, a restart.

The command fetches the documents and uploads its decisions; then the server is stopped while a
gate (built in process from the same state folder) keeps deciding, and started again on the same
port and data: every decision reaches its database exactly once, and a batch sent twice is stored once.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2

from keys import directory
from keys.storage import read_public_key
from scanner_client.outbox import Outbox
from scanner_client.runner import Settings, build
from scanner_client.server import ServerClient
from tests.support.gates import PARK, RealServer
from tests.support.scenes import make_frame

GATE = str(Path(sys.executable).parent / "suishen-gate")


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
