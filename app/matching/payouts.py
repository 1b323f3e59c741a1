"""Payouts: exactly one payout per (subject, policy, period), whatever happens to a run.

Direct-mode entitlements (直接兑现) are paid as the run finds them; confirm-mode ones (一键确认)
only once the subject has confirmed an application under the policy, never before.

The ledger's unique constraint is the guarantee, not the run's bookkeeping: a payout run
inserts in small committed batches and skips what is already there, so a repeated run adds
nothing and a run killed midway is finished by the next one. SQLite by default (SQLAlchemy),
the same code on PostgreSQL.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import duckdb
from sqlalchemy import Engine, func, select

from app.db.bulk import insert_ignoring_duplicates
from app.db.schema import payouts
from verifier.catalogue import Policy

BATCH = 5_000


class PayoutResult(NamedTuple):
    policy_id: str
    entitled: int  # payable: entitled in the run (and, in confirm mode, confirmed)
    new: int  # payouts written by this run
    already_paid: int  # found in the ledger from an earlier (or interrupted) run
    unconfirmed: int = 0  # confirm mode: entitled but not confirmed, so not paid


def _batches(con: duckdb.DuckDBPyConnection, policy_id: str, size: int) -> Iterator[list[tuple[str, int]]]:
    cursor = con.execute("SELECT subject, version FROM entitlements WHERE policy_id = ? ORDER BY subject", [policy_id])
    while rows := cursor.fetchmany(size):
        yield rows


def pay(
    con: duckdb.DuckDBPyConnection,
    engine: Engine,
    policies: Sequence[Policy],
    period: str,
    matching_run: int,
    *,
    batch: int = BATCH,
) -> list[PayoutResult]:
    """Write the period's payouts from the run's entitlements: direct mode all, confirm mode the confirmed."""
    results = []
    for policy in policies:
        if policy.delivery not in ("direct", "confirm") or policy.status != "published":
            continue
        confirmed = _confirmed_subjects(engine, policy.id) if policy.delivery == "confirm" else None
        amounts = {v.version: v.benefit.amount_yuan for v in policy.versions}
        entitled = new = unconfirmed = 0
        for found in _batches(con, policy.id, batch):
            rows = found if confirmed is None else [r for r in found if r[0] in confirmed]
            unconfirmed += len(found) - len(rows)
            if not rows:
                continue
            entitled += len(rows)
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            values = [
                {"subject": s, "policy_id": policy.id, "policy_version": v, "period": period,
                 "amount_yuan": amounts[v], "matching_run": matching_run, "created_at": now}
                for s, v in rows
            ]  # fmt: skip
            statement = insert_ignoring_duplicates(engine, payouts)
            with engine.begin() as db:  # one committed batch at a time: a kill loses at most this batch
                new += db.execute(statement, values).rowcount
        results.append(PayoutResult(policy.id, entitled, new, entitled - new, unconfirmed))
    return results


def _confirmed_subjects(engine: Engine, policy_id: str) -> set[str]:
    """Subjects who confirmed an application under the policy (of any run: one confirmation is enough)."""
    from app.db.schema import applications, confirmations

    query = (
        select(applications.c.subject)
        .join(confirmations, confirmations.c.application_sha256 == applications.c.sha256)
        .where(applications.c.policy_id == policy_id)
    )
    with engine.connect() as db:
        return {subject for (subject,) in db.execute(query)}


def export_payout_file(engine: Engine, period: str, out: Path) -> tuple[int, int]:
    """The finance department's file for a period: one line a payout; returns (lines, total yuan)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    query = (
        select(
            payouts.c.policy_id, payouts.c.policy_version, payouts.c.subject, payouts.c.amount_yuan, payouts.c.period
        )
        .where(payouts.c.period == period)
        .order_by(payouts.c.policy_id, payouts.c.subject)
    )
    lines = total = 0
    with engine.connect() as db, out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["policy_id", "policy_version", "subject", "amount_yuan", "period"])
        for row in db.execute(query):
            writer.writerow(row)
            lines += 1
            total += row.amount_yuan
    return lines, total


def paid_count(engine: Engine, period: str) -> int:
    with engine.connect() as db:
        return db.execute(select(func.count()).select_from(payouts).where(payouts.c.period == period)).scalar_one()
