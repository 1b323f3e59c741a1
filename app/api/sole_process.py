"""Without Redis, one server process per database: the replay cache and rate limits live in the process.

Two processes on one database without Redis would each accept the same code once (a replay across
them) and each grant its own rate limit. So a process started without `REDIS_URL` holds a lock for
as long as it runs (a file lock beside a SQLite file; a session advisory lock on PostgreSQL), and a
second one refuses to start with a message that says what to do. The lock goes with the process,
also when it is killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from keys.errors import SuishenError

ADVISORY_KEY = 0x53_55_49_53_48_45_4E  # "SUISHEN"


class AnotherProcess(SuishenError, RuntimeError):
    """Another server process already uses this database without Redis."""


MESSAGE = (
    "another suishen serve process already uses this database without Redis: its replay cache and rate "
    "limits would not be shared with this one. Set REDIS_URL for both to run several processes, or stop the other."
)


class SoleProcessLock:
    def __init__(self, engine: Engine) -> None:
        self._file: int | None = None
        self._connection: Any = None
        if engine.dialect.name == "sqlite":
            database = engine.url.database
            if not database or database == ":memory:":
                return  # a private in-memory database: nobody else can open it
            path = Path(database)
            fd = os.open(path.with_name(path.name + ".serve.lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise AnotherProcess(MESSAGE) from None
            self._file = fd
        elif engine.dialect.name == "postgresql":
            connection = engine.connect()
            held = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar()
            connection.commit()
            if not held:
                connection.close()
                raise AnotherProcess(MESSAGE)
            self._connection = connection  # the lock lives as long as this session

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                os.close(self._file)
            self._file = None
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None
