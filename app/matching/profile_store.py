"""Profiles in the services' database: what the signing service puts in each person's codes.

The matching engine computes profiles in bulk (DuckDB); the signing service looks one up per
request, so the latest run's profiles are copied into the SQL database (SQLite by default,
PostgreSQL at scale) keyed by subject. A copy replaces the previous run's rows in one
transaction: a service never sees half of two runs.
"""

from __future__ import annotations

import datetime as dt

import duckdb
from sqlalchemy import Connection, Engine, delete, select

from app.db.bulk import bulk_insert
from app.db.copy import copy_query, is_postgres
from app.db.schema import profiles
from verifier.claims import Profile

_FIELDS = [c.name for c in profiles.columns]


def copy_profiles(con: duckdb.DuckDBPyConnection, engine: Engine, *, batch: int = 20_000) -> int:
    """Replace the stored profiles with the latest run's; returns how many were copied."""
    with engine.begin() as db:
        return replace_profiles(con, db, batch=batch)


def replace_profiles(con: duckdb.DuckDBPyConnection, db: Connection, *, batch: int = 20_000) -> int:
    """copy_profiles inside the caller's transaction (entitlement_store.copy_results puts both in one)."""
    db.execute(delete(profiles))
    if is_postgres(db):  # by COPY: no Python per row (app.db.copy)
        return copy_query(con, f"SELECT {', '.join(_FIELDS)} FROM profiles", db, profiles.name, _FIELDS)
    cursor = con.execute(f"SELECT {', '.join(_FIELDS)} FROM profiles ORDER BY subject")
    copied = 0
    while rows := cursor.fetchmany(batch):
        bulk_insert(db, profiles, rows)
        copied += len(rows)
    return copied


def profile_of(engine: Engine, subject: str, pseudonym: bytes) -> Profile | None:
    """The stored profile as a code carries it; `pseudonym` is the keyed hash put in the code."""
    with engine.connect() as db:
        row = db.execute(select(profiles).where(profiles.c.subject == subject)).first()
    if row is None:
        return None
    enrolled = row.enrolled_until if isinstance(row.enrolled_until, dt.date) else None
    return Profile(
        subject=pseudonym, age_over=row.age_over, disability_category=row.disability_category,
        disability_grade=row.disability_grade, martyr_family=bool(row.martyr_family),
        entitled_group=bool(row.entitled_group), student_level=row.student_level, enrolled_until=enrolled,
        residence=row.residence, version=row.version,
    )  # fmt: skip
