"""The production topology of compose.yaml, started without Docker on one machine, loopback only.

Debian's nginx with deploy/nginx/ (only the lines marked "test:" rewritten: loopback ports, and the
proxy's own address 127.0.0.2 standing in for its container address), two `suishen serve --init`
replicas (the image's entry point, with compose.yaml's settings: secrets from files, a shared keys
folder, each its own data folder), a throwaway redis-server and PostgreSQL database. Where the test
runs as root, the replicas and nginx run as `nobody`.

The database starts at the previous release's schema (revision 0008) holding the profiles a run of
that release copied, so the first start is also the upgrade: the two replicas' Alembic upgrades
take turns, and the profiles stored before it give codes after it.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from app.api.auth import TokenAuthority
from tests.support.servers import RedisServer, free_port, wait_until
from tests.support.services import batch_of, one_window, policy_from_60

ROOT = Path(__file__).resolve().parents[2]
NGINX = "/usr/sbin/nginx"
PREVIOUS_RELEASE, HEAD = "0008", "0009"
MUSEUM, MUSEUM_POLICY = "sh-museum", "sh-museum-senior-free"
PROXY_ADDRESS = "127.0.0.2"  # nginx connects to the replicas from here: the one address they believe
CLIENT = "127.0.0.3"  # the test's own requests, apart from the per-address check's (from 127.0.0.1)
PER_IP = 12  # issuance requests a minute per client address
FAIL_TIMEOUT_S = 2  # deploy/nginx/upstream.conf: how long a replica that refused a connection gets no requests
PUSH_S = 10.0  # a catalogue published through one replica is used by every other within this (docs/deploy.md)
SECRETS = {
    "suishen_key_passphrase": "Qk7-topology-9sV2-ridge-lantern",
    "suishen_token_secret": uuid.uuid4().hex,
    "suishen_subject_pepper": uuid.uuid4().hex,
    "suishen_admin_key": "sk_" + uuid.uuid4().hex,
}
ADMIN = {"Authorization": f"Bearer {SECRETS['suishen_admin_key']}"}
SENIORS = [f"P{90000 + i:07d}" for i in range(40)]
KEY_RING_MADE = "created key ring"


def _citizen(subject: str) -> dict[str, str]:
    token = TokenAuthority(SECRETS["suishen_token_secret"].encode(), 3600).issue(subject, time.time())[0]
    return {"Authorization": f"Bearer {token}"}


def _runner() -> list[str]:
    """Run as `nobody` when the test is root (the image's user is not root either)."""
    return [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []


def _own(*paths: Path) -> None:
    if os.geteuid() == 0:
        for path in paths:
            shutil.chown(path, "nobody", "nogroup")


class _Traverse:
    """Lets `nobody` reach the interpreter (under /root on these machines) and the test's folder (under pytest's
    0700 one): o+x on the folders above them, undone after."""

    def __init__(self, *more: Path) -> None:
        self.changed: list[tuple[Path, int]] = []
        self.targets = (Path(sys.executable).resolve(), Path(sys.executable).absolute(), ROOT / "app", *more)

    def __enter__(self) -> _Traverse:
        if os.geteuid() == 0:
            for target in self.targets:
                for folder in target.parents:
                    mode = folder.stat().st_mode
                    if not mode & stat.S_IXOTH:
                        self.changed.append((folder, mode))
                        folder.chmod(mode | stat.S_IXOTH)
        return self

    def __exit__(self, *_: object) -> None:
        for folder, mode in reversed(self.changed):
            folder.chmod(stat.S_IMODE(mode))


class Replica:
    """`suishen serve --init` as the image runs it, with compose.yaml's environment."""

    def __init__(self, name: str, environment: dict[str, str], log: Path) -> None:
        self.name, self.port, self.environment, self.log = name, free_port(), environment, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [*_runner(), sys.executable, "-m", "app.cli", "serve", "--init", "--host", "127.0.0.1",
                   "--port", str(self.port)]  # fmt: skip
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.environment, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    def up(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited; its log:\n{self.log.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_up(self) -> None:
        wait_until(self.up, f"{self.name} up", 60)

    def stop(self) -> None:
        """SIGTERM, as a rolling restart or `docker stop` sends: uvicorn finishes what it has in hand."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def _postgres() -> Iterator[str]:
    """A server URL: the one .ci/run started, else a throwaway cluster of our own."""
    if url := os.environ.get("SUISHEN_TEST_POSTGRES_URL"):
        yield url
        return
    script = ROOT / "scripts" / "ci-postgres.sh"
    url = subprocess.run([str(script)], capture_output=True, text=True, check=True, timeout=300).stdout.strip()
    try:
        yield url
    finally:
        subprocess.run([str(script), "--stop", url], capture_output=True, check=False, timeout=60)


def _previous_release_database(server_url: str) -> str:
    """A new database at the previous release's schema, holding the profiles its run copied."""
    from alembic import command

    from app.db.migrations import alembic_config

    name = f"suishen_topology_{uuid.uuid4().hex[:10]}"
    server = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with server.connect() as db:
        db.execute(text(f'CREATE DATABASE "{name}"'))
    server.dispose()
    url = create_engine(server_url).url.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    with engine.begin() as db:
        config = alembic_config(engine)
        config.attributes["connection"] = db
        command.upgrade(config, PREVIOUS_RELEASE)
        db.execute(text(
            "INSERT INTO profiles (subject, age_over, martyr_family, entitled_group, residence, version) "
            "VALUES (:s, 65, false, false, 310000, 1)"
        ), [{"s": s} for s in SENIORS])  # fmt: skip
    engine.dispose()
    return url


def _nginx_folder(folder: Path, replicas: list[Replica], port: int) -> Path:
    """deploy/nginx/ as committed, with only its "test:" lines changed."""
    shutil.copytree(ROOT / "deploy" / "nginx", folder)
    (folder / "tmp").mkdir()
    conf = (folder / "nginx.conf").read_text()
    bind = f"proxy_pass http://suishen;\n            proxy_bind {PROXY_ADDRESS};"
    for old, new in (("listen 8080;", f"listen 127.0.0.1:{port};"), ("proxy_pass http://suishen;", bind)):
        assert conf.count(old) == 1, f"deploy/nginx/nginx.conf no longer has {old!r}"
        conf = conf.replace(old, new)
    (folder / "nginx.conf").write_text(conf)
    upstream = (folder / "upstream.conf").read_text()
    assert upstream.count(f"fail_timeout={FAIL_TIMEOUT_S}s") == 2, "the test's rolling restart waits that long"
    for i, replica in enumerate(replicas, 1):
        old = f"server app-{i}:8000"
        assert upstream.count(old) == 1, f"deploy/nginx/upstream.conf no longer has {old!r}"
        upstream = upstream.replace(old, f"server 127.0.0.1:{replica.port}")
    (folder / "upstream.conf").write_text(upstream)
    for path in [folder, *folder.rglob("*")]:
        _own(path)
    return folder


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not Path(NGINX).exists():
        pytest.fail(f"{NGINX} is missing: `make test` installs Debian's nginx (system-deps)")
    root = tmp_path_factory.mktemp("topology")
    root.chmod(0o755)
    state, secrets, home = root / "state", root / "secrets", root / "home"
    for folder in (state, secrets, home):
        folder.mkdir(mode=0o700)
        _own(folder)
    with _Traverse(state), RedisContext(root / "redis") as redis_url:
        for server_url in _postgres():
            database = _previous_release_database(server_url)
            for name, value in {**SECRETS, "database_url": database}.items():
                (secrets / name).write_text(value)
                (secrets / name).chmod(0o600)
                _own(secrets / name)
            base = {k: v for k, v in os.environ.items()
                    if not k.startswith("SUISHEN_") and k not in ("DATABASE_URL", "REDIS_URL")}  # fmt: skip
            environment = {
                **base, "HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1",
                # compose.yaml's x-app environment, with this machine's paths
                "REDIS_URL": redis_url, "SUISHEN_SECRETS_DIR": str(secrets),
                "SUISHEN_KEY_PASSPHRASE_FILE": str(secrets / "suishen_key_passphrase"),
                "SUISHEN_KEYS_DIR": str(state / "keys"), "SUISHEN_TRUSTED_PROXIES": f'["{PROXY_ADDRESS}"]',
                "SUISHEN_REQUESTS_PER_MINUTE_PER_IP": str(PER_IP),
            }  # fmt: skip
            replicas = [
                Replica(f"app-{i}", {**environment, "SUISHEN_DATA_DIR": str(state / f"data-{i}")},
                        root / f"app-{i}.log")
                for i in (1, 2)
            ]  # fmt: skip
            nginx_port = free_port()
            nginx_dir = _nginx_folder(root / "nginx", replicas, nginx_port)
            nginx = None
            try:
                for replica in replicas:  # at once: one makes the key ring, their upgrades take turns
                    replica.start()
                for replica in replicas:
                    replica.wait_up()
                start_nginx = [NGINX, "-p", f"{nginx_dir}/", "-c", str(nginx_dir / "nginx.conf"), "-g", "daemon off;"]
                nginx = subprocess.Popen(
                    [*_runner(), *start_nginx],
                    stdout=subprocess.DEVNULL, stderr=(root / "nginx.log").open("ab"), start_new_session=True,
                )  # fmt: skip
                proxy = f"http://127.0.0.1:{nginx_port}"
                wait_until(lambda: _get(f"{proxy}/nginx-health") == 200, "nginx up", 20)  # noqa: B023
                yield {"replicas": replicas, "proxy": proxy, "database": database, "state": state}
            finally:
                if nginx is not None:
                    os.killpg(nginx.pid, signal.SIGTERM)
                    nginx.wait(10)
                for replica in replicas:
                    replica.stop()
                _drop(server_url, database)


class RedisContext:
    def __init__(self, folder: Path) -> None:
        self.server = RedisServer(folder)

    def __enter__(self) -> str:
        self.server.start()
        return self.server.url

    def __exit__(self, *_: object) -> None:
        self.server.stop()


def _drop(server_url: str, database: str) -> None:
    server = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with server.connect() as db:
        db.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    server.dispose()


def _get(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def _client(base: str, local: str = CLIENT) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=15, transport=httpx.HTTPTransport(local_address=local))


def _verify(client: httpx.Client, code: str, gate: dict[str, str]) -> dict[str, Any]:
    answer = client.post("/v1/verify", json={"code": code, "venue": MUSEUM}, headers=gate)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_the_first_start_makes_the_keys_once_and_the_upgrades_take_turns(topology: dict[str, Any]) -> None:
    logs = [r.log.read_text() for r in topology["replicas"]]
    assert sum(log.count(KEY_RING_MADE) for log in logs) == 1, logs  # two replicas, one key ring
    assert "Traceback" not in "".join(logs)
    engine = create_engine(topology["database"])
    with engine.connect() as db:
        assert db.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]
        kept = db.execute(text("SELECT count(*) FROM profiles")).scalar_one()
    engine.dispose()
    assert kept == len(SENIORS)  # what the previous release stored is still there
    assert not (topology["state"] / "keys").stat().st_mode & 0o077  # the keys folder is its owner's alone
    if os.geteuid() == 0:
        assert (topology["state"] / "keys").owner() == "nobody"  # made by the replicas' own (non-root) user


def test_the_proxy_passes_the_clients_address_and_a_forged_one_changes_nothing(topology: dict[str, Any]) -> None:
    one = topology["replicas"][0]
    seniors = itertools.cycle(SENIORS[:20])
    direct, proxied = httpx.Client(base_url=one.url, timeout=15), httpx.Client(base_url=topology["proxy"], timeout=15)
    with direct, proxied:  # both from 127.0.0.1

        def attempt() -> tuple[list[int], list[int]]:
            first = [direct.post("/v1/codes", headers=_citizen(next(seniors))).status_code for _ in range(PER_IP // 2)]
            then = [proxied.post("/v1/codes", headers={**_citizen(next(seniors)),
                                                        "X-Forwarded-For": f"203.0.113.{i}"}).status_code
                    for i in range(PER_IP // 2 + 4)]  # fmt: skip
            return first, then

        first, then = one_window(attempt)
    # 127.0.0.1 asked directly, then through the proxy under forged addresses: one budget for both
    assert first == [200] * (PER_IP // 2)
    assert then == [200] * (PER_IP // 2) + [429] * 4


def test_two_replicas_are_one_service_through_the_proxy(topology: dict[str, Any]) -> None:
    one, two = topology["replicas"]
    with _client(topology["proxy"]) as proxy, _client(one.url) as a, _client(two.url) as b:
        made = proxy.post("/v1/admin/devices", json={"name": "g", "role": "gate", "venue": MUSEUM}, headers=ADMIN)
        assert made.status_code == 200, made.text
        gate = {"Authorization": f"Bearer {made.json()['api_key']}"}
        code = a.post("/v1/codes", headers=_citizen(SENIORS[30])).json()["text"]  # a profile from before the upgrade
        first = _verify(a, code, gate)
        assert first["decision"]["result"] == "GRANTED", json.dumps(first)
        assert _verify(b, code, gate)["reason"] == "REPLAYED"  # a code seen by one is REPLAYED at the other

        version = a.get("/readyz").json()["catalogue_version"]
        saved = a.put(f"/v1/admin/policies/{MUSEUM_POLICY}", json=policy_from_60(), headers=ADMIN)
        assert saved.status_code == 200 and saved.json()["valid"] is True, saved.text
        published = a.post("/v1/admin/catalogue/publish", headers=ADMIN).json()["version"]
        assert published == version + 1
        started = time.monotonic()
        wait_until(lambda: b.get("/readyz").json()["catalogue_version"] == published, "the push to reach app-2", PUSH_S)
        assert time.monotonic() - started < PUSH_S
        fresh = b.post("/v1/codes", headers=_citizen(SENIORS[31])).json()["text"]
        assert _verify(proxy, fresh, gate)["catalogue_version"] == published


def test_a_rolling_restart_loses_no_request_and_no_event(topology: dict[str, Any]) -> None:
    replicas = topology["replicas"]
    with _client(topology["proxy"]) as proxy:
        made = proxy.post("/v1/admin/devices", json={"name": "r", "role": "gate", "venue": MUSEUM}, headers=ADMIN)
        gate = {"Authorization": f"Bearer {made.json()['api_key']}"}
        before = proxy.post("/v1/codes", headers=_citizen(SENIORS[32])).json()["text"]
        answers: list[tuple[int, int]] = []  # (status, stored) of each upload
        sent = [0]
        done = threading.Event()

        def upload() -> None:
            with _client(topology["proxy"]) as uploader:
                at = 1_790_000_000.0
                while not done.is_set():
                    batch = batch_of(5, at=at)
                    at += 5
                    answer = uploader.post("/v1/events", json={"events": batch}, headers=gate)
                    sent[0] += len(batch)
                    answers.append((answer.status_code, answer.json().get("stored", 0) if answer.status_code == 200
                                    else 0))  # fmt: skip
                    time.sleep(0.02)

        worker = threading.Thread(target=upload)
        worker.start()
        try:
            for replica in replicas:  # one at a time, as an orchestrator rolls them
                replica.stop()
                time.sleep(0.5)  # requests meanwhile go to the other
                replica.start()
                replica.wait_up()
                time.sleep(FAIL_TIMEOUT_S + 1)  # the proxy tries it again (upstream.conf), then the next one goes
        finally:
            done.set()
            worker.join(30)
        statuses = {status for status, _ in answers}
        assert statuses == {200}, [a for a in answers if a[0] != 200][:5]
        assert sum(stored for _, stored in answers) == sent[0] and sent[0] > 50  # every event stored, once
        for replica in replicas:  # the second start found the keys and made nothing
            assert replica.log.read_text().count(KEY_RING_MADE) <= 1
        assert sum(r.log.read_text().count(KEY_RING_MADE) for r in replicas) == 1
        assert _verify(proxy, before, gate)["decision"]["result"] == "GRANTED"  # the same key before and after
