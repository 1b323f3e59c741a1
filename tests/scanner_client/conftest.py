"""Gate fixtures (the helpers behind them are in tests/support/gates.py): a kit of real keys and
signed documents, and real servers (a throwaway redis-server, and the real `suishen serve` app under
uvicorn with its own keys and data)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gates import Clock, Kit, RealServer
from tests.support.servers import RedisServer
from tests.support.world import NOW, make_world


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[Kit]:
    k = Kit(make_world(now=NOW), tmp_path, Clock(NOW + 5))
    yield k
    for gate in k.gates:
        gate.outbox.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """One real server for a module's tests (2 s to start): each test works from what it finds there."""
    real = RealServer(tmp_path_factory.mktemp("server"))
    real.start()
    yield real
    real.stop()


@pytest.fixture
def real_server(tmp_path: Path) -> Iterator[RealServer]:
    server = RealServer(tmp_path)
    server.start()
    yield server
    server.stop()
