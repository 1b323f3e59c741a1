"""Real processes for the chaos and soak runs: a world, `suishen serve` processes, redis-server, PostgreSQL.

Everything listens on loopback. Each part can be stopped the hard way (SIGKILL) and started again on
the same port, as a crash and a restart would. Nothing here is a mock.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ROOT = Path(__file__).resolve().parent.parent
PASSPHRASE = "fleet passphrase"
ADMIN_KEY = "sk_fleet-admin-key-0123456789abcdef"
TOKEN_SECRET = "fleet-token-secret-0123456789"
PEPPER = "fleet-pepper-0123456789"
TOKEN_LIFE_S = 3000  # under the server's default token life, so a capped life never refuses ours
VENUE = "sh-museum"
POLICY = "sh-museum-senior-free"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Poll `check` until it holds (connection errors count as 'not yet')."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, httpx.HTTPError):
            if check():
                return
        time.sleep(0.05)
    raise SystemExit(f"{what} did not happen within {timeout_s:.0f} s")


class World:
    """Dev keys, a synthetic registry and one matching run into the services database, in `folder`."""

    def __init__(self, folder: Path, database_url: str | None, persons: int) -> None:
        from keys import directory

        self.folder = folder
        self.keys_dir, self.registries = folder / "keys", folder / "registries"
        self.data_dir, self.matching_db = folder / "serve", folder / "matching.duckdb"
        self.database_url = database_url or f"sqlite:///{self.data_dir / 'suishen.sqlite'}"
        self.data_dir.mkdir(parents=True)
        directory.init_directory(self.keys_dir, issuer="CN-SH", region="310000", passphrase=PASSPHRASE.encode(),
                                 now=int(time.time()) - 60)  # fmt: skip
        env = self.environment()
        for args in (["data", "synth", "--out", str(self.registries), "--persons", str(persons), "--enterprises", "20"],
                     ["match", "run", "--registries", str(self.registries), "--db", str(self.matching_db),
                      "--ledger", self.database_url]):  # fmt: skip
            subprocess.run([sys.executable, "-m", "app.cli", *args], check=True, cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL)  # fmt: skip

    def environment(self, **changes: str) -> dict[str, str]:
        """What `suishen serve` reads: this world's paths and secrets, limits high enough for the load."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUISHEN_") and k not in ("REDIS_URL",)}
        env.update({
            "SUISHEN_KEY_PASSPHRASE": PASSPHRASE, "SUISHEN_DATA_DIR": str(self.data_dir),
            "SUISHEN_KEYS_DIR": str(self.keys_dir), "DATABASE_URL": self.database_url,
            "SUISHEN_MATCHING_DB": str(self.matching_db), "SUISHEN_REGISTRIES_DIR": str(self.registries),
            "SUISHEN_ADMIN_KEY": ADMIN_KEY, "SUISHEN_TOKEN_SECRET": TOKEN_SECRET, "SUISHEN_SUBJECT_PEPPER": PEPPER,
            "SUISHEN_CODES_PER_MINUTE": "100000000", "SUISHEN_REQUESTS_PER_MINUTE_PER_IP": "100000000",
            "SUISHEN_DEVICE_REQUESTS_PER_MINUTE": "100000000", "SUISHEN_LOG_REQUESTS": "false",
            "SUISHEN_SETTINGS_FILE": "/nonexistent/suishen-fleet.env",
        })  # fmt: skip
        env.update(changes)
        return env

    def seniors(self) -> list[str]:
        """Shanghai residents aged 65+ with a profile: granted at the museum."""
        from sqlalchemy import select

        from app.db.engine import open_database
        from app.db.schema import profiles

        engine = open_database(self.database_url)
        try:
            with engine.connect() as db:
                rows = db.execute(select(profiles.c.subject, profiles.c.age_over, profiles.c.residence)).all()
        finally:
            engine.dispose()
        return sorted(r.subject for r in rows if (r.age_over or 0) >= 65 and (r.residence or 0) // 10000 == 31)

    @staticmethod
    def tokens(subjects: list[str]) -> list[str]:
        from app.api.auth import TokenAuthority

        authority = TokenAuthority(TOKEN_SECRET.encode(), TOKEN_LIFE_S)
        return [authority.issue(s, time.time())[0] for s in subjects]


class Server:
    """One `suishen serve` process on a fixed port; `kill` is SIGKILL, `start` again reuses the port."""

    def __init__(self, name: str, world: World, log_dir: Path, **environment: str) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = world.environment(**environment)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)  # fmt: skip
        self.starts += 1

    def wait_up(self, timeout_s: float = 90.0) -> None:
        def up() -> bool:
            if self.process is None or self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise SystemExit(f"server {self.name} exited; its log ends:\n{tail}")
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200

        wait_for(up, f"server {self.name} on port {self.port}", timeout_s)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class Redis:
    """A throwaway redis-server (no persistence) on a fixed loopback port; a restart comes back empty."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(self.folder), "--loglevel", "warning"]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def answers() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True

        wait_for(answers, f"redis-server on port {self.port}", 10)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class Postgres:
    """The throwaway cluster `scripts/ci-postgres.sh` made, found by its port; stopped and started in place."""

    def __init__(self, url: str) -> None:
        self.url = url
        port = url.rsplit(":", 1)[1].split("/", 1)[0]
        self.data = Path(os.environ.get("TMPDIR", "/tmp")) / f"suishen-pg-{port}" / "data"
        if not (self.data / "postmaster.opts").exists():
            raise SystemExit(f"no cluster of scripts/ci-postgres.sh at {self.data} (for {url})")
        self.pg_ctl = _pg_ctl()
        # The options the cluster was started with, to start it again the same way after a stop.
        words = shlex.split((self.data / "postmaster.opts").read_text())[1:]
        if "-D" in words:
            at = words.index("-D")
            del words[at : at + 2]
        self.options = shlex.join(words)

    def _run(self, *args: str) -> None:
        command = [self.pg_ctl, "-D", str(self.data), *args]
        if os.getuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self, mode: str = "fast") -> None:
        self._run("-m", mode, "-w", "stop")

    def start(self) -> None:
        self._run("-o", self.options, "-l", str(self.data.parent / "server.log"), "-w", "-t", "30", "start")


def _pg_ctl() -> str:
    for folder in [*sorted(glob.glob("/usr/lib/postgresql/*/bin")), "/usr/local/bin", "/usr/bin"]:
        if os.access(f"{folder}/pg_ctl", os.X_OK):
            return f"{folder}/pg_ctl"
    raise SystemExit("no pg_ctl found (apt-get install postgresql)")


@contextlib.contextmanager
def throwaway_postgres() -> Any:
    """A cluster from scripts/ci-postgres.sh for this run alone; yields its URL and removes it afterwards."""
    script = str(ROOT / "scripts" / "ci-postgres.sh")
    url = subprocess.run([script], check=True, capture_output=True, text=True).stdout.strip()
    try:
        yield url
    finally:
        subprocess.run([script, "--stop", url], check=False, capture_output=True)


def make_device(url: str, role: str, venue: str | None) -> str:
    """A device API key made through the admin route (stored in the shared database)."""
    answer = httpx.post(f"{url}/v1/admin/devices", json={"name": f"fleet {role}", "role": role, "venue": venue},
                        headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10)  # fmt: skip
    answer.raise_for_status()
    return str(answer.json()["api_key"])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def credential_request(key: ec.EllipticCurvePrivateKey, t: int) -> dict[str, Any]:
    """POST /v1/credentials body: the phone's P-256 key as a JWK and raw r||s over suishen-pop:{t}:{x}:{y}."""
    numbers = key.public_key().public_numbers()
    x, y = b64url(numbers.x.to_bytes(32, "big")), b64url(numbers.y.to_bytes(32, "big"))
    r, s = decode_dss_signature(key.sign(f"suishen-pop:{t}:{x}:{y}".encode(), ec.ECDSA(hashes.SHA256())))
    signature = b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return {"public_key": {"kty": "EC", "crv": "P-256", "x": x, "y": y}, "pop": {"t": t, "signature": signature}}


def rss_kib(pid: int) -> int:
    """Resident memory of a process (Linux /proc), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
