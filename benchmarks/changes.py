"""The change feed at city scale: 1 k, 10 k and 100 k registry changes beside a full run of the same day.

One process (`python -m benchmarks.changes --persons N`), so that the peak memory is its own. The
registries are synthetic with households, kin, marriages, addresses and martyrs; the catalogue is
the sample one padded to 50 person policies (its household and kin rules among them). The full run
(load and checks, then matching) is timed first, then the copy of the registries the feed changes
(made once, by the first batch), then each batch: income and birth-date corrections, deaths, ended
household records, new kin and marriages, new martyrs, in the proportions `batch` draws.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from app.matching.changes import Change, apply_changes, ensure_state
from app.matching.engine import connect, entitlement_columns, record_run, run_matching
from app.matching.load import load_registries
from app.matching.relation_sql import DAY_VIEW
from app.matching.synth import synthesise
from benchmarks.matching import DAY, padded_policies
from benchmarks.timing import in_child

BATCHES = (1_000, 10_000, 100_000)
TARGETS_S = {10_000: 5.0, 100_000: 20.0}
TARGET_FULL_S = 60.0


def _text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def batch(con: Any, size: int, rng: random.Random, seq: dict[str, int], new: list[int]) -> list[Change]:
    """`size` change records drawn from the state as it is (sampled persons and household rows)."""
    people = con.execute(f"SELECT * FROM state_persons USING SAMPLE {size} ROWS").fetchall()
    names = [d[0] for d in con.description]
    homes = con.execute(f"SELECT * FROM state_households USING SAMPLE {max(1, size // 5)} ROWS").fetchall()
    home_names = [d[0] for d in con.description]
    out: list[Change] = []
    used: set[str] = set()
    martyrs = {r[0] for r in con.execute("SELECT person_id FROM state_martyrs").fetchall()}

    def record(source: str, registry: str, op: str, row: dict[str, Any]) -> None:
        seq[source] = seq.get(source, 0) + 1
        out.append(Change(source, seq[source], registry, op, {k: _text(v) for k, v in row.items()}, "bench"))

    for values in people:
        row = dict(zip(names, values, strict=True))
        if row["person_id"] in used:
            continue
        used.add(row["person_id"])
        draw = rng.random()
        if draw < 0.55:
            record("income", "persons", "update", {**row, "income_monthly": rng.choice([None, 0, 900, 1500, 4000])})
        elif draw < 0.70:
            died = max(row["birth_date"], DAY - dt.timedelta(days=3))
            record("gaj", "persons", "update", {**row, "death_date": died})
        elif draw < 0.85:
            new[0] += 1
            spouse = {"person_id": row["person_id"], "spouse_id": f"BENCH{new[0]:08d}", "from_date": DAY,
                      "to_date": None}  # fmt: skip
            record("mzj", "marriages", "insert", spouse)
        elif row["person_id"] not in martyrs:
            martyrs.add(row["person_id"])
            record("tyj", "martyrs", "insert", {"person_id": row["person_id"], "recognised_on": dt.date(1990, 1, 1)})
    for values in homes:
        if len(out) >= size:
            break
        row = dict(zip(home_names, values, strict=True))
        if row["to_date"] is None and row["person_id"] not in used and row["from_date"] < DAY:
            used.add(row["person_id"])
            record("gaj", "households", "update", {**row, "to_date": DAY - dt.timedelta(days=1)})
    return out[:size] if len(out) > size else out


def bare_query_seconds(con: Any, policies: list[Any]) -> float:
    """The bare baseline of benchmarks.matching over the day's view (household and kin columns made):
    every person predicate over one pre-joined table, in one scan, writing the matched pairs."""
    con.execute(f"CREATE TEMP TABLE flat AS SELECT * FROM {DAY_VIEW}")
    columns = entitlement_columns(policies, "person", DAY, 310000)
    hits = f"list_filter([{', '.join(columns)}], lambda x: x IS NOT NULL)"
    started = time.perf_counter()
    con.execute(f"CREATE TEMP TABLE bare_out AS SELECT subject, unnest({hits}) AS policy_id FROM flat")
    seconds = time.perf_counter() - started
    con.execute("DROP TABLE flat")
    con.execute("DROP TABLE bare_out")
    return seconds


def measure(persons: int, policy_count: int) -> dict[str, Any]:
    policies = padded_policies(policy_count)
    rng = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="suishen-bench-changes-") as tmp:
        folder = Path(tmp) / "registries"
        folder.mkdir()
        synthesise(folder, persons=persons, enterprises=max(1, persons // 10), seed=1, relations=True)
        con = connect(Path(tmp) / "results.duckdb")
        con.execute(f"SET temp_directory = '{tmp}/spill'")
        started = time.perf_counter()
        load_registries(con, folder)
        load_s = time.perf_counter() - started
        run = run_matching(con, policies, DAY)
        record_run(con, run)
        full_s = load_s + run.seconds
        bare_s = bare_query_seconds(con, policies)
        started = time.perf_counter()
        ensure_state(con, folder)
        state_s = time.perf_counter() - started
        seq: dict[str, int] = {}
        new = [0]
        batches = []
        for size in BATCHES:
            changes = batch(con, size, rng, seq, new)
            result = apply_changes(con, folder, changes, policies, DAY)
            batches.append({
                "changes": result.applied, "affected": result.affected, "gained": result.gained,
                "lost": result.lost, "seconds": result.seconds, "ratio_to_full": result.seconds / full_s,
            })  # fmt: skip
    return {
        "persons": persons,
        "policies": policy_count,
        "load_s": load_s,
        "match_s": run.seconds,
        "full_s": full_s,
        "bare_query_s": bare_s,
        "state_copy_s": state_s,
        "batches": batches,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def changes_suite(persons: int, policies: int = 50) -> dict[str, Any]:
    return in_child("benchmarks.changes", persons, policies)


def print_changes(console: Console, r: dict[str, Any]) -> None:
    title = f"Change feed: {r['persons']:,} persons with households and kin, {r['policies']} person policies"
    table = Table(title=title)
    for column in ("changes", "subjects evaluated", "gained", "lost", "seconds", "/ full run", "target", "met"):
        table.add_column(column)
    for b in r["batches"]:
        target = TARGETS_S.get(b["changes"])
        met = "" if target is None else ("met" if b["seconds"] < target else "not met")
        table.add_row(f"{b['changes']:,}", f"{b['affected']:,}", f"{b['gained']:,}", f"{b['lost']:,}",
                      f"{b['seconds']:.2f}", f"{b['ratio_to_full']:.3f}", "" if target is None else f"< {target:.0f} s",
                      met)  # fmt: skip
    console.print(table)
    full_met = "met" if r["full_s"] < TARGET_FULL_S else "not met"
    console.print(
        f"  full run of the same day: {r['load_s']:.1f} s load + checks, {r['match_s']:.1f} s match = "
        f"{r['full_s']:.1f} s (target under {TARGET_FULL_S:.0f} s at 25 M: {full_met} at this size), match "
        f"{r['match_s'] / r['bare_query_s']:.2f}x and load + match {r['full_s'] / r['bare_query_s']:.2f}x the bare "
        f"query ({r['bare_query_s']:.1f} s) of the same day view; "
        f"copy of the registries the feed changes, once: {r['state_copy_s']:.1f} s; peak {r['peak_rss_mb']:,.0f} MB",
        style="dim",
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.changes")
    parser.add_argument("--persons", type=int, default=0, help="measure this size in this process (JSON out)")
    parser.add_argument("--policies", type=int, default=50)
    args = parser.parse_args()
    if args.persons:
        print(json.dumps(measure(args.persons, args.policies)))
        return
    import os

    persons = int(os.environ.get("SUISHEN_BENCH_CHANGES_PERSONS", "25000000"))
    print_changes(Console(), changes_suite(persons, args.policies))


if __name__ == "__main__":
    main()
