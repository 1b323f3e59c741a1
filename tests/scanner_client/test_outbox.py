"""The outbox: durable before shown, survives SIGKILL, reaches a server that comes back exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2

from keys.storage import public_key_pem
from scanner_client.documents import CATALOGUE, TRUST_LIST
from scanner_client.outbox import Outbox
from scanner_client.server import ServerClient
from scanner_client.uploader import Uploader
from tests.conftest import World, make_world
from tests.scanner_client.conftest import Clock, park_policy, wait_for
from tests.scanner_client.contract_server import ContractServer
from tests.scanner_client.scenes import make_frame
from tests.servers import free_port
from verifier.catalogue import build_snapshot

GATE = str(Path(sys.executable).parent / "suishen-gate")
API_KEY = "device-key-for-tests"


def event(i: int) -> dict[str, object]:
    return {"id": f"{i:032x}", "venue": "sh-century-park", "at": 1.8e9 + i, "result": "GRANTED", "reason": None,
            "policy_id": "p", "kind": "online", "issuer": "CN-SH", "degraded": False, "repeat": False}  # fmt: skip


def live_files(tmp_path: Path, codes: int) -> tuple[World, dict[str, Path], list[str]]:
    """Keys, signed documents and a folder of camera frames, valid at the real clock (for the command)."""
    world = make_world(now=int(time.time()))
    root = tmp_path / "root.pub.pem"
    root.write_bytes(public_key_pem(world.root_key.public_key()))  # type: ignore[arg-type]
    trust = tmp_path / "trust.json"
    trust.write_bytes(world.trust_document)
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_bytes(build_snapshot([park_policy()], world.root_key, version=1, issued_at=world.now))
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = random.Random(21)
    texts = [world.online(lifetime=600) for _ in range(codes)]
    for i, text in enumerate(texts):
        cv2.imwrite(str(frames / f"{i:03d}.png"), make_frame(text, 640, 480, rng, "plain"))
    return world, {"root": root, "trust": trust, "catalogue": catalogue, "frames": frames}, texts


def gate_command(files: dict[str, Path], state: Path, *extra: str) -> list[str]:
    return [
        GATE, "--venue", "sh-century-park", "--images", str(files["frames"]), "--root", str(files["root"]),
        "--trust-list", str(files["trust"]), "--catalogue", str(files["catalogue"]), "--state", str(state), "--json",
        *extra,
    ]  # fmt: skip


def test_killed_gate_loses_no_shown_decision_and_a_returning_server_gets_each_once(tmp_path: Path) -> None:
    _world, files, _texts = live_files(tmp_path, codes=12)
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUISHEN_")}
    process = subprocess.Popen(
        gate_command(files, state, "--fps", "4"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout is not None
    shown = [json.loads(process.stdout.readline()) for _ in range(3)]
    process.send_signal(signal.SIGKILL)  # no chance to flush or clean up
    process.wait(10)
    assert [d["result"] for d in shown] == ["GRANTED"] * 3
    outbox = Outbox(state / "outbox.sqlite")
    stored = outbox.all_ids()
    assert {d["id"] for d in shown} <= set(stored)
    assert outbox.counts().pending == len(stored) < 12
    outbox.close()

    port = free_port()  # the server is down: the restarted gate decides the rest and keeps them
    rest = subprocess.run(
        gate_command(files, state, "--server", f"http://127.0.0.1:{port}"),
        capture_output=True, text=True, timeout=60, env={**env, "SUISHEN_GATE_API_KEY": API_KEY},
    )  # fmt: skip
    assert rest.returncode == 0, rest.stderr
    decisions = [json.loads(line) for line in rest.stdout.splitlines()]
    assert len(decisions) == 12
    replayed = [d for d in decisions if d["reason"] == "REPLAYED"]  # the ones decided before the kill
    assert len(replayed) == len(stored) and all(d["result"] == "REJECTED" for d in replayed)
    assert "not refreshed" in rest.stderr and "Traceback" not in rest.stderr

    server = ContractServer(port, API_KEY, {})
    server.start()
    server.drop_answers = 1  # the first batch is stored but its answer lost: the gate must send it again
    try:
        outbox = Outbox(state / "outbox.sqlite")
        clock = Clock(0)
        uploader = Uploader(outbox, ServerClient(server.url, API_KEY, timeout_s=2), batch=5, clock=clock)
        for _ in range(20):
            uploader.step()
            clock.advance(400)  # past any backoff
        every = outbox.all_ids()
        assert outbox.counts().pending == 0 and outbox.counts().sent == len(every) == len(stored) + 12
        assert set(server.events) == set(every)  # each event stored, and stored once
        assert max(server.received.values()) == 2  # the batch whose answer was lost came twice
        outbox.close()
    finally:
        server.stop()


def test_uploads_in_batches_with_bearer_key(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    for i in range(210):
        outbox.add(event(i))
    outbox.add(event(0))  # the same id twice is one event
    server = ContractServer(free_port(), API_KEY, {})
    server.start()
    try:
        sent = Uploader(outbox, ServerClient(server.url, API_KEY), batch=100).drain()
        assert sent == 210 and server.posts == 3 and len(server.events) == 210
        assert server.events[f"{7:032x}"] == event(7)
    finally:
        server.stop()


def test_backoff_grows_while_the_server_is_away_and_resets_after(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.add(event(1))
    port = free_port()
    clock = Clock(100)
    uploader = Uploader(outbox, ServerClient(f"http://127.0.0.1:{port}", API_KEY, timeout_s=1), clock=clock,
                        rng=random.Random(1), max_delay_s=20)  # fmt: skip
    delays = []
    for _ in range(7):
        attempt = uploader.step()
        assert attempt.sent == 0 and attempt.error is not None
        delays.append(uploader.next_attempt - clock())
        assert uploader.step().error == attempt.error and uploader.failures == len(delays)  # not due: no new try
        clock.now = uploader.next_attempt
    for k, delay in enumerate(delays[:5]):
        assert 0.5 * 2**k <= delay <= 2**k
    assert all(delay <= 20 for delay in delays)
    server = ContractServer(port, API_KEY, {})
    server.start()
    try:
        assert uploader.step().sent == 1 and uploader.failures == 0 and len(server.events) == 1
    finally:
        server.stop()


def test_a_refused_device_key_keeps_every_event(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.add(event(1))
    server = ContractServer(free_port(), "another-key", {})
    server.start()
    try:
        attempt = Uploader(outbox, ServerClient(server.url, API_KEY)).step()
        assert attempt.sent == 0 and attempt.error is not None and "device key" in attempt.error
        assert outbox.counts().pending == 1 and server.events == {}
    finally:
        server.stop()


def test_the_command_syncs_documents_and_events_with_a_server(tmp_path: Path) -> None:
    _world, files, _texts = live_files(tmp_path, codes=3)
    routes = {TRUST_LIST.route: files["trust"].read_bytes(), CATALOGUE.route: files["catalogue"].read_bytes()}
    server = ContractServer(free_port(), API_KEY, routes)
    server.start()
    key_file = tmp_path / "api.key"
    key_file.write_text(API_KEY + "\n")
    command = [
        GATE, "--venue", "sh-century-park", "--images", str(files["frames"]), "--root", str(files["root"]),
        "--state", str(tmp_path / "state"), "--server", server.url, "--api-key-file", str(key_file), "--json",
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        decisions = [json.loads(line) for line in result.stdout.splitlines()]
        assert [d["result"] for d in decisions] == ["GRANTED"] * 3  # documents came from the server
        assert "trust list version 1 installed" in result.stderr
        assert wait_for(lambda: len(server.events) == 3)
        assert set(server.events) == {d["id"] for d in decisions}
        assert all("subject" not in e and "code" not in e for e in server.events.values())
    finally:
        server.stop()


def test_a_batch_the_server_calls_malformed_is_kept_aside_and_the_rest_flows(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.add({**event(1), "id": "not-32-hex"})
    server = ContractServer(free_port(), API_KEY, {})
    server.start()
    try:
        uploader = Uploader(outbox, ServerClient(server.url, API_KEY), batch=10)
        attempt = uploader.step()
        assert attempt.sent == 0 and attempt.error is not None and attempt.error.startswith("400")
        outbox.add(event(2))
        assert uploader.step().sent == 1
        assert outbox.counts() == (0, 1, 1) and list(server.events) == [f"{2:032x}"]
    finally:
        server.stop()


def test_a_service_stop_ends_cleanly_with_a_summary(tmp_path: Path) -> None:
    _, files, _ = live_files(tmp_path, codes=6)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUISHEN_")}
    process = subprocess.Popen(gate_command(files, tmp_path / "state", "--fps", "4"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    assert process.stdout is not None
    first = json.loads(process.stdout.readline())
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 0 and "Traceback" not in err
    assert "decision(s)" in err and "outbox:" in err
    outbox = Outbox(tmp_path / "state" / "outbox.sqlite")
    assert first["id"] in outbox.all_ids()
    outbox.close()


def test_the_operator_is_told_once_when_uploads_pause_and_resume(tmp_path: Path) -> None:
    from scanner_client.runner import Settings, Sync, build
    from tests.scanner_client.conftest import PARK

    world, files, _ = live_files(tmp_path, codes=0)
    port = free_port()
    root = world.root_key.public_key()
    seed = {"trust list": files["trust"], "catalogue snapshot": files["catalogue"]}
    parts = build(Settings(PARK, tmp_path / "state", root, server=f"http://127.0.0.1:{port}", api_key=API_KEY,
                           seed=seed))  # type: ignore[arg-type]  # fmt: skip
    assert parts.gate.on_code(world.online(), time.time()) is not None
    sync = Sync(parts, refresh_s=3600)
    sync.tick()
    sync.tick()
    assert len(sync.messages) == 1 and sync.messages[0].startswith("uploads paused")
    assert "1 event(s) kept in the outbox" in sync.messages[0]
    server = ContractServer(port, API_KEY, {})
    server.start()
    try:
        assert parts.uploader is not None
        parts.uploader.next_attempt = 0.0
        sync.tick()
        assert sync.messages[1:] == ["uploads resumed"] and len(server.events) == 1
    finally:
        server.stop()
        parts.outbox.close()
