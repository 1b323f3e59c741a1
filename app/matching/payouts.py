"""Payouts: exactly one payout per (subject, policy, period), whatever happens to a run.

Direct-mode entitlements (直接兑现) are paid as the run finds them; confirm-mode ones (一键确认)
only once the subject has confirmed an application under the policy, never before: a
confirmation is paid in the next run for a period the policy pays in.

How often a policy pays is its catalogue's `pays`: `monthly` every period (YYYY-MM), `quarterly`
in the first month of a quarter (January, April, July, October), `yearly` in January, and `once`
in any period but once per subject and policy version, ever. A run for a period a policy does not
pay in writes nothing for it and says when it next pays. A policy from a snapshot published
before `pays` existed pays monthly, as every policy did then.

The ledger's unique constraints are the guarantee, not the run's bookkeeping: one row per
(subject, policy, period), and for `once` policies one per (subject, policy, version) by a
partial unique index. A payout run inserts in small committed batches and skips what is already
there, so a repeated run adds nothing and a run killed midway is finished by the next one.
SQLite by default (SQLAlchemy), the same code on PostgreSQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import duckdb
from sqlalchemy import Engine, func, select

from app.db.bulk import insert_ignoring_duplicates
from app.db.schema import payouts
from keys.errors import SuishenError
from verifier.catalogue import Policy

BATCH = 5_000
MONTHLY, QUARTERLY, YEARLY, ONCE = "monthly", "quarterly", "yearly", "once"
PAY_MONTHS = {QUARTERLY: (1, 4, 7, 10), YEARLY: (1,)}  # the months these pay in; the others pay every month
_PERIOD = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])", re.ASCII)


class PayoutError(SuishenError, ValueError):
    """A pay run cannot run as asked (e.g. a period that is not YYYY-MM); nothing is paid."""


class PayoutResult(NamedTuple):
    policy_id: str
    entitled: int  # payable: entitled in the run (and, in confirm mode, confirmed)
    new: int  # payouts written by this run
    already_paid: int  # found in the ledger from an earlier (or interrupted) run
    unconfirmed: int = 0  # confirm mode: entitled but not confirmed, so not paid
    pays: str = MONTHLY  # the policy's frequency
    next_period: str | None = None  # set when the policy does not pay in this period: the next one it pays in


def parse_period(period: str) -> tuple[int, int]:
    """(year, month) of a payout period YYYY-MM; PayoutError otherwise."""
    found = _PERIOD.fullmatch(period)
    if found is None:
        raise PayoutError(f"a payout period is a month YYYY-MM, e.g. 2026-11, not {period!r}")
    return int(found.group(1)), int(found.group(2))


def frequency(policy: Policy) -> str:
    return policy.pays or MONTHLY  # a policy published before `pays` existed pays monthly, as all did then


def pays_in(pays: str, period: str) -> bool:
    """Whether a policy paying this often pays in this period."""
    _, month = parse_period(period)
    return month in PAY_MONTHS.get(pays, range(1, 13))


def next_pay_period(pays: str, period: str) -> str:
    """The first period after this one in which such a policy pays."""
    year, month = parse_period(period)
    while True:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if month in PAY_MONTHS.get(pays, range(1, 13)):
            return f"{year:04d}-{month:02d}"


def describe(result: PayoutResult) -> str:
    """One line for the command line: what the run paid for the policy, or when it next pays."""
    if result.next_period is not None:
        when = {QUARTERLY: "in the first month of a quarter (January, April, July, October)", YEARLY: "in January"}
        when_words = when.get(result.pays, "")
        return f"{result.policy_id}: pays {result.pays}, {when_words}: nothing this period; next {result.next_period}"
    waiting = f", {result.unconfirmed:,} not confirmed (not paid)" if result.unconfirmed else ""
    once = " (once per subject and policy version, ever)" if result.pays == ONCE else ""
    paid = f"{result.new:,} paid now, {result.already_paid:,} already paid{once}"
    return f"{result.policy_id}: {result.entitled:,} entitled, {paid}{waiting}"


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
    """Write the period's payouts from the run's entitlements: direct mode all, confirm mode the confirmed;
    each policy only in the periods its frequency pays in (`pays`), a `once` policy once per version."""
    parse_period(period)
    results = []
    for policy in policies:
        if policy.delivery not in ("direct", "confirm") or policy.status != "published":
            continue
        pays = frequency(policy)
        if not pays_in(pays, period):
            results.append(PayoutResult(policy.id, 0, 0, 0, 0, pays, next_pay_period(pays, period)))
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
                 "amount_yuan": amounts[v], "matching_run": matching_run, "created_at": now, "pays": pays}
                for s, v in rows
            ]  # fmt: skip
            statement = insert_ignoring_duplicates(engine, payouts)
            with engine.begin() as db:  # one committed batch at a time: a kill loses at most this batch
                new += db.execute(statement, values).rowcount
        results.append(PayoutResult(policy.id, entitled, new, entitled - new, unconfirmed, pays))
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
