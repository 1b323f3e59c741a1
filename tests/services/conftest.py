"""Real parts for the online services: dev keys, synthetic registries, a matching run, redis-server, uvicorn.

Nothing here is a mock. This package builds, once, a small world (keys, 300 synthetic persons, one matching
run into a SQLite ledger); each test copies the ledger so that it starts from the same state. The
API tests run twice, on the in-process backends and on a real `redis-server`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.settings import Settings
from tests.servers import RedisServer, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "suishen test passphrase"
ADMIN_KEY = "sk_test-bootstrap-admin-key-0123456789abcdef"
TOKEN_SECRET = "test-token-secret-0123456789"
PEPPER = "test-subject-pepper-0123456789"
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


@dataclass
class Template:
    """What the session built once: keys, registries, matching results, a ledger with profiles."""

    root: Path
    keys_dir: Path
    registries_dir: Path
    matching_db: Path
    ledger: Path
    seniors: list[str]  # Shanghai residents aged 65+ (granted at the museum)
    others: list[str]  # subjects with a profile but not aged 60+


def _passphrase_env() -> dict[str, str]:
    ours = ("REDIS_URL", "DATABASE_URL")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SUISHEN_") and k not in ours}
    environment["SUISHEN_KEY_PASSPHRASE"] = PASSPHRASE
    return environment


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
    subprocess.run([sys.executable, "-m", "app.cli", *args], check=True, cwd=ROOT, env=_passphrase_env(),
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


@dataclass
class Place:
    """One test's copy of the world: its own data dir and ledger, shared keys and matching results."""

    template: Template
    data_dir: Path
    database_url: str
    redis_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def settings(self, **changes: Any) -> Settings:
        values: dict[str, Any] = dict(
            data_dir=self.data_dir, keys_dir=self.template.keys_dir, database_url=self.database_url,
            redis_url=self.redis_url, matching_db=self.template.matching_db,
            registries_dir=self.template.registries_dir, admin_key=ADMIN_KEY, token_secret=TOKEN_SECRET,
            subject_pepper=PEPPER, log_requests=False, demo=True, redis_timeout_s=0.2, redis_retry_s=1.0,
        )  # fmt: skip
        values.update(self.extra)
        values.update(changes)
        return Settings(**values)

    def environment(self, **changes: str) -> dict[str, str]:
        """The same settings as environment variables, for `suishen serve` subprocesses."""
        environment = _passphrase_env()
        environment.update({
            "SUISHEN_DATA_DIR": str(self.data_dir), "SUISHEN_KEYS_DIR": str(self.template.keys_dir),
            "DATABASE_URL": self.database_url, "SUISHEN_MATCHING_DB": str(self.template.matching_db),
            "SUISHEN_REGISTRIES_DIR": str(self.template.registries_dir), "SUISHEN_ADMIN_KEY": ADMIN_KEY,
            "SUISHEN_TOKEN_SECRET": TOKEN_SECRET, "SUISHEN_SUBJECT_PEPPER": PEPPER, "SUISHEN_LOG_REQUESTS": "false",
            "SUISHEN_SETTINGS_FILE": "/nonexistent/suishen-test.env",
        })  # fmt: skip
        if self.redis_url:
            environment["REDIS_URL"] = self.redis_url
        environment.update(changes)
        return environment


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


class Api:
    """A TestClient on the real app (lifespan run), with helpers for the callers' credentials."""

    def __init__(self, client: TestClient, place: Place) -> None:
        self.client = client
        self.place = place

    @property
    def services(self) -> Any:
        return self.client.app.state.services  # type: ignore[attr-defined]

    def citizen(self, subject: str) -> dict[str, str]:
        token, _ = self.services.tokens.issue(subject, time.time())
        return {"Authorization": f"Bearer {token}"}

    admin: ClassVar[dict[str, str]] = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def device(self, role: str, venue: str | None = None) -> dict[str, str]:
        answer = self.client.post("/v1/admin/devices", json={"name": f"test {role}", "role": role, "venue": venue},
                                  headers=self.admin)  # fmt: skip
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['api_key']}"}


@contextlib.contextmanager
def open_api(place: Place, **changes: Any) -> Iterator[Api]:
    from app.api.server import create_app

    with TestClient(create_app(place.settings(**changes))) as client:
        yield Api(client, place)


@pytest.fixture
def api(backend: Place) -> Iterator[Api]:
    with open_api(backend) as opened:
        yield opened


class Served:
    """A `suishen serve` subprocess (uvicorn) on its own port."""

    def __init__(self, place: Place, log: Path, **environment: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self._log = log.open("ab")
        self.process = subprocess.Popen(command, cwd=ROOT, env=place.environment(**environment), stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.client = httpx.Client(base_url=self.url, timeout=10)
        self.log = log

    def wait_up(self) -> Served:
        try:
            wait_until(self._up, f"suishen serve on port {self.port}", 40)
        except (TimeoutError, AssertionError):
            self.stop()
            raise AssertionError(f"server did not start; its log:\n{self.log.read_text()[-3000:]}") from None
        return self

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError("exited")
        return self.client.get("/healthz").status_code == 200

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no flushing; what the database committed is all that survives."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.client.close()
        self._log.close()


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
