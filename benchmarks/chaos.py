"""Faults under load: two servers sharing Redis and PostgreSQL, each killed or restarted while load runs.

    make chaos                                   # starts and removes a throwaway PostgreSQL cluster itself
    .venv/bin/python -m benchmarks.chaos [--database-url URL] [--output var/chaos/chaos.json]

Two `suishen serve` processes (A and B) share one redis-server and one PostgreSQL cluster (from
`scripts/ci-postgres.sh`; without --database-url this program makes one and removes it). A steady
load runs against both for `--seconds` (about 75 s) and stops by itself (bounded in time and in
requests, loopback only):

- code pairs: a code is issued (online, or a holder-bound credential with a proof), then presented
  twice, first to one server then to the other, alternating. The second answer must be REPLAYED.
- events: batches of fresh event ids posted to A and B alternately; a batch without an answer is
  posted again (to the other server) until one acknowledges it, and one acknowledged batch in ten
  is posted again on purpose (it must store nothing new).
- a gate (`scanner_client` outbox and uploader, driven directly) writes events to its outbox and
  uploads them to B; three thousand more are added just before B is killed.
- readiness probes of both servers every 0.5 s, as an orchestrator would make them (a probe asks
  Redis itself, so it also closes a server's Redis circuit as soon as Redis answers).

Meanwhile, on a fixed schedule: Redis is killed (SIGKILL) and started again empty after 8 s;
PostgreSQL is stopped (fast shutdown) and started again after 6 s; server B is SIGKILLed and started
again on its port. As soon as B answers, forty online codes accepted in the 4 s before the Redis
kill (still alive) are presented again to B and to A. Then the load stops, unacknowledged batches
and the gate's outbox are drained, and the database is read back.

Counted: answers per route, server and status; decisions made while a server's Redis circuit was
open (its degraded windows: from the Redis kill until that server's first readiness probe that says
"ok" again, and every other opening its log records, such as a timeout with Redis up) and how many
of them the answer flagged; codes accepted twice, inside and outside the degraded windows; the late
presentations accepted again; events acknowledged but missing from the database (lost), rows
counted twice (doubled), and what the servers said they stored against what they did. A table is
printed; the figures go to var/chaos/chaos.json and the two server logs to var/chaos/logs/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from benchmarks import fleet
from benchmarks.fleet import POLICY, ROOT, VENUE, Postgres, Redis, Server, World
from verifier.code import device_proof, holder_code

DEFAULT_OUTPUT = ROOT / "var" / "chaos" / "chaos.json"
PERSONS = 400
MAX_REQUESTS = 40_000
EVENTS_PER_BATCH = 25
GATE_PREFILL = 3000
LATE_CODES = 40  # online codes accepted in the seconds before Redis is killed, presented again after B restarts
REDIS_RETRY_S = 5.0  # the server's default circuit time, stated so the windows below can be read against it

# (seconds after the load starts, action): each action runs in the fault thread, in order.
SCHEDULE: list[tuple[float, str]] = [
    (10.0, "kill redis"), (18.0, "start redis"),
    (30.0, "stop postgresql"), (36.0, "start postgresql"),
    (46.0, "fill the gate's outbox"), (47.0, "kill server B"), (50.0, "start server B"),
]  # fmt: skip


KILL_REDIS_S = next(t for t, a in SCHEDULE if a == "kill redis")
LATE_FROM_S = KILL_REDIS_S - 4.0  # early enough to be many codes, late enough that they live until B is back


def event(venue: str = VENUE) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "venue": venue, "at": time.time(), "result": "GRANTED", "reason": None,
            "policy_id": POLICY, "kind": "online", "issuer": "CN-SH", "degraded": False, "repeat": False}  # fmt: skip


@dataclass
class Presentation:
    """One verify request of a code pair: where, when, and what came back."""

    server: str
    started: float
    ended: float
    status: str
    result: str | None = None
    reason: str | None = None
    flagged: bool = False  # the answer said it was decided without the shared replay cache


@dataclass
class Record:
    """Everything the load saw, shared by the coroutines and the threads (appends and counters only)."""

    t0: float
    t0_wall: float = field(default_factory=time.time)  # the same moment on the clock the server logs use
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    pairs: list[tuple[str, list[Presentation]]] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    posted: set[str] = field(default_factory=set)  # every event id sent at least once
    acked: set[str] = field(default_factory=set)  # ids in a batch some server answered 200 to
    stored_reported: int = 0
    reposts: int = 0
    reposts_stored_again: int = 0
    probes: dict[str, list[tuple[float, str]]] = field(default_factory=lambda: defaultdict(list))
    actions: list[tuple[float, str]] = field(default_factory=list)
    requests: int = 0
    late_candidates: list[tuple[str, str]] = field(default_factory=list)  # (kind, code) accepted just before
    late: list[dict[str, Any]] = field(default_factory=list)  # ... presented again after the restarts

    def now(self) -> float:
        return time.monotonic() - self.t0

    def count(self, route: str, server: str, status: str, body: str = "") -> None:
        self.requests += 1
        self.statuses[f"{route} @{server}"][status] += 1
        documented = status == "503" and "database_unavailable" in body
        if status.startswith("5") and not documented and len(self.server_errors) < 30:
            self.server_errors.append(f"t={self.now():.1f} {route} @{server} {status}: {body[:400]}")


class Load:
    """The steady load: code pairs and event batches over one keep-alive client per server."""

    def __init__(self, record: Record, clients: dict[str, httpx.AsyncClient], gate_key: str, tokens: list[str],
                 stop_at: float) -> None:  # fmt: skip
        self.record = record
        self.clients = clients
        self.gate = {"Authorization": f"Bearer {gate_key}"}
        self.tokens = tokens
        self.stop_at = stop_at
        self.rng = random.Random(12)

    def running(self) -> bool:
        return self.record.now() < self.stop_at and self.record.requests < MAX_REQUESTS

    async def call(self, server: str, route: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        try:
            answer = await self.clients[server].request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.record.count(route, server, type(exc).__name__)
            return None
        self.record.count(route, server, str(answer.status_code), answer.text if answer.status_code >= 500 else "")
        return answer

    async def present(self, server: str, route: str, code: str) -> Presentation:
        started = self.record.now()
        answer = await self.call(server, route, "POST", "/v1/verify", json={"code": code, "venue": VENUE},
                                 headers=self.gate)  # fmt: skip
        status = "no answer" if answer is None else str(answer.status_code)
        seen = Presentation(server, started, self.record.now(), status)
        if answer is not None and answer.status_code == 200:
            body = answer.json()
            seen.result, seen.reason = body.get("result"), body.get("reason")
            seen.flagged = bool(body.get("degraded") or (body.get("decision") or {}).get("degraded"))
        return seen

    async def pair(self, index: int) -> None:
        """Issue a code at one server, present it there and then at the other."""
        first, second = ("A", "B") if index % 2 == 0 else ("B", "A")
        citizen = {"Authorization": f"Bearer {self.rng.choice(self.tokens)}"}
        if index % 5 == 4:
            kind = "holder"
            key = ec.generate_private_key(ec.SECP256R1())
            made = await self.call(first, "POST /v1/credentials", "POST", "/v1/credentials",
                                   json=fleet.credential_request(key, int(time.time())), headers=citizen)  # fmt: skip
            if made is None or made.status_code != 200:
                return
            credential = fleet.unb64url(made.json()["credential"])
            code = holder_code(credential, device_proof(credential, key, time.time()))
        else:
            kind = "online"
            issued = await self.call(first, "POST /v1/codes", "POST", "/v1/codes", headers=citizen)
            if issued is None or issued.status_code != 200:
                return
            code = issued.json()["text"]
        route = f"POST /v1/verify ({kind})"
        presented = [await self.present(first, route, code), await self.present(second, route, code)]
        self.record.pairs.append((kind, presented))
        just_before_the_kill = LATE_FROM_S <= presented[0].started < KILL_REDIS_S - 0.2
        wanted = len(self.record.late_candidates) < LATE_CODES and kind == "online"
        if just_before_the_kill and wanted and presented[0].result == "VALID":
            self.record.late_candidates.append((kind, code))

    async def pairs(self, worker: int, workers: int, per_second: float) -> None:
        index, next_at = worker, self.record.now()
        while self.running():
            await asyncio.sleep(max(0.0, next_at - self.record.now()))
            await self.pair(index)
            index += workers
            next_at += workers / per_second

    async def events(self, worker: int, per_second: float) -> None:
        """Fresh batches, alternately to A and B; unanswered ones again until acknowledged; some reposted."""
        waiting: list[list[dict[str, Any]]] = []
        turn, next_at = worker, self.record.now()
        while self.running() or (waiting and self.record.now() < self.stop_at + 60):
            await asyncio.sleep(max(0.0, next_at - self.record.now()))
            next_at += 1 / per_second
            turn += 1
            server = "AB"[turn % 2]
            batch = waiting.pop(0) if waiting else None
            fresh = batch is None
            if batch is None:
                if not self.running():
                    continue
                batch = [event() for _ in range(EVENTS_PER_BATCH)]
                self.record.posted.update(e["id"] for e in batch)
            answer = await self.call(server, "POST /v1/events", "POST", "/v1/events", json={"events": batch},
                                     headers=self.gate)  # fmt: skip
            if answer is None or answer.status_code != 200:
                waiting.append(batch)
                continue
            self.record.acked.update(e["id"] for e in batch)
            self.record.stored_reported += int(answer.json().get("stored", 0))
            if fresh and self.rng.random() < 0.1:  # the same batch again, to the other server: nothing new
                again = await self.call("AB"[(turn + 1) % 2], "POST /v1/events (repost)", "POST", "/v1/events",
                                        json={"events": batch}, headers=self.gate)  # fmt: skip
                if again is not None and again.status_code == 200:
                    self.record.reposts += 1
                    self.record.reposts_stored_again += int(again.json().get("stored", 0))

    async def probe(self, server: str) -> None:
        while self.record.now() < self.stop_at + 5:
            try:
                answer = await self.clients[server].get("/readyz", timeout=2)
                known = answer.status_code in (200, 503)
                status = str(answer.json().get("status")) if known else str(answer.status_code)
            except (httpx.HTTPError, ValueError) as exc:
                status = f"down ({type(exc).__name__})"
            self.record.probes[server].append((self.record.now(), status))
            await asyncio.sleep(0.5)


class Gate:
    """A gate's outbox and uploader (scanner_client), driven directly in a thread, uploading to one server."""

    def __init__(self, folder: Path, url: str, api_key: str, record: Record) -> None:
        from scanner_client.outbox import Outbox
        from scanner_client.server import ServerClient
        from scanner_client.uploader import Uploader

        self.outbox = Outbox(folder / "outbox.sqlite")
        self.uploader = Uploader(self.outbox, ServerClient(url, api_key, timeout_s=5), batch=200,
                                 base_delay_s=0.5, max_delay_s=4.0)  # fmt: skip
        self.record = record
        self.written = 0
        self.sent = 0
        self.failures = 0
        self.errors: Counter[str] = Counter()
        self.stop = threading.Event()
        self.fill = threading.Event()
        self.thread = threading.Thread(target=self.run, name="chaos-gate", daemon=True)

    def add(self, count: int) -> None:
        for _ in range(count):
            self.outbox.add(event())
        self.written += count

    def step(self) -> None:
        before = self.uploader.failures
        attempt = self.uploader.step()
        self.sent += attempt.sent
        if self.uploader.failures > before and attempt.error is not None:
            self.failures += 1
            self.errors[re.sub(r"\d+", "N", attempt.error)[:80]] += 1

    def run(self) -> None:
        """20 decisions a second into the outbox, one upload step every 0.1 s, until stopped."""
        while not self.stop.is_set():
            if self.fill.is_set():
                self.fill.clear()
                self.add(GATE_PREFILL)
            self.add(2)
            self.step()
            self.stop.wait(0.1)

    def drain(self, deadline_s: float) -> None:
        deadline = time.monotonic() + deadline_s
        while self.outbox.counts().pending and time.monotonic() < deadline:
            self.step()
            time.sleep(0.05)


def faults(record: Record, redis: Redis, postgres: Postgres, servers: dict[str, Server], gate: Gate,
           device_key: str) -> None:  # fmt: skip
    """The schedule, in this thread: each action at its time, its actual time recorded."""
    for at, action in SCHEDULE:
        time.sleep(max(0.0, at - record.now()))
        record.actions.append((record.now(), action))
        if action == "kill redis":
            redis.kill()
        elif action == "start redis":
            redis.start()
        elif action == "stop postgresql":
            postgres.stop("fast")
        elif action == "start postgresql":
            postgres.start()
        elif action == "fill the gate's outbox":
            gate.fill.set()
        elif action == "kill server B":
            record.actions.append((record.now(), f"the gate's outbox holds {gate.outbox.counts().pending} pending"))
            servers["B"].kill()
        elif action == "start server B":
            servers["B"].start()
            servers["B"].wait_up()
            record.actions.append((record.now(), "server B answers /healthz"))
            present_late(record, servers, device_key)
        record.actions.append((record.now(), f"{action}: done"))


def present_late(record: Record, servers: dict[str, Server], device_key: str) -> None:
    """Codes accepted (and refused once as replays) before Redis died, presented again to B and A.

    Redis came back empty and B lost its memory when it was killed, so nothing B can see remembers
    them; A still does. Neither server is degraded by now: an acceptance here is a replay outside
    any degraded window.
    """
    headers = {"Authorization": f"Bearer {device_key}"}
    clients = {name: httpx.Client(base_url=servers[name].url, headers=headers, timeout=5) for name in ("B", "A")}
    for kind, code in record.late_candidates:
        answers: dict[str, Any] = {"kind": kind, "at": round(record.now(), 2)}
        for name, client in clients.items():
            try:
                reply = client.post("/v1/verify", json={"code": code, "venue": VENUE})
                body = reply.json() if reply.status_code == 200 else {}
                answers[name] = f"{body.get('result', reply.status_code)} {body.get('reason') or ''}".strip()
            except httpx.HTTPError as exc:
                answers[name] = type(exc).__name__
        record.late.append(answers)
    for client in clients.values():
        client.close()
    record.actions.append((record.now(), f"{len(record.late)} codes from before the Redis kill presented again"))


Window = tuple[float, float]


def degraded_windows(record: Record, logs: dict[str, Path]) -> dict[str, list[Window]]:
    """Per server, when its Redis circuit was open: the outage, and every other time its log says so.

    The outage: from the Redis kill to the server's first readiness probe saying "ok" after Redis
    started again. The log (`suishen.redis`): from each "redis unreachable" line (the circuit opens,
    also on a timeout with Redis up) to the next "redis reachable again" line.
    """
    killed = next(t for t, a in record.actions if a == "kill redis")
    started = next(t for t, a in record.actions if a == "start redis: done")
    windows: dict[str, list[Window]] = {}
    for server, probes in record.probes.items():
        back = next((t for t, s in probes if t >= started and s == "ok"), record.now())
        windows[server] = merged([(killed, back), *circuit_windows(logs[server], record)])
    return windows


def merged(windows: list[Window]) -> list[Window]:
    out: list[Window] = []
    for start, end in sorted(windows):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def during_outage(p: Presentation, record: Record, windows: list[Window]) -> bool:
    """Inside the window that holds the Redis kill (the rest opened with Redis up: timeouts)."""
    killed = next(t for t, a in record.actions if a == "kill redis")
    return any(p.started <= end and p.ended >= start for start, end in windows if start <= killed <= end)


def circuit_windows(log: Path, record: Record) -> list[Window]:
    opened: float | None = None
    found: list[Window] = []
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("logger") != "suishen.redis":
            continue
        at = float(entry["at"]) - record.t0_wall
        if str(entry.get("message", "")).startswith("redis unreachable") and opened is None:
            opened = at
        elif str(entry.get("message", "")).startswith("redis reachable again") and opened is not None:
            found.append((opened, at))
            opened = None
    if opened is not None:
        found.append((opened, record.now()))
    return found


def overlaps(p: Presentation, windows: list[Window]) -> bool:
    return any(p.started <= end and p.ended >= start for start, end in windows)


def judge_pairs(record: Record, windows: dict[str, list[Window]]) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    accepted_twice: list[dict[str, Any]] = []
    degraded = flagged_degraded = flagged = 0
    for kind, presented in record.pairs:
        first, second = presented
        outcomes[f"{kind}: {first.result or first.status} {first.reason or ''} / "
                 f"{second.result or second.status} {second.reason or ''}".replace("  ", " ")] += 1  # fmt: skip
        for p in presented:
            if p.result is None:
                continue
            flagged += p.flagged
            if overlaps(p, windows.get(p.server, [])):
                degraded += 1
                flagged_degraded += p.flagged
        if first.result == second.result == "VALID":
            inside = any(overlaps(p, windows.get(p.server, [])) for p in presented)
            when = [[p.server, round(p.started, 2), round(p.ended, 2)] for p in presented]
            outage = any(during_outage(p, record, windows.get(p.server, [])) for p in presented)
            accepted_twice.append({"kind": kind, "inside_degraded_window": inside, "redis_down": outage,
                                   "flagged": [p.flagged for p in presented], "presented": when})  # fmt: skip
    outside = [a for a in accepted_twice if not a["inside_degraded_window"]]
    redis_up = [a for a in accepted_twice if a["inside_degraded_window"] and not a["redis_down"]]
    return {
        "pairs": len(record.pairs), "outcomes": dict(outcomes.most_common()),
        "decisions_in_degraded_windows": degraded, "of_which_flagged_degraded": flagged_degraded,
        "answers_flagged_degraded": flagged,
        "accepted_twice": len(accepted_twice), "accepted_twice_inside_window": len(accepted_twice) - len(outside),
        "accepted_twice_outside_window": len(outside),
        "accepted_twice_redis_down": sum(1 for a in accepted_twice if a["redis_down"]),
        "accepted_twice_redis_up": len(redis_up),
        "accepted_twice_flagged": sum(1 for a in accepted_twice if any(a["flagged"])),
        "accepted_twice_outside_detail": outside,
        "accepted_twice_redis_up_detail": redis_up[:40],
    }  # fmt: skip


def rows_for(database_url: str, ids: set[str]) -> tuple[int, int]:
    """Rows in the events table with these ids, and how many distinct ids among them."""
    from sqlalchemy import func, select

    from app.db.engine import open_database
    from app.db.schema import events

    engine = open_database(database_url)
    rows = distinct = 0
    chunk = sorted(ids)
    try:
        with engine.connect() as db:
            for i in range(0, len(chunk), 5000):
                part = chunk[i : i + 5000]
                query = select(func.count(), func.count(events.c.id.distinct())).where(events.c.id.in_(part))
                n, d = db.execute(query).one()
                rows, distinct = rows + int(n), distinct + int(d)
    finally:
        engine.dispose()
    return rows, distinct


def openings(log: Path) -> dict[str, int]:
    """Why a server's Redis circuit opened, by the error its log names (ConnectionError, TimeoutError, ...)."""
    found: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        if '"suishen.redis"' in line and "redis unreachable" in line:
            with contextlib.suppress(ValueError, KeyError):
                found[str(json.loads(line)["message"]).rsplit(": ", 1)[-1]] += 1
    return dict(found.most_common())


def tracebacks(log: Path) -> list[str]:
    """The last line of each traceback in a server log: the exception, without the frames."""
    found, lines = [], log.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            tail = next((x for x in lines[i + 1 :] if x and not x.startswith((" ", "Traceback"))), "?")
            found.append(tail[:200])
    return found


@contextlib.contextmanager
def cluster(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    with fleet.throwaway_postgres() as made:
        yield made


def run(database_url: str, folder: Path, seconds: float, keep_logs: Path) -> dict[str, Any]:
    postgres = Postgres(database_url)
    print(f"building a world ({PERSONS} persons, one matching run into PostgreSQL) in {folder} ...", flush=True)
    world = World(folder / "world", database_url, PERSONS)
    tokens = World.tokens(world.seniors())
    redis = Redis(folder / "redis")
    redis.start()
    retry = {"SUISHEN_REDIS_RETRY_S": str(REDIS_RETRY_S)}
    servers = {name: Server(name, world, folder, REDIS_URL=redis.url, **retry) for name in "AB"}
    try:
        for server in servers.values():
            server.start()
        for server in servers.values():
            server.wait_up()
        load_key = fleet.make_device(servers["A"].url, "gate", VENUE)
        gate_key = fleet.make_device(servers["A"].url, "gate", VENUE)
        print(f"servers A {servers['A'].url}, B {servers['B'].url}; redis {redis.url}; {database_url}", flush=True)
        record = Record(time.monotonic())
        gate = Gate(folder / "gate", servers["B"].url, gate_key, record)
        chaos = (record, redis, postgres, servers, gate, load_key)
        fault_thread = threading.Thread(target=faults, args=chaos, daemon=True)

        async def drive() -> None:
            limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
            async with httpx.AsyncClient(base_url=servers["A"].url, timeout=5, limits=limits) as a, \
                    httpx.AsyncClient(base_url=servers["B"].url, timeout=5, limits=limits) as b:  # fmt: skip
                load = Load(record, {"A": a, "B": b}, load_key, tokens, seconds)
                tasks = [load.pairs(w, 4, 16.0) for w in range(4)] + [load.events(w, 3.0) for w in range(2)]
                tasks += [load.probe("A"), load.probe("B")]
                await asyncio.gather(*tasks)

        gate.thread.start()
        fault_thread.start()
        print(f"load for {seconds:.0f} s; faults at {', '.join(f'{t:.0f} s {a}' for t, a in SCHEDULE)}", flush=True)
        asyncio.run(drive())
        fault_thread.join(120)
        gate.stop.set()
        gate.thread.join(30)
        record.actions.append((record.now(), "load stopped; draining the gate"))
        gate.drain(60)
        record.actions.append((record.now(), "gate drained"))
        windows = degraded_windows(record, {name: s.log_path for name, s in servers.items()})
        gate_ids = set(gate.outbox.all_ids())
        gate_counts = gate.outbox.counts()
        gate.outbox.close()
        rows, distinct = rows_for(database_url, record.posted)
        acked_rows, acked_distinct = rows_for(database_url, record.acked)
        gate_rows, gate_distinct = rows_for(database_url, gate_ids)
    finally:
        for server in servers.values():
            server.stop()
        redis.stop()
        keep_logs.mkdir(parents=True, exist_ok=True)
        for name, server in servers.items():
            shutil.copyfile(server.log_path, keep_logs / f"server-{name}.log")
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "cores": os.cpu_count(), "seconds": seconds,
        "actions": [[round(t, 2), a] for t, a in record.actions],
        "readiness": {s: transitions(p) for s, p in record.probes.items()},
        "degraded_windows": {s: [[round(a, 2), round(b, 2)] for a, b in w] for s, w in windows.items()},
        "circuit_openings": {name: openings(s.log_path) for name, s in servers.items()},
        "requests": record.requests,
        "statuses": {k: dict(v.most_common()) for k, v in sorted(record.statuses.items())},
        "verify": judge_pairs(record, windows),
        "events": {
            "posted": len(record.posted), "acknowledged": len(record.acked),
            "never_acknowledged": len(record.posted - record.acked),
            "rows": rows, "distinct_rows": distinct, "lost": len(record.acked) - acked_distinct,
            "doubled": rows - distinct, "stored_reported": record.stored_reported,
            "over_reported": record.stored_reported - distinct,
            "reposts": record.reposts, "reposts_stored_again": record.reposts_stored_again,
            "acknowledged_rows": acked_rows,
        },
        "gate": {
            "written": len(gate_ids), "pending": gate_counts.pending, "sent": gate_counts.sent,
            "refused": gate_counts.refused, "rows": gate_rows, "lost": len(gate_ids) - gate_distinct,
            "doubled": gate_rows - gate_distinct, "failed_attempts": gate.failures, "errors": dict(gate.errors),
        },
        "late_replays": {
            "presented": len(record.late),
            "outcomes": dict(Counter(f"B: {x['B']} / A: {x['A']}" for x in record.late).most_common()),
            "accepted_again": sum(1 for x in record.late if "VALID" in (x["A"], x["B"])),
        },
        "unexpected_5xx": record.server_errors,
        "tracebacks": {name: tracebacks(s.log_path) for name, s in servers.items()},
        "server_starts": {name: s.starts for name, s in servers.items()},
    }  # fmt: skip


def transitions(probes: list[tuple[float, str]]) -> list[list[Any]]:
    """The readiness of one server as changes only: [time, status]."""
    changes: list[list[Any]] = []
    for t, status in probes:
        if not changes or changes[-1][1] != status:
            changes.append([round(t, 2), status])
    return changes


def report(result: dict[str, Any]) -> None:
    print("\nfaults (s after the load started):")
    for t, action in result["actions"]:
        print(f"  {t:7.2f}  {action}")
    print("readiness changes:")
    for server, changes in result["readiness"].items():
        print(f"  {server}: " + ", ".join(f"{t:.1f} {s}" for t, s in changes))
    for server, windows in result["degraded_windows"].items():
        print(f"degraded windows of {server}: " + ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in windows))
    for server, why in result["circuit_openings"].items():
        print(f"Redis circuit of {server} opened: " + ", ".join(f"{n} x {k}" for k, n in why.items()))
    print(f"\nanswers by route and server ({result['requests']} requests):")
    for route, statuses in result["statuses"].items():
        print(f"  {route:<38} " + ", ".join(f"{k}: {n}" for k, n in statuses.items()))
    v, e, g = result["verify"], result["events"], result["gate"]
    print(f"\ncode pairs: {v['pairs']} (each code presented to both servers, alternating which first)")
    for outcome, n in v["outcomes"].items():
        print(f"  {n:>6}  {outcome}")
    rows = [
        ("decisions in degraded windows", v["decisions_in_degraded_windows"], ""),
        ("  of which the answer flagged degraded", v["of_which_flagged_degraded"], ""),
        ("codes accepted twice", v["accepted_twice"], ""),
        ("  inside a degraded window", v["accepted_twice_inside_window"], ""),
        ("    while Redis was down (the kill)", v["accepted_twice_redis_down"], ""),
        ("    while Redis was up (circuit opened on a timeout)", v["accepted_twice_redis_up"], ""),
        ("  outside any degraded window", v["accepted_twice_outside_window"], "target 0"),
        ("  flagged degraded", v["accepted_twice_flagged"], "target: all"),
        ("late replays accepted again (after the restarts)", result["late_replays"]["accepted_again"], "target 0"),
        ("events posted (distinct ids)", e["posted"], ""),
        ("  acknowledged", e["acknowledged"], ""),
        ("  never acknowledged", e["never_acknowledged"], "target 0"),
        ("  lost (acknowledged, no row)", e["lost"], "target 0"),
        ("  doubled (rows - distinct ids)", e["doubled"], "target 0"),
        ("  stored as reported - rows", e["over_reported"], "target 0"),
        ("  reposted batches / stored again", f"{e['reposts']} / {e['reposts_stored_again']}", "target 0 again"),
        ("gate outbox events", g["written"], ""),
        ("  sent / pending / refused", f"{g['sent']} / {g['pending']} / {g['refused']}", "pending 0"),
        ("  lost / doubled", f"{g['lost']} / {g['doubled']}", "target 0 / 0"),
        ("  failed upload attempts", g["failed_attempts"], ""),
        ("unexpected 5xx (not 503 database_unavailable)", len(result["unexpected_5xx"]), "target 0"),
        ("tracebacks in server logs", sum(len(t) for t in result["tracebacks"].values()), "target 0"),
    ]
    print()
    for name, value, note in rows:
        print(f"  {name:<48} {value!s:>14}  {note}")
    for outcome, n in result["late_replays"]["outcomes"].items():
        print(f"  late replays: {n} x {outcome}")
    for line in result["unexpected_5xx"][:5]:
        print(f"  5xx: {line}")
    for server, found in result["tracebacks"].items():
        for line, n in Counter(found).most_common(5):
            print(f"  traceback in {server} x{n}: {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="A cluster of scripts/ci-postgres.sh (default: make one for this run).")
    parser.add_argument("--seconds", type=float, default=75.0, help="Length of the load (the schedule needs 60).")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    with cluster(args.database_url) as url, tempfile.TemporaryDirectory(prefix="suishen-chaos-") as tmp:
        result = run(url, Path(tmp), max(args.seconds, 60.0), args.output.parent / "logs")
    report(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
