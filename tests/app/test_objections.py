"""Objections: filed by a subject, resolved by an officer with corrected facts, all in the audit trail."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.catalogue import load_catalogue
from app.db.engine import open_database
from app.db.schema import audit, objections
from app.matching.engine import attach_registries, connect, run_matching
from app.matching.objections import ObjectionError, file_objection, parse_corrections, resolve
from tests.support.registries import DAY, random_registries, write_parquet_registries

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"


@pytest.fixture
def setting(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "registries").mkdir()
    folder = write_parquet_registries(random_registries(seed=41, n=400), tmp_path / "registries")
    policies = {p.id: p for p in load_catalogue(CATALOGUE).policies}
    con = connect()
    attach_registries(con, folder)
    run_matching(con, list(policies.values()), DAY)
    return con, folder, policies, open_database(tmp_path / "ledger.sqlite")


def test_a_missing_entitlement_is_upheld_after_the_birth_date_is_corrected(setting) -> None:  # type: ignore[no-untyped-def]
    con, folder, policies, engine = setting
    policy = policies["sh-park-senior-free"]
    subject = con.execute(
        "SELECT subject FROM person_facts WHERE residence_region = 310000 AND subject NOT IN "
        "(SELECT subject FROM entitlements WHERE policy_id = ?) ORDER BY subject LIMIT 1", [policy.id]
    ).fetchone()[0]  # fmt: skip
    objection = file_objection(engine, subject, policy.id, "missing", "I was born in 1950, not as registered")
    result = resolve(engine, objection, "officer-7", parse_corrections(["birth_date=1950-03-01"]), folder, policy, DAY)
    assert result.entitled and any("age 76" in line for line in result.lines)
    with engine.connect() as db:
        row = db.execute(select(objections).where(objections.c.id == objection)).one()
        trail = db.execute(select(audit.c.actor, audit.c.action).order_by(audit.c.id)).all()
    assert (row.status, row.officer) == ("upheld", "officer-7")
    assert '"birth_date": "1950-03-01"' in row.corrections and "✓" in row.explanation
    assert [tuple(t) for t in trail] == [
        (subject, "objection filed"),
        ("officer-7", "facts corrected"),
        ("officer-7", "objection upheld"),
    ]
    with pytest.raises(ObjectionError, match="already upheld"):
        resolve(engine, objection, "officer-7", {}, folder, policy, DAY)


def test_an_objection_that_changes_nothing_is_rejected_with_its_explanation(setting) -> None:  # type: ignore[no-untyped-def]
    con, folder, policies, engine = setting
    policy = policies["sh-park-senior-free"]
    subject = con.execute(
        "SELECT subject FROM entitlements WHERE policy_id = ? ORDER BY subject LIMIT 1", [policy.id]
    ).fetchone()[0]
    objection = file_objection(engine, subject, policy.id, "wrong", "please check my residence")
    result = resolve(engine, objection, "officer-2", parse_corrections(["income.monthly=1200"]), folder, policy, DAY)
    assert result.entitled
    with engine.connect() as db:
        assert db.execute(select(objections.c.status).where(objections.c.id == objection)).scalar_one() == "rejected"


def test_bad_objections_and_corrections_get_clear_errors(setting) -> None:  # type: ignore[no-untyped-def]
    _, folder, policies, engine = setting
    with pytest.raises(ObjectionError, match="kind"):
        file_objection(engine, "P1", "x", "angry", "text")
    with pytest.raises(ObjectionError, match="statement"):
        file_objection(engine, "P1", "x", "missing", "  ")
    with pytest.raises(ObjectionError, match="takes a date"):
        parse_corrections(["birth_date=yesterday"])
    with pytest.raises(ObjectionError, match="ATTRIBUTE=VALUE"):
        parse_corrections(["shoe_size=44"])
    assert parse_corrections(["martyr_family=true", "income.monthly=900"]) == {
        "martyr_family": True, "income.monthly": 900,
    }  # fmt: skip
    with pytest.raises(ObjectionError, match="no objection #99"):
        resolve(engine, 99, "o", {}, folder, policies["sh-park-senior-free"], DAY)
    assert dt.date(1950, 3, 1) == parse_corrections(["birth_date=1950-03-01"])["birth_date"]


def test_upheld_corrections_reach_the_next_run(setting) -> None:  # type: ignore[no-untyped-def]
    from app.matching.objections import apply_corrections

    con, folder, policies, engine = setting
    policy = policies["sh-park-senior-free"]
    subject = con.execute(
        "SELECT subject FROM person_facts WHERE residence_region = 310000 AND subject NOT IN "
        "(SELECT subject FROM entitlements WHERE policy_id = ?) ORDER BY subject LIMIT 1", [policy.id]
    ).fetchone()[0]  # fmt: skip
    upheld = file_objection(engine, subject, policy.id, "missing", "born in 1950")
    resolve(
        engine, upheld, "o-1", parse_corrections(["birth_date=1950-03-01", "martyr_family=true"]), folder, policy, DAY
    )
    next_run = connect()
    attach_registries(next_run, folder)
    applied, skipped = apply_corrections(next_run, engine)
    assert (applied, skipped) == (2, [])
    run_matching(next_run, list(policies.values()), DAY)
    entitled = {
        p for (p,) in next_run.execute("SELECT policy_id FROM entitlements WHERE subject = ?", [subject]).fetchall()
    }
    assert {policy.id, "sh-park-martyr-family-free"} <= entitled


def test_side_registry_corrections_reach_the_next_run(tmp_path: Path) -> None:
    from app.matching.objections import apply_corrections

    con = random_registries(seed=43, n=400)
    con.execute(
        "INSERT INTO enterprises VALUES ('913100000000000001', 'C', 310000, 500, 100, 0, 1000000, DATE '2020-01-01')"
    )
    (tmp_path / "registries").mkdir()
    folder = write_parquet_registries(con, tmp_path / "registries")
    policies = {p.id: p for p in load_catalogue(CATALOGUE).policies}
    engine = open_database(tmp_path / "ledger.sqlite")
    before = connect()
    attach_registries(before, folder)
    run_matching(before, list(policies.values()), DAY)

    def pick(sql: str) -> str:
        row = before.execute(sql + " ORDER BY subject LIMIT 1").fetchone()
        assert row is not None, sql
        return str(row[0])

    def entitled(run: Any, subject: str) -> set[str]:
        return {p for (p,) in run.execute("SELECT policy_id FROM entitlements WHERE subject = ?", [subject]).fetchall()}

    martyr = pick("SELECT subject FROM person_facts WHERE NOT martyr_family AND disability_grade IS NULL")
    low_grade = pick(  # a certificate valid on the day: else no grade gives the policy
        "SELECT subject FROM person_facts WHERE disability_grade IN (1, 2) "
        f"AND disability_certificate_valid_until >= DATE '{DAY}'"
    )
    not_disabled = pick(f"SELECT subject FROM person_facts WHERE disability_grade IS NULL AND subject <> '{martyr}'")
    living = pick("SELECT subject FROM entitlements WHERE policy_id = 'sh-disability-living-subsidy'")
    firm = "913100000000000001"
    cases = [  # subject, policy, corrections: each changes the result, so each objection is upheld
        (martyr, "sh-park-martyr-family-free", ["martyr_family=true", "disability.grade=3"]),
        (low_grade, "sh-venue-disabled-free", ["disability.grade=3"]),
        (not_disabled, "sh-venue-disabled-free",
         ["disability.category=2", "disability.grade=4", "disability.certificate_valid_until=2030-01-01"]),
        (living, "sh-disability-living-subsidy", ["credit.blacklisted=true"]),
        (firm, "sh-enterprise-small-tax-relief", ["enterprise.employees=200"]),
    ]  # fmt: skip
    numbers = []
    for subject, policy_id, pairs in cases:
        number = file_objection(engine, subject, policy_id, "missing", "the registry is wrong")
        resolve(engine, number, "officer-3", parse_corrections(pairs), folder, policies[policy_id], DAY)
        numbers.append(number)
    with engine.connect() as db:
        assert set(db.execute(select(objections.c.status)).scalars()) == {"upheld"}

    after = connect()
    attach_registries(after, folder)
    applied, skipped = apply_corrections(after, engine)
    assert skipped == [
        f"#{numbers[0]} {martyr}: disability.grade (no disability row: a new one needs category, "
        "certificate_valid_until)"
    ]
    assert applied == 7
    run_matching(after, list(policies.values()), DAY)
    assert "sh-park-martyr-family-free" in entitled(after, martyr) - entitled(before, martyr)
    assert "sh-venue-disabled-free" in entitled(after, low_grade) - entitled(before, low_grade)
    assert "sh-venue-disabled-free" in entitled(after, not_disabled) - entitled(before, not_disabled)
    assert "sh-disability-living-subsidy" in entitled(before, living) - entitled(after, living)
    assert "sh-enterprise-small-tax-relief" in entitled(after, firm) - entitled(before, firm)
    assert after.execute("SELECT count(*) FROM disability WHERE person_id = ?", [not_disabled]).fetchone() == (1,)
    # Taken off a list: false removes the membership.
    off = file_objection(engine, martyr, "sh-park-martyr-family-free", "wrong", "not a martyr family after all")
    resolve(engine, off, "officer-3", parse_corrections(["martyr_family=false"]), folder,
            policies["sh-park-martyr-family-free"], DAY)  # fmt: skip
    again = connect()
    attach_registries(again, folder)
    apply_corrections(again, engine)
    run_matching(again, list(policies.values()), DAY)
    assert "sh-park-martyr-family-free" not in entitled(again, martyr)


def test_the_objections_queue_lists_open_ones_oldest_first(setting) -> None:  # type: ignore[no-untyped-def]
    from app.matching.objections import objections_list

    _, folder, policies, engine = setting
    first = file_objection(engine, "P000001", "sh-park-senior-free", "missing", "born in 1950")
    second = file_objection(engine, "P000002", "sh-park-senior-free", "wrong", "moved away")
    resolve(engine, first, "o-9", parse_corrections(["birth_date=1950-03-01"]), folder,
            policies["sh-park-senior-free"], DAY)  # fmt: skip
    assert [o.id for o in objections_list(engine)] == [second]
    everything = objections_list(engine, status=None)
    assert [o.id for o in everything] == [first, second] and everything[1].statement == "moved away"
    done = objections_list(engine, status=None, subject="P000001")[0]
    assert done.corrections == {"birth_date": "1950-03-01"} and done.officer == "o-9" and done.explanation


def _relation_registries(folder: Path) -> Path:
    """A widow whose marriage to a martyr is missing from the marriage register, and a household with a
    wrong member, as CSV registries."""
    folder.mkdir()
    (folder / "persons.csv").write_text(
        "person_id,birth_date,residence_region,hukou_region,income_monthly,death_date\n"
        "W1,1950-03-01,310000,310000,1200,\nS1,1975-01-01,310000,310000,9000,\nM9,1948-01-01,310000,,,1979-02-17\n"
    )
    (folder / "martyrs.csv").write_text("person_id,recognised_on\nM9,1979-03-01\n")
    (folder / "households.csv").write_text(
        "household_id,person_id,relation_to_head,from_date,to_date\n"
        "H1,W1,head,2000-01-01,\nH1,S1,child,2000-01-01,\n"  # the son moved out in 2020: not recorded
    )
    return folder


def test_relation_corrections_reach_the_resolution_the_explanation_and_the_next_run(tmp_path: Path) -> None:
    """A missing spouse added, a wrong household row removed: re-evaluated from the corrected rows, applied by
    the next run (objections.apply_corrections), and read by the citizen's explanations."""
    from app.matching.explanations import explain_policies
    from app.matching.objections import apply_corrections, upheld_corrections

    folder = _relation_registries(tmp_path / "registries")
    policies = {p.id: p for p in load_catalogue(CATALOGUE).policies}
    engine = open_database(tmp_path / "ledger.sqlite")
    survivor, dibao = policies["sh-martyr-survivor-allowance"], policies["sh-minimum-living-guarantee"]

    widowed = file_objection(engine, "W1", survivor.id, "missing", "my husband M9 is a martyr")
    result = resolve(engine, widowed, "o-1", parse_corrections(["marriages+=spouse_id:M9,from_date:1970-05-01"]),
                     folder, survivor, DAY)  # fmt: skip
    assert result.entitled and "配偶、父母或子女中有烈士" in " ".join(result.lines_zh)
    alone = file_objection(engine, "W1", dibao.id, "missing", "my son left the household in 2020")
    fix = ["households-=household_id:H1,from_date:2000-01-01", "households+=household_id:H1,relation_to_head:head,"
           "from_date:2000-01-01,to_date:2019-12-31"]  # fmt: skip
    assert not resolve(engine, alone, "o-1", parse_corrections(fix), folder, dibao, DAY).entitled  # the son's row
    son = file_objection(engine, "S1", dibao.id, "wrong", "I left in 2020")
    fix = ["households+=household_id:H1,relation_to_head:child,from_date:2000-01-01,to_date:2019-12-31"]
    assert resolve(engine, son, "o-1", parse_corrections(fix), folder, dibao, DAY).entitled is False
    with engine.connect() as db:
        stored = dict(db.execute(select(objections.c.id, objections.c.status)).all())
    assert stored == {widowed: "upheld", alone: "rejected", son: "rejected"}
    assert [f.to_json() for f in upheld_corrections(engine, "W1")["relations"]] == [
        {"registry": "marriages", "op": "add", "row": {"spouse_id": "M9", "from_date": "1970-05-01"}}
    ]

    run = connect()
    attach_registries(run, folder)
    assert apply_corrections(run, engine) == (1, [])
    run_matching(run, list(policies.values()), DAY)
    entitled = {p for (p,) in run.execute("SELECT policy_id FROM entitlements WHERE subject = 'W1'").fetchall()}
    assert survivor.id in entitled
    explained = explain_policies(folder, [survivor, dibao], "W1", DAY, engine=engine)
    assert explained[survivor.id].entitled and not explained[dibao.id].entitled


def test_a_relation_correction_that_cannot_apply_is_refused_with_its_reason(setting) -> None:  # type: ignore[no-untyped-def]
    for pair, message in [
        ("kinship+=relative_id:P9,relation:cousin", "relation must be one of spouse, child"),
        ("households+=household_id:H1,relation_to_head:head", "households add: give from_date"),
        ("households-=household_id:H1", "households remove: give from_date"),
        ("pets+=name:Rex", "relation corrections are for households, kinship, marriages, addresses"),
        ("kinship+=relative_id", "is not column:value"),
        ("marriages+=spouse_id:P2,from_date:2020-01-01,to_date:2019-01-01", "to_date before from_date"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_corrections([pair])
