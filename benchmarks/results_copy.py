"""A 25 M run's results into PostgreSQL: the first copy by COPY, then a rerun with 1 % of the rows changed.

One process (`python -m benchmarks.results_copy --persons N`) against a throwaway PostgreSQL
cluster that it starts and stops with scripts/ci-postgres.sh, as .ci/run does (loopback, fsync
off: the figures are the copy's, not a disk's). The registries are synthetic without relations
and the catalogue is the sample one padded to 50 person policies, as benchmarks.matching has
them. Measured, each in one transaction as the run makes it:

- first copy: every entitlement row (app.db.copy.copy_query) and every profile;
- rerun: the same results with 1 % of the entitlement rows changed (half dropped, half under
  another policy version), recorded as a new run: only the differences are written
  (entitlement_store.write_changes by COPY into a temporary table); the profiles are written
  again in full, as every run's copy does, and are timed on their own.

The baseline measured in the same run is a bare COPY of the same entitlement rows into an
unindexed table: the floor of any copy.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from app.db.copy import copy_query
from app.db.engine import open_database
from app.matching.engine import connect, record_run, run_matching
from app.matching.entitlement_store import copy_results
from app.matching.load import load_registries
from app.matching.profile_store import replace_profiles
from app.matching.profiles import build_profiles
from app.matching.synth import synthesise
from benchmarks.matching import DAY, padded_policies
from benchmarks.timing import in_child

ROOT = Path(__file__).resolve().parents[1]
TARGET_FIRST_S = 90.0
TARGET_RERUN_S = 15.0
CHANGED_SHARE = 0.01
TARGET_PERSONS = 25_000_000
BYTES_PER_PERSON = 2_000  # disk a person's rows take at the peak (cluster, CSV, DuckDB), with room to spare


def _cluster() -> str:
    return subprocess.run([str(ROOT / "scripts" / "ci-postgres.sh")], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def measure(persons: int, policy_count: int) -> dict[str, Any]:
    policies = padded_policies(policy_count)
    url = _cluster()
    try:
        with tempfile.TemporaryDirectory(prefix="suishen-bench-copy-") as tmp:
            folder = Path(tmp) / "registries"
            folder.mkdir()
            synthesise(folder, persons=persons, enterprises=max(1, persons // 10), seed=1, relations=False)
            con = connect(Path(tmp) / "results.duckdb")
            con.execute(f"SET temp_directory = '{tmp}/spill'")
            load_registries(con, folder)
            run = run_matching(con, policies, DAY)
            version = record_run(con, run)
            build_profiles(con, DAY, version)
            engine = open_database(url)
            rows = con.execute("SELECT count(*) FROM entitlements").fetchone()[0]  # type: ignore[index]

            with engine.begin() as db:  # the floor: the same rows into a table with no key and no index
                db.exec_driver_sql("CREATE TABLE bare_copy (subject VARCHAR(64), policy_id VARCHAR(64), v INTEGER)")
                started = time.perf_counter()
                copy_query(con, "SELECT subject, policy_id, version FROM entitlements", db, "bare_copy",
                           ["subject", "policy_id", "v"])  # fmt: skip
                bare_s = time.perf_counter() - started
                db.exec_driver_sql("DROP TABLE bare_copy")

            first = copy_results(con, engine, policies)
            started = time.perf_counter()
            with engine.begin() as db:
                replace_profiles(con, db)
            profiles_s = time.perf_counter() - started

            step = round(1 / CHANGED_SHARE)  # every 100th row: half of them dropped, half under another version
            con.execute(
                "CREATE OR REPLACE TABLE entitlements AS SELECT subject, policy_id, "
                f"CASE WHEN n % {2 * step} = {step} THEN version + 1 ELSE version END AS version FROM "
                "(SELECT *, row_number() OVER () AS n FROM entitlements) "
                f"WHERE n % {2 * step} <> 0"
            )
            record_run(con, run)
            rerun = copy_results(con, engine, policies)
            engine.dispose()
    finally:
        subprocess.run([str(ROOT / "scripts" / "ci-postgres.sh"), "--stop", url], capture_output=True, check=False)
    return {
        "persons": persons, "policies": policy_count, "entitlements": int(rows), "bare_copy_s": bare_s,
        "first_s": first.seconds, "first_written": first.written, "profiles_s": profiles_s,
        "rerun_s": rerun.seconds, "rerun_written": rerun.written,
        "ratio_first_to_bare": first.seconds / bare_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }  # fmt: skip


def copy_suite(persons: int, policies: int = 50) -> dict[str, Any]:
    return in_child("benchmarks.results_copy", persons, policies)


def _met(r: dict[str, Any], met: bool) -> str:
    """The targets are for 25 M persons: at another size the word says so."""
    words = "met" if met else "not met"
    return words if r["persons"] == TARGET_PERSONS else f"{words} at this size"


def print_copy(console: Console, r: dict[str, Any]) -> None:
    title = f"Results into PostgreSQL by COPY: {r['persons']:,} persons, {r['entitlements']:,} entitlements"
    table = Table(title=title)
    for column in ("step", "rows written", "seconds", "/ bare COPY", "target", "met"):
        table.add_column(column)
    bare = r["bare_copy_s"]
    table.add_row("bare COPY (no key, no index)", f"{r['entitlements']:,}", f"{bare:.1f}", "1.00", "", "")
    table.add_row("first copy (entitlements, notices, history)", f"{r['first_written']:,}", f"{r['first_s']:.1f}",
                  f"{r['first_s'] / bare:.2f}", f"< {TARGET_FIRST_S:.0f} s",
                  _met(r, r["first_s"] < TARGET_FIRST_S))  # fmt: skip
    table.add_row(f"rerun, {CHANGED_SHARE:.0%} of rows changed", f"{r['rerun_written']:,}", f"{r['rerun_s']:.1f}",
                  f"{r['rerun_s'] / bare:.2f}", f"< {TARGET_RERUN_S:.0f} s",
                  _met(r, r["rerun_s"] < TARGET_RERUN_S))  # fmt: skip
    table.add_row("profiles, every row (each run's copy)", f"{r['persons']:,}", f"{r['profiles_s']:.1f}",
                  f"{r['profiles_s'] / bare:.2f}", "", "")  # fmt: skip
    console.print(table)
    console.print(f"  throwaway cluster (scripts/ci-postgres.sh: loopback, fsync off); peak {r['peak_rss_mb']:,.0f} MB",
                  style="dim")  # fmt: skip


def main() -> None:
    import os

    parser = argparse.ArgumentParser(prog="python -m benchmarks.results_copy")
    parser.add_argument("--persons", type=int, default=0, help="measure this size in this process (JSON out)")
    parser.add_argument("--policies", type=int, default=50)
    args = parser.parse_args()
    if args.persons:
        print(json.dumps(measure(args.persons, args.policies)))
        return
    persons = int(os.environ.get("SUISHEN_BENCH_COPY_PERSONS", "25000000"))
    console = Console()
    fits = int(shutil.disk_usage(tempfile.gettempdir()).free // BYTES_PER_PERSON)
    if fits < persons:  # the cluster, the CSV and DuckDB's file all live in the temporary folder
        console.print(f"  only {fits:,} persons' results fit in {tempfile.gettempdir()} "
                      f"({BYTES_PER_PERSON:,} bytes each): measuring that size, not {persons:,}", style="yellow")
        persons = max(fits, 10_000)
    result = copy_suite(persons, args.policies)
    print_copy(console, result)
    out = ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results_copy.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
