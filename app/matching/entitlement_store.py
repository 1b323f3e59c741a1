"""Entitlements and run history in the services database, for the HTTP API (SQLite by default).

The matching engine computes in DuckDB; the services answer one subject at a time from SQL.
`copy_results` puts the latest run there in one transaction: its entitlements replace the
previous run's (those the new run dropped stay, marked revoked in it), the run history and the
diff with the run before are mirrored, and every newly eligible (subject, policy, version) gets
exactly one notice in the inbox. A service never sees half of two runs.

A copy writes only the differences from the run the store holds when the results database still
has that run (a rerun writes nothing); otherwise it writes every row under a new `generation` (a
counter of the store, not the run number, so a results database started afresh cannot confuse
old and new rows) and retires the older ones. A row's `run` and `evidence` are those of the run
that found it in its version; every later run in `runs` found it again. The readers
(`entitlements_of`, `runs`, `diff_of`) take only a SQLAlchemy Engine.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import duckdb
from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from app.db.bulk import bulk_insert, insert_ignoring_duplicates
from app.db.copy import copy_query, copy_rows, is_postgres
from app.db.schema import (
    applications,
    change_publications,
    confirmations,
    matching_runs,
    notifications,
    objections,
    payouts,
    run_diffs,
    stored_entitlements,
)
from app.matching.changes import batches_of, held_entitlements_sql
from app.matching.engine import diff_runs, latest_run
from app.matching.notifications import INBOX
from app.matching.profile_store import replace_profiles
from app.matching.sql import literal as literal_sql
from verifier.catalogue import Policy

MODES = ("direct", "confirm", "scan")


ELIGIBLE, NOTIFIED, CONFIRMED, PAID, OBJECTED, REVOKED = (
    "eligible", "notified", "confirmed", "paid", "objected", "revoked",
)  # fmt: skip


class CopyReport(NamedTuple):
    run: int
    entitlements: int  # the run's
    revoked: int  # entitled in the previous copy, not in this run
    notified: int  # new notices (newly eligible subject, policy, version)
    seconds: float
    written: int = 0  # entitlement rows inserted or updated: the differences only, or every row


class StoredEntitlement(NamedTuple):
    policy_id: str
    policy_version: int
    mode: str
    status: str  # eligible, notified, confirmed, paid, objected, revoked
    run: int
    evidence: str
    confirmable: bool  # a confirm-mode application waits for the subject's confirmation


class RunRecord(NamedTuple):
    run: int
    day: dt.date
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    registries: str
    persons: int
    enterprises: int
    entitlements: int
    seconds: float
    counts: dict[str, int]
    copied_at: dt.datetime | None  # None: this run's entitlements never reached the services


class StoredDiff(NamedTuple):
    policy_id: str
    newly_eligible: int
    no_longer_eligible: int
    changed_version: int


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _sync_runs(con: duckdb.DuckDBPyConnection, db: Connection, run: int, now: dt.datetime) -> None:
    """Mirror the results database's run history; the copied run gets its copy time."""
    has_counts = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'run_counts'"
    ).fetchone()[0]  # type: ignore[index]
    counts: dict[int, dict[str, int]] = {}
    if has_counts:
        for number, policy_id, entitled in con.execute("SELECT run, policy_id, entitled FROM run_counts").fetchall():
            counts.setdefault(number, {})[policy_id] = entitled
    columns = {c[0] for c in con.execute("DESCRIBE runs").fetchall()}
    started = "started_at" if "started_at" in columns else "NULL"
    history = con.execute(
        f"SELECT version, day, {started}, finished_at, COALESCE(registries, ''), persons, enterprises, "
        "entitlements, seconds FROM runs ORDER BY version"
    ).fetchall()
    # A copy time belongs to the run that was copied: a results database started afresh numbers
    # its runs from 1 again, and its run 1 is not the old run 1.
    copied = {
        (number, finished): at
        for number, finished, at in db.execute(
            select(matching_runs.c.run, matching_runs.c.finished_at, matching_runs.c.copied_at)
        )
    }
    db.execute(delete(matching_runs))
    rows = []
    for number, day, started_at, finished_at, registries, persons, enterprises, entitled, seconds in history:
        when = now if number == run else copied.get((number, finished_at))
        rows.append({
            "run": number, "day": day, "started_at": started_at, "finished_at": finished_at,
            "registries": registries, "persons": persons, "enterprises": enterprises, "entitlements": entitled,
            "seconds": seconds, "counts": json.dumps(counts.get(number, {}), sort_keys=True), "copied_at": when,
        })  # fmt: skip
    if rows:
        db.execute(insert(matching_runs), rows)


def _store_diff(con: duckdb.DuckDBPyConnection, db: Connection, run: int) -> None:
    previous = con.execute("SELECT max(version) FROM runs WHERE version < ?", [run]).fetchone()[0]  # type: ignore[index]
    if previous is None:
        return
    db.execute(delete(run_diffs).where(run_diffs.c.old_run == previous, run_diffs.c.new_run == run))
    diffs = diff_runs(con, previous, run)
    if diffs:
        db.execute(insert(run_diffs), [
            {"old_run": previous, "new_run": run, "policy_id": d.policy_id, "newly_eligible": d.newly_eligible,
             "no_longer_eligible": d.no_longer_eligible, "changed_version": d.changed_version}
            for d in diffs
        ])  # fmt: skip


class CopyJob(NamedTuple):
    """What one copy writes: the run, its evidence (registries' fingerprint), policy modes, notice modes, time."""

    run: int
    fingerprint: str
    modes: dict[str, str]
    notify_modes: list[str]
    now: dt.datetime


def copy_results(
    con: duckdb.DuckDBPyConnection,
    engine: Engine,
    policies: Sequence[Policy],
    *,
    notify_modes: Iterable[str] = MODES,
    with_profiles: bool = False,
    batch: int = 50_000,
    also: Callable[[Connection], object] | None = None,
) -> CopyReport:
    """Copy the latest run (table `entitlements` of the results database) into the services database.

    One transaction: the run history and the diff with the run before, the entitlements (the
    previous copy's rows replaced; the ones this run dropped kept as revoked), and one inbox
    notice per newly eligible (subject, policy, version) of a mode in `notify_modes`; and with
    `with_profiles` the run's profiles (profile_store), so codes and entitlements change together.

    When the results database still holds the run the store has, only the differences are
    written (a rerun changes nothing); otherwise, or when most rows changed, every row is.
    `also` runs in the same transaction (the run's revocation requests commit with its profiles).
    """
    started = time.perf_counter()
    run, _ = latest_run(con)
    fingerprint = con.execute("SELECT COALESCE(registries, '') FROM runs WHERE version = ?", [run]).fetchone()[0]  # type: ignore[index]
    modes = {p.id: p.delivery for p in policies}
    job = CopyJob(run, fingerprint, modes, [m for m in notify_modes if m in MODES], _now())
    total: int = con.execute("SELECT count(*) FROM entitlements").fetchone()[0]  # type: ignore[index]
    with engine.begin() as db:
        if with_profiles:
            replace_profiles(con, db)
        previous = run_in_store(con, db)
        published = [] if previous is None else published_batches(con, db, previous)
        _sync_runs(con, db, run, job.now)
        _store_diff(con, db, run)
        changes = None if previous is None else _changes(con, previous, published, limit=_most_changes(total))
        if changes is None:
            revoked, notified = _replace(con, db, engine, job, batch)
            written = total + revoked
        else:
            revoked, notified = write_changes(db, engine, job, changes)
            written = len(changes)
        _copied_batches(con, db, run, job.now)
        if also is not None:
            also(db)
    return CopyReport(run, total, revoked, notified, time.perf_counter() - started, written)


def _most_changes(total: int) -> int:
    """Past this many changed rows, writing every row is the quicker copy (and holds fewer in memory)."""
    return min(max(total // 2, 1_000), 5_000_000)


def run_in_store(con: duckdb.DuckDBPyConnection, db: Connection) -> int | None:
    """The run whose entitlements the store holds, if the results database still has that very run."""
    stored = db.execute(
        select(matching_runs.c.run, matching_runs.c.finished_at)
        .where(matching_runs.c.copied_at.is_not(None))
        .order_by(matching_runs.c.copied_at.desc(), matching_runs.c.run.desc())
        .limit(1)
    ).first()
    if stored is None:
        return None
    here = con.execute("SELECT finished_at FROM runs WHERE version = ?", [stored.run]).fetchone()
    return int(stored.run) if here is not None and here[0] == stored.finished_at else None


Change = tuple[str, str, "int | None", "int | None"]  # subject, policy id, version now (None: gone), before


def _finished_at(con: duckdb.DuckDBPyConnection, run: int) -> dt.datetime:
    return con.execute("SELECT finished_at FROM runs WHERE version = ?", [run]).fetchone()[0]  # type: ignore[index,no-any-return]


def published_batches(con: duckdb.DuckDBPyConnection, db: Connection, run: int) -> list[int]:
    """The change batches over run `run` of this results database that the services database holds."""
    p = change_publications
    return list(db.execute(
        select(p.c.batch).where(p.c.run == run, p.c.run_finished_at == _finished_at(con, run)).order_by(p.c.batch)
    ).scalars())  # fmt: skip


def record_publication(
    con: duckdb.DuckDBPyConnection, db: Connection, run: int, batch: int, now: dt.datetime,
    written: tuple[int, int, int] = (0, 0, 0),
) -> None:
    """Batch `batch` over run `run` reached the services database (entitlements, profiles, withdrawn)."""
    entitled, profiled, withdrawn = written
    db.execute(insert(change_publications).values(
        run=run, run_finished_at=_finished_at(con, run), batch=batch, published_at=now,
        entitlements=entitled, profiles=profiled, withdrawn=withdrawn,
    ))  # fmt: skip


def _copied_batches(con: duckdb.DuckDBPyConnection, db: Connection, run: int, now: dt.datetime) -> None:
    """A copy holds the run as every batch applied so far changed it: those batches are published with it."""
    held = set(published_batches(con, db, run))
    for batch in batches_of(con, run):
        if batch not in held:
            record_publication(con, db, run, batch, now)


def _changes(
    con: duckdb.DuckDBPyConnection, previous: int, published: Sequence[int], *, limit: int
) -> list[Change] | None:
    """What differs between what the store holds (run `previous` as the `published` change batches changed it)
    and the results database's entitlements; None past `limit` rows (replace all then)."""
    differences = f"""
        SELECT COALESCE(n.subject, o.subject) AS subject, COALESCE(n.policy_id, o.policy_id) AS policy_id,
               n.version AS now_version, o.version AS before_version
        FROM entitlements AS n
        FULL OUTER JOIN ({held_entitlements_sql(previous, published)}) AS o
          ON n.subject = o.subject AND n.policy_id = o.policy_id
        WHERE n.version IS DISTINCT FROM o.version
    """
    cursor = con.execute(f"SELECT * FROM ({differences}) ORDER BY subject, policy_id LIMIT ?", [limit + 1])
    found: list[Change] = []
    while rows := cursor.fetchmany(100_000):
        found += rows
        if len(found) > limit:
            return None
    return found


def _notify(db: Connection, engine: Engine, job: CopyJob, rows: list[tuple[str, str, int]]) -> int:
    """Inbox notices for (subject, policy, version) rows of the notified modes; returns how many are new."""
    values = [
        {"subject": s, "policy_id": p, "policy_version": v, "matching_run": job.run, "channel": INBOX,
         "queued_at": job.now}
        for s, p, v in rows
        if job.modes.get(p, "scan") in job.notify_modes
    ]  # fmt: skip
    return max(db.execute(insert_ignoring_duplicates(engine, notifications), values).rowcount, 0) if values else 0


def write_changes(db: Connection, engine: Engine, job: CopyJob, changes: Sequence[Change]) -> tuple[int, int]:
    """Write only what changed: new rows, new versions, and the dropped ones marked revoked; (revoked, notified).

    A copy writes the differences between two runs; a published change batch writes its own.
    On PostgreSQL the changes are COPYed into a temporary table and applied by four set-wise
    statements (_write_changes_copied), not one statement a row.
    """
    if is_postgres(db):
        return _write_changes_copied(db, job, changes)
    e = stored_entitlements
    pair = and_(e.c.subject == bindparam("s_"), e.c.policy_id == bindparam("p_"))
    gone = [{"s_": s, "p_": p} for s, p, now, _ in changes if now is None]
    new = [(s, p, now) for s, p, now, before in changes if now is not None and before is None]
    moved = [(s, p, now) for s, p, now, before in changes if now is not None and before is not None]
    revoked = 0
    if gone:
        revoked = db.execute(update(e).where(pair, e.c.revoked_in.is_(None)).values(revoked_in=job.run), gone).rowcount
    if new:  # a pair revoked earlier and found again: its revoked row gives way to the new one
        db.execute(delete(e).where(pair), [{"s_": s, "p_": p} for s, p, _ in new])
        generation = db.execute(select(func.coalesce(func.max(e.c.generation), 0) + 1)).scalar_one()
        bulk_insert(db, e, [
            (s, p, generation, v, job.modes.get(p, "scan"), job.run, job.fingerprint, None) for s, p, v in new
        ])  # fmt: skip
    if moved:
        db.execute(
            update(e).where(pair, e.c.revoked_in.is_(None)).values(
                policy_version=bindparam("v_"), mode=bindparam("m_"), run=job.run, evidence=job.fingerprint
            ),
            [{"s_": s, "p_": p, "v_": v, "m_": job.modes.get(p, "scan")} for s, p, v in moved],
        )  # fmt: skip
    return revoked, _notify(db, engine, job, new + moved)


def _write_changes_copied(db: Connection, job: CopyJob, changes: Sequence[Change]) -> tuple[int, int]:
    """write_changes on PostgreSQL: the changes COPYed into a temporary table, then applied set-wise."""
    db.exec_driver_sql(
        "CREATE TEMPORARY TABLE changes_ (s VARCHAR(64), p VARCHAR(64), now_v INTEGER, before_v INTEGER, "
        "mode VARCHAR(16)) ON COMMIT DROP"
    )
    copy_rows(db, "changes_", ["s", "p", "now_v", "before_v", "mode"],
              [(s, p, now, before, job.modes.get(p, "scan")) for s, p, now, before in changes])  # fmt: skip
    db.exec_driver_sql("ANALYZE changes_")
    same = "e.subject = c.s AND e.policy_id = c.p"
    revoked = db.exec_driver_sql(
        f"UPDATE entitlements AS e SET revoked_in = %(run)s FROM changes_ AS c "
        f"WHERE c.now_v IS NULL AND {same} AND e.revoked_in IS NULL", {"run": job.run},
    ).rowcount  # fmt: skip
    # a pair revoked earlier and found again: its revoked row gives way to the new one
    db.exec_driver_sql(f"DELETE FROM entitlements AS e USING changes_ AS c "
                       f"WHERE c.now_v IS NOT NULL AND c.before_v IS NULL AND {same}")  # fmt: skip
    generation = db.execute(select(func.coalesce(func.max(stored_entitlements.c.generation), 0) + 1)).scalar_one()
    values = {"run": job.run, "evidence": job.fingerprint, "generation": generation}
    db.exec_driver_sql(
        "INSERT INTO entitlements (subject, policy_id, generation, policy_version, mode, run, evidence, revoked_in) "
        "SELECT s, p, %(generation)s, now_v, mode, %(run)s, %(evidence)s, NULL FROM changes_ "
        "WHERE now_v IS NOT NULL AND before_v IS NULL", values,
    )  # fmt: skip
    db.exec_driver_sql(
        f"UPDATE entitlements AS e SET policy_version = c.now_v, mode = c.mode, run = %(run)s, "
        f"evidence = %(evidence)s FROM changes_ AS c "
        f"WHERE c.now_v IS NOT NULL AND c.before_v IS NOT NULL AND {same} AND e.revoked_in IS NULL", values,
    )  # fmt: skip
    notified = 0
    if job.notify_modes:
        notified = db.exec_driver_sql(
            "INSERT INTO notifications (subject, policy_id, policy_version, matching_run, channel, queued_at) "
            "SELECT s, p, now_v, %(run)s, %(channel)s, %(now)s FROM changes_ "
            "WHERE now_v IS NOT NULL AND mode = ANY(%(modes)s) ON CONFLICT DO NOTHING",
            {"run": job.run, "channel": INBOX, "now": job.now, "modes": list(job.notify_modes)},
        ).rowcount  # fmt: skip
    return max(revoked, 0), max(notified, 0)


def _mode_sql(job: CopyJob) -> str:
    """Each policy's delivery mode as a DuckDB expression over `policy_id` (scan for one the catalogue lacks)."""
    whens = " ".join(f"WHEN {literal_sql(p)} THEN {literal_sql(m)}" for p, m in sorted(job.modes.items()))
    return f"CASE policy_id {whens} ELSE 'scan' END" if whens else "'scan'"


def _replace(
    con: duckdb.DuckDBPyConnection, db: Connection, engine: Engine, job: CopyJob, batch: int
) -> tuple[int, int]:
    """Write every row of the run under a new generation, then retire the older generations.

    On PostgreSQL the rows go by COPY (app.db.copy), the rest are set-wise statements on the server.
    """
    e = stored_entitlements
    generation = db.execute(select(func.coalesce(func.max(e.c.generation), 0) + 1)).scalar_one()
    if is_postgres(db):
        # In key order, here and for the notices: the B-trees fill left to right (1.1 M rows with their
        # notices, 9.9 s to 8.2 s).
        copy_query(
            con,
            f"SELECT subject, policy_id, {int(generation)}, version, {_mode_sql(job)}, {int(job.run)}, "
            f"{literal_sql(job.fingerprint)}, NULL FROM entitlements ORDER BY subject, policy_id",
            db, e.name, [c.name for c in e.columns],
        )  # fmt: skip
        db.exec_driver_sql(f"ANALYZE {e.name}")
    else:
        cursor = con.execute("SELECT subject, policy_id, version FROM entitlements ORDER BY subject, policy_id")
        while rows := cursor.fetchmany(batch):
            bulk_insert(db, e, [
                (subject, policy_id, generation, version, job.modes.get(policy_id, "scan"), job.run, job.fingerprint,
                 None)
                for subject, policy_id, version in rows
            ])  # fmt: skip
    notified = 0
    if job.notify_modes:
        fresh = select(
            e.c.subject, e.c.policy_id, e.c.policy_version, e.c.run,
            literal(INBOX, String).label("channel"), literal(job.now, DateTime).label("queued_at"),
        ).where(e.c.generation == generation, e.c.mode.in_(job.notify_modes))  # fmt: skip
        fresh = fresh.order_by(e.c.subject, e.c.policy_id)  # the unique index filled in its own order
        statement = insert_ignoring_duplicates(engine, notifications).from_select(
            ["subject", "policy_id", "policy_version", "matching_run", "channel", "queued_at"], fresh
        )
        notified = max(db.execute(statement).rowcount, 0)
    again = e.alias("again")
    found_again = (
        select(again.c.subject)
        .where(again.c.subject == e.c.subject, again.c.policy_id == e.c.policy_id, again.c.generation == generation)
        .exists()
    )
    revoked = db.execute(
        update(e).where(e.c.generation < generation, e.c.revoked_in.is_(None), ~found_again).values(revoked_in=job.run)
    ).rowcount
    db.execute(delete(e).where(e.c.generation < generation, or_(e.c.revoked_in.is_(None), found_again)))
    return revoked, notified


def _status(row: Any, objected: set[str], paid: set[str], confirmed: set[str], noticed: set[tuple[str, int]]) -> str:
    if row.policy_id in objected:
        return OBJECTED
    if row.revoked_in is not None:
        return REVOKED
    if row.policy_id in paid:
        return PAID
    if row.policy_id in confirmed:
        return CONFIRMED
    if (row.policy_id, row.policy_version) in noticed:
        return NOTIFIED
    return ELIGIBLE


def entitlements_of(engine: Engine, subject: str) -> list[StoredEntitlement]:
    """The subject's entitlements in the latest copied run, and the ones a later run revoked, by policy id.

    The status is read from the ledger tables each step writes (an open objection first, then
    revoked, paid, confirmed, notified, eligible), so it cannot disagree with them.
    """
    e = stored_entitlements
    with engine.connect() as db:
        rows = db.execute(select(e).where(e.c.subject == subject).order_by(e.c.policy_id, e.c.generation)).all()
        if not rows:
            return []
        objected = set(db.execute(select(objections.c.policy_id).where(
            objections.c.subject == subject, objections.c.status == "open"
        )).scalars())  # fmt: skip
        paid = set(db.execute(select(payouts.c.policy_id).where(payouts.c.subject == subject)).scalars())
        noticed = {(p, v) for p, v in db.execute(
            select(notifications.c.policy_id, notifications.c.policy_version).where(notifications.c.subject == subject)
        )}  # fmt: skip
        latest_application: dict[str, tuple[int, bool]] = {}  # policy -> (run, confirmed)
        for policy_id, run, confirmed_at in db.execute(
            select(applications.c.policy_id, applications.c.matching_run, confirmations.c.confirmed_at)
            .outerjoin(confirmations, confirmations.c.application_sha256 == applications.c.sha256)
            .where(applications.c.subject == subject)
            .order_by(applications.c.matching_run)
        ):
            was_confirmed = latest_application.get(policy_id, (0, False))[1]
            latest_application[policy_id] = (run, was_confirmed or confirmed_at is not None)
    confirmed = {p for p, (_, done) in latest_application.items() if done}
    latest = {row.policy_id: row for row in rows}  # the newest generation of each policy
    result = []
    for policy_id, row in sorted(latest.items()):
        status = _status(row, objected, paid, confirmed, noticed)
        waiting = (
            row.mode == "confirm" and row.revoked_in is None and policy_id in latest_application
            and policy_id not in confirmed and status != OBJECTED
        )  # fmt: skip
        result.append(StoredEntitlement(
            policy_id, row.policy_version, row.mode, status, row.run, row.evidence, waiting
        ))  # fmt: skip
    return result


def runs(engine: Engine) -> list[RunRecord]:
    """The run history, newest first; `copied_at` tells which runs reached the services."""
    with engine.connect() as db:
        rows = db.execute(select(matching_runs).order_by(matching_runs.c.run.desc())).all()
    records = []
    for r in rows:
        records.append(RunRecord(
            r.run, r.day, r.started_at, r.finished_at, r.registries, r.persons, r.enterprises, r.entitlements,
            r.seconds, json.loads(r.counts), r.copied_at,
        ))  # fmt: skip
    return records


def diff_of(engine: Engine, old: int, new: int) -> list[StoredDiff] | None:
    """Per policy: newly eligible, no longer eligible, changed version, from run `old` to run `new`.

    Kept for each copied run against the run before it; None for other pairs (`suishen match diff`
    compares any two from the results database).
    """
    with engine.connect() as db:
        rows = db.execute(
            select(run_diffs.c.policy_id, run_diffs.c.newly_eligible, run_diffs.c.no_longer_eligible,
                   run_diffs.c.changed_version)
            .where(and_(run_diffs.c.old_run == old, run_diffs.c.new_run == new))
            .order_by(run_diffs.c.policy_id)
        ).all()  # fmt: skip
    return [StoredDiff(*row) for row in rows] or None
