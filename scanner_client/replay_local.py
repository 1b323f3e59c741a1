"""The gate's own replay cache in SQLite: a code used here stays used after a restart or a crash."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

_SCHEMA = "CREATE TABLE IF NOT EXISTS replay (key BLOB PRIMARY KEY, expires_at REAL NOT NULL) WITHOUT ROWID"
_SWEEP_EVERY = 1000


class SqliteReplayGuard:
    """`verifier.replay.ReplayGuard` over one SQLite table; expired keys are swept now and then."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()
        self._writes = 0

    def first_use(self, key: bytes, expires_at: float, now: float) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO replay (key, expires_at) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE replay.expires_at < ?",
                (key, expires_at, now),
            )
            self._writes += 1
            if self._writes % _SWEEP_EVERY == 0:
                self._db.execute("DELETE FROM replay WHERE expires_at < ?", (now,))
            return cursor.rowcount == 1

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM replay").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
