"""The change feed on Spark: the same records, checks and SQL as app.matching.changes, over a state on the cluster.

Where the state lives: a folder or URI (`--state`) that Spark reads and writes, as Parquet:

    <state>/v000000/<registry>/    the checked registries of the start, and its entitlements/
    <state>/v000007/<registry>/    each batch writes the registries it changed, entitlements/ and
                                   entitlement_changes/ (who gained or lost which policy)
    <state>/manifests/             one JSON row per batch: where each registry and the
                                   entitlements are now, and each source's last sequence number

A batch is committed by its manifest row, appended last: a batch that fails or is refused before
that leaves no manifest, so nothing of it is seen, and the next attempt writes its version again.
Exactly once per source sequence, as the DuckDB feed: the last sequence numbers are read from the
newest manifest (changes.unapplied).

Each batch:
1. The rows the checks read (changes.named_ids: the rows of every person, household and enterprise
   the records name) are collected from the state into a DuckDB connection on the driver, and the
   DuckDB feed's own checks decide (changes.checked_final): the same messages, the same refusals.
2. Each changed registry is written again: its rows without the changed keys, and the new rows.
3. The affected subjects (changes.people_around_sql, before and after) and their neighbourhood
   become the registry views; the run's facts, day views and entitlements query (spark/views.py)
   decide them; their entitlements replace the old ones in a new entitlements version.

Writing a changed registry rewrites it (Parquet has no update); on a cluster with Delta Lake or
Iceberg the same step is a MERGE on the unique columns. The feed keeps no results database and no
services database: the entitlements and their changes are Parquet for the job that loads them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import duckdb

from app.matching.changes import (
    BatchResult,
    Change,
    ChangeError,
    NetRows,
    checked_final,
    named_ids,
    people_around_sql,
    state,
    temp_table,
    touched_ids,
    unapplied,
)
from app.matching.registries import REGISTRIES, Registry
from app.matching.spark.views import (
    attach_day_views,
    attach_spark_registries,
    create_view,
    entitlements_sql,
    facts_views_sql,
    spark_type,
    to_spark,
)
from verifier.catalogue import Policy

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MANIFESTS = "manifests"
_MANIFEST_DDL = (
    "batch INT, day STRING, applied_at STRING, registries MAP<STRING, STRING>, entitlements STRING, "
    "sources MAP<STRING, BIGINT>, records BIGINT, affected BIGINT, gained BIGINT, lost BIGINT, seconds DOUBLE"
)


class Manifest(NamedTuple):
    batch: int
    registries: dict[str, str]  # registry -> its Parquet folder now
    entitlements: str
    sources: dict[str, int]  # source -> last sequence number applied


def _join(root: str | Path, *parts: str) -> str:
    return "/".join([str(root).rstrip("/"), *parts])


def _version(root: str | Path, batch: int, name: str) -> str:
    return _join(root, f"v{batch:06d}", name)


def latest_manifest(spark: SparkSession, root: str | Path) -> Manifest | None:
    """The newest committed batch of the state at `root`; None before the first."""
    from pyspark.errors import AnalysisException

    try:
        rows = spark.read.schema(_MANIFEST_DDL).json(_join(root, MANIFESTS)).orderBy("batch", ascending=False).limit(1)
        found = rows.collect()
    except AnalysisException as exc:
        if "PATH_NOT_FOUND" in str(exc):
            return None
        raise
    if not found:
        return None
    row = found[0]
    return Manifest(int(row["batch"]), dict(row["registries"]), str(row["entitlements"]), dict(row["sources"] or {}))


def _commit(
    spark: SparkSession, root: str | Path, manifest: Manifest, day: dt.date, counts: tuple[int, int, int, int, float]
) -> None:
    records, affected, gained, lost, seconds = counts
    row = (manifest.batch, day.isoformat(), dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
           manifest.registries, manifest.entitlements, manifest.sources, records, affected, gained, lost,
           float(seconds))  # fmt: skip
    spark.createDataFrame([row], _MANIFEST_DDL).coalesce(1).write.mode("append").json(_join(root, MANIFESTS))


def start_state(
    spark: SparkSession, root: str | Path, registries: str | Path, policies: Sequence[Policy], day: dt.date,
    *, home_region: int = 310000,
) -> Manifest:  # fmt: skip
    """Batch 0: the checked registries (as a Spark run reads them) and their entitlements, written to the state."""
    attach_spark_registries(spark, registries)
    written = {}
    for registry in REGISTRIES:
        written[registry.name] = _version(root, 0, registry.name)
        spark.table(registry.name).write.mode("overwrite").parquet(written[registry.name])
    attach_day_views(spark, policies, day)
    entitlements = _version(root, 0, "entitlements")
    spark.sql(entitlements_sql(policies, day, home_region=home_region)).write.mode("overwrite").parquet(entitlements)
    manifest = Manifest(0, written, entitlements, {})
    _commit(spark, root, manifest, day, (0, 0, 0, 0, 0.0))
    spark.catalog.clearCache()  # the run's persisted registry views: the batches read the state's files
    return manifest


def _ids_view(spark: SparkSession, name: str, ids: set[str]) -> None:
    spark.createDataFrame([(i,) for i in sorted(ids)], "id STRING").createOrReplaceTempView(name)


def _attach_state(spark: SparkSession, manifest: Manifest) -> dict[str, DataFrame]:
    frames = {}
    for registry in REGISTRIES:
        frames[registry.name] = spark.read.parquet(manifest.registries[registry.name])
        frames[registry.name].createOrReplaceTempView(state(registry.name))
    return frames


def _slice_condition(registry: Registry) -> str:
    """The rows of a registry that the checks of a batch read: those of the ids its records name."""
    if registry.key == "credit_code":
        return "credit_code IN (SELECT id FROM named_enterprises)"
    names = {c.name for c in registry.columns}
    ors = ["person_id IN (SELECT id FROM named_persons)"]
    for column in ("relative_id", "spouse_id"):
        if column in names:
            ors.append(f"{column} IN (SELECT id FROM named_persons)")
    if "household_id" in names:
        ors.append("household_id IN (SELECT id FROM named_households)")
    return " OR ".join(ors)


def _checked_on_driver(spark: SparkSession, fresh: Sequence[Change]) -> tuple[duckdb.DuckDBPyConnection, NetRows]:
    """The DuckDB feed's checks over the slice of the state the records name; raises ChangeError."""
    persons, enterprises, households, _ = named_ids(fresh)
    _ids_view(spark, "named_persons", persons)
    _ids_view(spark, "named_enterprises", enterprises)
    _ids_view(spark, "named_households", households)
    con = duckdb.connect(config={"threads": 1})
    try:
        for registry in REGISTRIES:
            names = ", ".join(c.name for c in registry.columns)
            query = f"SELECT {names} FROM {state(registry.name)} WHERE {_slice_condition(registry)}"
            columns = [(c.name, c.sql_type) for c in registry.columns]
            temp_table(con, state(registry.name), columns, [tuple(r) for r in spark.sql(query).collect()])
        return con, checked_final(con, fresh)
    except BaseException:
        con.close()
        raise


def _key_text(registry: Registry, column: str) -> str:
    return f"CAST(k_{column} AS {spark_type(next(c.sql_type for c in registry.columns if c.name == column))})"


def _write_changed(
    spark: SparkSession, root: str | Path, batch: int, con: duckdb.DuckDBPyConnection, final: NetRows,
    frames: dict[str, DataFrame], manifest: Manifest,
) -> dict[str, str]:  # fmt: skip
    """Each changed registry without its changed keys, plus its new rows, as the batch's version of it."""
    registries = dict(manifest.registries)
    for name, rows in final.items():
        registry = next(r for r in REGISTRIES if r.name == name)
        unique = registry.unique_columns
        keys = spark.createDataFrame([tuple(k) for k in rows], ", ".join(f"k_{c} STRING" for c in unique))
        keys.createOrReplaceTempView("changed_keys")
        frames[name].createOrReplaceTempView("before_")
        match = " AND ".join(f"b.{c} = {_key_text(registry, c)}" for c in unique)
        kept = spark.sql(f"SELECT b.* FROM before_ AS b LEFT ANTI JOIN changed_keys ON {match}")
        new_rows = _new_rows(con, registry, rows)
        added = spark.createDataFrame(new_rows, frames[name].schema) if new_rows else None
        target = _version(root, batch, name)
        (kept if added is None else kept.unionByName(added)).write.mode("overwrite").parquet(target)
        registries[name] = target
    return registries


def _new_rows(con: duckdb.DuckDBPyConnection, registry: Registry, rows: dict[tuple[Any, ...], Any]) -> list[Any]:
    """The batch's new and updated rows, typed by the driver's checks (from its changed `state_` table)."""
    wanted = {k for k, v in rows.items() if v is not None}
    if not wanted:
        return []
    unique = registry.unique_columns
    text = ", ".join(f"CAST({c} AS VARCHAR)" for c in unique)
    names = ", ".join(c.name for c in registry.columns)
    out = []
    for values in con.execute(f"SELECT {text}, {names} FROM {state(registry.name)}").fetchall():
        if tuple(values[: len(unique)]) in wanted:
            out.append(tuple(values[len(unique):]))
    return out


def _affected(spark: SparkSession) -> set[str]:
    """The changed persons and everyone around them (changes.people_around_sql) in the state views as they are."""
    found = spark.sql(to_spark(people_around_sql("changed_persons", "changed_households", "changed_addresses")))
    return {r[0] for r in found.collect() if r[0] is not None}


def spark_apply_changes(
    spark: SparkSession,
    root: str | Path,
    changes: Sequence[Change],
    policies: Sequence[Policy],
    day: dt.date,
    *,
    registries: str | Path | None = None,
    home_region: int = 310000,
) -> BatchResult:
    """Apply a batch to the state at `root` exactly once, evaluating only the affected subjects again.

    The first batch starts the state from `registries` (start_state); a refused batch changes nothing.
    """
    started = time.perf_counter()
    manifest = latest_manifest(spark, root)
    if manifest is None:
        if registries is None:
            raise ChangeError(f"no change-feed state at {root} yet: give the registries it starts from")
        manifest = start_state(spark, root, registries, policies, day, home_region=home_region)
    fresh, skipped = unapplied(manifest.sources, changes)
    if not fresh:
        return BatchResult(0, skipped, 0, 0, 0, time.perf_counter() - started)
    frames = _attach_state(spark, manifest)
    con, final = _checked_on_driver(spark, fresh)
    batch = manifest.batch + 1
    persons, enterprises, households, addresses = touched_ids(final)
    _ids_view(spark, "changed_persons", persons)
    _ids_view(spark, "changed_households", households)
    _ids_view(spark, "changed_addresses", addresses)
    affected = _affected(spark)  # as the rows were: enough, as in changes.apply_changes
    try:
        written = _write_changed(spark, root, batch, con, final, frames, manifest)
    finally:
        con.close()
    now = manifest._replace(batch=batch, registries=written)
    _attach_state(spark, now)
    _ids_view(spark, "affected", affected)
    _ids_view(spark, "affected_enterprises", enterprises)
    gained, lost, evaluated, entitlements = _reevaluate(spark, root, batch, manifest, policies, day, home_region)
    sources = dict(manifest.sources)
    for change in fresh:
        sources[change.source] = max(sources.get(change.source, 0), change.seq)
    seconds = time.perf_counter() - started
    _commit(spark, root, now._replace(entitlements=entitlements, sources=sources), day,
            (len(fresh), evaluated, gained, lost, seconds))  # fmt: skip
    return BatchResult(len(fresh), skipped, evaluated, gained, lost, seconds, batch)


def _reevaluate(
    spark: SparkSession, root: str | Path, batch: int, manifest: Manifest, policies: Sequence[Policy],
    day: dt.date, home_region: int,
) -> tuple[int, int, int, str]:  # fmt: skip
    """The affected subjects decided by the run's own SQL over their neighbourhood; (gained, lost, evaluated, path)."""
    create_view(spark, f"CREATE OR REPLACE TEMPORARY VIEW near AS {to_spark(people_around_sql('affected'))}")
    for registry in REGISTRIES:
        if registry.key == "credit_code":
            where = "credit_code IN (SELECT id FROM affected_enterprises)"
        else:
            where = "person_id IN (SELECT id FROM near)"
        create_view(spark, f"CREATE OR REPLACE TEMPORARY VIEW {registry.name} AS "
                           f"SELECT * FROM {state(registry.name)} WHERE {where}")  # fmt: skip
    for statement in facts_views_sql():
        create_view(spark, statement)
    attach_day_views(spark, policies, day)
    create_view(spark, "CREATE OR REPLACE TEMPORARY VIEW evaluated AS "
                       "SELECT id FROM affected UNION SELECT id FROM affected_enterprises")  # fmt: skip
    fresh = spark.sql(entitlements_sql(policies, day, home_region=home_region))
    fresh.createOrReplaceTempView("fresh_all")
    fresh_only = spark.sql("SELECT f.* FROM fresh_all AS f LEFT SEMI JOIN evaluated AS e ON f.subject = e.id")
    fresh_only.createOrReplaceTempView("fresh_")
    spark.read.parquet(manifest.entitlements).createOrReplaceTempView("old_")
    differences = spark.sql(
        "SELECT COALESCE(o.subject, n.subject) AS subject, COALESCE(o.policy_id, n.policy_id) AS policy_id, "
        "o.version AS old_version, n.version AS new_version "
        "FROM (SELECT x.* FROM old_ AS x LEFT SEMI JOIN evaluated AS e ON x.subject = e.id) AS o "
        "FULL OUTER JOIN fresh_ AS n ON o.subject = n.subject AND o.policy_id = n.policy_id "
        "WHERE NOT (o.version <=> n.version)"
    )
    differences.write.mode("overwrite").parquet(_version(root, batch, "entitlement_changes"))
    counted = spark.read.parquet(_version(root, batch, "entitlement_changes")).selectExpr(
        "count_if(old_version IS NULL) AS gained", "count_if(new_version IS NULL) AS lost"
    ).collect()[0]
    target = _version(root, batch, "entitlements")
    spark.sql(
        # LEFT ANTI JOIN, not NOT IN: Spark plans NOT IN as a null-aware anti join, whose broadcast ran out
        # of memory in local mode ("Could not allocate memory to grow BytesToBytesMap").
        "SELECT o.* FROM old_ AS o LEFT ANTI JOIN evaluated AS e ON o.subject = e.id UNION ALL SELECT * FROM fresh_"
    ).write.mode("overwrite").parquet(target)
    evaluated = spark.table("evaluated").count()
    return int(counted["gained"]), int(counted["lost"]), int(evaluated), target


def spark_state_entitlements(spark: SparkSession, root: str | Path) -> set[tuple[str, str, int]]:
    """Every (subject, policy_id, version) of the state's latest entitlements, collected (small states, tests)."""
    manifest = latest_manifest(spark, root)
    if manifest is None:
        return set()
    rows = spark.read.parquet(manifest.entitlements).collect()
    return {(r["subject"], r["policy_id"], r["version"]) for r in rows}


# --- the spark-submit driver -----------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`spark-submit app/matching/spark/changes.py --state URI --changes FILE_OR_DIR [--registries URI]`."""
    import argparse
    import sys

    from app.catalogue import load_catalogue
    from app.matching.changes import read_changes
    from app.settings import ROOT

    parser = argparse.ArgumentParser(
        prog="python -m app.matching.spark.changes", description="Apply registry changes to the Spark feed's state."
    )
    parser.add_argument("--state", required=True, help="folder or URI of the feed's state (made by the first batch)")
    parser.add_argument("--changes", type=Path, required=True, help="a JSON Lines file of change records, or a folder")
    parser.add_argument("--registries", help="registry folder or URI the first batch starts the state from")
    parser.add_argument("--catalogue", type=Path, default=ROOT / "data" / "catalogue", help="policy folder (YAML)")
    parser.add_argument("--day", type=dt.date.fromisoformat, default=dt.date.today(), help="decision date YYYY-MM-DD")
    parser.add_argument("--home-region", type=int, default=310000)
    args = parser.parse_args(argv)
    catalogue = load_catalogue(args.catalogue)
    if catalogue.problems:
        print(f"{len(catalogue.problems)} problem(s) in {args.catalogue}: run `suishen catalogue validate`",
              file=sys.stderr)  # fmt: skip
        return 1
    from pyspark.sql import SparkSession

    ours = SparkSession.getActiveSession() is None  # a session the caller made is the caller's to stop
    spark = SparkSession.builder.appName("suishen-change-feed").getOrCreate()
    try:
        result = spark_apply_changes(spark, args.state, read_changes(args.changes), catalogue.policies, args.day,
                                     registries=args.registries, home_region=args.home_region)  # fmt: skip
    except (ChangeError, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    finally:
        if ours:
            spark.stop()
    print(f"batch {result.batch}: {result.applied:,} change(s) applied, {result.skipped:,} already applied; "
          f"{result.affected:,} subject(s) evaluated again on {args.day}: {result.gained:,} entitlement(s) gained, "
          f"{result.lost:,} lost, in {result.seconds:.2f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
