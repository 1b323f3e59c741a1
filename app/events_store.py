"""Gate events stored once each (idempotent by the gate's event id), and usage statistics from them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from app.db.schema import events
from verifier.decide import LOCAL_TIME

STATS_BY = {"policy": events.c.policy_id, "venue": events.c.venue, "day": events.c.day}


def _local_day(at: float) -> str:
    return dt.datetime.fromtimestamp(at, LOCAL_TIME).date().isoformat()


def store_events(engine: Engine, device: str, batch: list[dict[str, Any]], now: dt.datetime) -> int:
    """Insert the events not stored yet; returns how many were new. Safe to repeat after a crash."""
    if not batch:
        return 0
    rows = [{**e, "device": device, "received_at": now, "day": _local_day(e["at"])} for e in batch]
    dialect = engine.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(events).on_conflict_do_nothing(index_elements=["id"])
    with engine.begin() as db:
        before = db.execute(select(func.count()).select_from(events).where(events.c.id.in_([r["id"] for r in rows])))
        existing = int(before.scalar_one())
        db.execute(statement, rows)
    return len({r["id"] for r in rows}) - existing


def usage_stats(engine: Engine, by: str, since_day: str | None = None) -> list[dict[str, Any]]:
    """Counts of granted / refused / manual-check decisions grouped by policy, venue or day (绩效评估)."""
    key = STATS_BY[by]
    query = select(key.label("key"), events.c.result, func.count().label("n")).group_by(key, events.c.result)
    if since_day:
        query = query.where(events.c.day >= since_day)
    table: dict[str, dict[str, int]] = {}
    with engine.connect() as db:
        for row in db.execute(query):
            table.setdefault(row.key or "(none)", {})[row.result] = int(row.n)
    return [{by: k, **counts, "total": sum(counts.values())} for k, counts in sorted(table.items())]
