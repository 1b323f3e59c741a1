"""A change batch's effects in the services database, as a run's copy has them: exactly once per batch.

`apply_changes` (changes.py) changes the results database: the affected subjects' entitlements,
the difference per batch (`entitlement_changes`), their profiles and the subjects whose new profile
takes back what their earlier codes assert (`batch_withdrawals`). `publish_pending` carries every
batch the services database does not hold yet to it, in one transaction with its record in
`change_publications`:

- the entitlement differences (entitlement_store.write_changes, as a copy writes them: new rows,
  new versions, the lost ones marked revoked), and one inbox notice per newly entitled (subject,
  policy, version) of every mode;
- the affected subjects' profiles (persons and enterprises), so the next code carries the new facts;
- a revocation request for each subject whose earlier codes the batch takes back (the servers
  publish them into the revocation list within seconds: app.revocations.publish_requests).

Only over the run the services database holds: when it holds another (a run not copied yet), the
batches wait and the copy of the run carries them (entitlement_store records them as published
with it). A batch that failed to reach the services (the database down) is published with the next
one, or by `suishen match apply-changes --ledger` with no new records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

import duckdb
from sqlalchemy import Connection, Engine, delete
from sqlalchemy.exc import IntegrityError

from app.db.bulk import bulk_insert
from app.db.schema import enterprise_profiles, profiles
from app.matching.changes import ChangeError, batches_of
from app.matching.engine import latest_run
from app.matching.entitlement_store import (
    MODES,
    Change,
    CopyJob,
    published_batches,
    record_publication,
    run_in_store,
    write_changes,
)
from app.revocations import ENTITLEMENT_DROPPED, request_subject_revocations
from verifier.catalogue import Policy

_CHUNK = 5_000  # subjects per statement (SQLite's bound parameters)


class Publication(NamedTuple):
    batches: int  # batches published now
    entitlements: int  # entitlement rows written
    revoked: int  # of which marked revoked
    notified: int  # new inbox notices
    profiles: int  # profiles replaced (persons and enterprises)
    withdrawn: int  # subjects whose earlier codes are to be withdrawn


NOTHING = Publication(0, 0, 0, 0, 0, 0)


def pending_batches(con: duckdb.DuckDBPyConnection, db: Connection, run: int) -> list[int]:
    held = set(published_batches(con, db, run))
    return [b for b in batches_of(con, run) if b not in held]


def publish_pending(con: duckdb.DuckDBPyConnection, ledger: Engine, policies: Sequence[Policy]) -> Publication:
    """Every applied batch the services database lacks, in one transaction; ChangeError when it holds another run."""
    run, _ = latest_run(con)
    try:
        with ledger.begin() as db:
            pending = pending_batches(con, db, run)
            if not pending:
                return NOTHING
            held = run_in_store(con, db)
            if held != run:
                raise ChangeError(
                    f"the services database holds {'no run' if held is None else f'run {held}'} of these results, "
                    f"not run {run} that {len(pending)} change batch(es) changed: copy run {run} first "
                    "(`suishen match run --ledger`); the batches are published with it"
                )
            return _publish(con, db, ledger, policies, run, pending)
    except IntegrityError:  # another process published these batches first
        return NOTHING


def _publish(
    con: duckdb.DuckDBPyConnection, db: Connection, ledger: Engine, policies: Sequence[Policy], run: int,
    pending: list[int],
) -> Publication:  # fmt: skip
    batches = ", ".join(str(b) for b in pending)
    changes: list[Change] = con.execute(
        f"""
        SELECT subject, policy_id, now_version, before_version FROM (
            SELECT subject, policy_id, first(new_version ORDER BY batch DESC) AS now_version,
                   first(old_version ORDER BY batch) AS before_version
            FROM entitlement_changes WHERE batch IN ({batches}) GROUP BY subject, policy_id)
        WHERE now_version IS DISTINCT FROM before_version ORDER BY subject, policy_id
        """
    ).fetchall()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    job = CopyJob(run, f"change batch {pending[-1]}", {p.id: p.delivery for p in policies}, list(MODES), now)
    revoked, notified = write_changes(db, ledger, job, changes)
    replaced = _replace_profiles(con, db, batches, enterprise=False) + _replace_profiles(con, db, batches, True)
    withdrawn = [s for (s,) in con.execute(
        f"SELECT DISTINCT subject FROM batch_withdrawals WHERE batch IN ({batches}) ORDER BY subject"
    ).fetchall()]  # fmt: skip
    request_subject_revocations(db, [(s, ENTITLEMENT_DROPPED) for s in withdrawn], now.timestamp())
    for batch in pending[:-1]:
        record_publication(con, db, run, batch, now)
    record_publication(con, db, run, pending[-1], now, (len(changes), replaced, len(withdrawn)))
    return Publication(len(pending), len(changes), revoked, notified, replaced, len(withdrawn))


def _replace_profiles(con: duckdb.DuckDBPyConnection, db: Connection, batches: str, enterprise: bool) -> int:
    """The batches' affected subjects' stored profiles replaced by the results database's (gone: deleted)."""
    table, source = (enterprise_profiles, "enterprise_profiles") if enterprise else (profiles, "profiles")
    fields = ", ".join(f"p.{c.name}" for c in table.columns)
    subjects = [s for (s,) in con.execute(
        f"SELECT DISTINCT subject FROM batch_subjects WHERE batch IN ({batches}) AND enterprise = ? ORDER BY 1",
        [enterprise],
    ).fetchall()]  # fmt: skip
    if not subjects:
        return 0
    try:
        rows = con.execute(
            f"SELECT {fields} FROM {source} AS p JOIN (SELECT DISTINCT subject FROM batch_subjects "
            f"WHERE batch IN ({batches}) AND enterprise = ?) USING (subject) ORDER BY p.subject",
            [enterprise],
        ).fetchall()
    except duckdb.CatalogException:  # a results database without that kind of profile: leave the stored ones
        return 0
    for start in range(0, len(subjects), _CHUNK):
        db.execute(delete(table).where(table.c.subject.in_(subjects[start:start + _CHUNK])))
    for start in range(0, len(rows), _CHUNK):
        bulk_insert(db, table, rows[start:start + _CHUNK])
    return len(rows)
