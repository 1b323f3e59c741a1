"""Disclosure counts per policy and region, with small counts hidden, none derivable, and no personal data."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.db.engine import open_database
from app.db.schema import payouts
from app.matching.disclosure import DisclosureRow, PublishedRow, disclosure, published, shown, write_disclosure

SUISHEN = str(Path(sys.executable).parent / "suishen")


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
    engine = open_database(tmp_path / "ledger.sqlite")
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
    from tests.support.registries import DAY, random_registries, write_parquet_registries

    (tmp_path / "registries").mkdir()
    folder = write_parquet_registries(random_registries(seed=91, n=400), tmp_path / "registries")
    policies = load_catalogue(Path(__file__).resolve().parents[2] / "data" / "catalogue").policies
    con = connect(tmp_path / "results.duckdb", threads=1, memory_limit="1GB")
    attach_registries(con, folder)
    run = record_run(con, run_matching(con, policies, DAY))
    build_profiles(con, DAY, run)
    engine = open_database(tmp_path / "services.sqlite")
    copy_profiles(con, engine)
    copy_results(con, engine, policies)
    pay(con, engine, policies, "2026-11", run)
    expected = disclosure(con, engine, "2026-11")
    assert len(expected) > 20 and any(r.paid for r in expected)
    assert disclosure_of_store(engine, "2026-11") == expected
    assert disclosure_of_store(engine) == disclosure(con, None, None)


# --- no hidden count can be worked out -----------------------------------------------------------
#
# The reader below is written apart from the module's own check: it knows the published labels and
# the rule (a "<5" is 1..4, a "≥5" cell is 5..the smallest cell still shown, a "≥5" total is 5 or
# more, the cells add up to the total) and narrows every hidden figure as far as these allow.


def _narrowed(labels: list[str], total: str) -> list[tuple[float, float]]:
    """The range a reader can narrow each figure to: the cells, then the total (last)."""
    large_shown = [int(x) for x in labels if x.isdigit() and int(x) >= 5]
    ceiling = min(large_shown, default=math.inf)

    def known(label: str, high_if_hidden_large: float) -> tuple[float, float]:
        if label == "<5":
            return (1.0, 4.0)
        return (5.0, high_if_hidden_large) if label == "≥5" else (float(label), float(label))

    ranges = [known(x, ceiling) for x in labels] + [known(total, math.inf)]
    if not labels:  # the regions were left out: the total stands alone
        return ranges
    # Propagate sum(cells) == total until nothing narrows (it settles after one round; loop to be sure).
    for _ in range(10):
        cells, (t_low, t_high) = ranges[:-1], ranges[-1]
        t_low, t_high = max(t_low, sum(c[0] for c in cells)), min(t_high, sum(c[1] for c in cells))
        narrowed = []
        for i, (low, high) in enumerate(cells):
            rest_low = sum(c[0] for j, c in enumerate(cells) if j != i)
            rest_high = sum(c[1] for j, c in enumerate(cells) if j != i)
            narrowed.append((max(low, t_low - rest_high), min(high, t_high - rest_low)))
        new = [*narrowed, (t_low, t_high)]
        if new == ranges:
            break
        ranges = new
    return ranges


def _assert_nothing_derivable(rows: list[DisclosureRow], shown_rows: list[PublishedRow]) -> int:
    """Every published figure is true to the counts, and no "<5" narrows to one value; returns how many "<5"."""
    exact = {(r.policy_id, r.region): r.matched for r in rows}
    hidden = 0
    for policy in sorted({r.policy_id for r in shown_rows}):
        mine = [r for r in shown_rows if r.policy_id == policy]
        cells = [r for r in mine if r.region != "all"]
        [total] = [r for r in mine if r.region == "all"]
        labels = [r.matched for r in cells]
        for row in mine:
            true = exact[(policy, row.region)]
            truthful = {"<5": 1 <= true <= 4, "≥5": true >= 5}.get(row.matched, row.matched == str(true))
            assert truthful, (row, true)
        for row, (low, high) in zip([*cells, total], _narrowed(labels, total.matched), strict=True):
            if row.matched == "<5":
                hidden += 1
                assert high - low >= 1, f"{policy} {row.region}: a reader narrows '<5' to {low:g}..{high:g}: {mine}"
    return hidden


def _table(policy: str, counts: list[int]) -> list[DisclosureRow]:
    rows = [DisclosureRow(policy, str(310000 + 10000 * i), n, None) for i, n in enumerate(counts)]
    return [*rows, DisclosureRow(policy, "all", sum(counts), None)]


def test_a_hidden_count_is_no_longer_the_total_minus_the_others() -> None:
    rows = _table("allowance", [140, 1])  # published before: 140, <5, total 141
    shown_rows = published(rows)
    assert [r.matched for r in shown_rows] == ["≥5", "<5", "141"]
    assert _assert_nothing_derivable(rows, shown_rows) == 1


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([4, 4], ["<5", "<5", "≥5"]),  # a total of 8 over two "<5" would make each 4
        ([5, 5, 1], ["≥5", "≥5", "<5", "≥5"]),  # 11 - 5 - 5 = 1 as long as anything is exact
        ([1, 1, 1, 1], ["<5"]),  # four regions under a total of "<5": only the total is shown
        ([50, 50, 3, 2], ["50", "50", "<5", "<5", "105"]),  # two small cells cover each other
        ([12, 30], ["12", "30", "42"]),  # nothing small: everything exact
    ],
)
def test_suppression_hides_just_enough(counts: list[int], expected: list[str]) -> None:
    rows = _table("p", counts)
    shown_rows = published(rows)
    assert [r.matched for r in shown_rows] == expected
    _assert_nothing_derivable(rows, shown_rows)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.integers(1, 4), st.integers(5, 9), st.integers(10, 200)), min_size=1, max_size=7))
def test_no_hidden_count_is_derivable_in_any_table(counts: list[int]) -> None:
    rows = _table("p", counts)
    _assert_nothing_derivable(rows, published(rows))


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """`suishen data synth` (small) and `suishen match run`, as a person would run them."""
    root = tmp_path_factory.mktemp("disclosure")
    registries, results, services = root / "registries", root / "results.duckdb", root / "services.sqlite"
    for args in (
        ["data", "synth", "--out", str(registries), "--persons", "3000", "--enterprises", "60", "--seed", "7"],
        ["match", "run", "--registries", str(registries), "--db", str(results), "--ledger", f"sqlite:///{services}",
         "--day", "2026-11-20"],
    ):  # fmt: skip
        done = subprocess.run([SUISHEN, *args], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    return results, services


def test_no_hidden_count_is_derivable_over_every_policy_and_region_of_a_synthetic_run(
    synthetic_run: tuple[Path, Path],
) -> None:
    results, services = synthetic_run
    con = duckdb.connect(str(results), read_only=True)
    try:
        rows = disclosure(con, None, None)
    finally:
        con.close()
    shown_rows = published(rows)
    assert len({r.policy_id for r in rows}) >= 10
    assert _assert_nothing_derivable(rows, shown_rows) >= 3, "the run should hold small regions to protect"
    from app.matching.disclosure import disclosure_of_store

    assert published(disclosure_of_store(open_database(services))) == shown_rows  # the HTTP API's source agrees
