"""One way to open the services database, for the command line, the server and the tests alike.

SQLite by default (a file beside the server's other data), PostgreSQL by URL, with the same
code. A SQLite file is opened in write-ahead logging with `synchronous=NORMAL` (survives a
killed process) and a 15 s busy timeout, so the services keep reading while a matching run
copies its results in one long transaction and two processes can share the file. The schema is
brought to the head of the migration history on open (`app.db.migrations`), whoever opens first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

DEFAULT_DATA_DIR = Path("var/serve")
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_DATA_DIR / 'suishen.sqlite'}"
SQLITE_BUSY_TIMEOUT_S = 15
SQLITE_POOL = 40  # connections kept: one per worker thread a busy server may run at once


def database_url(url_or_path: str | Path) -> str:
    """A SQLAlchemy URL; a bare path means a SQLite file."""
    text = str(url_or_path)
    return text if "://" in text else f"sqlite:///{text}"


def open_database(url_or_path: str | Path, *, migrate: bool = True) -> Engine:
    """The engine, with the schema at head unless `migrate` is False (a caller that migrates itself)."""
    from app.db.migrations import upgrade
    from app.private_files import private_sqlite, sqlite_file

    url = database_url(url_or_path)
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        private_sqlite(url)  # made 0600 before SQLite creates it 0644
        # A pool as large as the server's worker threads (anyio's 40): with SQLAlchemy's default of 5 + 10,
        # a busy server opened a connection (and ran its PRAGMAs) for every request past the fifteenth and
        # closed it after; issuance at 16 connections spent a fifth of its time there.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
                               pool_size=SQLITE_POOL, max_overflow=SQLITE_POOL)  # fmt: skip
        if path is not None:
            event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if migrate:
        upgrade(engine)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
