"""Enterprise profiles: what an enterprise's Suishen code (法人随申码) may carry, from the registries.

The same idea as the persons' profiles (app.matching.profiles and profile_store): computed in bulk
from `enterprise_facts` by the matching run, copied to the services database in the transaction
that copies the persons' profiles, and read one at a time by the signing service. An enterprise
code carries, of these, only what some published scan-mode policy for enterprises reads (the
issuer's `carry`): 守信 (`enterprise.credit_good`: an A-level taxpayer with no blacklist entry) and
the registered region.
"""

from __future__ import annotations

import datetime as dt

import duckdb
from sqlalchemy import Connection, Engine, delete, select

from app.db.bulk import bulk_insert
from app.db.copy import copy_query, is_postgres
from app.db.schema import enterprise_profiles
from verifier.claims import Profile

_FIELDS = [c.name for c in enterprise_profiles.columns]


def enterprise_profiles_sql(version: int) -> str:
    """The profiles of every enterprise in `enterprise_facts` (a run: all; the change feed: the changed ones)."""
    return (
        "SELECT subject, COALESCE(enterprise_credit_good, FALSE) AS credit_good, enterprise_region AS region, "
        f"{int(version)} AS version FROM enterprise_facts"
    )


def build_enterprise_profiles(con: duckdb.DuckDBPyConnection, day: dt.date, version: int) -> int:
    """Fill table `enterprise_profiles` from the facts view; returns the number of profiles.

    `day` is the run's: none of these facts is dated today, the argument keeps the persons' signature.
    """
    con.execute(f"CREATE OR REPLACE TABLE enterprise_profiles AS {enterprise_profiles_sql(version)}")
    return con.execute("SELECT count(*) FROM enterprise_profiles").fetchone()[0]  # type: ignore[index,no-any-return]


def replace_enterprise_profiles(con: duckdb.DuckDBPyConnection, db: Connection, *, batch: int = 20_000) -> int:
    """The stored enterprise profiles replaced by the run's, inside the caller's transaction."""
    try:
        cursor = con.execute(f"SELECT {', '.join(_FIELDS)} FROM enterprise_profiles ORDER BY subject")
    except duckdb.CatalogException:  # a results database from before enterprise profiles: leave the stored ones
        return 0
    db.execute(delete(enterprise_profiles))
    if is_postgres(db):  # by COPY: no Python per row (app.db.copy)
        query = f"SELECT {', '.join(_FIELDS)} FROM enterprise_profiles"
        return copy_query(con, query, db, enterprise_profiles.name, _FIELDS)
    copied = 0
    while rows := cursor.fetchmany(batch):
        bulk_insert(db, enterprise_profiles, rows)
        copied += len(rows)
    return copied


def enterprise_profile_of(engine: Engine, credit_code: str, pseudonym: bytes) -> Profile | None:
    """The enterprise's stored profile as its code carries it; `pseudonym` is the keyed hash put in the code."""
    with engine.connect() as db:
        row = db.execute(select(enterprise_profiles).where(enterprise_profiles.c.subject == credit_code)).first()
    if row is None:
        return None
    return Profile(
        subject=pseudonym, version=row.version, enterprise=True, credit_good=bool(row.credit_good),
        enterprise_region=row.region,
    )  # fmt: skip


def credit_good_of(engine: Engine, credit_code: str) -> bool | None:
    """Whether the latest run found the enterprise 守信 (None: not in the latest results)."""
    with engine.connect() as db:
        value = db.execute(
            select(enterprise_profiles.c.credit_good).where(enterprise_profiles.c.subject == credit_code)
        ).scalar_one_or_none()
    return None if value is None else bool(value)
