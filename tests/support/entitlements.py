"""Entitlements as sets, read from the services database and from a results database, to compare the two."""

from __future__ import annotations

from typing import Any

import duckdb
from sqlalchemy import select

from app.db.schema import stored_entitlements


def live(engine: Any) -> set[tuple[str, str, int]]:
    """(subject, policy, version) the services database holds as entitled (not revoked)."""
    e = stored_entitlements
    with engine.connect() as db:
        rows = db.execute(select(e.c.subject, e.c.policy_id, e.c.policy_version).where(e.c.revoked_in.is_(None)))
        return {tuple(r) for r in rows}  # type: ignore[misc]


def duck(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str, int]]:
    """(subject, policy, version) of the results database's latest entitlements."""
    return set(con.execute("SELECT subject, policy_id, version FROM entitlements").fetchall())  # type: ignore[arg-type]
