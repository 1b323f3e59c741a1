"""An entitlement's status follows the records each step leaves: runs, notices, confirmations, payouts, objections."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from app.catalogue import load_catalogue
from app.matching.applications import confirm, write_applications
from app.matching.engine import attach_registries, connect, record_run, run_matching
from app.matching.objections import file_objection
from app.matching.payouts import ledger, pay
from app.matching.statuses import CONFIRMED, ELIGIBLE, NONE, NOTIFIED, OBJECTED, PAID, REVOKED, notify, status_of
from keys import directory
from tests.app.test_matching_sql import DAY, _random_registries, write_parquet_registries

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"


def test_statuses_move_with_the_records(tmp_path: Path) -> None:
    (tmp_path / "registries").mkdir()
    folder = write_parquet_registries(_random_registries(seed=53, n=600), tmp_path / "registries")
    policies = load_catalogue(CATALOGUE).policies
    con = connect(tmp_path / "results.duckdb")
    attach_registries(con, folder)
    run = record_run(con, run_matching(con, policies, DAY))
    engine = ledger(tmp_path / "ledger.sqlite")

    direct = "sh-senior-allowance-70-79"
    subjects = [s for (s,) in con.execute(
        "SELECT subject FROM entitlements WHERE policy_id = ? ORDER BY subject LIMIT 3", [direct]
    ).fetchall()]  # fmt: skip
    assert len(subjects) == 3
    first, second, _ = subjects
    assert status_of(con, engine, first, direct).status == ELIGIBLE
    assert notify(con, engine, [direct], run) > 0
    assert notify(con, engine, [direct], run) == 0  # one notice per subject and policy
    assert status_of(con, engine, first, direct).status == NOTIFIED
    pay(con, engine, policies, "2026-11", run)
    paid = status_of(con, engine, first, direct)
    assert paid.status == PAID and paid.timeline[0][1] == f"run {run}: eligible"
    assert any(what.startswith("paid ¥150 for 2026-11") for _, what in paid.timeline)
    file_objection(engine, second, direct, "wrong", "the amount should be higher")
    assert status_of(con, engine, second, direct).status == OBJECTED

    confirm_policy = "sh-student-transport-subsidy"
    student = con.execute(
        "SELECT subject FROM entitlements WHERE policy_id = ? ORDER BY subject LIMIT 1", [confirm_policy]
    ).fetchone()
    assert student is not None
    write_applications(con, engine, policies, DAY, run, lambda d: directory.seal_key(tmp_path / "keys", d, b"pw"))
    confirm(engine, student[0], confirm_policy, "web")
    assert status_of(con, engine, student[0], confirm_policy).status == CONFIRMED

    # Ten years on, the enrolment has ended: the next run no longer entitles the student.
    later = record_run(con, run_matching(con, policies, DAY + dt.timedelta(days=3650)))
    revoked = status_of(con, engine, student[0], confirm_policy)
    assert revoked.status == REVOKED and any(f"run {later}: no longer eligible" in w for _, w in revoked.timeline)
    assert status_of(con, engine, "P-nobody", direct) == (NONE, [])
