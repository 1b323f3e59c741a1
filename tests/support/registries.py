"""Registries for the matching tests: random ones (seeded) in DuckDB, and a CSV folder of known bad rows.

Several test modules match over the same random registries (the SQL, the engine, runs, payouts,
objections, the Spark path ...), and both the DuckDB and Spark loaders must reject the same bad
rows, so these live here rather than in one test module that the others import.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import duckdb

from app.matching.facts_rows import facts_from_row
from app.matching.registries import BY_NAME, ENTERPRISE_FACTS_SQL, PERSON_FACTS_SQL

DAY = dt.date(2026, 11, 26)  # the matching day of the random registries
REGIONS = [310000, 320000, 330000, 340000]


def random_registries(
    seed: int, n: int = 240, *, relations: bool = True, bad_relations: bool = False
) -> duckdb.DuckDBPyConnection:
    """Every registry table, `n` persons from `seed`, in an in-memory DuckDB with the facts views made.

    Facts go missing at random (no disability record, no income), some persons are dead, some
    are born today or on 29 February: the cases where SQL and the per-subject evaluator could part.
    """
    rng = random.Random(seed)
    con = duckdb.connect()
    for registry in BY_NAME.values():
        columns = ", ".join(f"{c.name} {c.sql_type}" for c in registry.columns)
        con.execute(f"CREATE TABLE {registry.name} ({columns})")

    def some_date(start: int, end: int) -> dt.date:
        return DAY + dt.timedelta(days=rng.randint(start, end))

    for i in range(n):
        pid = f"P{i:06d}"
        born = DAY - dt.timedelta(days=rng.randint(0, 105 * 365))
        if rng.random() < 0.05:  # a birthday today, or on 29 February
            born = dt.date(DAY.year - rng.randint(55, 85), DAY.month, DAY.day)
        if rng.random() < 0.02:
            born = dt.date(1960, 2, 29)
        con.execute(
            "INSERT INTO persons VALUES (?, ?, ?, ?, ?, ?)",
            [pid, born, rng.choice(REGIONS), rng.choice([310000, None]), rng.choice([None, rng.randint(0, 6000)]),
             some_date(-100, -1) if rng.random() < 0.03 else None],
        )  # fmt: skip
        if rng.random() < 0.3:
            con.execute(
                "INSERT INTO disability VALUES (?, ?, ?, ?)",
                [pid, rng.randint(1, 7), rng.randint(1, 4), some_date(-400, 400)],
            )
        if rng.random() < 0.15:
            con.execute("INSERT INTO martyr_families VALUES (?)", [pid])
        if rng.random() < 0.15:
            con.execute("INSERT INTO entitled_groups VALUES (?)", [pid])
        if rng.random() < 0.3:
            con.execute(
                "INSERT INTO students VALUES (?, ?, ?, ?)", [pid, rng.randint(1, 6), None, some_date(-300, 900)]
            )
        if rng.random() < 0.1:
            con.execute("INSERT INTO person_blacklist VALUES (?)", [pid])
    if relations:  # households, kin ...; without them a test's own relation rows are the only ones
        _random_relations(con, rng, n, bad=bad_relations)
    con.execute(PERSON_FACTS_SQL)
    con.execute(ENTERPRISE_FACTS_SQL)
    return con


def _random_relations(con: duckdb.DuckDBPyConnection, rng: random.Random, n: int, *, bad: bool) -> None:
    """Households, addresses, kin, marriages and martyrs over the `n` persons, with the edge cases:
    records that start or end on DAY (or the day before, or after), a person in two households at
    once, members who have died, relatives who are not in `persons`; with `bad`, also the rows a
    loader rejects (kin cycles, self-relations), for tests that read the tables as they are."""
    edges = [None, None, None, DAY, DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=1)]

    def starts() -> dt.date:
        return rng.choice([DAY, DAY + dt.timedelta(days=1), DAY - dt.timedelta(days=rng.randint(1, 4000))])

    def span() -> tuple[dt.date, dt.date | None]:
        start = starts()
        end = rng.choice(edges)
        return (start, end) if end is None or end >= start else (start, None)

    people = [f"P{i:06d}" for i in range(n)]
    i = household = 0
    while i < n:
        size = rng.choice([1, 1, 2, 2, 3, 3, 4, 5])
        members = people[i : i + size]
        i += size
        household += 1
        for j, pid in enumerate(members):
            if rng.random() < 0.1:
                continue  # no household record
            start, end = span()
            con.execute("INSERT INTO households VALUES (?, ?, ?, ?, ?)",
                        [f"H{household:05d}", pid, "head" if j == 0 else rng.choice(["spouse", "child", "parent"]),
                         start, end])  # fmt: skip
            if rng.random() < 0.08:  # a second household record: moved, or in two at once
                other = f"H{rng.randint(1, max(1, household)):05d}"
                con.execute("INSERT INTO households VALUES (?, ?, 'other', ?, ?)", [other, pid, *span()])
            if rng.random() < 0.85:
                address = f"A{household:05d}" if rng.random() < 0.9 else f"A{rng.randint(1, household):05d}"
                con.execute("INSERT INTO addresses VALUES (?, ?, ?, ?)", [pid, address, *span()])
    pairs: set[tuple[str, str]] = set()
    for _ in range(n):
        a = rng.choice(people)
        b = rng.choice(people) if rng.random() < 0.85 else f"X{rng.randint(0, 30):04d}"  # not in persons
        if bad and rng.random() < 0.02:
            b = a  # a self-relation
        if not bad and (a == b or (a, b) in pairs or (b, a) in pairs):
            continue  # one row a pair: no contradiction a loader would reject
        pairs.add((a, b))
        relation = rng.choice(["spouse", "child", "parent", "sibling", "grandparent", "grandchild"])
        con.execute("INSERT INTO kinship VALUES (?, ?, ?)", [a, b, relation])
        if bad and rng.random() < 0.05:  # a cycle: each the other's parent
            con.execute("INSERT INTO kinship VALUES (?, ?, 'parent'), (?, ?, 'parent')", [a, b, b, a])
    for _ in range(n // 4):
        a, b = rng.choice(people), rng.choice(people)
        if a != b or bad:
            con.execute("INSERT INTO marriages VALUES (?, ?, ?, ?)", [a, b, *span()])
    martyrs = {rng.choice(people) if rng.random() < 0.6 else f"X{rng.randint(0, 30):04d}" for _ in range(n // 10)}
    for who in sorted(martyrs):  # one row a martyr, as the loader keeps
        con.execute("INSERT INTO martyrs VALUES (?, ?)", [who, starts()])


def write_parquet_registries(con: duckdb.DuckDBPyConnection, folder: Path) -> Path:
    """Each registry table of `con` as `<name>.parquet` in `folder`, as departments deliver them."""
    for registry in BY_NAME.values():
        con.execute(f"COPY {registry.name} TO '{folder / registry.name}.parquet' (FORMAT parquet)")
    return folder


def facts_on_day(row: dict[str, Any]) -> dict[str, Any]:
    """The evaluator's facts for one row of the person_facts view, on DAY."""
    return facts_from_row(row, DAY)


# Bad rows, each with the reason a loader must give (tests/app/test_matching_load.py names them by row).
BAD_PERSONS = """person_id,birth_date,residence_region,hukou_region,income_monthly,death_date
P1,1950-03-01,310000,310000,1800,
P2,1960-13-01,310000,,,
P3,1955-05-05,31,,,
P4,1940-01-01,310000,,,
P4,1941-01-01,310000,,,
P5,2190-01-01,310000,,,
P6,1950-01-01,310000,,-5,
P7,1950-01-01,310000,,,1949-12-31
,1950-01-01,310000,,,
P8,1970-07-07,320000,,abc,
P9,1950-01-01,310000,,1800.5,
"""
BAD_DISABILITY = """person_id,category,grade,certificate_valid_until
P1,4,1,2030-01-01
P4,9,1,2030-01-01
P99,1,1,2030-01-01
P1,2,2,2030-01-01
"""
BAD_STUDENTS = """person_id,level,school,enrolled_until
P8,5,,2027-06-30
P1,x,,2027-06-30
"""


def write_bad_rows(folder: Path) -> Path:
    """persons.csv, disability.csv and students.csv with the bad rows above, in `folder`."""
    (folder / "persons.csv").write_text(BAD_PERSONS)
    (folder / "disability.csv").write_text(BAD_DISABILITY)
    (folder / "students.csv").write_text(BAD_STUDENTS)
    return folder


ENTERPRISE_INDUSTRIES = ["manufacturing", "information_technology", "wholesale_retail"]


def random_enterprise_registries(seed: int, n: int = 240) -> duckdb.DuckDBPyConnection:
    """The enterprise registries (enterprises, blacklist, tax credit ratings) of `n` enterprises from `seed`.

    Ratings go missing at random (not yet assessed), A-level taxpayers are sometimes on the blacklist:
    the cases where SQL and the per-subject evaluator could part on 守信 (enterprise.credit_good).
    Every other registry is created empty, so both facts views exist.
    """
    rng = random.Random(seed)
    con = duckdb.connect()
    for registry in BY_NAME.values():
        columns = ", ".join(f"{c.name} {c.sql_type}" for c in registry.columns)
        con.execute(f"CREATE TABLE {registry.name} ({columns})")
    for i in range(n):
        code = f"91310000{i:09d}X"
        employees = rng.choice([0, 5, 30, 300, 301, 2000])
        con.execute(
            "INSERT INTO enterprises VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [code, rng.choice(ENTERPRISE_INDUSTRIES), rng.choice(REGIONS), employees,
             rng.randint(0, employees), rng.randint(0, 30), rng.randint(0, 10**8),
             DAY - dt.timedelta(days=rng.randint(0, 4000))],
        )  # fmt: skip
        if rng.random() < 0.15:
            con.execute("INSERT INTO enterprise_blacklist VALUES (?)", [code])
        if rng.random() < 0.85:
            con.execute("INSERT INTO tax_credit_ratings VALUES (?, ?)", [code, rng.choice("AABMCD")])
    con.execute(PERSON_FACTS_SQL)
    con.execute(ENTERPRISE_FACTS_SQL)
    return con
