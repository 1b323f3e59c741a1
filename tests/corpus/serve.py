"""One real `suishen serve` for the API part of the corpus: fresh keys and database, loopback, no demo mode."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from keys import directory
from tests.support.servers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "suishen corpus passphrase"
ADMIN_KEY = "sk_corpus-admin-key-0123456789abcdef"
TOKEN_SECRET = "corpus-token-secret-0123456789"


@dataclass
class Running:
    url: str
    client: httpx.Client
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _environment(folder: Path) -> dict[str, str]:
    ours = ("REDIS_URL", "DATABASE_URL")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SUISHEN_") and k not in ours}
    environment.update(
        {
            "SUISHEN_KEY_PASSPHRASE": PASSPHRASE,
            "SUISHEN_DATA_DIR": str(folder / "serve"),
            "SUISHEN_KEYS_DIR": str(folder / "keys"),
            "SUISHEN_ADMIN_KEY": ADMIN_KEY,
            "SUISHEN_TOKEN_SECRET": TOKEN_SECRET,
            "SUISHEN_SUBJECT_PEPPER": "corpus-pepper-0123456789",
            "SUISHEN_LOG_REQUESTS": "false",
            "SUISHEN_MATCHING_DB": str(folder / "match" / "matching.duckdb"),
            "SUISHEN_REGISTRIES_DIR": str(folder / "registries"),
            "SUISHEN_SETTINGS_FILE": "/nonexistent/suishen-corpus.env",
        }
    )
    return environment


@contextlib.contextmanager
def corpus_server(folder: Path) -> Iterator[Running]:
    """Keys made now (the server signs with the real clock), an empty SQLite database, the sample catalogue."""
    directory.init_directory(
        folder / "keys", issuer="CN-SH", region="310000", passphrase=PASSPHRASE.encode(), now=int(time.time()) - 60
    )
    port = free_port()
    log = folder / "serve.log"
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=_environment(folder), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    running = Running(f"http://127.0.0.1:{port}", client, log)
    try:

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"suishen serve exited; its log:\n{running.log_tail()}")
            return client.get("/healthz").status_code == 200

        wait_until(up, f"suishen serve on port {port}", 60)
        yield running
    finally:
        client.close()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
