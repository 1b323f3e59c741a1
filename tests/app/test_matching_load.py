"""Bad registry rows are reported with file, row and reason, never silently dropped or matched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.matching.engine import connect
from app.matching.load import LoadReport, TooManyRejects, check_reject_share, load_registries, write_rejects
from tests.support.registries import write_bad_rows  # the rows these tests name

SUISHEN = str(Path(sys.executable).parent / "suishen")


def test_every_bad_row_is_rejected_with_its_row_and_reason(tmp_path: Path) -> None:
    con = connect()
    report = load_registries(con, write_bad_rows(tmp_path))
    rejects = con.execute("SELECT registry, row, reason FROM rejects ORDER BY registry, row").fetchall()
    assert rejects == [
        ("disability", 2, "category must be a category 1-7"),
        ("disability", 3, "unknown person_id (not in persons)"),
        ("disability", 4, "duplicate person_id (first at row 1)"),
        ("persons", 2, "birth_date is not a DATE"),
        ("persons", 3, "residence_region must be a six-digit region code"),
        ("persons", 5, "duplicate person_id (first at row 4)"),
        ("persons", 6, "birth_date must be a past date"),
        ("persons", 7, "income_monthly must be not negative"),
        ("persons", 8, "death_date before birth_date"),
        ("persons", 9, "person_id is missing"),
        ("persons", 10, "income_monthly is not a INTEGER"),
        ("persons", 11, "income_monthly is not a INTEGER"),  # a fraction, not rounded to 1801
        ("students", 1, "unknown person_id (not in persons)"),  # P8 itself was rejected from persons
        ("students", 2, "level is not a TINYINT"),
    ]
    assert report.loaded["persons"] == 2 and report.rejected["persons"] == 9  # P1 and P4 stay
    assert report.loaded["disability"] == 1 and report.loaded["students"] == 0  # P8 was rejected from persons
    facts = con.execute("SELECT subject, disability_category FROM person_facts ORDER BY subject").fetchall()
    assert facts == [("P1", 4), ("P4", None)]


def test_the_rejects_report_names_no_values(tmp_path: Path) -> None:
    con = connect()
    load_registries(con, write_bad_rows(tmp_path))
    report = tmp_path / "out" / "rejects.csv"
    write_rejects(con, report)
    text = report.read_text()
    assert text.splitlines()[0] == "registry,row,reason"
    assert "1960-13-01" not in text and "abc" not in text and "-5" not in text
    assert len(text.splitlines()) == 15


def test_a_run_refuses_to_publish_past_the_reject_share() -> None:
    check_reject_share(LoadReport({"persons": 990}, {"persons": 10}), 0.01)  # exactly 1 %: allowed
    with pytest.raises(TooManyRejects, match="nothing is published"):
        check_reject_share(LoadReport({"persons": 989}, {"persons": 11}), 0.01)


def test_the_command_reports_rejects_and_refuses(tmp_path: Path, env: dict[str, str]) -> None:
    db, registries = tmp_path / "run.duckdb", write_bad_rows(tmp_path)
    result = subprocess.run(
        [SUISHEN, "match", "run", "--registries", str(registries), "--db", str(db), "--day", "2026-11-26"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "nothing is published" in result.stderr
    assert (tmp_path / "run-rejects.csv").exists()
