"""Disclosure counts per policy and region, with small counts hidden and no personal data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from app.matching.disclosure import DisclosureRow, disclosure, shown, write_disclosure
from app.matching.payouts import ledger, payouts


def _results() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE entitlements (subject VARCHAR, policy_id VARCHAR, version INTEGER)")
    con.execute("CREATE TABLE profiles (subject VARCHAR, residence INTEGER)")
    people = [(f"P{i}", 310000 if i < 12 else 320000) for i in range(14)]
    con.executemany("INSERT INTO profiles VALUES (?, ?)", people)
    con.executemany("INSERT INTO entitlements VALUES (?, 'allowance', 1)", [(p,) for p, _ in people])
    con.executemany("INSERT INTO entitlements VALUES (?, 'startup', 1)", [(f"91{i}",) for i in range(3)])
    return con


def test_counts_per_policy_and_region_with_totals_and_paid(tmp_path: Path) -> None:
    engine = ledger(tmp_path / "ledger.sqlite")
    with engine.begin() as db:
        db.execute(payouts.insert(), [
            {"subject": f"P{i}", "policy_id": "allowance", "policy_version": 1, "period": "2026-11",
             "amount_yuan": 75, "matching_run": 1, "created_at": dt.datetime(2026, 11, 26)}
            for i in range(9)
        ])  # fmt: skip
    rows = disclosure(_results(), engine, "2026-11")
    assert rows == [
        DisclosureRow("allowance", "310000", 12, None),
        DisclosureRow("allowance", "320000", 2, None),
        DisclosureRow("allowance", "all", 14, 9),
        DisclosureRow("startup", "enterprises", 3, None),
        DisclosureRow("startup", "all", 3, None),
    ]
    out = tmp_path / "disclosure.csv"
    write_disclosure(rows, out, "2026-11")
    text = out.read_text()
    assert text.splitlines()[0] == "policy_id,region,matched,paid 2026-11"
    assert "allowance,320000,<5,-" in text and "allowance,all,14,9" in text and "startup,enterprises,<5,-" in text
    assert "P1" not in text and "91" not in text.replace("policy_id", "")


def test_small_counts_are_hidden() -> None:
    assert [shown(n) for n in (None, 0, 1, 4, 5, 120)] == ["-", "0", "<5", "<5", "5", "120"]


def test_the_services_database_gives_the_same_counts_as_the_results_database(tmp_path: Path) -> None:
    from app.catalogue import load_catalogue
    from app.matching.disclosure import disclosure_of_store
    from app.matching.engine import attach_registries, connect, record_run, run_matching
    from app.matching.entitlement_store import copy_results
    from app.matching.payouts import pay
    from app.matching.profile_store import copy_profiles
    from app.matching.profiles import build_profiles
    from tests.app.test_matching_sql import DAY, _random_registries, write_parquet_registries

    (tmp_path / "registries").mkdir()
    folder = write_parquet_registries(_random_registries(seed=91, n=400), tmp_path / "registries")
    policies = load_catalogue(Path(__file__).resolve().parents[2] / "data" / "catalogue").policies
    con = connect(tmp_path / "results.duckdb", threads=1, memory_limit="1GB")
    attach_registries(con, folder)
    run = record_run(con, run_matching(con, policies, DAY))
    build_profiles(con, DAY, run)
    engine = ledger(tmp_path / "services.sqlite")
    copy_profiles(con, engine)
    copy_results(con, engine, policies)
    pay(con, engine, policies, "2026-11", run)
    expected = disclosure(con, engine, "2026-11")
    assert len(expected) > 20 and any(r.paid for r in expected)
    assert disclosure_of_store(engine, "2026-11") == expected
    assert disclosure_of_store(engine) == disclosure(con, None, None)
