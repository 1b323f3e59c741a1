"""Bulk writes that keep a run's copy fast and a repeated run harmless, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, Insert, Table, insert


def bulk_insert(db: Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
    """executemany straight to the driver, a tuple a row (no per-row dict): twice as fast as Core's insert.

    The columns' own bind conversions (dates and booleans on SQLite, ...) are still applied.
    """
    compiled = str(insert(table).compile(dialect=db.dialect))
    convert = [
        (i, f) for i, c in enumerate(table.columns) if (f := c.type.dialect_impl(db.dialect).bind_processor(db.dialect))
    ]
    if convert:
        converters = dict(convert)
        rows = [tuple(converters[i](v) if i in converters else v for i, v in enumerate(row)) for row in rows]
    if db.dialect.positional:
        db.exec_driver_sql(compiled, rows)  # type: ignore[arg-type]
    else:
        names = [c.name for c in table.columns]
        db.exec_driver_sql(compiled, [dict(zip(names, row, strict=True)) for row in rows])


def insert_ignoring_duplicates(engine: Engine, table: Table) -> Insert:
    """An INSERT that skips rows a unique constraint already holds (SQLite OR IGNORE, PostgreSQL ON CONFLICT).

    Its rowcount is the number of rows written, on PostgreSQL too (where SQLAlchemy otherwise
    gives -1 for an executemany or an INSERT ... SELECT).
    """
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing().execution_options(preserve_rowcount=True)
    return insert(table).prefix_with("OR IGNORE").execution_options(preserve_rowcount=True)
