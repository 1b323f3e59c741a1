"""Disclosure (信息公示): how many were matched and paid, per policy and region, and nothing personal.

Counts below five are published as "<5" so that no one can be singled out in a small region.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import NamedTuple

import duckdb
from sqlalchemy import Engine, func, select

from app.matching.payouts import payouts

SMALL = 5


class DisclosureRow(NamedTuple):
    policy_id: str
    region: str  # six-digit residence region, "enterprises", or "all" for the policy's totals
    matched: int
    paid: int | None  # payouts in the period, on the policy's "all" row only


def shown(count: int | None) -> str:
    if count is None:
        return "-"
    return f"<{SMALL}" if 0 < count < SMALL else str(count)


def disclosure(con: duckdb.DuckDBPyConnection, engine: Engine | None, period: str | None) -> list[DisclosureRow]:
    """From the results database (the latest run), with paid counts from the ledger when given."""
    matched = con.execute(
        """
        SELECT e.policy_id, COALESCE(CAST(p.residence AS VARCHAR), 'enterprises') AS region, count(*)
        FROM entitlements AS e LEFT JOIN profiles AS p USING (subject)
        GROUP BY ALL ORDER BY 1, 2
        """
    ).fetchall()
    return _rows(matched, engine, period)


def disclosure_of_store(engine: Engine, period: str | None = None) -> list[DisclosureRow]:
    """The same counts from the services database alone (the latest copied run), for the HTTP API."""
    from app.matching.entitlement_store import stored_entitlements as e
    from app.matching.profile_store import profiles

    query = (
        select(e.c.policy_id, profiles.c.residence, func.count())
        .select_from(e.outerjoin(profiles, profiles.c.subject == e.c.subject))
        .where(e.c.revoked_in.is_(None))
        .group_by(e.c.policy_id, profiles.c.residence)
    )
    with engine.connect() as db:
        counted = db.execute(query).all()
    matched = sorted((p, "enterprises" if r is None else str(r), n) for p, r, n in counted)
    return _rows(matched, engine, period)


def _rows(matched: list[tuple[str, str, int]], engine: Engine | None, period: str | None) -> list[DisclosureRow]:
    paid: dict[str, int] = {}
    if engine is not None and period is not None:
        with engine.connect() as db:
            query = (
                select(payouts.c.policy_id, func.count())
                .where(payouts.c.period == period)
                .group_by(payouts.c.policy_id)
            )
            paid = {policy_id: count for policy_id, count in db.execute(query)}
    rows: list[DisclosureRow] = []
    totals: dict[str, int] = {}
    for policy_id, region, count in matched:
        rows.append(DisclosureRow(policy_id, region, count, None))
        totals[policy_id] = totals.get(policy_id, 0) + count
    rows.extend(DisclosureRow(pid, "all", total, paid.get(pid)) for pid, total in totals.items())
    return sorted(rows, key=lambda r: (r.policy_id, r.region == "all", r.region))


def write_disclosure(rows: list[DisclosureRow], out: Path, period: str | None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["policy_id", "region", "matched", f"paid {period}" if period else "paid"])
        for row in rows:
            writer.writerow([row.policy_id, row.region, shown(row.matched), shown(row.paid)])
