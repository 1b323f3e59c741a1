"""Schema migrations (Alembic) for the services database, run at server start-up.

One history for SQLite and PostgreSQL. A database that the matching CLI created before it migrated
(it created its ledger tables itself) is brought under the history: the baseline creates only
the tables that are missing. Several server processes may start at once: their
upgrades take turns (a file lock beside a SQLite file, an advisory lock on PostgreSQL), so the
second finds the schema at head and does nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, MetaData, text

HERE = Path(__file__).resolve().parent
_ADVISORY_LOCK = 0x5355_4953  # "SUIS": one number for every Suishen server sharing a PostgreSQL database


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["engine"] = engine
    return config


def models() -> MetaData:
    """Every table of the services database, in one metadata."""
    from app.db.schema import metadata

    return metadata


@contextlib.contextmanager
def _one_at_a_time(engine: Engine) -> Iterator[None]:
    """Serialise upgrades of one SQLite file across processes (PostgreSQL locks inside the transaction)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with os.fdopen(os.open(f"{database}.migrate-lock", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def upgrade(engine: Engine) -> None:
    models()
    with _one_at_a_time(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
