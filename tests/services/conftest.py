"""Fixtures for the online services: dev keys, synthetic registries, a matching run, redis-server, uvicorn.

The helpers behind them (Template, Place, Api, Served) are in tests/support/services.py.

Nothing here is a mock. This package builds, once, a small world (keys, 300 synthetic persons, one matching
run into a SQLite ledger); each test copies the ledger so that it starts from the same state. The
API tests run twice, on the in-process backends and on a real `redis-server`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.servers import RedisServer
from tests.support.services import PASSPHRASE, ROOT, Api, Place, Served, Template, open_api, passphrase_env

PERSONS = 300


@pytest.fixture(scope="package")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for this package's tests; tests flush it (see `backend`)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server for one test that stops and starts it."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="package", autouse=True)
def _passphrase() -> Iterator[None]:
    """Keys are encrypted at rest in tests too; the passphrase comes from the environment as in production.

    Package-scoped: the environment is restored when this package's tests end, before other packages run.
    """
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("SUISHEN_") or name in ("REDIS_URL", "DATABASE_URL"):
                mp.delenv(name)
        mp.setenv("SUISHEN_KEY_PASSPHRASE", PASSPHRASE)
        mp.setenv("SUISHEN_SETTINGS_FILE", "/nonexistent/suishen-test.env")
        yield


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "app.cli", *args], check=True, cwd=ROOT, env=passphrase_env(),
                   stdout=subprocess.DEVNULL)  # fmt: skip


@pytest.fixture(scope="package")
def template(tmp_path_factory: pytest.TempPathFactory, _passphrase: None) -> Template:
    from app.db.engine import open_database
    from app.db.schema import profiles
    from keys import directory

    root = tmp_path_factory.mktemp("world")
    keys_dir, registries = root / "keys", root / "registries"
    matching_db, ledger = root / "matching.duckdb", root / "ledger.sqlite"
    directory.init_directory(
        keys_dir, issuer="CN-SH", region="310000", passphrase=PASSPHRASE.encode(), now=int(time.time()) - 60
    )
    _cli("data", "synth", "--out", str(registries), "--persons", str(PERSONS), "--enterprises", "20")
    _cli("match", "run", "--registries", str(registries), "--db", str(matching_db), "--ledger", f"sqlite:///{ledger}")
    _cli("match", "applications", "--keys", str(keys_dir), "--db", str(matching_db), "--registries", str(registries),
         "--ledger", f"sqlite:///{ledger}")  # fmt: skip
    engine = open_database(f"sqlite:///{ledger}")
    with engine.connect() as db:
        query = select(profiles.c.subject, profiles.c.age_over, profiles.c.residence).order_by(profiles.c.subject)
        rows = db.execute(query).all()
    engine.dispose()
    seniors = [r.subject for r in rows if (r.age_over or 0) >= 65 and (r.residence or 0) // 10000 == 31]
    others = [r.subject for r in rows if r.age_over is None]
    assert len(seniors) >= 3 and len(others) >= 1, "the synthetic registry should hold seniors and younger persons"
    return Template(root, keys_dir, registries, matching_db, ledger, seniors, others)


@pytest.fixture
def place(template: Template, tmp_path: Path) -> Place:
    data_dir = tmp_path / "serve"
    data_dir.mkdir()
    shutil.copyfile(template.ledger, data_dir / "suishen.sqlite")
    return Place(template, data_dir, f"sqlite:///{data_dir / 'suishen.sqlite'}")


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest, place: Place) -> Place:
    """The same place on the in-process backends, then on a real redis-server (flushed first)."""
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        with server.client() as client:
            client.flushall()
        place.redis_url = server.url
    return place


@pytest.fixture
def api(backend: Place) -> Iterator[Api]:
    with open_api(backend) as opened:
        yield opened


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(place: Place, count: int = 1, **environment: str) -> Any:
        """One server (or a list of `count`), started side by side and waited for."""
        batch = [Served(place, tmp_path / f"serve-{len(started) + i}.log", **environment) for i in range(count)]
        started.extend(batch)
        for served in batch:
            served.wait_up()
        return batch[0] if count == 1 else batch

    yield start
    for served in started:
        served.stop()
