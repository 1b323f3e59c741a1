"""Profiles from registries: what a code may carry, exactly as the code's rules define it."""

from __future__ import annotations

import datetime as dt

from app.matching.facts_rows import facts_from_row
from app.matching.profiles import build_profiles
from app.matching.sql import compile_sql
from tests.support.registries import DAY, random_registries
from verifier.claims import AGE_THRESHOLDS, Profile, profile_problems
from verifier.rules.ast import Compare, Member
from verifier.rules.evaluate import compile_rule, years_between


def _expected(row: dict) -> tuple:  # type: ignore[type-arg]
    age = years_between(row["birth_date"], DAY)
    age_over = max((t for t in AGE_THRESHOLDS if age >= t), default=None)
    valid = row["disability_certificate_valid_until"] is not None and row["disability_certificate_valid_until"] >= DAY
    enrolled = row["student_enrolled_until"] is not None and row["student_enrolled_until"] >= DAY
    return (
        age_over,
        row["disability_category"] if valid else None,
        row["disability_grade"] if valid else None,
        row["martyr_family"],
        row["entitled_group"],
        row["student_level"] if enrolled else None,
        row["student_enrolled_until"] if enrolled else None,
        row["residence_region"],
    )


def test_profiles_follow_the_registries_on_the_day() -> None:
    con = random_registries(seed=5, n=300)
    count = build_profiles(con, DAY, version=4)
    cursor = con.execute("SELECT * FROM person_facts")
    names = [d[0] for d in cursor.description]
    facts = {r[0]: dict(zip(names, r, strict=True)) for r in cursor.fetchall()}
    profiles = con.execute("SELECT * FROM profiles").fetchall()
    assert count == len(facts) == len(profiles)
    for subject, *attributes, version in profiles:
        assert tuple(attributes) == _expected(facts[subject]), subject
        assert version == 4
    assert any(p[1] == 80 for p in profiles) and any(p[1] is None for p in profiles)
    assert any(p[2] is None and facts[p[0]]["disability_category"] is not None for p in profiles)  # expired


def test_the_profile_the_compiled_sql_and_the_evaluator_agree_when_a_disability_holds() -> None:
    """A certificate's last day counts, the day after does not: the code, the run and the explanation alike."""
    con = random_registries(seed=5, n=300)
    cursor = con.execute("SELECT * FROM person_facts")
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    ends = sorted({r["disability_certificate_valid_until"] for r in rows} - {None})
    rules = [Member("disabled_persons"), Compare("disability.grade", ">=", 1), Compare("disability.category", "!=", 0)]
    for day in [ends[0], ends[len(ends) // 2], ends[len(ends) // 2] + dt.timedelta(days=1), DAY, ends[-1]]:
        build_profiles(con, day, version=1)
        coded = {
            s for (s,) in con.execute("SELECT subject FROM profiles WHERE disability_category IS NOT NULL").fetchall()
        }
        holds = {r["subject"] for r in rows if r["disability_certificate_valid_until"] is not None
                 and r["disability_certificate_valid_until"] >= day}  # fmt: skip
        assert coded == holds and holds
        assert any(r["disability_category"] is not None and r["subject"] not in holds for r in rows) or day == ends[0]
        for rule in rules:
            by_sql = {
                s for (s,) in con.execute(f"SELECT subject FROM person_facts WHERE {compile_sql(rule, day)}").fetchall()
            }
            by_python = {r["subject"] for r in rows if compile_rule(rule)(facts_from_row(r, day), day)}
            assert by_sql == by_python == holds, (rule, day)


def test_every_profile_can_be_put_in_a_code() -> None:
    con = random_registries(seed=6, n=300)
    build_profiles(con, DAY, version=1)
    for row in con.execute("SELECT * FROM profiles").fetchall():
        profile = Profile(
            subject=b"\x00" * 8, age_over=row[1], disability_category=row[2], disability_grade=row[3],
            martyr_family=bool(row[4]), entitled_group=bool(row[5]), student_level=row[6],
            enrolled_until=row[7] if isinstance(row[7], dt.date) else None, residence=row[8], version=row[9],
        )  # fmt: skip
        assert profile_problems(profile) == [], row


def test_profiles_copied_to_the_services_database_replace_the_previous_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from app.db.engine import open_database
    from app.matching.profile_store import copy_profiles, profile_of

    con = random_registries(seed=8, n=300)
    engine = open_database(tmp_path / "services.sqlite")
    build_profiles(con, DAY, version=1)
    first = copy_profiles(con, engine, batch=50)
    build_profiles(con, DAY, version=2)
    assert copy_profiles(con, engine, batch=50) == first == con.execute("SELECT count(*) FROM profiles").fetchone()[0]  # type: ignore[index]
    for row in con.execute("SELECT * FROM profiles ORDER BY subject LIMIT 40").fetchall():
        stored = profile_of(engine, row[0], b"\x01" * 8)
        assert stored is not None and stored.version == 2
        assert (stored.age_over, stored.disability_category, stored.residence) == (row[1], row[2], row[8])
        assert stored.enrolled_until == row[7] and profile_problems(stored) == []
    assert profile_of(engine, "P-nobody", b"\x01" * 8) is None
