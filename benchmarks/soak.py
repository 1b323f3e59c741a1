"""A soak: minutes of mixed load on one `suishen serve`, its memory and open files sampled each minute.

    .venv/bin/python -m benchmarks.soak [--seconds 600] [--rate 80] [--output var/soak/soak.json]

One server (SQLite, a real redis-server for replay cache and limits) over a fresh world (dev keys,
synthetic registries, one matching run). Load comes from this process, paced at `--rate` requests
a second (bounded: it stops after `--seconds`): codes issued and verified (a quarter presented
again, as replays), PNG codes, holder-bound credentials and their codes, gate events, a citizen's
entitlements, admin stats, disclosure, readiness and metrics. The server's resident memory
(/proc/PID/status VmRSS), open file descriptors (/proc/PID/fd) and threads are sampled at the
start and every `--sample-seconds`. Target: flat after warm-up, so the growth after the first two
minutes is printed beside the samples. Each sample also holds the median and 99th-percentile latency
of the main routes over the minute before it, and the machine's load average (other processes on
the same two cores slow the server as well as a heavier request would). Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from benchmarks import fleet
from benchmarks.fleet import ADMIN_KEY, POLICY, ROOT, VENUE, Redis, Server, World
from verifier.code import device_proof, holder_code

DEFAULT_OUTPUT = ROOT / "var" / "soak" / "soak.json"
PERSONS = 600
WARM_UP_S = 120
SHOWN_ROUTES = ("POST /v1/verify", "POST /v1/codes", "POST /v1/events", "GET /v1/admin/stats")


class Load:
    """The mixed requests, each a small coroutine; answers are counted by route and status."""

    def __init__(self, client: httpx.AsyncClient, gate: str, tokens: list[str]) -> None:
        self.client = client
        self.gate = {"Authorization": f"Bearer {gate}"}
        self.admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        self.tokens = tokens
        self.statuses: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()  # verify answers by result and reason
        self.server_errors: list[str] = []
        self.rng = random.Random(7)
        self.latencies: dict[str, list[float]] = defaultdict(list)  # since the last sample, by route (seconds)

    async def call(self, route: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            answer = await self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.statuses[f"{route} {type(exc).__name__}"] += 1
            return None
        self.latencies[route].append(time.perf_counter() - started)
        self.statuses[f"{route} {answer.status_code}"] += 1
        if answer.status_code >= 500 and len(self.server_errors) < 20:
            self.server_errors.append(f"{route} {answer.status_code}: {answer.text[:300]}")
        if route.startswith("POST /v1/verify") and answer.status_code == 200:
            body = answer.json()
            decision = body.get("decision") or {}
            self.outcomes[f"{route} {body['result']} {decision.get('result') or body['reason']}"] += 1
        return answer

    def citizen(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.rng.choice(self.tokens)}"}

    async def verify_flow(self) -> None:
        issued = await self.call("POST /v1/codes", "POST", "/v1/codes", headers=self.citizen())
        if issued is None or issued.status_code != 200:
            return
        body = {"code": issued.json()["text"], "venue": VENUE}
        await self.call("POST /v1/verify", "POST", "/v1/verify", json=body, headers=self.gate)
        if self.rng.random() < 0.25:
            await self.call("POST /v1/verify (replay)", "POST", "/v1/verify", json=body, headers=self.gate)

    async def png(self) -> None:
        await self.call("POST /v1/codes (png)", "POST", "/v1/codes", headers={**self.citizen(), "Accept": "image/png"})

    async def holder(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        now = int(time.time())
        request = fleet.credential_request(key, now)
        made = await self.call("POST /v1/credentials", "POST", "/v1/credentials", json=request, headers=self.citizen())
        if made is None or made.status_code != 200:
            return
        credential = fleet.unb64url(made.json()["credential"])
        code = holder_code(credential, device_proof(credential, key, time.time()))
        await self.call("POST /v1/verify (holder)", "POST", "/v1/verify", json={"code": code, "venue": VENUE},
                        headers=self.gate)  # fmt: skip

    async def events(self) -> None:
        now = time.time()
        batch = [{"id": uuid.uuid4().hex, "venue": VENUE, "at": now - i, "result": "GRANTED", "reason": None,
                  "policy_id": POLICY, "kind": "online", "issuer": "CN-SH", "degraded": False, "repeat": False}
                 for i in range(50)]  # fmt: skip
        await self.call("POST /v1/events", "POST", "/v1/events", json={"events": batch}, headers=self.gate)

    async def entitlements(self) -> None:
        await self.call("GET /v1/me/entitlements", "GET", "/v1/me/entitlements", headers=self.citizen())

    async def stats(self) -> None:
        by = self.rng.choice(["policy", "venue", "day"])
        await self.call("GET /v1/admin/stats", "GET", f"/v1/admin/stats?by={by}", headers=self.admin)

    async def disclosure(self) -> None:
        if self.rng.random() < 0.5:
            await self.call("GET /v1/disclosure", "GET", "/v1/disclosure")
        else:
            await self.call("GET /v1/admin/disclosure", "GET", "/v1/admin/disclosure", headers=self.admin)

    async def operations(self) -> None:
        if self.rng.random() < 0.5:
            await self.call("GET /readyz", "GET", "/readyz")
        else:
            await self.call("GET /metrics", "GET", "/metrics")

    def pick(self) -> Any:
        tasks = [(self.verify_flow, 40), (self.png, 4), (self.holder, 10), (self.events, 14), (self.entitlements, 15),
                 (self.stats, 6), (self.disclosure, 6), (self.operations, 5)]  # fmt: skip
        return self.rng.choices([t for t, _ in tasks], weights=[w for _, w in tasks])[0]


def sample(pid: int, started: float, load: Load) -> dict[str, Any]:
    threads = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            threads = int(line.split()[1])
    latency_ms = {route: quantiles_ms(times) for route, times in sorted(load.latencies.items()) if times}
    load.latencies.clear()
    return {"t_s": round(time.monotonic() - started), "rss_kib": fleet.rss_kib(pid), "open_fds": fleet.open_fds(pid),
            "threads": threads, "requests": sum(load.statuses.values()), "load_average_1m": os.getloadavg()[0],
            "latency_ms": latency_ms}  # fmt: skip


def quantiles_ms(times: list[float]) -> dict[str, float]:
    """Median and 99th percentile (nearest rank) of one route's latencies, in milliseconds."""
    ordered = sorted(times)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"n": len(ordered), "p50": at(0.5), "p99": at(0.99)}


async def soak(server: Server, load: Load, seconds: float, rate: float, every_s: float) -> list[dict[str, Any]]:
    started = time.monotonic()
    stop_at = started + seconds
    samples = [sample(server.pid, started, load)]
    print(f"  t={samples[0]['t_s']:>4} s  rss {samples[0]['rss_kib'] / 1024:7.1f} MiB  fds {samples[0]['open_fds']}",
          flush=True)  # fmt: skip
    workers = 4
    interval = workers / rate  # each worker starts one task per interval: `rate` tasks a second in all

    async def worker(offset: float) -> None:
        """At most one task per interval; a slow server makes fewer, never a backlog run after the end."""
        next_at = time.monotonic() + offset
        while next_at < stop_at:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            await load.pick()()
            next_at = max(next_at + interval, time.monotonic())

    async def sampler() -> None:
        next_at = started + every_s
        while next_at <= stop_at + 0.5:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            taken = sample(server.pid, started, load)
            previous = samples[-1]
            samples.append(taken)
            pace = (taken["requests"] - previous["requests"]) / max(1, taken["t_s"] - previous["t_s"])
            shown = "  ".join(
                f"{r.split()[-1].rsplit('/', 1)[-1]} {taken['latency_ms'][r]['p50']:g}/"
                f"{taken['latency_ms'][r]['p99']:g} ms"
                for r in SHOWN_ROUTES
                if r in taken["latency_ms"]
            )
            print(f"  t={taken['t_s']:>4} s  rss {taken['rss_kib'] / 1024:7.1f} MiB  fds {taken['open_fds']:>3}  "
                  f"threads {taken['threads']:>3}  {pace:6.1f} req/s  load {taken['load_average_1m']:.1f}  "
                  f"p50/p99: {shown}", flush=True)  # fmt: skip
            next_at += every_s

    await asyncio.gather(sampler(), *(worker(i * interval / workers) for i in range(workers)))
    return samples


def growth(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Change from the first sample at or after the warm-up to the last, per resource."""
    after = [s for s in samples if s["t_s"] >= WARM_UP_S - 5]
    if len(after) < 2:
        return {"note": f"the run was shorter than the {WARM_UP_S} s warm-up plus one sample"}
    first, last = after[0], after[-1]
    minutes = max(1e-9, (last["t_s"] - first["t_s"]) / 60)
    rss = last["rss_kib"] - first["rss_kib"]
    return {
        "rss_kib_slope_per_minute": slope([(s["t_s"] / 60, s["rss_kib"]) for s in after]),
        "rss_kib_range_after_warm_up": [min(s["rss_kib"] for s in after), max(s["rss_kib"] for s in after)],
        "from_s": first["t_s"], "to_s": last["t_s"], "rss_kib": rss, "rss_kib_per_minute": rss / minutes,
        "open_fds": last["open_fds"] - first["open_fds"], "threads": last["threads"] - first["threads"],
        "rss_kib_peak_after_warm_up": max(s["rss_kib"] for s in after),
    }  # fmt: skip


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope: a trend that one noisy sample (the allocator's ups and downs) cannot set alone."""
    n = len(points)
    mean_x, mean_y = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 600)))
    parser.add_argument("--rate", type=float, default=80.0, help="Load tasks started per second (all kinds).")
    parser.add_argument("--sample-seconds", type=float, default=60.0)
    parser.add_argument("--no-redis", action="store_true", help="In-process replay cache and limits instead.")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="suishen-soak-") as tmp:
        folder = Path(tmp)
        print(f"building a world ({PERSONS} persons, one matching run) in {folder} ...", flush=True)
        world = World(folder / "world", None, PERSONS)
        tokens = World.tokens(world.seniors())
        redis = None if args.no_redis else Redis(folder / "redis")
        environment = {} if redis is None else {"REDIS_URL": redis.url}
        server = Server("soak", world, folder, **environment)
        try:
            if redis is not None:
                redis.start()
            server.start()
            server.wait_up()
            gate = fleet.make_device(server.url, "gate", VENUE)
            print(f"soak: {args.seconds:.0f} s at {args.rate:g} tasks/s on pid {server.pid}"
                  f" ({'SQLite + redis-server' if redis else 'SQLite, in-process'})", flush=True)  # fmt: skip

            async def run() -> tuple[Load, list[dict[str, Any]]]:
                limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
                async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:
                    load = Load(client, gate, tokens)
                    return load, await soak(server, load, args.seconds, args.rate, args.sample_seconds)

            load, samples = asyncio.run(run())
            log_text = server.log_path.read_text(errors="replace")
        finally:
            server.stop()
            if redis is not None:
                redis.stop()
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "seconds": args.seconds, "rate": args.rate,
        "backend": "sqlite+redis" if not args.no_redis else "sqlite", "samples": samples, "growth": growth(samples),
        "statuses": dict(sorted(load.statuses.items())),
        "verify_outcomes": dict(sorted(load.outcomes.items())), "server_errors": load.server_errors,
        "tracebacks_in_server_log": log_text.count("Traceback"), "cores": os.cpu_count(),
    }  # fmt: skip
    report(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.output}")
    return 0


def p50_p99(q: dict[str, float] | None) -> str:
    return "-" if q is None else f"{q['p50']:g} / {q['p99']:g}"


def report(result: dict[str, Any]) -> None:
    print("\nsamples (server process):")
    print(f"  {'t (s)':>6} {'RSS (MiB)':>10} {'fds':>5} {'threads':>8} {'requests':>9} {'load 1m':>8}  "
          + "  ".join(f"{r + ' p50/p99 ms':>28}" for r in SHOWN_ROUTES))  # fmt: skip
    for s in result["samples"]:
        shown = [f"{p50_p99(s.get('latency_ms', {}).get(r)):>28}" for r in SHOWN_ROUTES]
        print(f"  {s['t_s']:>6} {s['rss_kib'] / 1024:>10.1f} {s['open_fds']:>5} {s['threads']:>8} {s['requests']:>9}"
              f" {s.get('load_average_1m', 0):>8.2f}  " + "  ".join(shown))  # fmt: skip
    g = result["growth"]
    if "note" in g:
        print(f"growth: {g['note']}")
    else:
        print(f"growth after the warm-up ({g['from_s']} s -> {g['to_s']} s): "
              f"RSS {g['rss_kib'] / 1024:+.1f} MiB ({g['rss_kib_per_minute']:+.0f} KiB/min), "
              f"fds {g['open_fds']:+d}, threads {g['threads']:+d}")  # fmt: skip
        low, high = g["rss_kib_range_after_warm_up"]
        trend = g["rss_kib_slope_per_minute"]
        print(f"  trend (least squares over the samples after the warm-up) {trend:+.0f} KiB/min;"
              f" RSS between {low / 1024:.1f} and {high / 1024:.1f} MiB")  # fmt: skip
    print("\nanswers by route and status:")
    for key, n in result["statuses"].items():
        print(f"  {key:<40} {n:>8}")
    print("verify answers by result:")
    for key, n in result["verify_outcomes"].items():
        print(f"  {key:<40} {n:>8}")
    print(f"5xx bodies kept: {len(result['server_errors'])}; tracebacks in the server log: "
          f"{result['tracebacks_in_server_log']}")  # fmt: skip
    for line in result["server_errors"][:5]:
        print(f"  {line}")


if __name__ == "__main__":
    sys.exit(main())
