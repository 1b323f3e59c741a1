"""Bulk matching at city scale: registries to entitlements, beside a bare DuckDB query.

Each size runs in its own process (`python -m benchmarks.matching --persons N`) so that its peak
memory is its own. The bare baseline is the same rule predicates as one query over a single
pre-joined table (the join not timed): what DuckDB alone costs for the predicates.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from app.catalogue import load_catalogue
from app.matching.engine import connect, entitlement_columns, run_matching
from app.matching.load import load_registries
from app.matching.synth import synthesise
from verifier.catalogue import Policy, parse_policy

CATALOGUE = Path(__file__).resolve().parent.parent / "data" / "catalogue"
DAY = dt.date(2026, 11, 26)
TARGET_SECONDS_25M = 60.0
TARGET_RATIO = 2.0


def padded_policies(count: int) -> list[Policy]:
    """The sample catalogue, with its published person policies copied under new ids up to `count` of them."""
    policies = list(load_catalogue(CATALOGUE).policies)
    person = [p for p in policies if p.subject == "person" and p.status == "published" and p.version_on(DAY)]
    copies = []
    for i in range(max(0, count - len(person))):
        source = dict(person[i % len(person)].source, id=f"{person[i % len(person)].id}-copy-{i}")
        policy, problems = parse_policy(source)
        assert policy is not None, problems
        copies.append(policy)
    return policies + copies


def measure(persons: int, policy_count: int = 0) -> dict[str, Any]:
    """Synthesise, load, match and run the bare query for one size, in this process."""
    policies = padded_policies(policy_count)
    with tempfile.TemporaryDirectory(prefix="suishen-bench-") as tmp:
        folder = Path(tmp) / "registries"
        folder.mkdir()
        started = time.perf_counter()
        # without households and kin: no policy of this benchmark reads them (measured on their own later)
        synthesise(folder, persons=persons, enterprises=max(1, persons // 10), seed=1, relations=False)
        synth_s = time.perf_counter() - started
        con = connect(Path(tmp) / "bench.duckdb")
        con.execute(f"SET temp_directory = '{tmp}/spill'")
        started = time.perf_counter()
        load_registries(con, folder)
        load_s = time.perf_counter() - started
        run = run_matching(con, policies, DAY)
        # The bare baseline: every person predicate over one pre-joined table, in one scan,
        # writing the matched (subject, policy) pairs as the run does.
        con.execute("CREATE TEMP TABLE flat AS SELECT * FROM person_facts")
        columns = entitlement_columns(policies, "person", DAY, 310000)
        hits = f"list_filter([{', '.join(columns)}], lambda x: x IS NOT NULL)"
        started = time.perf_counter()
        con.execute(f"CREATE TEMP TABLE bare_out AS SELECT subject, unnest({hits}) AS policy_id FROM flat")
        bare_s = time.perf_counter() - started
        entitlements = sum(run.counts.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = load_s + run.seconds
    return {
        "persons": persons,
        "policies": len(columns),
        "synthesise_s": synth_s,
        "load_s": load_s,
        "match_s": run.seconds,
        "load_and_match_s": total,
        "bare_query_s": bare_s,
        "ratio_match_to_bare": run.seconds / bare_s,
        "ratio_total_to_bare": total / bare_s,
        "persons_per_s": persons / total,
        "entitlements": entitlements,
        "peak_rss_mb": peak_mb,
    }


def matching_suite(sizes: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """(persons, person policies; 0 = the sample catalogue as it is) per measurement."""
    results = []
    for persons, policy_count in sizes:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.matching", "--persons", str(persons), "--policies", str(policy_count)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        results.append(json.loads(out.stdout.splitlines()[-1]))
    return results


def print_matching(console: Console, results: list[dict[str, Any]]) -> None:
    table = Table(title="6. Bulk matching (synthetic registries, every published sample policy, 2 threads)")
    for column in ("persons", "person policies", "load + checks s", "match s", "bare query s", "match / bare",
                   "(load+match) / bare", "persons/s", "peak MB"):  # fmt: skip
        table.add_column(column)
    for r in results:
        table.add_row(
            f"{r['persons']:,}", str(r["policies"]), f"{r['load_s']:.1f}", f"{r['match_s']:.1f}",
            f"{r['bare_query_s']:.1f}", f"{r['ratio_match_to_bare']:.2f}x", f"{r['ratio_total_to_bare']:.2f}x",
            f"{r['persons_per_s']:,.0f}", f"{r['peak_rss_mb']:,.0f}",
        )  # fmt: skip
    console.print(table)
    console.print(
        f"  targets: 25 M persons x 50 policies under {TARGET_SECONDS_25M:.0f} s with reads and joins, "
        f"at most {TARGET_RATIO:.0f}x the bare query. load + checks = Parquet reads, typed checks, rejects, "
        "duplicate detection; match = registry joins and every rule in one pass; bare = the same predicates "
        "over one pre-joined table.",
        style="dim",
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.matching")
    parser.add_argument("--persons", type=int, required=True)
    parser.add_argument("--policies", type=int, default=0, help="pad the person policies to this many (copies)")
    args = parser.parse_args()
    print(json.dumps(measure(args.persons, args.policies)))


if __name__ == "__main__":
    main()
