"""Every decision is written here, durably, before it is shown; the uploader drains it to the server.

SQLite in WAL mode. By default synchronous=NORMAL: once `add` returns, the event survives a
killed process (the write is in the WAL file, under 0.1 ms); with `power_safe` it is also
fsynced (synchronous=FULL, about 3 ms a decision) and survives a power cut. Events are kept
after upload (marked sent) for a week, so an operator can see what left the gate.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

KEEP_SENT_S = 7 * 86400
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',  -- pending | sent | refused
    done_at REAL
);
CREATE INDEX IF NOT EXISTS events_state ON events (state, seq);
"""


class Counts(NamedTuple):
    pending: int
    sent: int
    refused: int


class Outbox:
    """The gate's record of every decision, in the order made; the uploader reads pending ones."""

    def __init__(self, path: Path, *, power_safe: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if power_safe else 'NORMAL'}")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def add(self, event: dict[str, Any]) -> None:
        """Store one event (idempotent by id); durable when this returns."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO events (id, body, created_at) VALUES (?, ?, ?)",
                (event["id"], json.dumps(event, separators=(",", ":")), time.time()),
            )

    def pending(self, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM events WHERE state = 'pending' ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [json.loads(body) for (body,) in rows]

    def mark(self, ids: list[str], state: str) -> None:
        """Mark events sent (the server acknowledged them) or refused (it never will)."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "UPDATE events SET state = ?, done_at = ? WHERE id = ? AND state = 'pending'",
                [(state, now, i) for i in ids],
            )
            self._db.execute("DELETE FROM events WHERE state = 'sent' AND done_at < ?", (now - KEEP_SENT_S,))
            self._db.execute("COMMIT")

    def counts(self) -> Counts:
        with self._lock:
            rows = dict(self._db.execute("SELECT state, count(*) FROM events GROUP BY state").fetchall())
        return Counts(rows.get("pending", 0), rows.get("sent", 0), rows.get("refused", 0))

    def all_ids(self) -> list[str]:
        with self._lock:
            return [i for (i,) in self._db.execute("SELECT id FROM events ORDER BY seq").fetchall()]

    def close(self) -> None:
        with self._lock:
            self._db.close()
