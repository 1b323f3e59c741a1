"""The matching run on Spark, for registries too big for one machine: the same rules, as Spark SQL.

Nothing here re-implements a rule. The facts views (registries.py) and every policy's
`CASE WHEN <scope> AND <rule> THEN '<id>' END` column (engine.entitlement_columns over
sql.compile_sql) are the DuckDB SQL the one-machine run executes, transpiled with sqlglot from
the duckdb dialect to the spark dialect (literals such as `DATE '…'` and quotes in strings
come out in Spark's spelling). Only what has no DuckDB original is written here by hand, in
Spark SQL: the data-source views over the registry files, and the one pass per subject kind
that turns a row's policy columns into entitlement rows (DuckDB's `unnest(list_filter([...]))`
is Spark's `explode(filter(array(...)))`).

SQL generation is pure (no Spark needed, only sqlglot); the runner takes a SparkSession, so
the same code runs in local mode in the tests and under spark-submit on a cluster
(docs/spark.md). `python -m app.matching.spark` is that driver.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from app.matching.engine import entitlement_columns
from app.matching.load import RegistryError
from app.matching.registries import ENTERPRISE_FACTS_SQL, PERSON_FACTS_SQL, REGISTRIES, Registry
from verifier.catalogue import Policy

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FORMATS = ("parquet", "csv")  # tried in this order, as the DuckDB loader does
_SUBJECT_VIEWS = (("person", "person_facts"), ("enterprise", "enterprise_facts"))


# --- SQL generation (pure) -------------------------------------------------------------------


def to_spark(duckdb_sql: str) -> str:
    """One DuckDB expression or statement in Spark SQL's spelling."""
    statements = sqlglot.transpile(duckdb_sql, read="duckdb", write="spark")
    if len(statements) != 1:
        raise ValueError(f"expected one SQL statement, got {len(statements)}")
    return statements[0]


def spark_type(duckdb_type: str) -> str:
    """A declared (DuckDB) column type as Spark names it: VARCHAR -> STRING, INTEGER -> INT, ..."""
    return exp.DataType.build(duckdb_type, dialect="duckdb").sql("spark")


def string_literal(text: str) -> str:
    """A Spark string literal (Spark escapes with backslashes; a doubled quote is not an escape)."""
    return exp.Literal.string(text).sql("spark")


def registry_uri(registries: str | Path, registry: str, fmt: str) -> str:
    """Where a registry's file is: `<folder>/<name>.<fmt>`, for a local folder or any Hadoop URI."""
    return f"{str(registries).rstrip('/')}/{registry}.{fmt}"


def source_view(registry: Registry) -> str:
    return f"{registry.name}__file"


def registry_source_sql(registry: Registry, uri: str, fmt: str) -> str:
    """A temporary view straight over the registry's file (CSV columns all text, as in DuckDB's loader)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown registry format {fmt!r}")
    options = [f"path {string_literal(uri)}"]
    if fmt == "csv":
        options += ["header 'true'", "inferSchema 'false'"]
    return f"CREATE OR REPLACE TEMPORARY VIEW {source_view(registry)} USING {fmt} OPTIONS ({', '.join(options)})"


def registry_view_sql(registry: Registry, has_file: bool) -> str:
    """The registry as the rules see it: the declared columns cast to the declared types.

    A side registry with no file is an empty view with the declared schema (nobody in it).
    """
    casts = []
    for column in registry.columns:
        value = exp.column(column.name) if has_file else exp.null()
        cast = exp.cast(value, exp.DataType.build(column.sql_type, dialect="duckdb"))
        casts.append(f"{cast.sql('spark')} AS {column.name}")
    select = f"SELECT {', '.join(casts)} " + (f"FROM {source_view(registry)}" if has_file else "LIMIT 0")
    return f"CREATE OR REPLACE TEMPORARY VIEW {registry.name} AS {select}"


def facts_views_sql() -> list[str]:
    """registries.py's facts views, transpiled, as temporary views (they read temporary views)."""
    statements = []
    for duckdb_sql in (PERSON_FACTS_SQL, ENTERPRISE_FACTS_SQL):
        create = sqlglot.parse_one(duckdb_sql, read="duckdb")
        if not isinstance(create, exp.Create) or create.args.get("kind") != "VIEW":
            raise ValueError("a facts view must be one CREATE VIEW statement")
        name = create.this.sql("spark")
        select = create.expression.sql("spark")
        statements.append(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {select}")
    return statements


def policy_versions(policies: Sequence[Policy], day: dt.date) -> dict[str, int]:
    """Policy id -> version in force on the day (as engine.run_matching records it)."""
    return {p.id: v.version for p in policies if (v := p.version_on(day)) is not None}


def entitlements_sql(policies: Sequence[Policy], day: dt.date, *, home_region: int = 310000) -> str:
    """A query of rows (subject, policy_id, version): every published policy in force, one pass per view.

    The per-policy columns are engine.entitlement_columns, transpiled; a row's non-NULL
    columns are exploded into one row each and the version joined from an inline table.
    """
    passes = []
    for subject, view in _SUBJECT_VIEWS:
        columns = [to_spark(c) for c in entitlement_columns(policies, subject, day, home_region)]
        if columns:
            hits = f"filter(array({', '.join(columns)}), policy_ -> policy_ IS NOT NULL)"
            passes.append(f"SELECT subject, explode({hits}) AS policy_id FROM {view}")
    if not passes:
        return (
            "SELECT CAST(NULL AS STRING) AS subject, CAST(NULL AS STRING) AS policy_id, "
            "CAST(NULL AS INT) AS version LIMIT 0"
        )
    versions = ", ".join(
        f"({string_literal(pid)}, {int(v)})" for pid, v in sorted(policy_versions(policies, day).items())
    )
    return (
        "SELECT h.subject AS subject, h.policy_id AS policy_id, CAST(v.version AS INT) AS version\n"
        f"FROM ({' UNION ALL '.join(passes)}) AS h\n"
        f"JOIN (VALUES {versions}) AS v(policy_id, version) ON h.policy_id = v.policy_id"
    )


def spark_script(
    registries: str | Path,
    policies: Sequence[Policy],
    day: dt.date,
    *,
    home_region: int = 310000,
    formats: Mapping[str, str | None] | None = None,
) -> str:
    """The whole run as one Spark SQL script (for spark-sql -f), ending in view `entitlements`.

    `formats` maps a registry to "parquet", "csv" or None (no file: an empty registry);
    by default every registry is read as Parquet.
    """
    formats = formats if formats is not None else {r.name: "parquet" for r in REGISTRIES}
    statements = []
    for registry in REGISTRIES:
        fmt = formats.get(registry.name)
        if fmt is not None:
            statements.append(registry_source_sql(registry, registry_uri(registries, registry.name, fmt), fmt))
        statements.append(registry_view_sql(registry, fmt is not None))
    statements += facts_views_sql()
    statements.append(
        "CREATE OR REPLACE TEMPORARY VIEW entitlements AS\n" + entitlements_sql(policies, day, home_region=home_region)
    )
    return ";\n\n".join(statements) + ";\n"


# --- running on a SparkSession ---------------------------------------------------------------


def _condition(exc: Exception) -> str:
    for name in ("getCondition", "getErrorClass"):  # Spark 4 / Spark 3.5
        method = getattr(exc, name, None)
        if callable(method):
            return str(method() or "")
    return ""


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def attach_spark_registries(spark: SparkSession, registries: str | Path) -> dict[str, str | None]:
    """A temporary view per registry and the facts views; returns each registry's format (None: no file).

    `registries` is a local folder or any URI Spark reads (hdfs://, s3a://, abfss://, gs://).
    The person base is required; a side registry with no file is empty.
    """
    from pyspark.errors import AnalysisException

    found: dict[str, str | None] = {}
    for registry in REGISTRIES:
        found[registry.name] = None
        for fmt in FORMATS:
            try:
                spark.sql(registry_source_sql(registry, registry_uri(registries, registry.name, fmt), fmt))
            except AnalysisException as exc:
                if _condition(exc) == "PATH_NOT_FOUND":
                    continue
                raise RegistryError(f"{registry.name}: {_first_line(exc)}") from None
            found[registry.name] = fmt
            break
        if found[registry.name] is None and registry.name == "persons":
            raise RegistryError(f"no persons.parquet or persons.csv in {registries}")
        try:
            spark.sql(registry_view_sql(registry, found[registry.name] is not None))
        except AnalysisException as exc:  # a declared column is not in the file
            raise RegistryError(f"{registry.name}: {_first_line(exc)}") from None
    for statement in facts_views_sql():
        spark.sql(statement)
    return found


def spark_entitlements(
    spark: SparkSession,
    registries: str | Path,
    policies: Sequence[Policy],
    day: dt.date,
    *,
    home_region: int = 310000,
) -> DataFrame:
    """The entitlements of the day as a DataFrame (also temporary view `entitlements`); nothing collected."""
    attach_spark_registries(spark, registries)
    spark.sql(
        "CREATE OR REPLACE TEMPORARY VIEW entitlements AS\n" + entitlements_sql(policies, day, home_region=home_region)
    )
    return spark.table("entitlements")


def run_spark_matching(
    spark: SparkSession,
    registries_dir: str | Path,
    policies: Sequence[Policy],
    day: dt.date,
    home_region: int = 310000,
) -> set[tuple[str, str, int]]:
    """Every (subject, policy_id, version) entitled on the day, collected to the driver (small runs, tests)."""
    frame = spark_entitlements(spark, registries_dir, policies, day, home_region=home_region)
    return {(row["subject"], row["policy_id"], row["version"]) for row in frame.collect()}


# --- the spark-submit driver -----------------------------------------------------------------


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m app.matching.spark", description="Run the matching engine on Spark (免申即享)."
    )
    parser.add_argument("--registries", required=True, help="folder or URI of the registry Parquet/CSV files")
    parser.add_argument("--catalogue", type=Path, default=Path("data/catalogue"), help="policy folder (YAML)")
    parser.add_argument("--day", type=dt.date.fromisoformat, default=dt.date.today(), help="decision date YYYY-MM-DD")
    parser.add_argument("--home-region", type=int, default=310000)
    parser.add_argument("--out", help="write the entitlements here as Parquet (a folder or URI); else print counts")
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
        print(spark_script(args.registries, catalogue.policies, args.day, home_region=args.home_region), end="")
        return 0
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName(f"suishen-matching-{args.day}").getOrCreate()
    try:
        frame = spark_entitlements(spark, args.registries, catalogue.policies, args.day, home_region=args.home_region)
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
