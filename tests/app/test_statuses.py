"""An entitlement's status follows the records each step leaves: runs, notices, confirmations, payouts, objections."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from app.catalogue import load_catalogue
from app.db.engine import open_database
from app.matching.applications import write_applications
from app.matching.confirmations import confirm
from app.matching.engine import attach_registries, connect, record_run, run_matching
from app.matching.objections import file_objection
from app.matching.payouts import pay
from app.matching.statuses import (
    CONFIRMED,
    ELIGIBLE,
    EXPIRED,
    NONE,
    NOTIFIED,
    OBJECTED,
    PAID,
    REVOKED,
    notify,
    status_of,
)
from keys import directory
from tests.support.registries import DAY, random_registries, write_parquet_registries

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"


def test_statuses_move_with_the_records(tmp_path: Path) -> None:
    (tmp_path / "registries").mkdir()
    folder = write_parquet_registries(random_registries(seed=53, n=600), tmp_path / "registries")
    policies = load_catalogue(CATALOGUE).policies
    con = connect(tmp_path / "results.duckdb")
    attach_registries(con, folder)
    run = record_run(con, run_matching(con, policies, DAY))
    engine = open_database(tmp_path / "ledger.sqlite")

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

    # Confirm mode: eligible -> notified -> confirmed -> paid, and never paid without the confirmation.
    confirm_policy, other_policy = "sh-student-transport-subsidy", "sh-disability-living-subsidy"
    student, waiting = (
        str(con.execute("SELECT min(subject) FROM entitlements WHERE policy_id = ?", [p]).fetchone()[0])  # type: ignore[index]
        for p in (confirm_policy, other_policy)
    )
    assert student.startswith("P") and waiting.startswith("P")
    assert status_of(con, engine, student, confirm_policy).status == ELIGIBLE
    notify(con, engine, [confirm_policy, other_policy], run)
    assert status_of(con, engine, student, confirm_policy).status == NOTIFIED
    write_applications(con, engine, policies, DAY, run, lambda d: directory.seal_key(tmp_path / "keys", d, b"pw"))
    before = {r.policy_id: r for r in pay(con, engine, policies, "2026-11", run)}
    assert before[confirm_policy].new == before[other_policy].new == 0  # nobody has confirmed yet: nothing paid
    assert before[confirm_policy].unconfirmed >= 1 and before[other_policy].unconfirmed >= 1
    assert status_of(con, engine, student, confirm_policy).status == NOTIFIED
    confirm(engine, student, confirm_policy, "web")
    assert status_of(con, engine, student, confirm_policy).status == CONFIRMED
    paid_now = {r.policy_id: r for r in pay(con, engine, policies, "2026-11", run)}
    assert (paid_now[confirm_policy].entitled, paid_now[confirm_policy].new) == (1, 1)  # the one confirmed
    assert paid_now[other_policy].new == 0
    settled = status_of(con, engine, student, confirm_policy)
    assert settled.status == PAID
    steps = [what for _, what in settled.timeline]
    assert any(w == "confirmed via web" for w in steps) and any(w.startswith("paid ¥100 for 2026-11") for w in steps)
    assert steps.index("confirmed via web") < next(i for i, w in enumerate(steps) if w.startswith("paid"))
    assert status_of(con, engine, waiting, other_policy).status == NOTIFIED  # not confirmed: never paid
    living = next(p for p in policies if p.id == other_policy)
    assert living.confirm_within_days == 90
    late = status_of(con, engine, waiting, other_policy, policy=living, now=time.time() + 91 * 86400)
    assert late.status == EXPIRED and late.timeline[-1][1] == "not confirmed in time: expired, apply through the " \
        "original channel"  # fmt: skip
    assert status_of(con, engine, waiting, other_policy, policy=living).status == NOTIFIED  # within the 90 days
    assert status_of(con, engine, student, confirm_policy, policy=next(
        p for p in policies if p.id == confirm_policy), now=time.time() + 400 * 86400).status == PAID  # fmt: skip
    again = {r.policy_id: r for r in pay(con, engine, policies, "2026-11", run)}[confirm_policy]
    assert (again.new, again.already_paid) == (0, 1)

    # Ten years on, the enrolment has ended: the next run no longer entitles the student.
    later = record_run(con, run_matching(con, policies, DAY + dt.timedelta(days=3650)))
    revoked = status_of(con, engine, student, confirm_policy)
    assert revoked.status == REVOKED and any(f"run {later}: no longer eligible" in w for _, w in revoked.timeline)
    assert status_of(con, engine, "P-nobody", direct) == (NONE, [])
