"""The Spark matching run: entitlements of a day as a DataFrame, and the spark-submit driver.

`python -m app.matching.spark` (or `spark-submit app/matching/spark/run.py`) is that driver.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.matching.load import DEFAULT_MAX_REJECT_SHARE, RegistryError, check_reject_share
from app.matching.spark.corrections import spark_apply_corrections
from app.matching.spark.views import (
    attach_day_views,
    attach_spark_registries,
    entitlements_sql,
    spark_load_report,
    spark_rejects,
    spark_script,
)
from app.settings import ROOT
from verifier.catalogue import Policy

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from sqlalchemy import Engine


def spark_entitlements(
    spark: SparkSession,
    registries: str | Path,
    policies: Sequence[Policy],
    day: dt.date,
    *,
    home_region: int = 310000,
    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE,
    ledger: Engine | None = None,
) -> DataFrame:
    """The entitlements of the day as a DataFrame (also temporary view `entitlements`); nothing collected.

    Raises load.TooManyRejects, as the DuckDB run does, when more than `max_reject_share` of the
    registry rows are rejected. With `ledger` (the services database), upheld objections'
    corrected facts are applied first, as `suishen match run --ledger` applies them.
    """
    formats = attach_spark_registries(spark, registries)
    check_reject_share(spark_load_report(spark, formats), max_reject_share)
    if ledger is not None:
        spark_apply_corrections(spark, ledger, formats)
    attach_day_views(spark, policies, day)
    frame = spark.sql(entitlements_sql(policies, day, home_region=home_region))
    frame.createOrReplaceTempView("entitlements")
    return frame


def run_spark_matching(
    spark: SparkSession,
    registries_dir: str | Path,
    policies: Sequence[Policy],
    day: dt.date,
    home_region: int = 310000,
    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE,
    ledger: Engine | None = None,
) -> set[tuple[str, str, int]]:
    """Every (subject, policy_id, version) entitled on the day, collected to the driver (small runs, tests)."""
    frame = spark_entitlements(
        spark, registries_dir, policies, day, home_region=home_region, max_reject_share=max_reject_share,
        ledger=ledger,
    )  # fmt: skip
    return {(row["subject"], row["policy_id"], row["version"]) for row in frame.collect()}


# --- the spark-submit driver -----------------------------------------------------------------


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m app.matching.spark", description="Run the matching engine on Spark (免申即享)."
    )
    parser.add_argument("--registries", required=True, help="folder or URI of the registry Parquet/CSV files")
    parser.add_argument("--catalogue", type=Path, default=ROOT / "data" / "catalogue", help="policy folder (YAML)")
    parser.add_argument("--day", type=dt.date.fromisoformat, default=dt.date.today(), help="decision date YYYY-MM-DD")
    parser.add_argument("--home-region", type=int, default=310000)
    parser.add_argument("--out", help="write the entitlements here as Parquet (a folder or URI); else print counts")
    parser.add_argument(
        "--max-reject-share",
        type=float,
        default=DEFAULT_MAX_REJECT_SHARE,
        help="refuse to publish above this share of bad rows (default 0.01)",
    )
    parser.add_argument("--rejects", help="write the rejects report here as CSV (a folder or URI)")
    parser.add_argument("--ledger", help="services database (file or SQLAlchemy URL): its upheld corrections apply")
    parser.add_argument("--print-sql", action="store_true", help="print the Spark SQL script (all Parquet) and exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from app.catalogue import load_catalogue

    args = _arguments(argv)
    catalogue = load_catalogue(args.catalogue)
    if catalogue.problems:
        print(
            f"{len(catalogue.problems)} problem(s) in {args.catalogue}: run `suishen catalogue validate`",
            file=sys.stderr,
        )
        return 1
    if args.print_sql:
        script = spark_script(
            args.registries, catalogue.policies, args.day, home_region=args.home_region,
            max_reject_share=args.max_reject_share,
        )  # fmt: skip
        print(script, end="")
        return 0
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName(f"suishen-matching-{args.day}").getOrCreate()
    try:
        formats = attach_spark_registries(spark, args.registries)
        report = spark_load_report(spark, formats)
        if args.rejects:
            spark_rejects(spark, formats).coalesce(1).write.mode("overwrite").option("header", "true").csv(args.rejects)
        if sum(report.rejected.values()):
            print(f"{sum(report.rejected.values())} rows rejected ({report.reject_share:.3%})", file=sys.stderr)
        check_reject_share(report, args.max_reject_share)
        if args.ledger:
            from app.db.engine import open_database

            applied, not_applied = spark_apply_corrections(spark, open_database(args.ledger), formats)
            print(f"{applied} corrected fact(s) from upheld objections applied", file=sys.stderr)
            for line in not_applied:
                print(f"  not applied: {line}", file=sys.stderr)
        attach_day_views(spark, catalogue.policies, args.day)
        frame = spark.sql(entitlements_sql(catalogue.policies, args.day, home_region=args.home_region))
        if args.out:
            frame.write.mode("overwrite").partitionBy("policy_id").parquet(args.out)
            print(f"entitlements for {args.day} written to {args.out}")
        else:
            counts: dict[str, Any] = {r["policy_id"]: r["count"] for r in frame.groupBy("policy_id").count().collect()}
            for policy in sorted(catalogue.policies, key=lambda p: p.id):
                if policy.status == "published":
                    print(f"{policy.id}\t{counts.get(policy.id, 0)}")
    except RegistryError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
