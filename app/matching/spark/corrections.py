"""Upheld objections' corrected facts on the Spark path, by the very code the DuckDB run uses.

Spark views cannot be updated in place, and the corrections concern a handful of subjects. So
the corrected subjects' clean rows are fetched from Spark into an in-memory DuckDB, corrected
there by objections.apply_corrections (the same statements as the one-machine run, in the same
order), and each registry view becomes its other rows plus those corrected rows; the facts
views are then made again over the corrected registries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import duckdb
from sqlalchemy import Engine, select

from app.db.schema import objections
from app.matching.objections import apply_corrections
from app.matching.registries import REGISTRIES
from app.matching.spark.views import create_view, facts_views_sql, registry_view_sql, view_query

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _corrected_subjects(engine: Engine) -> list[str]:
    with engine.connect() as db:
        query = select(objections.c.subject).where(objections.c.status == "upheld").distinct()
        return sorted(db.execute(query).scalars())


def spark_apply_corrections(
    spark: SparkSession, engine: Engine, formats: Mapping[str, str | None]
) -> tuple[int, list[str]]:
    """Apply the upheld corrections to the attached registry views; `formats` is attach_spark_registries'.

    Returns what objections.apply_corrections returns: (facts applied, the ones that could not be).
    """
    from pyspark.sql.functions import col


    subjects = _corrected_subjects(engine)
    if not subjects:
        return 0, []
    local = duckdb.connect()
    for registry in REGISTRIES:
        local.execute(f"CREATE TABLE {registry.name} ({', '.join(f'{c.name} {c.sql_type}' for c in registry.columns)})")
        rows = spark.table(registry.name).where(col(registry.key).isin(subjects)).collect()
        if rows:
            marks = ", ".join("?" for _ in registry.columns)
            local.executemany(f"INSERT INTO {registry.name} VALUES ({marks})", [tuple(r) for r in rows])
    applied, skipped = apply_corrections(local, engine)
    for registry in REGISTRIES:
        names = [c.name for c in registry.columns]
        placeholders = ", ".join("?" for _ in subjects)
        corrected: list[Any] = local.execute(
            f"SELECT {', '.join(names)} FROM {registry.name} WHERE {registry.key} IN ({placeholders})", subjects
        ).fetchall()
        # The registry's rows again from its own query (a view made over itself would be recursive).
        table = spark.sql(view_query(registry_view_sql(registry, formats.get(registry.name) is not None)))
        others = table.where(~col(registry.key).isin(subjects))
        others.unionByName(spark.createDataFrame(corrected, schema=table.schema)).createOrReplaceTempView(registry.name)
    for statement in facts_views_sql():
        create_view(spark, statement)
    return applied, skipped
