"""Profiles: the group attributes each person's codes carry, computed from the registries.

Only facts a gate needs, in the code's own terms: the highest age threshold reached, a
disability whose certificate is valid on the day (registries.HELD_UNTIL, the very definition the
matching run and the explanations read), an enrolment that has not ended, the two
registry flags and the residence region. The version changes with every run that publishes.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from app.matching.registries import held_sql
from app.matching.sql import literal, years_sql
from verifier.claims import AGE_THRESHOLDS


def age_over_sql(day: dt.date) -> str:
    years = years_sql("birth_date", literal(day))
    whens = " ".join(f"WHEN {years} >= {t} THEN {t}" for t in sorted(AGE_THRESHOLDS, reverse=True))
    return f"CASE {whens} END"


def profiles_sql(day: dt.date, version: int) -> str:
    """The profiles of everyone in `person_facts` on `day` (a run: all of them; the change feed: its neighbourhood)."""
    on = literal(day)
    enrolled = f"COALESCE(student_enrolled_until >= {on}, FALSE)"
    return f"""
        SELECT subject,
               {age_over_sql(day)} AS age_over,
               {held_sql("disability_category", on)} AS disability_category,
               {held_sql("disability_grade", on)} AS disability_grade,
               martyr_family,
               entitled_group,
               CASE WHEN {enrolled} THEN student_level END AS student_level,
               CASE WHEN {enrolled} THEN student_enrolled_until END AS enrolled_until,
               residence_region AS residence,
               {int(version)} AS version
        FROM person_facts
        """


def build_profiles(con: duckdb.DuckDBPyConnection, day: dt.date, version: int) -> int:
    """Fill table `profiles` from the facts views; returns the number of profiles."""
    con.execute(f"CREATE OR REPLACE TABLE profiles AS {profiles_sql(day, version)}")
    return con.execute("SELECT count(*) FROM profiles").fetchone()[0]  # type: ignore[index,no-any-return]
