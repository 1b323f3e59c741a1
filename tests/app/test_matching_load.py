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


def test_a_second_head_at_the_same_time_and_a_kin_cycle_are_rejected_and_their_consistent_rows_kept(
    tmp_path: Path,
) -> None:
    """Checks across rows: two heads of one household in force on a common day, and two people each the
    other's ancestor; the later row goes to the rejects report naming the earlier one."""
    (tmp_path / "persons.csv").write_text(
        "person_id,birth_date,residence_region,hukou_region,income_monthly,death_date\n"
        + "".join(f"P{i},19{50 + i}-01-01,310000,,,\n" for i in range(1, 7))
    )
    (tmp_path / "households.csv").write_text(
        "household_id,person_id,relation_to_head,from_date,to_date\n"
        "H1,P1,head,2000-01-01,2009-12-31\n"
        "H1,P2,head,2010-01-01,\n"  # the next head, the day after: fine
        "H1,P3,head,2009-12-31,2010-06-30\n"  # a head on days both others head: rejected, naming row 1
        "H2,P4,head,2000-01-01,\nH2,P5,child,2000-01-01,\n"
    )
    (tmp_path / "kinship.csv").write_text(
        "person_id,relative_id,relation\n"
        "P1,P2,child\nP2,P1,parent\n"  # the same line said from both sides: fine
        "P3,P4,parent\nP3,P4,child\n"  # each the other's parent: a cycle
        "P5,P6,grandparent\nP6,P5,grandparent\n"  # each the other's grandparent
        "P1,P6,sibling\nP6,P1,sibling\n"
    )
    con = connect()
    report = load_registries(con, tmp_path)
    rejects = con.execute("SELECT registry, row, reason FROM rejects ORDER BY registry, row").fetchall()
    assert rejects == [
        ("households", 3, "a second head of the household at the same time (first at row 1)"),
        ("kinship", 4, "a kin cycle: each an ancestor of the other (first at row 3)"),
        ("kinship", 6, "a kin cycle: each an ancestor of the other (first at row 5)"),
    ]
    assert report.loaded["households"] == 4 and report.loaded["kinship"] == 6


def test_relation_registries_keep_many_rows_a_person_and_reject_each_bad_one(tmp_path: Path) -> None:
    """Households, kin, marriages and addresses hold many rows a person: only a repeat of the columns that are
    unique together is a duplicate, and each bad row is named with its row and reason."""
    (tmp_path / "persons.csv").write_text(
        "person_id,birth_date,residence_region,hukou_region,income_monthly,death_date\n"
        "P1,1950-03-01,310000,310000,1800,\nP2,1980-01-01,310000,310000,6000,\nP3,2010-01-01,310000,,,\n"
    )
    (tmp_path / "kinship.csv").write_text(
        "person_id,relative_id,relation\n"
        "P1,P2,child\nP1,P3,grandchild\nP2,P1,parent\nP1,P2,child\nP1,P1,spouse\nP1,P2,cousin\nP7,P1,child\n"
        "P2,P404,sibling\n"  # a relative the person registry does not hold: kept, as not known
    )
    (tmp_path / "households.csv").write_text(
        "household_id,person_id,relation_to_head,from_date,to_date\n"
        "H1,P1,head,2000-01-01,\nH1,P2,child,2000-01-01,2019-12-31\nH2,P2,head,2020-01-01,\n"
        "H2,P3,child,2020-01-01,\nH2,P3,child,2020-01-01,\nH3,P3,lodger,2020-01-01,\nH4,P1,head,2021-01-01,2020-01-01\n"
    )
    (tmp_path / "marriages.csv").write_text(
        "person_id,spouse_id,from_date,to_date\nP2,P9,2005-05-05,2015-01-01\nP2,P2,2016-01-01,\n"
    )
    (tmp_path / "addresses.csv").write_text(
        "person_id,address_id,from_date,to_date\nP1,A1,2000-01-01,\nP3,A2,2020-01-01,\nP3,A2,2020-01-01,\n"
    )
    (tmp_path / "martyrs.csv").write_text("person_id,recognised_on\nP404,1951-06-01\nP405,2190-01-01\n")
    con = connect()
    report = load_registries(con, tmp_path)
    rejects = con.execute(
        "SELECT registry, row, reason FROM rejects WHERE registry <> 'persons' ORDER BY registry, row"
    ).fetchall()
    assert rejects == [
        ("addresses", 3, "duplicate person_id, address_id, from_date (first at row 2)"),
        ("households", 5, "duplicate household_id, person_id, from_date (first at row 4)"),
        ("households", 6, "relation_to_head must be one of head, spouse, child, parent, sibling, grandchild, "
                          "grandparent, other"),
        ("households", 7, "to_date before from_date"),
        ("kinship", 4, "duplicate person_id, relative_id, relation (first at row 1)"),
        ("kinship", 5, "a person is not their own relative"),
        ("kinship", 6, "relation must be one of spouse, child, parent, sibling, grandparent, grandchild"),
        ("kinship", 7, "unknown person_id (not in persons)"),
        ("marriages", 2, "a person is not their own spouse"),
        ("martyrs", 2, "recognised_on must be a past date"),
    ]  # fmt: skip
    assert report.loaded["kinship"] == 4 and report.loaded["households"] == 4 and report.loaded["marriages"] == 1
    assert report.loaded["martyrs"] == 1  # a martyr need not be in the person registry (died long ago)
    assert con.execute("SELECT count(*) FROM kinship WHERE person_id = 'P1'").fetchone() == (2,)
