"""The online services under test, shared by tests/services (whose conftest builds the world once) and
others: the secrets the test world is built with, a Template of what was built, a Place (one test's
copy of it), an Api on the real app in process, a `suishen serve` subprocess, and payloads several
test modules post. Kept here so that no test module imports another or a conftest."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
import yaml
from fastapi.testclient import TestClient

from app.settings import Settings
from tests.support.servers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "suishen test passphrase"
ADMIN_KEY = "sk_test-bootstrap-admin-key-0123456789abcdef"
TOKEN_SECRET = "test-token-secret-0123456789"
PEPPER = "test-subject-pepper-0123456789"
MUSEUM = "sh-museum"
MUSEUM_POLICY = "sh-museum-senior-free"
T = TypeVar("T")


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


def passphrase_env() -> dict[str, str]:
    ours = ("REDIS_URL", "DATABASE_URL")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SUISHEN_") and k not in ours}
    environment["SUISHEN_KEY_PASSPHRASE"] = PASSPHRASE
    return environment


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
        environment = passphrase_env()
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

    def enterprise(self, credit_code: str) -> dict[str, str]:
        """An enterprise account's token (role enterprise) for a unified social credit code."""
        token, _ = self.services.tokens.issue(credit_code, time.time(), role="enterprise")
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


def policy_from_60() -> dict[str, Any]:
    """The museum policy with a second version, effective from 2024, that lowers the age to 60."""
    source = yaml.safe_load((ROOT / "data" / "catalogue" / f"{MUSEUM_POLICY}.yaml").read_text(encoding="utf-8"))
    second = json.loads(json.dumps(source["versions"][0], default=str))
    second.update(version=2, effective_from="2024-01-01", eligibility={"age": {">=": 60}})
    source["versions"][0]["effective_to"] = "2023-12-31"
    source["versions"].append(second)
    return json.loads(json.dumps(source, default=str))


def batch_of(n: int, at: float = 1_790_000_000.0) -> list[dict[str, Any]]:
    """`n` gate events at the museum, one second apart, in the shape a gate uploads (a third of them rejected)."""
    return [
        {"id": uuid.uuid4().hex, "venue": MUSEUM, "at": at + i, "result": "GRANTED" if i % 3 else "REJECTED",
         "reason": None if i % 3 else "NOT_ELIGIBLE", "policy_id": "sh-museum-senior-free" if i % 3 else None,
         "kind": "online", "issuer": "CN-SH", "degraded": False, "repeat": False}
        for i in range(n)
    ]  # fmt: skip


def one_window(attempt: Callable[[], T], window_s: int = 60) -> T:
    """Run `attempt` again if a fixed rate-limit window turned over while it ran (it then proves nothing)."""
    for _ in range(3):
        window = int(time.time()) // window_s
        result = attempt()
        if int(time.time()) // window_s == window:
            return result
    raise AssertionError("three rate-limit windows turned over during the attempts")
