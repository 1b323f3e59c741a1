"""PostgreSQL's COPY for a run's bulk writes: DuckDB writes the rows as CSV, PostgreSQL reads them.

A 25 M-person run writes tens of millions of rows; executemany (bulk.py) costs a Python tuple and a
bind per row on both sides, while here DuckDB writes the CSV in parallel and the server parses it
(no Python per row). The file is written to a private temporary folder and streamed in 1 MiB
chunks, inside the caller's transaction: readers of the table see the old rows or the new ones,
never a mix. Only for PostgreSQL (`is_postgres`); SQLite keeps bulk.bulk_insert.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Connection

CHUNK = 1 << 20


def is_postgres(db: Connection) -> bool:
    return db.dialect.name == "postgresql"


def copy_query(
    con: duckdb.DuckDBPyConnection, query: str, db: Connection, table: str, columns: Sequence[str]
) -> int:
    """COPY the rows of DuckDB `query` (its columns in the order of `columns`) into PostgreSQL `table`; returns
    how many. Runs in `db`'s transaction."""
    with tempfile.TemporaryDirectory(prefix="suishen-copy-") as folder:
        path = Path(folder) / "rows.csv"
        quoted = str(path).replace("'", "''")
        # Every string quoted, so that an empty string stays one and only an unquoted empty field is NULL.
        con.execute(f"COPY ({query}) TO '{quoted}' (FORMAT csv, HEADER false, NULLSTR '', FORCE_QUOTE *)")
        raw: Any = db.connection.driver_connection  # psycopg's own connection, in the same transaction
        names = ", ".join(columns)
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT csv)") as copy, path.open("rb") as rows:
                while chunk := rows.read(CHUNK):
                    copy.write(chunk)
            return int(cursor.rowcount)


def copy_rows(db: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """COPY Python rows into PostgreSQL `table` (a temporary table of changes, say), in `db`'s transaction.

    psycopg's write_row is C code: about a million short rows a second here, against some ten
    thousand for an executemany of UPDATEs."""
    raw: Any = db.connection.driver_connection
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return int(cursor.rowcount)
