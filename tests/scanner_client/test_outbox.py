"""The outbox: durable before shown, survives SIGKILL, reaches a server that comes back exactly once.

Against the real server (`app.api.server:create_app` under uvicorn, one per module) with a fault
proxy in front of it (tests/fault_proxy.py) for what a real server does not do on request: be
down and come back on the same address, lose an answer after storing the batch, answer later
than the gate waits. Each test registers its own gate device for the park and counts on the
server what that device stored (its rows in the events table) and how many events came twice
(the `duplicate` count of /metrics), so "none lost, none doubled" is checked where it counts.
Events name a published policy of the server's catalogue and the device's venue, as the real
server requires (422 `unknown_policy`, 403 `wrong_venue` otherwise). Every case the stand-in
server used to make is made this way; none needed a fake server.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from keys.storage import read_public_key
from scanner_client.outbox import Outbox
from scanner_client.server import ServerClient
from scanner_client.uploader import Uploader
from tests.support.fault_proxy import FaultProxy
from tests.support.gates import PARK, Clock, RealServer, live_files, wait_for, write_frames

GATE = str(Path(sys.executable).parent / "suishen-gate")
POLICY = "sh-park-senior-free"  # published in data/catalogue, which the real server serves
DUPLICATES = 'suishen_gate_events_total{outcome="duplicate"}'


@dataclass
class Device:
    """A gate registered at the real server for the park; `run` makes this test's event ids its own."""

    id: str
    key: str
    run: str
    server: RealServer
    duplicates_before: float

    def event_id(self, i: int) -> str:
        return f"{self.run}{i:016x}"

    def event(self, i: int) -> dict[str, object]:
        return {"id": self.event_id(i), "venue": PARK.id, "at": 1.8e9 + i, "result": "GRANTED",
                "reason": None, "policy_id": POLICY, "kind": "online", "issuer": "CN-SH", "degraded": False,
                "repeat": False}  # fmt: skip

    def stored(self) -> dict[str, dict[str, object]]:
        """What the server's database holds from this device, by event id."""
        return self.server.events_from(self.id)

    def duplicates(self) -> int:
        """Events sent again since this device was registered, as the server counts them (one process)."""
        return int(self.server.metric(DUPLICATES) - self.duplicates_before)


@pytest.fixture
def device(server: RealServer) -> Device:
    device_id, key = server.gate_device(PARK.id)
    return Device(device_id, key, os.urandom(8).hex(), server, server.metric(DUPLICATES))


@pytest.fixture
def proxy(server: RealServer) -> Iterator[FaultProxy]:
    """A fault proxy in front of the module's real server, forwarding until a test makes a fault."""
    fault = FaultProxy(server.port)
    fault.accept()
    yield fault
    fault.refuse()


def gate_command(files: dict[str, Path], state: Path, *extra: str) -> list[str]:
    return [
        GATE, "--venue", PARK.id, "--images", str(files["frames"]), "--root", str(files["root"]),
        "--trust-list", str(files["trust"]), "--catalogue", str(files["catalogue"]), "--revocations",
        str(files["revocations"]), "--state", str(state), "--json", *extra,
    ]  # fmt: skip


def plain_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SUISHEN_")}


def test_killed_gate_loses_no_shown_decision_and_a_returning_server_gets_each_once(
    server: RealServer, proxy: FaultProxy, device: Device, tmp_path: Path
) -> None:
    files = server.document_files(tmp_path)
    files["frames"] = write_frames(tmp_path / "frames", server.codes(12))
    state = tmp_path / "state"
    process = subprocess.Popen(gate_command(files, state, "--fps", "4"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=plain_env())  # fmt: skip
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

    proxy.refuse()  # the server is down: the restarted gate decides the rest and keeps them
    rest = subprocess.run(gate_command(files, state, "--server", proxy.url), capture_output=True, text=True,
                          timeout=60, env={**plain_env(), "SUISHEN_GATE_API_KEY": device.key})  # fmt: skip
    assert rest.returncode == 0, rest.stderr
    decisions = [json.loads(line) for line in rest.stdout.splitlines()]
    assert len(decisions) == 12
    replayed = [d for d in decisions if d["reason"] == "REPLAYED"]  # the ones decided before the kill
    assert len(replayed) == len(stored) and all(d["result"] == "REJECTED" for d in replayed)
    assert "not refreshed" in rest.stderr and "Traceback" not in rest.stderr
    assert device.stored() == {}

    proxy.accept()  # back on the same address
    proxy.drop_responses = 1  # the first batch is stored but its answer lost: the gate must send it again
    outbox = Outbox(state / "outbox.sqlite")
    clock = Clock(0)
    uploader = Uploader(outbox, ServerClient(proxy.url, device.key, timeout_s=2), batch=5, clock=clock)
    for _ in range(20):
        uploader.step()
        clock.advance(400)  # past any backoff
    every = outbox.all_ids()
    assert outbox.counts().pending == 0 and outbox.counts().sent == len(every) == len(stored) + 12
    assert proxy.dropped == 1
    assert set(device.stored()) == set(every)  # each event stored, none lost (and the id is unique there)
    assert device.duplicates() == 5  # the lost batch of 5 came twice, and nothing else did
    outbox.close()


def test_uploads_in_batches_with_bearer_key(proxy: FaultProxy, device: Device, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    for i in range(210):
        outbox.add(device.event(i))
    outbox.add(device.event(0))  # the same id twice is one event
    sent = Uploader(outbox, ServerClient(proxy.url, device.key), batch=100).drain()
    stored = device.stored()
    assert sent == 210 and proxy.answers == 3 and len(stored) == 210 and device.duplicates() == 0
    assert stored[device.event_id(7)] == device.event(7)  # stored as the gate sent it
    outbox.close()


def test_an_answer_slower_than_the_gate_waits_is_sent_again_and_stored_once(
    proxy: FaultProxy, device: Device, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    for i in range(3):
        outbox.add(device.event(i))
    clock = Clock(0)
    uploader = Uploader(outbox, ServerClient(proxy.url, device.key, timeout_s=0.3), clock=clock)
    proxy.delay_s = 1.0
    late = uploader.step()
    assert late.sent == 0 and late.error is not None and "Timeout" in late.error
    assert wait_for(lambda: proxy.answers == 1)  # the server did answer, after the gate stopped waiting
    assert len(device.stored()) == 3 and outbox.counts().pending == 3
    proxy.delay_s = 0.0
    clock.advance(10)
    assert uploader.step().sent == 3 and outbox.counts().sent == 3
    assert len(device.stored()) == 3 and device.duplicates() == 3
    outbox.close()


def test_backoff_grows_while_the_server_is_away_and_resets_after(
    proxy: FaultProxy, device: Device, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.add(device.event(1))
    proxy.refuse()
    clock = Clock(100)
    uploader = Uploader(outbox, ServerClient(proxy.url, device.key, timeout_s=1), clock=clock,
                        rng=random.Random(1), max_delay_s=20)  # fmt: skip
    delays = []
    for _ in range(7):
        attempt = uploader.step()
        assert attempt.sent == 0 and attempt.error is not None and "ConnectError" in attempt.error
        delays.append(uploader.next_attempt - clock())
        assert uploader.step().error == attempt.error and uploader.failures == len(delays)  # not due: no new try
        clock.now = uploader.next_attempt
    for k, delay in enumerate(delays[:5]):
        assert 0.5 * 2**k <= delay <= 2**k
    assert all(delay <= 20 for delay in delays)
    assert proxy.answers == 0
    proxy.accept()
    assert uploader.step().sent == 1 and uploader.failures == 0
    assert list(device.stored()) == [device.event_id(1)]
    outbox.close()


def test_a_refused_device_key_keeps_every_event(server: RealServer, proxy: FaultProxy, device: Device,
                                                tmp_path: Path) -> None:  # fmt: skip
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.add(device.event(1))
    unknown = Uploader(outbox, ServerClient(proxy.url, "sk_not-a-key-this-server-made-" + "0" * 16)).step()
    assert unknown.sent == 0 and unknown.error is not None and "device key" in unknown.error
    assert "401" in unknown.error
    _museum_id, museum_key = server.gate_device("sh-museum")  # a real key, but for another venue
    elsewhere = Uploader(outbox, ServerClient(proxy.url, museum_key)).step()
    assert elsewhere.sent == 0 and elsewhere.error is not None
    assert "refused this gate's venue (403: wrong_venue" in elsewhere.error
    assert outbox.counts().pending == 1 and proxy.answers == 2  # both answered; the event waits for a good key
    assert device.event_id(1) not in {row[0] for row in server.stored_events()}
    outbox.close()


def test_the_command_syncs_documents_and_events_with_a_server(
    server: RealServer, proxy: FaultProxy, device: Device, tmp_path: Path
) -> None:
    codes = server.codes(3)
    frames = write_frames(tmp_path / "frames", codes)
    key_file = tmp_path / "api.key"
    key_file.write_text(device.key + "\n")
    command = [
        GATE, "--venue", PARK.id, "--images", str(frames), "--root", str(server.root_public),
        "--state", str(tmp_path / "state"), "--server", proxy.url, "--api-key-file", str(key_file), "--json",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=plain_env())
    assert result.returncode == 0, result.stderr
    decisions = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["result"] for d in decisions] == ["GRANTED"] * 3  # documents came from the server
    assert "trust list version" in result.stderr and "catalogue snapshot version" in result.stderr
    assert wait_for(lambda: len(device.stored()) == 3)
    assert set(device.stored()) == {d["id"] for d in decisions} and device.duplicates() == 0
    wire = proxy.sent  # what the gate told the server: decisions, never who or which code
    assert b"POST /v1/events" in wire and b'"subject"' not in wire and b'"code"' not in wire
    assert not any(code[4:40].encode() in wire for code in codes)


def test_a_batch_the_server_calls_malformed_is_kept_aside_and_the_rest_flows(
    proxy: FaultProxy, device: Device, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    uploader = Uploader(outbox, ServerClient(proxy.url, device.key), batch=10)
    outbox.add({**device.event(1), "id": "not-32-hex"})
    malformed = uploader.step()
    assert malformed.sent == 0 and malformed.error is not None and malformed.error.startswith("422: invalid_request")
    outbox.add({**device.event(2), "policy_id": "p"})  # a policy the server never published
    unknown = uploader.step()
    assert unknown.sent == 0 and unknown.error is not None and unknown.error.startswith("422: unknown_policy")
    outbox.add(device.event(3))
    assert uploader.step().sent == 1
    assert outbox.counts() == (0, 1, 2) and list(device.stored()) == [device.event_id(3)]
    outbox.close()


def test_a_service_stop_ends_cleanly_with_a_summary(tmp_path: Path) -> None:
    _, files, _ = live_files(tmp_path, codes=6)
    process = subprocess.Popen(gate_command(files, tmp_path / "state", "--fps", "4"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=plain_env())  # fmt: skip
    assert process.stdout is not None
    first = json.loads(process.stdout.readline())
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 0 and "Traceback" not in err
    assert "decision(s)" in err and "outbox:" in err
    outbox = Outbox(tmp_path / "state" / "outbox.sqlite")
    assert first["id"] in outbox.all_ids()
    outbox.close()


def test_the_operator_is_told_once_when_uploads_pause_and_resume(
    server: RealServer, proxy: FaultProxy, device: Device, tmp_path: Path
) -> None:
    from scanner_client.runner import Settings, Sync, build

    files = server.document_files(tmp_path)
    seed = {"trust list": files["trust"], "catalogue snapshot": files["catalogue"],
            "revocation list": files["revocations"]}  # fmt: skip
    proxy.refuse()
    root = read_public_key(server.root_public)
    parts = build(Settings(PARK, tmp_path / "state", root, server=proxy.url, api_key=device.key, seed=seed))  # type: ignore[arg-type]
    try:
        decision = parts.gate.on_code(server.codes(1)[0], time.time())
        assert decision is not None and decision.result == "GRANTED"
        sync = Sync(parts, refresh_s=3600)
        sync.tick()
        sync.tick()
        assert len(sync.messages) == 1 and sync.messages[0].startswith("uploads paused")
        assert "1 event(s) kept in the outbox" in sync.messages[0]
        proxy.accept()
        assert parts.uploader is not None
        parts.uploader.next_attempt = 0.0
        sync.tick()
        assert sync.messages[1:] == ["uploads resumed"] and list(device.stored()) == [decision.id]
    finally:
        parts.outbox.close()
