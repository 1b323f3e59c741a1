"""The gate's own replay cache in SQLite: a code used here stays used after a restart or a crash.

Online codes are keys used once (`replay`); holder-bound credentials keep their latest accepted
proof step and the gate's clock then (`steps`), compared and set in one statement
(`verifier.replay.step_is_next`).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from verifier.replay import MIN_INTERVAL_S, Accepted

_SCHEMA = "CREATE TABLE IF NOT EXISTS replay (key BLOB PRIMARY KEY, expires_at REAL NOT NULL) WITHOUT ROWID"
_STEPS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS steps (key BLOB PRIMARY KEY, step INTEGER NOT NULL, accepted_at REAL NOT NULL, "
    "expires_at REAL NOT NULL) WITHOUT ROWID"
)
# The row is written only when the rule holds; rowcount tells whether it was.
_ACCEPT_STEP = (
    "INSERT INTO steps (key, step, accepted_at, expires_at) VALUES (:key, :step, :now, :expires_at) "
    "ON CONFLICT (key) DO UPDATE SET step = excluded.step, accepted_at = excluded.accepted_at, "
    "expires_at = excluded.expires_at "
    "WHERE steps.expires_at < :now OR (steps.step < excluded.step AND steps.accepted_at + :interval <= :now)"
)
_SWEEP_EVERY = 1000


class SqliteReplayGuard:
    """`verifier.replay.LocalReplayGuard` over two SQLite tables; expired keys are swept now and then."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
        self._db.execute(_SCHEMA)
        self._db.execute(_STEPS_SCHEMA)  # a gate's older cache file gains the table on start
        self._lock = threading.Lock()
        self._writes = 0

    def first_use(self, key: bytes, expires_at: float, now: float) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO replay (key, expires_at) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE replay.expires_at < ?",
                (key, expires_at, now),
            )
            self._counted_write(now)
            return cursor.rowcount == 1

    def first_step(self, key: bytes, step: int, expires_at: float, now: float) -> bool:
        with self._lock:
            row = {"key": key, "step": step, "now": now, "expires_at": expires_at, "interval": MIN_INTERVAL_S}
            cursor = self._db.execute(_ACCEPT_STEP, row)
            self._counted_write(now)
            return cursor.rowcount == 1

    def last_step(self, key: bytes, now: float) -> Accepted | None:
        with self._lock:
            row = self._db.execute(
                "SELECT step, accepted_at, expires_at FROM steps WHERE key = ? AND expires_at >= ?", (key, now)
            ).fetchone()
        return Accepted(int(row[0]), float(row[1]), float(row[2])) if row is not None else None

    def _counted_write(self, now: float) -> None:
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            self._db.execute("DELETE FROM replay WHERE expires_at < ?", (now,))
            self._db.execute("DELETE FROM steps WHERE expires_at < ?", (now,))

    def __len__(self) -> int:
        with self._lock:
            seen = self._db.execute("SELECT (SELECT count(*) FROM replay) + (SELECT count(*) FROM steps)")
            return int(seen.fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
