"""The Spark path finds exactly the entitlements the DuckDB run finds, on the same Parquet registries.

PySpark runs in local mode (one core, a temporary warehouse): the generated Spark SQL, not a
mock of it. pyspark and sqlglot come from the `spark` extra; without them these tests fail
rather than skip, since CI installs the extra: pip install -e '.[dev,spark]'.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest

from app.catalogue import load_catalogue
from app.matching.engine import attach_registries, connect, run_matching
from app.matching.load import RegistryError
from app.matching.registries import BY_NAME, REGISTRIES
from tests.support.registries import DAY, random_registries

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"
INSTALL = "pip install -e '.[dev,spark]'"


def _spark_modules() -> tuple[ModuleType, ModuleType]:
    try:
        import pyspark  # noqa: F401
        import sqlglot  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"the Spark matching tests need the `spark` extra ({exc.name} is missing): {INSTALL}")
    import app.matching.spark.run as spark_run
    import app.matching.spark.views as spark_views

    return spark_views, spark_run


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    _spark_modules()
    session = _session(tmp_path_factory.mktemp("spark-warehouse"), "suishen-test-matching")
    yield session
    session.stop()


def _session(warehouse: Path, name: str) -> Any:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName(name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={warehouse}")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def _add_enterprises(con: duckdb.DuckDBPyConnection, seed: int, n: int) -> None:
    """Enterprises and a blacklist, so the enterprise policies (and enterprise_facts) are exercised too."""
    rng = random.Random(seed)
    for i in range(n):
        code = f"91310000{i:010d}"
        employees = rng.randint(0, 600)
        con.execute(
            "INSERT INTO enterprises VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [code, rng.choice(["C", "F", "I"]), rng.choice([310000, 310000, 320000]), employees,
             rng.randint(0, employees), rng.randint(0, 30), rng.randint(0, 80_000_000),
             DAY - dt.timedelta(days=rng.randint(0, 3000))],
        )  # fmt: skip
        if rng.random() < 0.1:
            con.execute("INSERT INTO enterprise_blacklist VALUES (?)", [code])


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("spark-registries")
    con = random_registries(seed=23, n=300)
    _add_enterprises(con, seed=23, n=120)
    for registry in REGISTRIES:
        con.execute(f"COPY {registry.name} TO '{folder / registry.name}.parquet' (FORMAT parquet)")
    return folder


def _duckdb(folder: Path, policies: Any, day: dt.date) -> tuple[set[tuple[str, str, int]], int, int]:
    con = connect(threads=1, memory_limit="1GB")
    attach_registries(con, folder)
    run = run_matching(con, policies, day)
    got = {(s, p, v) for s, p, v in con.execute("SELECT subject, policy_id, version FROM entitlements").fetchall()}
    return got, run.persons, run.enterprises


def _facts_counts(spark: Any) -> tuple[int, int]:
    return spark.table("person_facts").count(), spark.table("enterprise_facts").count()


def test_spark_finds_the_same_entitlements_as_duckdb_for_the_sample_catalogue(spark: Any, registries: Path) -> None:
    _, spark_run = _spark_modules()
    policies = load_catalogue(CATALOGUE).policies
    for day in (DAY, dt.date(2024, 7, 15)):  # a summer day: the 2023 summer policy is out of force then too
        expected, persons, enterprises = _duckdb(registries, policies, day)
        got = spark_run.run_spark_matching(spark, registries, policies, day)
        assert _facts_counts(spark) == (persons, enterprises)  # both loaded the same rows
        assert got == expected, (sorted(got - expected)[:5], sorted(expected - got)[:5])
        matched = {p for _, p, _ in got}
        assert len(matched) >= 8, matched  # many sample policies entitle someone
        assert {p for p in matched if p.startswith("sh-enterprise-")}, matched  # enterprises are matched too
        if day == DAY:  # household and kin rules (relation_sql, transpiled) match the same subjects
            assert {"sh-minimum-living-guarantee", "sh-martyr-survivor-allowance"} <= matched, matched
        assert all(isinstance(s, str) and isinstance(v, int) for s, _, v in got)


def test_a_disability_counts_on_spark_only_while_its_certificate_is_valid(spark: Any, registries: Path) -> None:
    """The run's day reaches the transpiled SQL: an ended certificate entitles no one, its last day does."""
    _, spark_run = _spark_modules()
    transport = [p for p in load_catalogue(CATALOGUE).policies if p.id == "sh-transport-disabled-free"]
    facts = connect(threads=1, memory_limit="1GB")
    attach_registries(facts, registries)

    def residents(select: str, where: str = "TRUE", day: dt.date = DAY) -> list[Any]:
        query = f"SELECT {select} FROM person_facts WHERE in_disabled_persons AND residence_region = 310000 AND "
        return [r[0] for r in facts.execute(query + where + " ORDER BY 1", [day] if "?" in where else []).fetchall()]

    last_days = residents("disability_certificate_valid_until")
    for day in (DAY, last_days[len(last_days) // 2]):  # the second: someone's certificate ends on the day
        holding = set(residents("subject", "disability_certificate_valid_until >= ?", day))
        ended = set(residents("subject", "disability_certificate_valid_until < ?", day))
        got = {s for s, _, _ in spark_run.run_spark_matching(spark, registries, transport, day)}
        assert got == holding and holding and ended, day


def test_missing_side_registries_are_empty_and_csv_registries_are_read(
    spark: Any, registries: Path, tmp_path: Path
) -> None:
    spark_views, spark_run = _spark_modules()
    policies = load_catalogue(CATALOGUE).policies
    for name in ("persons", "disability", "enterprises"):
        shutil.copy(registries / f"{name}.parquet", tmp_path / f"{name}.parquet")
    con = duckdb.connect()
    students = registries / "students.parquet"
    con.execute(f"COPY (SELECT * FROM read_parquet('{students}')) TO '{tmp_path / 'students.csv'}' (HEADER)")
    expected, _, _ = _duckdb(tmp_path, policies, DAY)
    found = spark_views.attach_spark_registries(spark, tmp_path)
    assert found["students"] == "csv" and found["martyr_families"] is None and found["persons"] == "parquet"
    schema = {f.name: f.dataType.simpleString() for f in spark.table("martyr_families").schema.fields}
    assert schema == {"person_id": "string"} and spark.table("martyr_families").count() == 0
    got = spark_run.run_spark_matching(spark, tmp_path, policies, DAY)
    assert got == expected and {p for _, p, _ in got} >= {"sh-science-museum-pupil-free", "sh-venue-disabled-free"}
    assert "sh-park-martyr-family-free" not in {p for _, p, _ in got}  # nobody in a missing registry


def test_a_missing_person_base_or_a_bad_file_is_named(spark: Any, tmp_path: Path) -> None:
    spark_views, _ = _spark_modules()
    with pytest.raises(RegistryError, match=r"no persons\.parquet"):
        spark_views.attach_spark_registries(spark, tmp_path)
    (tmp_path / "persons.csv").write_text("person_id,birth_date\nP1,1950-01-01\n")
    with pytest.raises(RegistryError, match="persons"):
        spark_views.attach_spark_registries(spark, tmp_path)  # declared columns are missing from the file


def test_quotes_and_backslashes_in_rule_strings_keep_their_meaning_in_spark(spark: Any) -> None:
    spark_views, _ = _spark_modules()
    from app.matching.sql import literal

    for text in ["it's", "a\\b", "上海 'x' \\'"]:
        duckdb_sql = f"{literal(text)} = {literal(text)} AND length({literal(text)}) = {len(text)}"
        assert duckdb.connect().execute(f"SELECT {duckdb_sql}").fetchone() == (True,)
        assert spark.sql(f"SELECT {spark_views.to_spark(duckdb_sql)} AS ok").collect()[0]["ok"] is True
        assert spark.sql(f"SELECT {spark_views.string_literal(text)} AS s").collect()[0]["s"] == text


def test_the_script_declares_every_registry_and_ends_in_the_entitlements_view() -> None:
    spark_views, _ = _spark_modules()
    policies = load_catalogue(CATALOGUE).policies
    script = spark_views.spark_script("s3a://bucket/registries", policies, DAY, formats={"persons": "parquet"})
    for name in BY_NAME:
        assert f"CREATE OR REPLACE TEMPORARY VIEW {name} AS" in script
    assert "FROM parquet.`s3a://bucket/registries/persons.parquet`" in script and "assert_true(" in script
    assert "disability__file" not in script  # not in `formats`: an empty registry
    assert "list_filter" not in script and "unnest" not in script and "DATE '" not in script
    assert script.rstrip().endswith(";") and "CREATE OR REPLACE TEMPORARY VIEW entitlements AS" in script


def _dirty_registries(folder: Path) -> Path:
    """The random registries as text columns in Parquet, with a few bad and repeated rows appended."""
    con = random_registries(seed=29, n=300, relations=False)
    bad = {
        "persons": ["('P000001', '1951-01-01', '310000', NULL, NULL, NULL)",
                    "('P900001', '1960-13-01', '310000', NULL, NULL, NULL)",
                    "('P900002', '1950-01-01', '31', NULL, 'abc', NULL)"],
        "disability": ["('P999999', '1', '1', '2030-01-01')", "('P000003', '9', '1', '2030-01-01')"],
        "students": ["('P000004', 'x', NULL, '2027-06-30')", "('P900001', '2', NULL, '2027-06-30')"],
        # relation registries: many rows a person; a repeat of the unique columns, one's own relative, a bad code
        "kinship": ["('P000001', 'P000002', 'child')", "('P000001', 'P000002', 'child')",
                    "('P000001', 'P000003', 'child')", "('P000003', 'P000003', 'spouse')",
                    "('P000002', 'P000001', 'child')"],  # each the other's child: a kin cycle
        "households": ["('H1', 'P000001', 'head', '2000-01-01', NULL)",
                       "('H1', 'P000002', 'child', '2000-01-01', NULL)",
                       "('H1', 'P000003', 'lodger', '2000-01-01', NULL)",
                       "('H1', 'P000004', 'head', '2010-01-01', '2011-01-01')",  # a second head at the same time
                       "('H1', 'P000005', 'head', '1990-01-01', '1999-12-31')"],  # a head before: fine
    }  # fmt: skip
    for registry in REGISTRIES:
        text = ", ".join(f"CAST({c.name} AS VARCHAR) AS {c.name}" for c in registry.columns)
        extra = "".join(f" UNION ALL SELECT * FROM (VALUES {row})" for row in bad.get(registry.name, []))
        con.execute(f"COPY (SELECT {text} FROM {registry.name}{extra}) TO '{folder / registry.name}.parquet'")
    return folder


def _duckdb_rejects(folder: Path) -> tuple[Any, set[tuple[str, int, str]]]:
    from app.matching.load import load_registries

    con = connect(threads=1, memory_limit="1GB")
    report = load_registries(con, folder)
    return report, set(con.execute("SELECT registry, row, reason FROM rejects").fetchall())


def test_spark_rejects_the_rows_duckdb_rejects_and_refuses_past_the_same_share(spark: Any, tmp_path: Path) -> None:
    from app.matching.load import TooManyRejects, check_reject_share
    from tests.support.registries import write_bad_rows

    spark_views, spark_run = _spark_modules()
    policies = load_catalogue(CATALOGUE).policies
    dirty = _dirty_registries(tmp_path)  # Parquet, a few bad rows: under a 5 % share
    report, rejects = _duckdb_rejects(dirty)
    formats = spark_views.attach_spark_registries(spark, dirty)
    assert spark_views.spark_load_report(spark, formats) == report and sum(report.rejected.values()) == 12
    got = {(r["registry"], r["row"], r["reason"]) for r in spark_views.spark_rejects(spark, formats).collect()}
    assert got == rejects and ("persons", 301, "duplicate person_id (first at row 2)") in got
    assert ("kinship", 2, "duplicate person_id, relative_id, relation (first at row 1)") in got
    assert ("kinship", 5, "a kin cycle: each an ancestor of the other (first at row 1)") in got
    assert ("households", 4, "a second head of the household at the same time (first at row 1)") in got
    assert report.loaded["kinship"] == 2 and report.loaded["households"] == 3
    con = connect(threads=1, memory_limit="1GB")
    attach_registries(con, dirty)
    run_matching(con, policies, DAY)
    expected = set(con.execute("SELECT subject, policy_id, version FROM entitlements").fetchall())
    spark_views.attach_day_views(spark, policies, DAY)  # the day's household and kin facts, which it reads
    rows = spark.sql(spark_views.entitlements_sql(policies, DAY)).collect()  # over the views attached above
    assert {(r["subject"], r["policy_id"], r["version"]) for r in rows} == expected

    (tmp_path / "csv").mkdir()
    very_bad = write_bad_rows(tmp_path / "csv")  # CSV, most rows bad
    report, rejects = _duckdb_rejects(very_bad)
    with pytest.raises(TooManyRejects) as duckdb_refusal:
        check_reject_share(report, 0.01)
    with pytest.raises(TooManyRejects) as spark_refusal:
        spark_run.run_spark_matching(spark, very_bad, policies, DAY)
    assert str(spark_refusal.value) == str(duckdb_refusal.value) and "nothing is published" in str(spark_refusal.value)
    formats = {r.name: "csv" if (very_bad / f"{r.name}.csv").exists() else None for r in REGISTRIES}
    assert spark_views.spark_load_report(spark, formats) == report  # the views the refused run left
    assert {(r["registry"], r["row"], r["reason"]) for r in spark_views.spark_rejects(spark, formats).collect()} == (
        rejects
    )


def test_upheld_corrections_change_the_spark_run_as_they_change_the_duckdb_run(
    spark: Any, registries: Path, tmp_path: Path
) -> None:
    import json

    from app.db.engine import open_database
    from app.db.schema import objections
    from app.matching.objections import apply_corrections
    from app.matching.spark.corrections import spark_apply_corrections

    _, spark_run = _spark_modules()
    policies = load_catalogue(CATALOGUE).policies
    facts = connect(threads=1, memory_limit="1GB")
    attach_registries(facts, registries)

    def first(where: str, view: str = "person_facts", skip: int = 0) -> str:
        row = facts.execute(f"SELECT subject FROM {view} WHERE {where} ORDER BY subject LIMIT 1 OFFSET {skip}")
        found = row.fetchone()
        assert found is not None, where
        return str(found[0])

    corrections = [
        (first("NOT martyr_family"), {"martyr_family": True}),
        (first("martyr_family"), {"martyr_family": False}),
        (first("disability_grade IS NULL"), {"disability.category": 2, "disability.grade": 4,
                                             "disability.certificate_valid_until": "2030-01-01"}),
        (first("disability_grade IS NULL", skip=1), {"disability.grade": 3}),  # no row, too little for one
        (first("birth_date > DATE '1990-01-01'"), {"birth_date": "1940-05-05"}),
        (first("enterprise_employees > 300", "enterprise_facts"), {"enterprise.employees": 10}),
    ]  # fmt: skip
    engine = open_database(tmp_path / "services.sqlite")
    with engine.begin() as db:
        for subject, corrected in corrections:
            db.execute(objections.insert().values(
                subject=subject, policy_id="any", kind="missing", statement="s", filed_at=dt.datetime(2026, 11, 1),
                status="upheld", corrections=json.dumps(corrected), resolved_at=dt.datetime(2026, 11, 2),
            ))  # fmt: skip
    con = connect(threads=1, memory_limit="1GB")
    attach_registries(con, registries)
    duckdb_result = apply_corrections(con, engine)
    run_matching(con, policies, DAY)
    expected = set(con.execute("SELECT subject, policy_id, version FROM entitlements").fetchall())
    uncorrected, _, _ = _duckdb(registries, policies, DAY)
    assert expected != uncorrected and len(duckdb_result[1]) == 1

    got = spark_run.run_spark_matching(spark, registries, policies, DAY, ledger=engine)
    assert got == expected, (sorted(got - expected)[:5], sorted(expected - got)[:5])
    formats = {r.name: "parquet" for r in REGISTRIES}
    assert spark_apply_corrections(spark, engine, formats) == duckdb_result  # again: the same, not twice


def test_the_change_feed_on_spark_gives_what_the_duckdb_feed_gives_batch_for_batch(
    spark: Any, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A context of its own (the JVM stays): after the module's other runs, the shared one ran out of memory
    # building this test's joins ("Not enough memory to build and broadcast the table").
    spark.stop()
    fresh = _session(tmp_path_factory.mktemp("spark-feed-warehouse"), "suishen-test-change-feed")
    try:
        _feed_batch_for_batch(fresh, tmp_path)
    finally:
        fresh.stop()


def _feed_batch_for_batch(spark: Any, tmp_path: Path) -> None:
    from app.matching.changes import Change, ChangeError, apply_changes, ensure_state
    from app.matching.engine import record_run
    from app.matching.spark.changes import latest_manifest, spark_apply_changes, spark_state_entitlements
    from tests.support.change_feed import Feed, rows

    policies = load_catalogue(CATALOGUE).policies
    folder = tmp_path / "registries"
    folder.mkdir()
    source = random_registries(seed=41, n=200)
    _add_enterprises(source, seed=41, n=40)
    for registry in REGISTRIES:
        source.execute(f"COPY {registry.name} TO '{folder / registry.name}.parquet' (FORMAT parquet)")
    con = connect(tmp_path / "results.duckdb", threads=1, memory_limit="1GB")
    attach_registries(con, folder)
    record_run(con, run_matching(con, policies, DAY))
    ensure_state(con, folder)
    state = tmp_path / "state"
    feed = Feed(con, random.Random(41))
    for size in (20, 50):
        batch = feed.batch(size)
        duck = apply_changes(con, folder, batch, policies, DAY)
        on_spark = spark_apply_changes(spark, state, batch, policies, DAY, registries=folder)
        assert on_spark[:5] == duck[:5]  # applied, skipped, affected, gained, lost
        entitled = set(con.execute("SELECT subject, policy_id, version FROM entitlements").fetchall())
        assert spark_state_entitlements(spark, state) == entitled
    assert spark_apply_changes(spark, state, batch, policies, DAY).skipped == len(batch)  # exactly once
    committed = latest_manifest(spark, state)
    assert committed is not None and committed.batch == 2
    person = rows(con, "state_persons")[0]
    last = committed.sources["gaj"]
    moved = {**person, "residence_region": "31"}  # not a region code
    refused = [Change("gaj", last + 1, "persons", "update", moved, "x:1")]
    with pytest.raises(ChangeError, match="residence_region must be a six-digit region code"):
        spark_apply_changes(spark, state, refused, policies, DAY)
    gap = [Change("gaj", last + 2, "persons", "delete", {"person_id": person["person_id"]}, "y:1")]
    with pytest.raises(ChangeError, match=f"gaj: sequence {last + 2} follows {last}"):
        spark_apply_changes(spark, state, gap, policies, DAY)
    assert latest_manifest(spark, state) == committed  # a refused batch changes nothing

    from app.matching.spark.changes import main

    (tmp_path / "changes.jsonl").write_text(json.dumps({"source": "gaj", "seq": last + 1, "registry": "persons",
                                                        "op": "update", "row": {**person, "income_monthly": 0}}) + "\n")
    args = ["--state", str(state), "--changes", str(tmp_path / "changes.jsonl"), "--catalogue", str(CATALOGUE),
            "--day", DAY.isoformat()]  # fmt: skip
    assert main(args) == 0 and latest_manifest(spark, state).batch == 3  # type: ignore[union-attr]
    assert main([*args[:3], str(tmp_path / "missing.jsonl"), *args[4:]]) == 2  # a clear line, not a trace
