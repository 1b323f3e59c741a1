"""Exactly one payout per (subject, policy, period): repeated runs add nothing, a killed run is finished,
confirmed confirm-mode entitlements are paid with the direct ones, and each policy pays as often as it says."""

from __future__ import annotations

import csv
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.catalogue import load_catalogue
from app.db.engine import open_database
from app.db.schema import payouts
from app.matching.applications import write_applications
from app.matching.confirmations import confirm
from app.matching.engine import attach_registries, connect, record_run, run_matching
from app.matching.payouts import (
    PayoutResult,
    describe,
    export_payout_file,
    next_pay_period,
    paid_count,
    pay,
    pays_in,
)
from app.matching.synth import synthesise
from keys import directory
from tests.support.registries import DAY

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"
SUISHEN = str(Path(sys.executable).parent / "suishen")
PERIOD = "2026-11"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("payouts")
    synthesise(folder / "registries", persons=30_000, enterprises=3_000, seed=3)
    con = connect(folder / "results.duckdb")
    attach_registries(con, folder / "registries")
    record_run(con, run_matching(con, load_catalogue(CATALOGUE).policies, DAY))
    con.close()
    return folder / "results.duckdb"


def _expected(results: Path, period: str = PERIOD) -> int:
    """Direct-mode payouts due in the period (a `once` policy's as if never paid)."""
    direct = [p.id for p in load_catalogue(CATALOGUE).policies
              if p.delivery == "direct" and p.status == "published" and pays_in(p.pays or "", period)]  # fmt: skip
    con = connect(results)
    placeholders = ", ".join("?" for _ in direct)
    count: int = con.execute(
        f"SELECT count(*) FROM entitlements WHERE policy_id IN ({placeholders})", direct
    ).fetchone()[0]  # type: ignore[index]
    con.close()
    return count


def _confirm_most(results: Path, engine: sa.Engine, keys: Path) -> dict[str, int]:
    """Sealed applications for every confirm-mode entitlement, confirmed by all but every tenth subject."""
    policies = load_catalogue(CATALOGUE).policies
    con = connect(results)
    attach_registries(con, results.parent / "registries")
    write_applications(con, engine, policies, DAY, 1, lambda d: directory.seal_key(keys, d, b"pw"))
    confirmed: dict[str, int] = {}
    for policy in (p for p in policies if p.delivery == "confirm"):
        subjects = [s for (s,) in con.execute(
            "SELECT subject FROM entitlements WHERE policy_id = ? ORDER BY subject", [policy.id]
        ).fetchall()]  # fmt: skip
        for i, subject in enumerate(subjects):
            if i % 10 != 9:
                confirm(engine, subject, policy.id, "counter", policy=policy)
        confirmed[policy.id] = sum(1 for i in range(len(subjects)) if i % 10 != 9)
    con.close()
    return confirmed


def test_a_killed_payout_run_is_finished_by_the_next_without_paying_twice(results: Path, tmp_path: Path) -> None:
    ledger_file = tmp_path / "ledger.sqlite"
    engine = open_database(ledger_file)
    confirmed = _confirm_most(results, engine, tmp_path / "keys")  # confirmed entitlements in the batch as well
    student, startup = confirmed["sh-student-transport-subsidy"], confirmed["sh-enterprise-startup-subsidy"]
    assert student >= 20 and startup >= 300 and confirmed["sh-disability-living-subsidy"] >= 10
    expected = _expected(results) + sum(confirmed.values())
    assert expected > 2_000
    process = subprocess.Popen(
        [SUISHEN, "match", "pay", "--period", PERIOD, "--db", str(results), "--ledger", str(ledger_file),
         "--catalogue", str(CATALOGUE), "--batch", "20"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    written = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if ledger_file.exists():
            try:
                with sqlite3.connect(ledger_file, timeout=0.1) as db:
                    written = db.execute("SELECT count(*) FROM payouts").fetchone()[0]
            except sqlite3.OperationalError:
                written = 0  # the table is being created, or the ledger is busy
            if written >= 200:
                process.send_signal(signal.SIGKILL)
                break
        time.sleep(0.01)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the payout run finished before it could be killed"
    with sqlite3.connect(ledger_file) as db:
        before = db.execute("SELECT count(*) FROM payouts").fetchone()[0]
    assert 200 <= before < expected  # killed midway
    with sqlite3.connect(ledger_file) as db:  # the confirmed pupils come last: the killed run had not paid them
        pupils = "SELECT count(*) FROM payouts WHERE policy_id = 'sh-student-transport-subsidy'"
        assert db.execute(pupils).fetchone()[0] == 0

    con = connect(results)
    policies = load_catalogue(CATALOGUE).policies
    finished = pay(con, engine, policies, PERIOD, matching_run=1, batch=500)
    assert sum(r.new for r in finished) == expected - before
    assert sum(r.already_paid for r in finished) == before
    again = pay(con, engine, policies, PERIOD, matching_run=1)
    assert sum(r.new for r in again) == 0 and paid_count(engine, PERIOD) == expected
    with sqlite3.connect(ledger_file) as db:
        duplicates = db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM payouts GROUP BY subject, policy_id, period HAVING count(*) > 1)"
        ).fetchone()[0]
    assert duplicates == 0

    out = tmp_path / "finance" / f"{PERIOD}.csv"
    lines, total = export_payout_file(engine, PERIOD, out)
    rows = list(csv.DictReader(out.open()))
    assert lines == len(rows) == expected
    assert total == sum(int(r["amount_yuan"]) for r in rows) > 0
    by_id = {p.id: p for p in policies}
    for r in rows[:200]:
        version = next(v for v in by_id[r["policy_id"]].versions if v.version == int(r["policy_version"]))
        assert int(r["amount_yuan"]) == version.benefit.amount_yuan
    paid = {policy: sum(1 for r in rows if r["policy_id"] == policy) for policy in confirmed}
    assert paid == confirmed  # every confirmed one paid once, none of the unconfirmed
    assert not any(r["policy_id"] in ("sh-enterprise-small-tax-relief", "sh-enterprise-stable-employment-subsidy")
                   for r in rows)  # yearly: paid in January, not in November  # fmt: skip
    engine.dispose()


def test_a_new_period_pays_again_and_only_once(results: Path, services_url: str) -> None:
    engine = open_database(services_url)
    con = connect(results)
    policies = load_catalogue(CATALOGUE).policies
    first = sum(r.new for r in pay(con, engine, policies, "2026-11", matching_run=1))
    second = sum(r.new for r in pay(con, engine, policies, "2026-12", matching_run=1))
    assert first == second == _expected(results) == _expected(results, "2026-12")  # monthly ones (no once one due)
    assert paid_count(engine, "2026-11") == paid_count(engine, "2026-12") == first
    again = pay(con, engine, policies, "2026-12", matching_run=1)  # the counts hold on PostgreSQL too
    assert sum(r.new for r in again) == 0 and sum(r.already_paid for r in again) == first
    engine.dispose()


def test_each_policy_pays_as_often_as_it_says(results: Path, services_url: str, tmp_path: Path) -> None:
    """Monthly every month, quarterly in January, April, July and October, yearly in January, once ever."""
    engine = open_database(services_url)
    confirmed = _confirm_most(results, engine, tmp_path / "keys")
    con = connect(results)
    policies = load_catalogue(CATALOGUE).policies
    by_id = {p.id: p for p in policies}
    assert (by_id["sh-enterprise-startup-subsidy"].pays, by_id["sh-enterprise-stable-employment-subsidy"].pays,
            by_id["sh-disability-living-subsidy"].pays) == ("once", "yearly", "monthly")  # fmt: skip
    quarterly = by_id["sh-enterprise-small-tax-relief"]._replace(pays="quarterly")  # a policy that pays quarterly
    policies = tuple(quarterly if p.id == quarterly.id else p for p in policies)

    def run(period: str) -> dict[str, PayoutResult]:
        return {r.policy_id: r for r in pay(con, engine, policies, period, matching_run=1)}

    november = run("2026-11")
    stable, tax, startup, living = (november[p] for p in ("sh-enterprise-stable-employment-subsidy",
                                    "sh-enterprise-small-tax-relief", "sh-enterprise-startup-subsidy",
                                    "sh-disability-living-subsidy"))  # fmt: skip
    assert (stable.new, stable.next_period) == (0, "2027-01") and (tax.new, tax.next_period) == (0, "2027-01")
    assert describe(tax).endswith("pays quarterly, in the first month of a quarter (January, April, July, "
                                  "October): nothing this period; next 2027-01")  # fmt: skip
    assert describe(stable).endswith("pays yearly, in January: nothing this period; next 2027-01")
    assert startup.new == confirmed["sh-enterprise-startup-subsidy"] and living.new == confirmed[living.policy_id]
    december = run("2026-12")
    assert december[living.policy_id].new == confirmed[living.policy_id]  # monthly: again
    once = december["sh-enterprise-startup-subsidy"]
    assert (once.new, once.already_paid) == (0, confirmed["sh-enterprise-startup-subsidy"])  # once: never again
    assert "(once per subject and policy version, ever)" in describe(once)
    january = run("2027-01")
    assert january[tax.policy_id].new == january[tax.policy_id].entitled > 2_000  # the quarter's first month
    assert january[stable.policy_id].new > 2_000 and january[stable.policy_id].next_period is None
    assert run("2027-02")[tax.policy_id].new == 0 and run("2027-04")[tax.policy_id].new > 2_000
    assert run("2027-04")[stable.policy_id].next_period == "2028-01"
    assert january["sh-enterprise-startup-subsidy"].new == 0
    with engine.connect() as db:
        startups = db.execute(sa.select(sa.func.count()).select_from(payouts).where(
            payouts.c.policy_id == "sh-enterprise-startup-subsidy")).scalar_one()  # fmt: skip
        row = db.execute(sa.select(payouts).where(payouts.c.policy_id == "sh-enterprise-startup-subsidy")).first()
    assert row is not None
    assert startups == confirmed["sh-enterprise-startup-subsidy"]
    again = {**row._asdict(), "period": "2031-05", "id": None}
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as db:  # the ledger itself refuses a second one
        db.execute(payouts.insert(), [again])
    assert next_pay_period("quarterly", "2026-12") == "2027-01" and next_pay_period("monthly", "2026-12") == "2027-01"
    with pytest.raises(ValueError, match="YYYY-MM"):
        pay(con, engine, policies, "2026-13", matching_run=1)
    refused = subprocess.run([SUISHEN, "match", "pay", "--period", "2026-13", "--db", str(results), "--ledger",
                              services_url], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert refused.returncode == 2 and refused.stderr.strip().endswith("a payout period is a month YYYY-MM, e.g. "
                                                                       "2026-11, not '2026-13'")  # fmt: skip
    assert len(refused.stderr.strip().splitlines()) == 1
    engine.dispose()
