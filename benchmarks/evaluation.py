"""Performance evaluation (绩效评估) over 1 M persons' records: how long the department waits for its figures.

`python -m benchmarks.evaluation [--quick] [--output PATH]` (JSON into var/bench/evaluation.json).

A services database (SQLite, the embedded default, schema by the migrations) is filled with the
records a year of 1,000,000 persons leaves under the sample catalogue: two copied runs, about
1.5 entitlements a person, a notice for every paid pair (spread over two months), sealed
applications and confirmations for three in four confirm-mode pairs, one month's payouts,
objections, the original-channel list and 500,000 gate events. Then `evaluate` runs for one
month, for the year and for all time, each three times (the median is reported), interleaved
with the bare baseline: the `count(*) ... GROUP BY policy_id` of each table the evaluation reads,
in the same run, so the ratio says what the evaluation's joins, windows and percentiles cost
beyond reading the rows at all.

`--quick`: 50,000 persons, one round: a smoke run, not figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from app.catalogue import load_catalogue
from app.db.engine import open_database
from app.matching.evaluation import budgets_of, evaluate, parse_period

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "var" / "bench" / "evaluation.json"
PERSONS = 1_000_000
EVENTS = 500_000
START = dt.datetime(2026, 10, 1)  # records from October and November 2026, UTC
MONTH = "2026-11"
BARE_TABLES = ("entitlements", "notifications", "payouts", "objections", "original_channel", "events")


def _rows_per_policy(policies: list[Any], persons: int, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    """(subject, policy id, mode): each person in about 1.5 policies, scan policies the most common."""
    scan = [p for p in policies if p.delivery == "scan"]
    paid = [p for p in policies if p.delivery != "scan"]
    for i in range(persons):
        subject = f"{i:016x}"
        chosen = {rng.choice(scan).id: "scan"} if rng.random() < 0.8 else {}
        if rng.random() < 0.7:
            p = rng.choice(paid)
            chosen[p.id] = p.delivery
        for policy_id, mode in chosen.items():
            yield subject, policy_id, mode


def fill(path: Path, persons: int, events_n: int, seed: int = 7) -> dict[str, int]:
    """The records, written with sqlite3's executemany into the schema the migrations made."""
    rng = random.Random(seed)
    policies = [p for p in load_catalogue(ROOT / "data" / "catalogue").policies if p.status == "published"]
    version_of = {p.id: p.versions[-1].version for p in policies}
    amount = {p.id: (p.versions[-1].benefit.amount_yuan or 100) for p in policies if p.delivery != "scan"}
    when = lambda days: str(START + dt.timedelta(days=days))  # noqa: E731 - SQLAlchemy's stored form
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous = OFF")
    db.executemany(
        "INSERT INTO matching_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(1, "2026-10-01", when(0), when(0.01), "f" * 64, persons, 0, 0, 60.0, "{}", when(0.02)),
         (2, "2026-11-01", when(31), when(31.01), "e" * 64, persons, 0, 0, 60.0, "{}", when(31.02))],
    )  # fmt: skip
    pairs = list(_rows_per_policy(policies, persons, rng))
    db.executemany(
        "INSERT INTO entitlements VALUES (?, ?, 1, ?, ?, ?, ?, ?)",
        ((s, p, version_of[p], m, 1 if i % 3 else 2, "f" * 64, 2 if i % 97 == 0 else None)
         for i, (s, p, m) in enumerate(pairs)),
    )  # fmt: skip
    paid_pairs = [(s, p, m) for s, p, m in pairs if m != "scan"]
    db.executemany(
        "INSERT INTO notifications (subject, policy_id, policy_version, matching_run, channel, queued_at) "
        "VALUES (?, ?, ?, 1, 'inbox', ?)",
        ((s, p, version_of[p], when(rng.uniform(0, 55))) for s, p, _ in paid_pairs),
    )
    confirmed = [(s, p) for i, (s, p, m) in enumerate(paid_pairs) if m == "confirm" and i % 4 != 3]
    db.executemany(
        "INSERT INTO applications (subject, policy_id, policy_version, matching_run, sha256, document, created_at) "
        "VALUES (?, ?, ?, 1, ?, '{}', ?)",
        ((s, p, version_of[p], f"{s}{p}"[:64].ljust(64, "0"), when(1)) for s, p in confirmed),
    )  # fmt: skip
    db.executemany("INSERT INTO confirmations VALUES (?, ?, 'web')",
                   ((f"{s}{p}"[:64].ljust(64, "0"), when(rng.uniform(2, 58))) for s, p in confirmed))  # fmt: skip
    payable = [(s, p) for s, p, m in paid_pairs if m == "direct"] + confirmed
    db.executemany(
        "INSERT INTO payouts (subject, policy_id, policy_version, period, amount_yuan, matching_run, created_at, pays) "
        "VALUES (?, ?, ?, ?, ?, 2, ?, 'monthly')",
        ((s, p, version_of[p], MONTH, amount[p], when(59 + rng.random())) for s, p in payable),
    )  # fmt: skip
    objected = rng.sample(pairs, min(2_000, len(pairs)))
    db.executemany(
        "INSERT INTO objections (subject, policy_id, kind, statement, filed_at, status, corrections, resolved_at) "
        "VALUES (?, ?, 'wrong', 'x', ?, ?, ?, ?)",
        ((s, p, when(35 + i % 20), ("upheld", "rejected", "open")[i % 3], '{"income.monthly": 900}' if i % 3 == 0
          else None, when(36 + i % 20) if i % 3 != 2 else None) for i, (s, p, _) in enumerate(objected)),
    )  # fmt: skip
    listed = rng.sample(paid_pairs, min(30_000, len(paid_pairs)))
    db.executemany("INSERT INTO original_channel VALUES (2, ?, ?, 'income.monthly', ?)",
                   ((s, p, when(31.02)) for s, p, _ in listed))  # fmt: skip
    scan_pairs = [(s, p) for s, p, m in pairs if m == "scan"]
    venues = [f"venue-{i:03d}" for i in range(200)]
    rows = []
    for i in range(events_n):
        _, p = scan_pairs[rng.randrange(len(scan_pairs))]
        at = (START + dt.timedelta(days=rng.uniform(0, 61))).replace(tzinfo=dt.UTC).timestamp()
        day = dt.datetime.fromtimestamp(at + 8 * 3600, dt.UTC).date().isoformat()
        rows.append((f"e{i:015d}", "gate", rng.choice(venues), at, day, "GRANTED" if i % 10 else "REJECTED",
                     None if i % 10 else "NOT_ELIGIBLE", p if i % 10 else None, "online", "CN-310000", 0,
                     1 if i % 17 == 0 else 0, when(61)))  # fmt: skip
    db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in (*BARE_TABLES, "confirmations")}
    db.execute("ANALYZE")
    db.close()
    return counts


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def evaluation_suite(persons: int, events_n: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="suishen-evaluation-") as folder:
        path = Path(folder) / "services.sqlite"
        engine = open_database(path)
        started = time.perf_counter()
        counts = fill(path, persons, events_n)
        filled_s = time.perf_counter() - started
        policies = load_catalogue(ROOT / "data" / "catalogue").policies
        budgets = budgets_of(policies)

        def bare() -> None:
            with engine.connect() as db:
                for table in BARE_TABLES:
                    db.exec_driver_sql(f"SELECT policy_id, count(*) FROM {table} GROUP BY policy_id").all()

        cases: dict[str, Callable[[], object]] = {"bare": bare}
        for label in (MONTH, "2026", "all"):
            period = parse_period(label)
            cases[label] = lambda period=period: evaluate(engine, policies, period, budgets=budgets)  # type: ignore[misc]
        times: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for r in range(rounds):
            for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order each round
                times[name].append(_timed(cases[name]))
        found = evaluate(engine, policies, parse_period(MONTH), budgets=budgets)
        engine.dispose()
        size = path.stat().st_size
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "persons": persons, "rounds": rounds, "records": counts, "database_bytes": size,
        "fill_s": filled_s, "seconds": medians, "ratio_to_bare": {k: v / medians["bare"] for k, v in medians.items()},
        "policies_evaluated": len(found.policies),
        "eligible_in_month": sum(f.eligible for f in found.policies),
        "paid_in_month": sum(f.paid for f in found.policies),
    }  # fmt: skip


def print_evaluation(console: Console, result: dict[str, Any]) -> None:
    records = result["records"]
    title = (f"Performance evaluation: {result['persons']:,} persons' records on SQLite "
             f"({sum(records.values()):,} rows, {result['database_bytes'] / 1e6:,.0f} MB)")  # fmt: skip
    table = Table(title=title)
    for column in ("period", "evaluate", "÷ bare group-by counts", "bare"):
        table.add_column(column)
    bare = result["seconds"]["bare"]
    for label in (MONTH, "2026", "all"):
        table.add_row(label, f"{result['seconds'][label]:.2f} s", f"{result['ratio_to_bare'][label]:.2f}x",
                      f"{bare:.2f} s")  # fmt: skip
    console.print(table)
    console.print("records: " + ", ".join(f"{k} {v:,}" for k, v in records.items())
                  + f"; filled in {result['fill_s']:.0f} s")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.evaluation", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 k persons, one round: a smoke run, not figures")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file (default {DEFAULT_OUTPUT})")
    args = parser.parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=160)
    started = time.perf_counter()
    with console.status("evaluation: filling the records, then evaluating ..."):
        result = evaluation_suite(50_000, 25_000, 1) if args.quick else evaluation_suite(PERSONS, EVENTS, 3)
    print_evaluation(console, result)
    result["total_s"] = round(time.perf_counter() - started, 1)
    result["quick"] = args.quick
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {args.output} ({result['total_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
