"""Fixtures for the page tests: Debian's Chromium driven by Playwright, and local HTTP servers.

The browser is never downloaded: Playwright drives /usr/bin/chromium. Every server listens on
a free loopback port; the pages load nothing from outside the machine.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import http.server
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from tests.support.pages import ADMIN_KEY, CHROMIUM, Server, launch
from tests.support.servers import free_port

STATIC = Path(__file__).resolve().parents[2] / "app" / "api" / "web" / "static"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    with sync_api.sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Any) -> Iterator[Any]:
    chromium = launch(playwright)
    yield chromium
    chromium.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".wasm": "application/wasm",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def static_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The static files alone at /static/, and an empty page at / to run modules from."""
    root = tmp_path_factory.mktemp("static-root")
    (root / "index.html").write_text("<!doctype html><meta charset=utf-8><title>blank</title>")
    os.symlink(STATIC, root / "static")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    with contextlib.suppress(Exception):
        server.shutdown()


# ---------- the real server ----------

ROOT = Path(__file__).resolve().parents[2]
PERSONS = 500


def _environment(tmp: Path) -> dict[str, str]:
    passphrase = tmp / "passphrase"
    passphrase.write_text("web tests passphrase\n")
    outside = ("REDIS_URL", "DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUISHEN_") and k not in outside}
    env.update(
        SUISHEN_KEY_PASSPHRASE_FILE=str(passphrase),
        SUISHEN_DATA_DIR=str(tmp / "serve"),
        SUISHEN_KEYS_DIR=str(tmp / "keys"),
        SUISHEN_MATCHING_DB=str(tmp / "match" / "matching.duckdb"),
        SUISHEN_REGISTRIES_DIR=str(tmp / "registries"),
        SUISHEN_ADMIN_KEY=ADMIN_KEY,
        SUISHEN_LOG_REQUESTS="0",
        SUISHEN_SETTINGS_FILE=str(tmp / "no-settings.env"),
    )
    return env


def _suishen(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "app.cli", *args], env=env, cwd=ROOT, check=True, capture_output=True, timeout=120
    )


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    pytest.importorskip("app.api.server")
    tmp = tmp_path_factory.mktemp("suishen-web")
    env = _environment(tmp)
    (tmp / "serve").mkdir()
    _suishen(env, "keys", "init", "--dir", env["SUISHEN_KEYS_DIR"])
    _suishen(env, "data", "synth", "--out", env["SUISHEN_REGISTRIES_DIR"], "--persons", str(PERSONS),
             "--enterprises", "20")  # fmt: skip
    database = tmp / "serve" / "suishen.sqlite"
    # two runs, so that the dashboard has a diff to show: the day before the park age fell from 70 to 65, then today
    for day in ("2024-12-31", dt.date.today().isoformat()):
        _suishen(env, "match", "run", "--registries", env["SUISHEN_REGISTRIES_DIR"], "--day", day,
                 "--catalogue", str(ROOT / "data" / "catalogue"), "--db", env["SUISHEN_MATCHING_DB"],
                 "--ledger", f"sqlite:///{database}")  # fmt: skip
    # sealed applications for the confirm-mode entitlements (一键确认)
    _suishen(env, "match", "applications", "--keys", env["SUISHEN_KEYS_DIR"], "--db", env["SUISHEN_MATCHING_DB"],
             "--registries", env["SUISHEN_REGISTRIES_DIR"], "--ledger", f"sqlite:///{database}",
             "--catalogue", str(ROOT / "data" / "catalogue"))  # fmt: skip
    # this month's pay run, so that the citizen's payouts and the admin's evaluation (绩效评估) have figures
    _suishen(env, "match", "pay", "--period", dt.date.today().strftime("%Y-%m"), "--db", env["SUISHEN_MATCHING_DB"],
             "--ledger", f"sqlite:///{database}", "--catalogue", str(ROOT / "data" / "catalogue"))  # fmt: skip
    port = free_port()
    log = (tmp / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped: {(tmp / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.terminate()
            raise RuntimeError("the server did not answer /healthz within 60 s")
        time.sleep(0.2)
    srv = Server(base, tmp / "serve", tmp / "keys", process)
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT subject, policy_id, mode FROM entitlements WHERE revoked_in IS NULL ORDER BY subject"
        ).fetchall()
    for subject, policy_id, mode in rows:
        if policy_id == "sh-park-senior-free":
            srv.subjects.setdefault("senior", subject)
        if policy_id == "sh-venue-disabled-severe-free":  # free entry with one companion
            srv.subjects.setdefault("companion", subject)
        if mode == "confirm" and subject.startswith("P"):  # a person (enterprises have numeric credit codes)
            srv.subjects.setdefault("confirm", subject)
    assert "senior" in srv.subjects, "the synthetic registry has nobody entitled to free park entry"
    try:
        yield srv
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
