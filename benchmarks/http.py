"""HTTP benchmark: POST /v1/verify and POST /v1/codes through `suishen serve`, beside a bare FastAPI endpoint.

    .venv/bin/python -m benchmarks.http [--seconds 4] [--connections 16] [--output var/bench/http.json]

Everything runs on loopback in this run: a bare FastAPI app (one `async def` route taking the
same JSON body as /v1/verify and answering a constant) under the same uvicorn settings as
`suishen serve`, and the real server (SQLite, in-process replay cache and limits, request
logging off unless --log-requests) over a fresh world (dev keys, 2,000 synthetic persons, one
matching run). Load comes from a second process with a fixed number of connections (closed
loop, so bounded): `wrk` when installed (Debian package `wrk`), otherwise a small asyncio load
generator in this file. Every verify request carries a code never sent before (made before the
clock starts), so each one takes the whole path: signature, rules, replay check, decision.

Rounds alternate bare and verify so that drift of a shared machine falls on both; the best round
of each is reported. Targets (DESIGN.md): verify throughput >= 50 % of the bare endpoint's,
verify p99 < 20 ms. Issuance is reported as codes per second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from app.api.gate import VerifyRequest

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "var" / "bench" / "http.json"
PASSPHRASE = "benchmark passphrase"
ADMIN_KEY = "sk_benchmark-admin-key-0123456789abcdef"
TOKEN_SECRET = "benchmark-token-secret-0123456789"
PEPPER = "benchmark-pepper-0123456789"
PERSONS = 2000
THROUGHPUT_TARGET = 0.5
P99_TARGET_MS = 20.0
VENUE = "sh-museum"

WRK_SCRIPT = r"""
local requests = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do
    local item = {}
    for part in string.gmatch(line, "[^\t]+") do item[#item + 1] = part end
    requests[#requests + 1] = wrk.format("POST", item[1],
      {["Content-Type"] = "application/json", ["Authorization"] = item[2]}, item[3])
  end
end
request = function()
  i = i + 1
  if i > #requests then i = 1 end
  return requests[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"requests": %d, "duration_us": %d, "socket_errors": %d, "non2xx": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


# -- the bare endpoint ------------------------------------------------------------------------------


def bare_app() -> FastAPI:
    """The baseline: FastAPI, the same request model as /v1/verify, no middleware, a constant answer."""
    app = FastAPI()

    @app.post("/bare")
    async def bare(request: VerifyRequest) -> dict[str, Any]:
        return {"result": "VALID", "venue": request.venue}

    return app


def serve_bare(port: int) -> None:
    import uvicorn

    uvicorn.run(bare_app(), host="127.0.0.1", port=port, log_config=None, access_log=False)  # as app.serve does


# -- a load generator for machines without wrk -----------------------------------------------------


async def _connection(host: str, port: int, payloads: list[bytes], start: int, stride: int, stop_at: float,
                      latencies: list[float], counts: dict[str, int]) -> None:  # fmt: skip
    """One keep-alive connection; opened again when the server closes it (as wrk does), e.g. after a 401."""
    index = start
    while time.perf_counter() < stop_at:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            counts["socket_errors"] += 1
            return  # nothing listens: this connection is done
        try:
            while time.perf_counter() < stop_at:
                payload = payloads[index % len(payloads)]
                index += stride
                sent = time.perf_counter()
                writer.write(payload)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - sent)
                counts["requests"] += 1
                if not head.startswith(b"HTTP/1.1 2"):
                    counts["non2xx"] += 1
                if re.search(rb"(?i)\r\nconnection:\s*close", head):
                    counts["reconnects"] += 1
                    break  # the server closes after this answer: open another connection
        except (OSError, asyncio.IncompleteReadError):
            counts["socket_errors"] += 1
        finally:
            writer.close()


def python_load(url: str, lines_file: Path, seconds: float, connections: int) -> dict[str, Any]:
    """Closed-loop load like wrk's: `connections` keep-alive connections, each sends when its answer arrives."""
    target = urlsplit(url)  # the paths come from the lines file; the URL gives the host and port only
    host, port = target.hostname or "127.0.0.1", target.port or 80
    payloads = []
    for line in lines_file.read_text().splitlines():
        path, authorization, body = line.split("\t")
        payloads.append(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAuthorization: {authorization}"
            f"\r\nContent-Length: {len(body.encode())}\r\n\r\n{body}".encode()
        )
    latencies: list[float] = []
    counts = {"requests": 0, "non2xx": 0, "socket_errors": 0, "reconnects": 0}

    async def run() -> float:
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(
            _connection(host, port, payloads, i, connections, stop_at, latencies, counts)
            for i in range(connections)
        ))  # fmt: skip
        return time.perf_counter() - started

    duration = asyncio.run(run())
    latencies.sort()

    def percentile(p: float) -> int:
        return int(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1e6) if latencies else 0

    return {**counts, "duration_us": int(duration * 1e6), "p50_us": percentile(50), "p90_us": percentile(90),
            "p99_us": percentile(99), "max_us": percentile(100)}  # fmt: skip


# -- measuring ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with status {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz" if "bare" not in what else f"{url}/docs", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start within 60 s")


def load(url: str, lines_file: Path, seconds: float, connections: int, tool: str) -> dict[str, Any]:
    """One measurement from a second process: requests per second and latency percentiles."""
    if tool == "wrk":
        script = lines_file.with_suffix(".lua")
        script.write_text(WRK_SCRIPT)
        duration = f"-d{max(1, round(seconds))}s"
        command = ["wrk", "-t1", f"-c{connections}", duration, "--latency", "-s", str(script), url, "--"]
        command.append(str(lines_file))
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        result: dict[str, Any] = json.loads(output.split("RESULT ", 1)[1])
    else:
        command = [sys.executable, "-m", "benchmarks.http", "--load", url, "--lines", str(lines_file),
                   "--seconds", str(seconds), "--connections", str(connections)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"the load generator failed on {url}: {done.stderr.strip()[-2000:]}")
        result = json.loads(done.stdout)
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["p50_ms"], result["p99_ms"] = result["p50_us"] / 1000, result["p99_us"] / 1000
    return result


class World:
    """Dev keys, a synthetic registry, one matching run and its services database, in a tmp dir."""

    def __init__(self, folder: Path) -> None:
        from keys import directory

        self.folder = folder
        self.keys_dir, self.registries = folder / "keys", folder / "registries"
        self.data_dir, self.matching_db = folder / "serve", folder / "matching.duckdb"
        self.database_url = f"sqlite:///{self.data_dir / 'suishen.sqlite'}"
        self.data_dir.mkdir(parents=True)
        directory.init_directory(self.keys_dir, issuer="CN-SH", region="310000", passphrase=PASSPHRASE.encode(),
                                 now=int(time.time()) - 60)  # fmt: skip
        env = self.environment()
        for args in (["data", "synth", "--out", str(self.registries), "--persons", str(PERSONS), "--enterprises", "50"],
                     ["match", "run", "--registries", str(self.registries), "--db", str(self.matching_db),
                      "--ledger", self.database_url]):  # fmt: skip
            subprocess.run([sys.executable, "-m", "app.cli", *args], check=True, cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL)  # fmt: skip

    def environment(self, **changes: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUISHEN_") and k not in ("REDIS_URL",)}
        env.update({
            "SUISHEN_KEY_PASSPHRASE": PASSPHRASE, "SUISHEN_DATA_DIR": str(self.data_dir),
            "SUISHEN_KEYS_DIR": str(self.keys_dir), "DATABASE_URL": self.database_url,
            "SUISHEN_MATCHING_DB": str(self.matching_db), "SUISHEN_REGISTRIES_DIR": str(self.registries),
            "SUISHEN_ADMIN_KEY": ADMIN_KEY, "SUISHEN_TOKEN_SECRET": TOKEN_SECRET, "SUISHEN_SUBJECT_PEPPER": PEPPER,
            "SUISHEN_CODES_PER_MINUTE": "100000000", "SUISHEN_REQUESTS_PER_MINUTE_PER_IP": "100000000",
            "SUISHEN_DEVICE_REQUESTS_PER_MINUTE": "100000000",
            "SUISHEN_ONLINE_CODE_LIFE_S": "300", "SUISHEN_LOG_REQUESTS": "false",
            "SUISHEN_SETTINGS_FILE": "/nonexistent/suishen-bench.env",
        })  # fmt: skip
        env.update(changes)
        return env

    def codes_and_tokens(self, count: int) -> tuple[list[str], list[str]]:
        """`count` fresh online codes (5 min life) of residents with a profile, and a citizen token each."""
        from sqlalchemy import select

        from app.api.auth import TokenAuthority
        from app.api.services import Services
        from app.db.schema import profiles
        from app.matching.profile_store import profile_of
        from app.settings import Settings

        os.environ["SUISHEN_KEY_PASSPHRASE"] = PASSPHRASE
        settings = Settings(data_dir=self.data_dir, keys_dir=self.keys_dir, database_url=self.database_url,
                            subject_pepper=PEPPER, token_secret=TOKEN_SECRET, admin_key=ADMIN_KEY)  # fmt: skip
        services = Services(settings)  # also migrates and publishes catalogue version 1 before the server starts
        try:
            with services.engine.connect() as db:
                subjects = [r.subject for r in db.execute(select(profiles.c.subject).where(profiles.c.age_over >= 65))]
            held = [profile_of(services.engine, s, services.pseudonym(s, time.time())) for s in subjects]
            from verifier.code import online_code

            now = int(time.time())
            issuer = services.signing_issuer()
            codes = [online_code(issuer.credential(held[i % len(held)], now, lifetime=300))  # type: ignore[arg-type]
                     for i in range(count)]  # fmt: skip
        finally:
            services.close()
        tokens = TokenAuthority(TOKEN_SECRET.encode(), 3000)  # within the server's token life
        return codes, [tokens.issue(s, time.time())[0] for s in subjects]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), or None where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, url: str, lines_file: Path, seconds: float, connections: int, tool: str) -> dict[str, Any]:
    """`load`, plus the server's CPU time per request: unlike throughput, it holds on a machine others share."""
    before = cpu_seconds(pid)
    result = load(url, lines_file, seconds, connections, tool)
    after = cpu_seconds(pid)
    if before is not None and after is not None and result["requests"]:
        result["server_cpu_us_per_request"] = (after - before) / result["requests"] * 1e6
    return result


@contextlib.contextmanager
def running(
    command: list[str], env: dict[str, str], url: str, what: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
        try:
            wait_up(url, process, what)
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A throwaway redis-server on a free loopback port (no persistence); yields its URL."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(folder)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def write_lines(path: Path, lines: list[tuple[str, str, str]]) -> Path:
    path.write_text("".join(f"{p}\t{a}\t{b}\n" for p, a, b in lines))
    return path


def decisions(url: str) -> dict[str, float]:
    """The server's own count of verify decisions by result and reason (to show no request was a replay)."""
    counts: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("suishen_decisions_total{"):
            labels, value = line.rsplit(" ", 1)
            counts[labels[len("suishen_decisions_total") :]] = float(value)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="Length of each measured round.")
    parser.add_argument("--rounds", type=int, default=2, help="Alternating bare/verify rounds; the best is kept.")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--log-requests", action="store_true", help="Keep the JSON request log on (production).")
    parser.add_argument("--python-load", action="store_true", help="Use the asyncio load generator even with wrk.")
    parser.add_argument("--redis", action="store_true", help="Replay cache and limits in a local redis-server.")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--lines", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0
    if args.load:
        print(json.dumps(python_load(args.load, args.lines, args.seconds, args.connections)))
        return 0

    tool = "wrk" if shutil.which("wrk") and not args.python_load else "python-asyncio"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="suishen-bench-http-") as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp)
        print(f"building a world ({PERSONS:,} persons, one matching run) in {folder} ...", flush=True)
        world = World(folder / "world")
        per_round = int(args.seconds * 12_000) + 2000  # more codes than the server can verify in a round
        codes, tokens = world.codes_and_tokens(per_round * (args.rounds + 1))
        bare_port, server_port = free_port(), free_port()
        bare_url, server_url = f"http://127.0.0.1:{bare_port}", f"http://127.0.0.1:{server_port}"
        env = world.environment(SUISHEN_LOG_REQUESTS="true" if args.log_requests else "false")
        if args.redis:
            env["REDIS_URL"] = stack.enter_context(redis_server(folder / "redis"))
        serve = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(server_port)]
        bare = [sys.executable, "-m", "benchmarks.http", "--serve-bare", str(bare_port)]
        with running(bare, env, bare_url, "bare server", folder / "bare.log") as bare_process, \
                running(serve, env, server_url, "suishen serve", folder / "serve.log") as server:  # fmt: skip
            made = httpx.post(f"{server_url}/v1/admin/devices", json={"name": "bench", "role": "gate", "venue": VENUE},
                              headers={"Authorization": f"Bearer {ADMIN_KEY}"})  # fmt: skip
            gate = f"Bearer {made.json()['api_key']}"
            verify_files = []
            for r in range(args.rounds + 1):  # fresh codes for every round: none is ever a replay
                chunk = codes[r * per_round : (r + 1) * per_round]
                lines = [("/v1/verify", gate, json.dumps({"code": c, "venue": VENUE})) for c in chunk]
                verify_files.append(write_lines(folder / f"verify-{r}.txt", lines))
            bare_body = json.dumps({"code": codes[0], "venue": VENUE})
            bare_file = write_lines(folder / "bare.txt", [("/bare", gate, bare_body)])
            codes_file = write_lines(folder / "codes.txt", [("/v1/codes", f"Bearer {t}", "") for t in tokens])
            print(f"load: {tool}, {args.connections} connections, {args.rounds} x {args.seconds:g} s", flush=True)
            load(f"{bare_url}/bare", bare_file, 1, args.connections, tool)  # warm-up
            load(f"{server_url}/v1/verify", verify_files[-1], 1, args.connections, tool)
            bare_rounds, verify_rounds = [], []
            for r in range(args.rounds):
                bare_rounds.append(
                    measured(bare_process.pid, f"{bare_url}/bare", bare_file, args.seconds, args.connections, tool)
                )
                verify_rounds.append(measured(server.pid, f"{server_url}/v1/verify", verify_files[r], args.seconds,
                                              args.connections, tool))  # fmt: skip
                print(f"  round {r + 1}: bare {bare_rounds[-1]['rps']:,.0f} req/s, "
                      f"verify {verify_rounds[-1]['rps']:,.0f} req/s", flush=True)  # fmt: skip
            issuance = measured(server.pid, f"{server_url}/v1/codes", codes_file, args.seconds, args.connections, tool)
            outcome = decisions(server_url)
    best_bare = max(bare_rounds, key=lambda m: m["rps"])
    best_verify = max(verify_rounds, key=lambda m: m["rps"])
    ratio = best_verify["rps"] / best_bare["rps"]
    cpu_ratio = None
    if "server_cpu_us_per_request" in best_bare and "server_cpu_us_per_request" in best_verify:
        bare_cpu = min(m["server_cpu_us_per_request"] for m in bare_rounds)
        verify_cpu = min(m["server_cpu_us_per_request"] for m in verify_rounds)
        cpu_ratio = bare_cpu / verify_cpu  # the throughput ratio each would reach on a core of its own
    replayed = sum(v for k, v in outcome.items() if "REPLAYED" in k)
    report = {
        "command": "python -m benchmarks.http " + " ".join(argv if argv is not None else sys.argv[1:]),
        "load_generator": tool, "connections": args.connections, "seconds_per_round": args.seconds,
        "rounds": args.rounds, "request_logging": args.log_requests, "redis": args.redis, "cpus": os.cpu_count(),
        "bare": best_bare, "verify": best_verify, "issuance": issuance,
        "bare_rounds": bare_rounds, "verify_rounds": verify_rounds,
        "verify_to_bare_throughput": ratio, "verify_to_bare_by_server_cpu": cpu_ratio,
        "verify_decisions": outcome, "verify_replayed": replayed,
        "targets": {
            "throughput_ratio": {"target": THROUGHPUT_TARGET, "value": ratio, "met": ratio >= THROUGHPUT_TARGET},
            "verify_p99_ms": {"target": P99_TARGET_MS, "value": best_verify["p99_ms"],
                              "met": best_verify["p99_ms"] < P99_TARGET_MS},
        },
        "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print_report(report)
    print(f"wrote {args.output} ({report['seconds']} s)")
    return 0


def print_report(report: dict[str, Any]) -> None:
    def row(name: str, m: dict[str, Any]) -> str:
        cpu = m.get("server_cpu_us_per_request")
        return (f"  {name:<22} {m['rps']:>9,.0f} req/s   p50 {m['p50_ms']:6.2f} ms   p99 {m['p99_ms']:6.2f} ms"
                f"   server CPU {f'{cpu:5.0f} µs' if cpu else '    ?'}/request   non-2xx {m['non2xx']}")  # fmt: skip

    print(f"HTTP on loopback, {report['load_generator']}, {report['connections']} connections, best of "
          f"{report['rounds']} rounds of {report['seconds_per_round']:g} s, request log "
          f"{'on' if report['request_logging'] else 'off'}, {'Redis' if report['redis'] else 'in-process'} "
          "replay cache and limits")  # fmt: skip
    print(row("bare FastAPI endpoint", report["bare"]))
    print(row("POST /v1/verify", report["verify"]))
    print(row("POST /v1/codes", report["issuance"]))
    t = report["targets"]
    print(f"  verify / bare throughput {t['throughput_ratio']['value']:.2f} (target >= {THROUGHPUT_TARGET}: "
          f"{'met' if t['throughput_ratio']['met'] else 'NOT MET'}); verify p99 {t['verify_p99_ms']['value']:.2f} ms "
          f"(target < {P99_TARGET_MS:g} ms: {'met' if t['verify_p99_ms']['met'] else 'NOT MET'})")  # fmt: skip
    if report["verify_to_bare_by_server_cpu"]:
        print(f"  by server CPU time per request (steadier on a shared machine): verify / bare "
              f"{report['verify_to_bare_by_server_cpu']:.2f}")  # fmt: skip
    print(f"  issuance {report['issuance']['rps']:,.0f} codes/s; verify decisions that were replays: "
          f"{report['verify_replayed']:.0f}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
