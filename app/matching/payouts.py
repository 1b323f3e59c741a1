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
from typing import Any, NamedTuple

import duckdb
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Insert,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    func,
    insert,
    select,
)

from verifier.catalogue import Policy

metadata = MetaData()
payouts = Table(
    "payouts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject", String(64), nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("period", String(16), nullable=False),
    Column("amount_yuan", Integer, nullable=False),
    Column("matching_run", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("subject", "policy_id", "period", name="one_payout_per_subject_policy_period"),
)

BATCH = 5_000


def bulk_insert(db: Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
    """executemany straight to the driver, a tuple a row (no per-row dict): twice as fast as Core's insert.

    The columns' own bind conversions (dates and booleans on SQLite, ...) are still applied.
    """
    compiled = str(insert(table).compile(dialect=db.dialect))
    convert = [
        (i, f) for i, c in enumerate(table.columns) if (f := c.type.dialect_impl(db.dialect).bind_processor(db.dialect))
    ]
    if convert:
        converters = dict(convert)
        rows = [tuple(converters[i](v) if i in converters else v for i, v in enumerate(row)) for row in rows]
    if db.dialect.positional:
        db.exec_driver_sql(compiled, rows)  # type: ignore[arg-type]
    else:
        names = [c.name for c in table.columns]
        db.exec_driver_sql(compiled, [dict(zip(names, row, strict=True)) for row in rows])


def insert_ignoring_duplicates(engine: Engine, table: Table) -> Insert:
    """An INSERT that skips rows a unique constraint already holds (SQLite OR IGNORE, PostgreSQL ON CONFLICT).

    Its rowcount is the number of rows written, on PostgreSQL too (where SQLAlchemy otherwise
    gives -1 for an executemany or an INSERT ... SELECT).
    """
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing().execution_options(preserve_rowcount=True)
    return insert(table).prefix_with("OR IGNORE").execution_options(preserve_rowcount=True)


class PayoutResult(NamedTuple):
    policy_id: str
    entitled: int  # payable: entitled in the run (and, in confirm mode, confirmed)
    new: int  # payouts written by this run
    already_paid: int  # found in the ledger from an earlier (or interrupted) run
    unconfirmed: int = 0  # confirm mode: entitled but not confirmed, so not paid


def ledger(url_or_path: str | Path) -> Engine:
    """The services database (a file path means SQLite) with every ledger table created.

    A SQLite file is switched to write-ahead logging (kept by the file): the services read while
    a matching run copies its results in one long transaction, and see the old run until it commits.
    """
    url = str(url_or_path) if "://" in str(url_or_path) else f"sqlite:///{url_or_path}"
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    if engine.dialect.name == "sqlite" and url not in ("sqlite://", "sqlite:///:memory:"):
        with engine.connect() as db:
            db.exec_driver_sql("PRAGMA journal_mode=WAL")
    _import_tables()
    metadata.create_all(engine)
    _check_columns(engine)
    return engine


def _import_tables() -> None:
    """Every ledger table registers itself in `metadata` on import; create them all, whoever asks first."""
    import app.matching.applications
    import app.matching.entitlement_store
    import app.matching.notifications
    import app.matching.objections
    import app.matching.profile_store  # noqa: F401


def _check_columns(engine: Engine) -> None:
    """A ledger made by an older version lacks columns that create_all does not add: say so plainly."""
    from sqlalchemy import inspect

    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name)}
        missing = [c.name for c in table.columns if c.name not in have]
        if missing:
            raise ValueError(
                f"the services database {engine.url.render_as_string(hide_password=True)} has an older "
                f"{table.name} table (no {', '.join(missing)}): migrate it or start a new one"
            )


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
    from app.matching.applications import applications, confirmations

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
