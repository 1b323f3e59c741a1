"""Objections: filed by a subject, resolved by an officer with corrected facts, all in the audit trail."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from app.catalogue import load_catalogue
from app.matching.engine import attach_registries, connect, run_matching
from app.matching.objections import (
    ObjectionError,
    audit,
    file_objection,
    objections,
    parse_corrections,
    resolve,
)
from app.matching.payouts import ledger
from tests.app.test_matching_sql import DAY, _random_registries, write_parquet_registries

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"


@pytest.fixture
def setting(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "registries").mkdir()
    folder = write_parquet_registries(_random_registries(seed=41, n=400), tmp_path / "registries")
    policies = {p.id: p for p in load_catalogue(CATALOGUE).policies}
    con = connect()
    attach_registries(con, folder)
    run_matching(con, list(policies.values()), DAY)
    return con, folder, policies, ledger(tmp_path / "ledger.sqlite")


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
    assert applied == 1 and skipped == [f"#{upheld} {subject}: martyr_family (correct it in its registry)"]
    run_matching(next_run, list(policies.values()), DAY)
    assert next_run.execute(
        "SELECT count(*) FROM entitlements WHERE subject = ? AND policy_id = ?", [subject, policy.id]
    ).fetchone()[0] == 1  # fmt: skip
