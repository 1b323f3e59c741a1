"""Gate fixtures: real keys and signed documents, a gate on a temporary state folder, real servers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from keys.storage import public_key_pem
from keys.trust_list import payload_from_rings, sign_trust_list
from scanner_client.chain import DecoderChain
from scanner_client.decoders import make_decoders
from scanner_client.documents import CATALOGUE, TRUST_LIST, DocumentCache
from scanner_client.gate import Gate
from scanner_client.outbox import Outbox
from scanner_client.replay_local import SqliteReplayGuard
from scanner_client.replay_shared import CircuitBreaker, LayeredReplayGuard, SharedCache
from tests.conftest import NOW, World, make_world
from tests.servers import RedisServer
from verifier.catalogue import build_snapshot
from verifier.decide import Venue

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

    def documents(self, state: Path, *, install: bool = True) -> DocumentCache:
        cache = DocumentCache(state / "documents", self.world.root_key.public_key())  # type: ignore[arg-type]
        if install:
            cache.install(TRUST_LIST, self.trust_document())
            cache.install(CATALOGUE, self.catalogue_document())
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


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[Kit]:
    k = Kit(make_world(now=NOW), tmp_path, Clock(NOW + 5))
    yield k
    for gate in k.gates:
        gate.outbox.close()


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


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
