"""Schema migrations (Alembic) for the services database, run at server start-up.

One history for SQLite and PostgreSQL. A database that the matching CLI created before any
migration ran (it creates its ledger tables itself) is brought under the history: the baseline
creates only the tables that are missing.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, MetaData

HERE = Path(__file__).resolve().parent


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["engine"] = engine
    return config


def models() -> MetaData:
    """Every table of the services database, in one metadata."""
    import app.matching.applications
    import app.matching.objections
    import app.matching.profile_store
    import app.matching.statuses
    import app.service_tables
    from app.matching.payouts import metadata

    with contextlib.suppress(ImportError):
        import app.matching.entitlement_store  # noqa: F401
    return metadata


def upgrade(engine: Engine) -> None:
    models()
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
