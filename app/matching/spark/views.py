"""Spark SQL for the matching run: the registry views, their checks, the facts views and the
entitlements query, each the DuckDB run's own SQL transpiled (see the package docstring).

SQL generation is pure (no Spark needed, only sqlglot); the view makers take a SparkSession.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from app.matching.engine import entitlement_columns, person_needs
from app.matching.load import (
    DEFAULT_MAX_REJECT_SHARE,
    LoadReport,
    RegistryError,
    duplicate_words,
    reason_sql,
)
from app.matching.registries import ENTERPRISE_FACTS_SQL, PERSON_FACTS_SQL, REGISTRIES, Registry
from app.matching.relation_sql import DAY_VIEW, day_tables, day_view_sql
from verifier.catalogue import Policy

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FORMATS = ("parquet", "csv")  # tried in this order, as the DuckDB loader does
_SUBJECT_VIEWS = (("person", DAY_VIEW), ("enterprise", "enterprise_facts"))


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
    """A temporary view straight over the registry's file (CSV columns all text, as in DuckDB's loader).

    A Parquet view also numbers the rows (`row_`, from the file's own row index), which only a
    query on the file itself can read.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown registry format {fmt!r}")
    if fmt == "parquet":
        path = uri.replace("`", "``")
        return (
            f"CREATE OR REPLACE TEMPORARY VIEW {source_view(registry)} AS "
            f"SELECT *, _metadata.row_index + 1 AS row_ FROM parquet.`{path}`"
        )
    options = [f"path {string_literal(uri)}", "header 'true'", "inferSchema 'false'"]
    return f"CREATE OR REPLACE TEMPORARY VIEW {source_view(registry)} USING {fmt} OPTIONS ({', '.join(options)})"


def staged_view(registry: Registry) -> str:
    return f"{registry.name}__staged"


def _row_number_sql(fmt: str) -> str:
    """A 1-based row number within the file, as the DuckDB loader reports it."""
    if fmt == "parquet":
        return "row_"  # the file view's (registry_source_sql)
    # CSV has no row index: number the rows in reading order (a single-partition window; CSV
    # registries are the small ones, Parquet is the format for national scale).
    return "row_number() OVER (ORDER BY monotonically_increasing_id())"


def staged_view_sql(registry: Registry, fmt: str) -> str:
    """Every row of the file with its number, typed columns `t_<name>`, the first thing wrong with it
    (`reason_`, NULL when nothing is) and `rank_` (1, or 2 for the later rows of a repeated key)."""
    key = registry.key
    partition = ", ".join(f"t_{c}" for c in registry.unique_columns)
    present = " AND ".join(f"t_{c} IS NOT NULL" for c in registry.unique_columns)
    raw = ", ".join(column.name for column in registry.columns)
    typed = ", ".join(to_spark(f"TRY_CAST({c.name} AS {c.sql_type}) AS t_{c.name}") for c in registry.columns)
    join = ""
    unknown = None
    if registry.refers_to is not None:  # the referred registry's clean keys are unique: no DISTINCT needed
        join = (
            f"LEFT JOIN (SELECT {key} AS ref_key_ FROM {registry.refers_to}) AS ref_ ON typed_.t_{key} = ref_.ref_key_"
        )
        unknown = "ref_.ref_key_ IS NULL"
    reason = to_spark(reason_sql(registry, unknown))
    columns = ", ".join(["row_", raw, ", ".join(f"t_{c.name}" for c in registry.columns), "reason_"])
    # Repeated keys by a window over the key (one shuffle), not an aggregate joined back (DuckDB's way).
    first = f"CASE WHEN {present} AND copies_ > 1 THEN least_ END"
    ranked = (
        f"SELECT {columns}, {first} AS first_, "
        f"CASE WHEN ({first}) IS NULL OR row_ = ({first}) THEN 1 ELSE 2 END AS rank_\n"
        "FROM counted_"
    )
    body = (
        f"WITH typed_ AS (SELECT {_row_number_sql(fmt)} AS row_, {raw}, {typed} FROM {source_view(registry)}),\n"
        f"rows_ AS (SELECT typed_.*, {reason} AS reason_ FROM typed_ {join}),\n"
        f"counted_ AS (SELECT {columns}, count(*) OVER (PARTITION BY {partition}) AS copies_, "
        f"min(row_) OVER (PARTITION BY {partition}) AS least_ FROM rows_)\n"
    )
    if registry.group_check is None:
        return f"CREATE OR REPLACE TEMPORARY VIEW {staged_view(registry)} AS\n{body}{ranked}"
    check, meaning = registry.group_check  # the DuckDB loader's UPDATE, as a join on the checked rows
    kept = ", ".join(f"base_.{c}" for c in ["row_", *(c.name for c in registry.columns)])
    typed_out = ", ".join(f"base_.t_{c.name}" for c in registry.columns)
    said = f"concat({string_literal(meaning + ' (first at row ')}, CAST(group_.first_ AS STRING), ')')"
    return (
        f"CREATE OR REPLACE TEMPORARY VIEW {staged_view(registry)} AS\n{body}"
        f", base_ AS ({ranked}),\n"
        "clean_ AS (SELECT * FROM base_ WHERE reason_ IS NULL AND rank_ = 1),\n"
        f"group_ AS ({to_spark(check.format(rows='clean_'))})\n"
        f"SELECT {kept}, {typed_out}, "
        f"CASE WHEN base_.reason_ IS NOT NULL THEN base_.reason_ WHEN group_.row_ IS NOT NULL THEN {said} END "
        "AS reason_, base_.first_, base_.rank_\n"
        "FROM base_ LEFT JOIN group_ ON base_.row_ = group_.row_"
    )


def registry_view_sql(registry: Registry, has_file: bool) -> str:
    """The registry as the rules see it: its clean rows (nothing wrong, first of a repeated key), typed.

    A side registry with no file is an empty view with the declared schema (nobody in it).
    """
    if has_file:
        columns = ", ".join(f"t_{c.name} AS {c.name}" for c in registry.columns)
        select = f"SELECT {columns} FROM {staged_view(registry)} WHERE reason_ IS NULL AND rank_ = 1"
    else:
        casts = [f"{exp.cast(exp.null(), exp.DataType.build(c.sql_type, dialect='duckdb')).sql('spark')} AS {c.name}"
                 for c in registry.columns]  # fmt: skip
        select = f"SELECT {', '.join(casts)} LIMIT 0"
    return f"CREATE OR REPLACE TEMPORARY VIEW {registry.name} AS {select}"


def rejects_sql(formats: Mapping[str, str | None]) -> str:
    """The rejects report (registry, row, reason) over the staged views, as the DuckDB loader writes it."""
    parts = []
    for registry in REGISTRIES:
        if formats.get(registry.name) is None:
            continue
        duplicate = f"concat('duplicate {duplicate_words(registry)} (first at row ', CAST(first_ AS STRING), ')')"
        parts.append(
            f"SELECT {string_literal(registry.name)} AS registry, CAST(row_ AS BIGINT) AS row, "
            f"CASE WHEN reason_ IS NOT NULL THEN reason_ ELSE {duplicate} END AS reason "
            f"FROM {staged_view(registry)} WHERE reason_ IS NOT NULL OR rank_ > 1"
        )
    if not parts:
        return (
            "SELECT CAST(NULL AS STRING) AS registry, CAST(NULL AS BIGINT) AS row, CAST(NULL AS STRING) AS reason "
            + ("LIMIT 0")
        )
    return " UNION ALL ".join(parts)


def counts_sql(formats: Mapping[str, str | None]) -> str:
    """Rows loaded and rejected per registry that has a file."""
    parts = [
        f"SELECT {string_literal(r.name)} AS registry, count_if(reason_ IS NULL AND rank_ = 1) AS loaded, "
        f"count_if(reason_ IS NOT NULL OR rank_ > 1) AS rejected FROM {staged_view(r)}"
        for r in REGISTRIES
        if formats.get(r.name) is not None
    ]
    return " UNION ALL ".join(parts)


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


def day_views_sql(policies: Sequence[Policy], day: dt.date) -> list[str]:
    """The day's relation facts (relation_sql) and `person_day_facts`, transpiled, as temporary views.

    Made after the facts views and before the entitlements query, which reads `person_day_facts`.
    """
    needs = person_needs(policies, day)
    statements = [f"CREATE OR REPLACE TEMPORARY VIEW {t.name} AS {to_spark(t.select)}" for t in day_tables(needs, day)]
    statements.append(f"CREATE OR REPLACE TEMPORARY VIEW {DAY_VIEW} AS {to_spark(day_view_sql(needs))}")
    return statements


def attach_day_views(spark: SparkSession, policies: Sequence[Policy], day: dt.date) -> None:
    for statement in day_views_sql(policies, day):
        create_view(spark, statement)


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
    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE,
) -> str:
    """The whole run as one Spark SQL script (for spark-sql -f), ending in view `entitlements`.

    `formats` maps a registry to "parquet", "csv" or None (no file: an empty registry);
    by default every registry is read as Parquet. The script stops (assert_true) when more
    than `max_reject_share` of the rows are rejected; view `rejects` is the report.
    """
    formats = formats if formats is not None else {r.name: "parquet" for r in REGISTRIES}
    statements = []
    for registry in REGISTRIES:
        fmt = formats.get(registry.name)
        if fmt is not None:
            statements.append(registry_source_sql(registry, registry_uri(registries, registry.name, fmt), fmt))
            statements.append(staged_view_sql(registry, fmt))
        statements.append(registry_view_sql(registry, fmt is not None))
    statements.append(f"CREATE OR REPLACE TEMPORARY VIEW rejects AS {rejects_sql(formats)}")
    if any(formats.get(r.name) for r in REGISTRIES):
        share = f"SELECT sum(rejected) / (sum(loaded) + sum(rejected)) FROM ({counts_sql(formats)})"
        message = string_literal(f"more than {max_reject_share:.2%} of registry rows were rejected: nothing is "
                                 "published; see the rejects view")  # fmt: skip
        statements.append(f"SELECT assert_true(coalesce(({share}), 0) <= {float(max_reject_share)!r}, {message})")
    statements += facts_views_sql()
    statements += day_views_sql(policies, day)
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


_VIEW = re.compile(r"CREATE OR REPLACE TEMPORARY VIEW (\w+) AS\s")


def view_query(statement: str) -> str:
    """The query of one of our `CREATE OR REPLACE TEMPORARY VIEW name AS <query>` statements."""
    found = _VIEW.match(statement)
    if found is None:
        raise ValueError("not a view over a query")
    return statement[found.end() :]


def create_view(spark: SparkSession, statement: str) -> DataFrame | None:
    """Run one of our CREATE VIEW statements; a view over a query is made from its DataFrame.

    A view made in SQL keeps its text and is analysed again wherever it is read, so views over
    views over views (file -> staged -> registry -> facts) grow costly; a DataFrame's view keeps
    its analysed plan. A data-source view (`USING csv`) is run as it is.
    """
    found = _VIEW.match(statement)
    if found is None:
        spark.sql(statement)
        return None
    frame = spark.sql(statement[found.end() :])
    frame.createOrReplaceTempView(found.group(1))
    return frame


def attach_spark_registries(spark: SparkSession, registries: str | Path) -> dict[str, str | None]:
    """A checked temporary view per registry and the facts views; returns each registry's format (None: no file).

    `registries` is a local folder or any URI Spark reads (hdfs://, s3a://, abfss://, gs://).
    The person base is required; a side registry with no file is empty. Bad rows are left out
    of the views the rules read (see spark_load_report and spark_rejects).
    """
    from pyspark.errors import AnalysisException

    found: dict[str, str | None] = {}
    for registry in REGISTRIES:
        found[registry.name] = None
        for fmt in FORMATS:
            try:
                create_view(spark, registry_source_sql(registry, registry_uri(registries, registry.name, fmt), fmt))
            except AnalysisException as exc:
                if _condition(exc) == "PATH_NOT_FOUND":
                    continue
                raise RegistryError(f"{registry.name}: {_first_line(exc)}") from None
            found[registry.name] = fmt
            break
        if found[registry.name] is None and registry.name == "persons":
            raise RegistryError(f"no persons.parquet or persons.csv in {registries}")
        source = found[registry.name]
        try:
            if source is not None:
                staged = create_view(spark, staged_view_sql(registry, source))
                assert staged is not None
                staged.persist()  # read for the counts, the report and the rules: computed once
            create_view(spark, registry_view_sql(registry, source is not None))
        except AnalysisException as exc:  # a declared column is not in the file
            raise RegistryError(f"{registry.name}: {_first_line(exc)}") from None
    for statement in facts_views_sql():
        create_view(spark, statement)
    return found


def spark_load_report(spark: SparkSession, formats: Mapping[str, str | None]) -> LoadReport:
    """Rows loaded and rejected per registry (after attach_spark_registries), as the DuckDB loader counts them."""
    counted = {row["registry"]: (row["loaded"], row["rejected"]) for row in spark.sql(counts_sql(formats)).collect()}
    loaded = {r.name: int(counted.get(r.name, (0, 0))[0]) for r in REGISTRIES}
    rejected = {r.name: int(counted.get(r.name, (0, 0))[1]) for r in REGISTRIES}
    return LoadReport(loaded, rejected)


def spark_rejects(spark: SparkSession, formats: Mapping[str, str | None]) -> DataFrame:
    """The rejects report (registry, row, reason): no values copied, as the DuckDB loader's."""
    return spark.sql(rejects_sql(formats))
