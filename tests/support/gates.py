"""A gate and what it meets, for the gate tests and benchmarks/frames.py: keys and signed documents,
a gate on a temporary state folder, camera frames of codes, the gate command in process, and the real
server app under uvicorn with its own keys and data. Shared here so that no test imports a conftest."""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import httpx
import pytest

from keys import directory
from keys.revocation_list import RevocationList, list_payload, sign_revocation_list
from keys.storage import public_key_pem
from keys.trust_list import payload_from_rings, sign_trust_list
from scanner_client.chain import DecoderChain
from scanner_client.decoders import make_decoders
from scanner_client.documents import CATALOGUE, REVOCATIONS, TRUST_LIST, DocumentCache
from scanner_client.gate import Gate
from scanner_client.outbox import Outbox
from scanner_client.replay_local import SqliteReplayGuard
from scanner_client.replay_shared import CircuitBreaker, LayeredReplayGuard, SharedCache
from tests.support.scenes import make_frame
from tests.support.servers import free_port
from tests.support.world import World, make_world
from verifier.catalogue import build_snapshot
from verifier.claims import Profile
from verifier.code import online_code
from verifier.decide import Venue

ROOT = Path(__file__).resolve().parents[2]
EVENT_FIELDS = ("id", "venue", "at", "result", "reason", "policy_id", "kind", "issuer", "degraded", "repeat")
ADMIN_KEY = "sk_gate-tests-admin-" + "0" * 24
PASSPHRASE = "gate tests passphrase"
PARK = Venue("sh-century-park", "park")
MUSEUM = Venue("sh-museum", "museum")


def park_policy() -> dict[str, Any]:
    return {
        "id": "sh-park-senior-free",
        "title": {"zh": "老年人公园免费", "en": "Free park entry for seniors"},
        "lead_department": "绿化局",
        "legal_basis": {"title": "test"},
        "delivery": "scan",
        "subject": "person",
        "status": "published",
        "region_scope": "everyone",
        "venues": {"types": ["park"]},
        "versions": [
            {
                "version": 1,
                "effective_from": "2020-01-01",
                "eligibility": {"age": {">=": 65}},
                "benefit": {"kind": "free_entry", "companions": 1},
            }
        ],
    }


class Clock:
    """A settable clock: tests never sleep."""

    def __init__(self, now: float) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Kit:
    world: World
    folder: Path
    clock: Clock
    catalogue_max_age: int = 86400
    gates: list[Gate] = field(default_factory=list)

    @property
    def root_pem(self) -> Path:
        path = self.folder / "root.pub.pem"
        if not path.exists():
            path.write_bytes(public_key_pem(self.world.root_key.public_key()))  # type: ignore[arg-type]
        return path

    def trust_document(self, *, version: int = 1, issued_at: int | None = None, max_age: int = 7 * 86400) -> bytes:
        issued = self.world.now if issued_at is None else issued_at
        payload = payload_from_rings([self.world.ring], version=version, issued_at=issued, max_age=max_age)
        return sign_trust_list(payload, self.world.root_key)

    def catalogue_document(
        self, *, version: int = 1, issued_at: int | None = None, max_age: int | None = None
    ) -> bytes:
        issued = self.world.now if issued_at is None else issued_at
        age = self.catalogue_max_age if max_age is None else max_age
        return build_snapshot([park_policy()], self.world.root_key, version=version, issued_at=issued, max_age=age)

    def revocation_document(
        self, *, version: int = 1, issued_at: int | None = None, max_age: int = 7 * 86400,
        credentials: dict[bytes, int] | None = None, subjects: dict[bytes, tuple[int, int]] | None = None,
        since: int | None = None,
    ) -> bytes:  # fmt: skip
        """A signed revocation list (or, with `since`, a delta holding just these entries)."""
        issued = self.world.now if issued_at is None else issued_at
        entries = RevocationList(version, issued, max_age, dict(credentials or {}), dict(subjects or {}))
        return sign_revocation_list(list_payload(entries, since=since, only=entries), self.world.root_key)

    def documents(self, state: Path, *, install: bool = True) -> DocumentCache:
        cache = DocumentCache(state / "documents", self.world.root_key.public_key())  # type: ignore[arg-type]
        if install:
            cache.install(TRUST_LIST, self.trust_document())
            cache.install(CATALOGUE, self.catalogue_document())
            cache.install(REVOCATIONS, self.revocation_document())
        return cache

    def gate(
        self,
        state: Path | None = None,
        *,
        venue: Venue = PARK,
        shared: SharedCache | None = None,
        breaker: CircuitBreaker | None = None,
        decoders: str = "zxing",
        install: bool = True,
    ) -> Gate:
        state = state or self.folder / "gate"
        replay = LayeredReplayGuard(SqliteReplayGuard(state / "replay.sqlite"), shared, breaker)
        chain = DecoderChain(make_decoders(decoders))
        gate = Gate(venue, chain, self.documents(state, install=install), replay, Outbox(state / "outbox.sqlite"),
                    clock=self.clock)  # fmt: skip
        self.gates.append(gate)
        return gate


def write_frames(folder: Path, texts: list[str], seed: int = 21) -> Path:
    """One plain camera frame per code text, as the PNG folder a gate reads with --images."""
    folder.mkdir()
    rng = random.Random(seed)
    for i, text in enumerate(texts):
        cv2.imwrite(str(folder / f"{i:03d}.png"), make_frame(text, 640, 480, rng, "plain"))
    return folder


def live_files(tmp_path: Path, codes: int) -> tuple[World, dict[str, Path], list[str]]:
    """Keys, signed documents and a folder of camera frames, valid at the real clock (the command, no server)."""
    world = make_world(now=int(time.time()))
    root = tmp_path / "root.pub.pem"
    root.write_bytes(public_key_pem(world.root_key.public_key()))  # type: ignore[arg-type]
    trust = tmp_path / "trust.json"
    trust.write_bytes(world.trust_document)
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_bytes(build_snapshot([park_policy()], world.root_key, version=1, issued_at=world.now))
    revocations = tmp_path / "revocations.json"
    revocations.write_bytes(sign_revocation_list(list_payload(RevocationList(1, world.now, 7 * 86400)), world.root_key))
    texts = [world.online(lifetime=600) for _ in range(codes)]
    frames = write_frames(tmp_path / "frames", texts)
    files = {"root": root, "trust": trust, "catalogue": catalogue, "revocations": revocations, "frames": frames}
    return world, files, texts


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


def gate_cli(*args: str) -> Ran:
    """`suishen-gate ARGS` in this process (no interpreter start-up); an unexpected exception fails the test."""
    from typer.testing import CliRunner

    from scanner_client.cli import app

    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class RealServer:
    """The real server app (`app.api.server:create_app` under uvicorn) on a free port, its own keys and data dir."""

    def __init__(self, folder: Path, **settings: str) -> None:
        pytest.importorskip("app.api.server")
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
            **settings,
        )  # fmt: skip
        directory.init_directory(self.keys, issuer="CN-SH", region="310000", passphrase=PASSPHRASE.encode(),
                                 now=int(time.time()))  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def root_public(self) -> Path:
        return self.keys / directory.ROOT_PUBLIC_FILE

    def start(self) -> None:
        log = (self.folder / "server.log").open("ab")
        command = [sys.executable, "-m", "uvicorn", "--factory", "app.api.server:create_app", "--host", "127.0.0.1",
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

    def admin(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = httpx.request(method, self.url + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10,
                               **kwargs)  # fmt: skip
        assert answer.status_code < 300, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def gate_device(self, venue: str = "sh-century-park") -> tuple[str, str]:
        """(device id, API key) of a new gate registered for `venue` (gates report for their own venue only)."""
        answer = self.admin("POST", "/v1/admin/devices", json={"name": "gate-test", "role": "gate", "venue": venue})
        return str(answer["id"]), str(answer["api_key"])

    def gate_key(self, venue: str = "sh-century-park") -> str:
        return self.gate_device(venue)[1]

    def publish_catalogue(self) -> int:
        """A new signed catalogue snapshot (the policies in force, no drafts): what gates see as a new version."""
        return int(self.admin("POST", "/v1/admin/catalogue/publish")["version"])

    def stored_events(self) -> list[tuple[str, str, str | None]]:
        with sqlite3.connect(self.data / "suishen.sqlite") as db:
            return db.execute("SELECT id, result, reason FROM events ORDER BY id").fetchall()

    def events_from(self, device: str) -> dict[str, dict[str, Any]]:
        """The events stored from one device's uploads, by id, in the gate's own fields (as it sent them)."""
        with contextlib.closing(sqlite3.connect(self.data / "suishen.sqlite")) as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(f"SELECT {', '.join(EVENT_FIELDS)} FROM events WHERE device = ?", (device,)).fetchall()
        return {r["id"]: {**dict(r), "degraded": bool(r["degraded"]), "repeat": bool(r["repeat"])} for r in rows}

    def metric(self, sample: str) -> float:
        """One sample of GET /metrics, such as `suishen_gate_events_total{outcome="duplicate"}` (0 if absent)."""
        for line in httpx.get(self.url + "/metrics", timeout=10).text.splitlines():
            if line.startswith(sample + " "):
                return float(line.split()[-1])
        return 0.0

    def document_files(self, folder: Path) -> dict[str, Path]:
        """The server's root public key, trust list, catalogue snapshot and revocation list as files, for a gate's
        --root and seeds."""
        files = {"root": self.root_public, "trust": folder / "trust.json", "catalogue": folder / "catalogue.json",
                 "revocations": folder / "revocations.json"}  # fmt: skip
        routes = (("trust", TRUST_LIST.route), ("catalogue", CATALOGUE.route), ("revocations", REVOCATIONS.route))
        for name, route in routes:
            answer = httpx.get(self.url + route, timeout=10)
            assert answer.status_code == 200, answer.text
            files[name].write_bytes(answer.content)
        return files

    def codes(self, count: int) -> list[str]:
        """Online codes signed with the server's own issuer key (as its signing service would)."""
        from app.issuing import Issuer

        ring = directory.load_ring(self.keys)
        entry, key = directory.signing_key(self.keys, PASSPHRASE.encode())
        issuer = Issuer(ring.issuer, entry, key)
        now = int(time.time())
        return [online_code(issuer.credential(Profile(os.urandom(8), age_over=70, residence=310000, version=1), now,
                                              lifetime=600)) for _ in range(count)]  # fmt: skip
