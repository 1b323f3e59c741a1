"""Exactly one payout per (subject, policy, period): repeated runs add nothing, a killed run is finished."""

from __future__ import annotations

import csv
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.catalogue import load_catalogue
from app.db.engine import open_database
from app.matching.engine import attach_registries, connect, record_run, run_matching
from app.matching.payouts import export_payout_file, paid_count, pay
from app.matching.synth import synthesise
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


def _expected(results: Path) -> int:
    direct = [p.id for p in load_catalogue(CATALOGUE).policies if p.delivery == "direct" and p.status == "published"]
    con = connect(results)
    placeholders = ", ".join("?" for _ in direct)
    count: int = con.execute(
        f"SELECT count(*) FROM entitlements WHERE policy_id IN ({placeholders})", direct
    ).fetchone()[0]  # type: ignore[index]
    con.close()
    return count


def test_a_killed_payout_run_is_finished_by_the_next_without_paying_twice(results: Path, tmp_path: Path) -> None:
    expected = _expected(results)
    assert expected > 2_000
    ledger_file = tmp_path / "ledger.sqlite"
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

    engine = open_database(ledger_file)
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


def test_a_new_period_pays_again_and_only_once(results: Path, services_url: str) -> None:
    engine = open_database(services_url)
    con = connect(results)
    policies = load_catalogue(CATALOGUE).policies
    first = sum(r.new for r in pay(con, engine, policies, "2026-11", matching_run=1))
    second = sum(r.new for r in pay(con, engine, policies, "2026-12", matching_run=1))
    assert first == second == _expected(results)
    assert paid_count(engine, "2026-11") == paid_count(engine, "2026-12") == first
    again = pay(con, engine, policies, "2026-12", matching_run=1)  # the counts hold on PostgreSQL too
    assert sum(r.new for r in again) == 0 and sum(r.already_paid for r in again) == first
    engine.dispose()
