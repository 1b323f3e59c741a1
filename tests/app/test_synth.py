"""The synthetic registries match the declared schemas, hang together, look like Shanghai and are
reproducible from their seed."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import duckdb
import pytest

from app.credit_code import is_credit_code
from app.matching.registries import BY_NAME, ENTERPRISE_FACTS_SQL, PERSON_FACTS_SQL, REGISTRIES, RELATION_REGISTRIES
from app.matching.synth import summary, synthesise

PERSONS = 20_000
ENTERPRISES = 2_000
SEED = 20261126
AS_OF = dt.date(2026, 11, 26)
PERSON_SIDE = ("disability", "martyr_families", "entitled_groups", "students", "person_blacklist")
AGE = f"date_diff('year', birth_date, DATE '{AS_OF}') - CAST(strftime(birth_date, '%m%d') > '{AS_OF:%m%d}' AS INTEGER)"


def _path(out: Path, name: str) -> str:
    return f"'{out / (name + '.parquet')}'"


def _connect(out: Path) -> duckdb.DuckDBPyConnection:
    """A connection with one view per registry over the generated files."""
    con = duckdb.connect()
    for registry in REGISTRIES:
        con.execute(f"CREATE VIEW {registry.name} AS SELECT * FROM read_parquet({_path(out, registry.name)})")
    return con


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple:  # type: ignore[type-arg]
    row = con.execute(sql).fetchone()
    assert row is not None
    return row


def _digests(out: Path) -> dict[str, str]:
    return {r.name: hashlib.sha256((out / f"{r.name}.parquet").read_bytes()).hexdigest() for r in REGISTRIES}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("synth")
    counts = synthesise(out, persons=PERSONS, enterprises=ENTERPRISES, seed=SEED, as_of=AS_OF)
    return out, counts


@pytest.fixture(scope="module")
def con(generated: tuple[Path, dict[str, int]]) -> duckdb.DuckDBPyConnection:
    return _connect(generated[0])


def test_every_registry_has_exactly_the_declared_columns_and_types(generated: tuple[Path, dict[str, int]]) -> None:
    out, _ = generated
    db = duckdb.connect()
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{r.name}.parquet" for r in REGISTRIES)
    for registry in REGISTRIES:
        described = db.execute(f"DESCRIBE SELECT * FROM read_parquet({_path(out, registry.name)})").fetchall()
        declared = [(c.name, c.sql_type) for c in registry.columns]
        assert [(row[0], row[1]) for row in described] == declared, registry.name


def test_counts_match_the_files(generated: tuple[Path, dict[str, int]], con: duckdb.DuckDBPyConnection) -> None:
    out, counts = generated
    assert summary(out) == counts
    assert set(counts) == {r.name for r in REGISTRIES}
    assert counts["persons"] == PERSONS and counts["enterprises"] == ENTERPRISES
    for registry in REGISTRIES:
        assert _one(con, f"SELECT count(*) FROM {registry.name}")[0] == counts[registry.name]
        assert counts[registry.name] > 0, registry.name


def test_ids_are_unique_well_formed_and_required_columns_filled(con: duckdb.DuckDBPyConnection) -> None:
    for registry in REGISTRIES:
        unique = ", ".join(registry.unique_columns)
        total, distinct = _one(con, f"SELECT count(*), count(DISTINCT ({unique})) FROM {registry.name}")
        assert total == distinct, registry.name
        for column in registry.columns:
            if column.required:
                nulls = _one(con, f"SELECT count(*) FROM {registry.name} WHERE {column.name} IS NULL")[0]
                assert nulls == 0, (registry.name, column.name)
    person_ids = [r[0] for r in con.execute("SELECT person_id FROM persons").fetchall()]
    assert all(re.fullmatch(r"P\d{10}", p) for p in person_ids)
    codes = [r[0] for r in con.execute("SELECT credit_code FROM enterprises").fetchall()]
    assert all(re.fullmatch(r"91310000\d{9}[0-9A-HJ-NPQRTUWXY]", c) and is_credit_code(c) for c in codes)


def test_side_registries_only_name_known_subjects(con: duckdb.DuckDBPyConnection) -> None:
    for name in PERSON_SIDE:
        orphans = _one(con, f"SELECT count(*) FROM {name} ANTI JOIN persons USING (person_id)")
        assert orphans[0] == 0, name
    orphans = _one(con, "SELECT count(*) FROM enterprise_blacklist ANTI JOIN enterprises USING (credit_code)")
    assert orphans[0] == 0


def test_persons_look_like_shanghai(con: duckdb.DuckDBPyConnection) -> None:
    n = float(PERSONS)
    age60, age80, age100, children, ages_ok = _one(con, f"""
        SELECT count_if(age >= 60), count_if(age >= 80), count_if(age >= 100), count_if(age < 18),
               bool_and(age BETWEEN 0 AND 110)
        FROM (SELECT {AGE} AS age FROM persons)
    """)  # fmt: skip
    assert 0.32 < age60 / n < 0.40
    assert 0.03 < age80 / n < 0.10
    assert 1 <= age100 < 0.005 * n
    assert 0.05 < children / n < 0.20
    assert ages_ok
    shanghai, yrd, other, hukou, low_income, dead, bad_death = _one(con, f"""
        SELECT count_if(residence_region = 310000),
               count_if(residence_region IN (320000, 330000, 340000)),
               count_if(residence_region NOT IN (310000, 320000, 330000, 340000)),
               count_if(hukou_region = 310000),
               count_if(income_monthly < 2500),
               count_if(death_date IS NOT NULL),
               count_if(death_date < birth_date OR death_date > DATE '{AS_OF}')
        FROM persons
    """)  # fmt: skip
    assert 0.85 < shanghai / n < 0.97
    assert 0.03 < yrd / n < 0.12
    assert 0 < other / n < 0.03
    assert 0.50 < hukou / n < 0.70
    assert _one(con, "SELECT count(*) FROM persons WHERE hukou_region IS NOT NULL AND hukou_region <> 310000")[0] == 0
    assert 0.03 < low_income / n < 0.30
    assert 0.002 < dead / n < 0.01
    assert bad_death == 0


def test_side_registries_have_plausible_shares_and_values(con: duckdb.DuckDBPyConnection) -> None:
    n = float(PERSONS)
    share = {name: _one(con, f"SELECT count(*) FROM {name}")[0] / n for name in PERSON_SIDE}
    assert 0.015 < share["disability"] < 0.04
    assert 0.001 < share["martyr_families"] < 0.006
    assert 0.005 < share["entitled_groups"] < 0.02
    assert 0.002 < share["person_blacklist"] < 0.01
    assert 0.06 < share["students"] < 0.16

    categories, grades, valid, expired = _one(con, f"""
        SELECT list(DISTINCT category ORDER BY category), list(DISTINCT grade ORDER BY grade),
               count_if(certificate_valid_until >= DATE '{AS_OF}'), count_if(certificate_valid_until < DATE '{AS_OF}')
        FROM disability
    """)  # fmt: skip
    assert categories == [1, 2, 3, 4, 5, 6, 7] and grades == [1, 2, 3, 4]
    assert valid > 5 * expired > 0

    levels, bad_age, current, past = _one(con, f"""
        SELECT list(DISTINCT level ORDER BY level),
               count_if(NOT (age BETWEEN 6 AND 25)
                        OR (level = 1 AND age > 12) OR (level IN (5, 6) AND age < 17)),
               count_if(enrolled_until >= DATE '{AS_OF}'), count_if(enrolled_until < DATE '{AS_OF}')
        FROM (SELECT s.*, {AGE} AS age FROM students s JOIN persons USING (person_id))
    """)  # fmt: skip
    assert levels == [1, 2, 3, 4, 5, 6]
    assert bad_age == 0
    assert current > 10 * past > 0
    school_age, enrolled = _one(con, f"""
        SELECT count(*), count(s.person_id)
        FROM persons p LEFT JOIN students s USING (person_id) WHERE {AGE} BETWEEN 7 AND 14
    """)  # fmt: skip
    assert enrolled > 0.95 * school_age


def test_enterprises_are_plausible(con: duckdb.DuckDBPyConnection) -> None:
    n = float(ENTERPRISES)
    row = _one(con, f"""
        SELECT count(DISTINCT industry), count_if(region = 310000), count_if(employees <= 30),
               count_if(employees > 300), count_if(insured_employees > employees OR insured_employees < 0),
               count_if(insured_employees >= 1), min(layoff_rate_pct), max(layoff_rate_pct),
               count_if(layoff_rate_pct <= 5), count_if(annual_revenue < 0), count_if(annual_revenue <= 50000000),
               min(registered_on), max(registered_on), count_if(registered_on >= DATE '{AS_OF}' - 1095)
        FROM enterprises
    """)  # fmt: skip
    industries, shanghai, small, large, bad_insured, insured, low, high, stable, negative, modest, first, last, new = (
        row
    )
    assert industries >= 8
    assert 0.85 < shanghai / n < 0.99
    assert 0.6 < small / n < 0.95 and 0 < large / n < 0.1
    assert bad_insured == 0 and 0.7 < insured / n < 0.99
    assert low == 0 and high == 20 and 0.6 < stable / n < 0.95
    assert negative == 0 and 0.7 < modest / n < 0.99
    assert AS_OF - dt.timedelta(days=20 * 366) <= first and last < AS_OF
    assert 0.1 < new / n < 0.5
    blacklisted = _one(con, "SELECT count(*) FROM enterprise_blacklist")[0]
    assert 0.003 < blacklisted / n < 0.025


def test_facts_views_give_one_row_per_living_person_and_enterprise(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(PERSON_FACTS_SQL)
    con.execute(ENTERPRISE_FACTS_SQL)
    living = _one(con, "SELECT count(*) FROM persons WHERE death_date IS NULL")[0]
    rows, subjects = _one(con, "SELECT count(*), count(DISTINCT subject) FROM person_facts")
    assert rows == subjects == living
    rows, subjects = _one(con, "SELECT count(*), count(DISTINCT subject) FROM enterprise_facts")
    assert rows == subjects == ENTERPRISES
    # Every registry contributes facts that the sample policies test.
    disabled, martyr, entitled, students, blacklisted = _one(con, """
        SELECT count_if(in_disabled_persons), count_if(martyr_family), count_if(entitled_group),
               count_if(in_students), count_if(credit_blacklisted)
        FROM person_facts
    """)  # fmt: skip
    assert min(disabled, martyr, entitled, students, blacklisted) > 0
    assert _one(con, "SELECT count_if(enterprise_credit_blacklisted) FROM enterprise_facts")[0] > 0


def test_same_seed_gives_identical_files_and_another_seed_differs(
    generated: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    out, counts = generated
    again = tmp_path / "again"
    assert synthesise(again, persons=PERSONS, enterprises=ENTERPRISES, seed=SEED, as_of=AS_OF) == counts
    assert _digests(again) == _digests(out)

    other = tmp_path / "other"
    synthesise(other, persons=PERSONS, enterprises=ENTERPRISES, seed=SEED + 1, as_of=AS_OF)
    theirs, ours = _connect(other), _connect(out)
    for registry in REGISTRIES:
        cols = ", ".join(c.name for c in registry.columns)
        query = f"SELECT {cols} FROM {registry.name} ORDER BY {registry.key}"
        assert theirs.execute(query).fetchall() != ours.execute(query).fetchall(), registry.name
    # Not merely shuffled: the same people get different birth dates.
    same = _one(theirs, f"""
        SELECT count(*) FROM persons a JOIN read_parquet({_path(out, 'persons')}) b USING (person_id)
        WHERE a.birth_date = b.birth_date
    """)  # fmt: skip
    assert same[0] < 0.01 * PERSONS


def test_as_of_moves_the_dates_with_it(tmp_path: Path) -> None:
    later = AS_OF + dt.timedelta(days=365)
    a, b = tmp_path / "a", tmp_path / "b"
    synthesise(a, persons=1000, enterprises=100, seed=SEED, as_of=AS_OF)
    synthesise(b, persons=1000, enterprises=100, seed=SEED, as_of=later)
    db = duckdb.connect()
    shifted = _one(db, f"""
        SELECT count_if(date_diff('day', x.birth_date, y.birth_date) IN (365, 366))
        FROM read_parquet({_path(a, 'persons')}) x JOIN read_parquet({_path(b, 'persons')}) y USING (person_id)
    """)  # fmt: skip
    assert shifted[0] == 1000  # the same people, each a year older
    shifted = _one(db, f"""
        SELECT count_if(y.registered_on - x.registered_on = 365)
        FROM read_parquet({_path(a, 'enterprises')}) x
        JOIN read_parquet({_path(b, 'enterprises')}) y USING (credit_code)
    """)  # fmt: skip
    assert shifted[0] == 100


def test_empty_and_invalid_sizes(tmp_path: Path) -> None:
    counts = synthesise(tmp_path, persons=0, enterprises=0, seed=1)
    assert counts == dict.fromkeys(BY_NAME, 0)
    assert summary(tmp_path) == counts
    db = duckdb.connect()
    described = db.execute(f"DESCRIBE SELECT * FROM read_parquet({_path(tmp_path, 'persons')})").fetchall()
    assert [row[1] for row in described] == [c.sql_type for c in BY_NAME["persons"].columns]
    with pytest.raises(ValueError):
        synthesise(tmp_path, persons=-1, enterprises=0, seed=1)
    with pytest.raises(ValueError):
        synthesise(tmp_path, persons=1, enterprises=0, seed=2**64)


def test_households_and_kin_look_like_families(con: duckdb.DuckDBPyConnection) -> None:
    """Households of one to five, one head each, a quarter of persons' households single; kin both ways."""
    sizes = dict(con.execute(
        "SELECT n, count(*) FROM (SELECT household_id, count(*) n FROM households WHERE to_date IS NULL GROUP BY 1) "
        "GROUP BY 1").fetchall())  # fmt: skip
    assert set(sizes) <= {1, 2, 3, 4, 5} and sizes[1] > 0 and sizes[2] > sizes[5]
    households = sum(sizes.values())
    mean = sum(n * c for n, c in sizes.items()) / households
    assert 2.0 < mean < 3.0 and 0.15 < sizes[1] / households < 0.35
    heads = _one(con, "SELECT count(*) FROM households WHERE relation_to_head = 'head'")[0]
    assert heads == households  # one head a current household
    every = _one(con, "SELECT count(DISTINCT person_id) FROM households WHERE to_date IS NULL")[0]
    assert every == _one(con, "SELECT count(*) FROM persons")[0]  # everyone lives somewhere
    older_children = _one(con, """
        SELECT count(*) FROM households h JOIN households head ON head.household_id = h.household_id
            AND head.relation_to_head = 'head' JOIN persons p ON p.person_id = h.person_id
            JOIN persons q ON q.person_id = head.person_id
        WHERE h.relation_to_head = 'child' AND p.birth_date <= q.birth_date""")[0]
    assert older_children == 0  # a child in a household is younger than its head
    one_way = _one(con, """
        SELECT count(*) FROM kinship k WHERE relation IN ('spouse', 'sibling') AND NOT EXISTS (
            SELECT 1 FROM kinship r WHERE r.person_id = k.relative_id AND r.relative_id = k.person_id
              AND r.relation = k.relation)
          AND k.relative_id IN (SELECT person_id FROM persons)""")[0]
    assert one_way == 0  # spouses and siblings are recorded from both sides
    missing = _one(con, "SELECT count(*) FROM kinship ANTI JOIN persons ON persons.person_id = kinship.relative_id")
    assert missing[0] > 0  # some relatives are not in the person registry, as in life
    married = _one(con, "SELECT count(*) FROM marriages m JOIN kinship k ON k.person_id = m.person_id "
                        "AND k.relative_id = m.spouse_id AND k.relation = 'spouse'")[0]  # fmt: skip
    assert married == _one(con, "SELECT count(*) FROM marriages")[0] > 0
    martyrs = _one(con, "SELECT count(*), min(recognised_on), max(recognised_on) FROM martyrs")
    assert martyrs[0] > 0 and martyrs[2] < dt.date(2026, 11, 26)
    families = _one(con, "SELECT count(DISTINCT k.person_id) FROM kinship k JOIN martyrs m ON m.person_id = "
                         "k.relative_id AND k.relation IN ('spouse', 'parent', 'child')")[0]  # fmt: skip
    assert families > 0  # martyr families can be derived through kinship


def test_the_relation_registries_can_be_left_out(tmp_path: Path) -> None:
    counts = synthesise(tmp_path / "lean", persons=500, enterprises=10, seed=3, relations=False)
    assert not set(counts) & set(RELATION_REGISTRIES)
    assert not any((tmp_path / "lean" / f"{name}.parquet").exists() for name in RELATION_REGISTRIES)
