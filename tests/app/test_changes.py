"""The change feed: each batch applied exactly once, only the affected re-evaluated, and the result a full
run over the changed registries would give (property test over random batches)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import duckdb
import pytest

from app.catalogue import load_catalogue
from app.matching.changes import Change, ChangeError, apply_changes, ensure_state, export_state, read_changes
from app.matching.engine import attach_registries, connect, record_run, run_matching
from tests.support.change_feed import Feed, rows
from tests.support.registries import DAY, random_registries, write_parquet_registries

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"
POLICIES = load_catalogue(CATALOGUE).policies


def _results(tmp_path: Path, seed: int) -> tuple[duckdb.DuckDBPyConnection, Path]:
    (tmp_path / "registries").mkdir()
    folder = write_parquet_registries(random_registries(seed=seed, n=300), tmp_path / "registries")
    con = connect(tmp_path / "results.duckdb", threads=1, memory_limit="1GB")
    attach_registries(con, folder)
    record_run(con, run_matching(con, POLICIES, DAY))
    ensure_state(con, folder)  # what the feed changes: the batches are drawn from it
    return con, folder


def _entitlements(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str, int]]:
    return set(con.execute("SELECT subject, policy_id, version FROM entitlements").fetchall())  # type: ignore[arg-type]


def _full_run(con: duckdb.DuckDBPyConnection, folder: Path) -> set[tuple[str, str, int]]:
    export_state(con, folder)
    fresh = connect(threads=1, memory_limit="1GB")
    report = attach_registries(fresh, folder)
    assert sum(report.rejected.values()) == 0, report.rejected  # the state is clean registries
    run_matching(fresh, POLICIES, DAY)
    return _entitlements(fresh)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_random_batches_give_what_a_full_run_over_the_changed_registries_gives(tmp_path: Path, seed: int) -> None:
    con, folder = _results(tmp_path, seed)
    feed = Feed(con, random.Random(seed))
    gained = lost = 0
    for number, size in enumerate((25, 60, 120)):
        batch = feed.batch(size)
        result = apply_changes(con, folder, batch, POLICIES, DAY)
        assert result.applied == len(batch) and result.skipped == 0
        assert 0 < result.affected < 300 + feed.new_people  # only the affected: never everyone
        gained, lost = gained + result.gained, lost + result.lost
        assert _entitlements(con) == _full_run(con, tmp_path / f"full-{number}")
    assert gained and lost  # the batches moved entitlements both ways
    changed = con.execute("SELECT count(*) FROM entitlement_changes").fetchone()[0]  # type: ignore[index]
    assert changed == gained + lost


def test_a_batch_is_applied_once_and_a_gap_or_a_bad_row_changes_nothing(tmp_path: Path) -> None:
    con, folder = _results(tmp_path, 9)
    feed = Feed(con, random.Random(9))
    batch = feed.batch(30)
    first = apply_changes(con, folder, batch, POLICIES, DAY)
    before = _entitlements(con)
    again = apply_changes(con, folder, batch, POLICIES, DAY)  # the same file sent twice
    assert (again.applied, again.skipped) == (0, len(batch)) and _entitlements(con) == before
    assert first.applied == len(batch)
    sources = dict(con.execute("SELECT source, last_seq FROM change_sources").fetchall())

    person = rows(con, "state_persons")[0]
    later = feed.batch(10)
    gap = [c._replace(seq=c.seq + 1) if c.source == later[-1].source and c is later[-1] else c for c in later]
    with pytest.raises(ChangeError, match=r"sequence \d+ follows \d+ \(\d+ is missing\): nothing applied|is missing"):
        apply_changes(con, folder, gap, POLICIES, DAY)
    bad = [*later, Change("gaj", feed.seq["gaj"] + 1, "persons", "update",
                          {**person, "residence_region": "31"}, "b.jsonl:1")]  # fmt: skip
    with pytest.raises(ChangeError, match="residence_region must be a six-digit region code"):
        apply_changes(con, folder, bad, POLICIES, DAY)
    ghost = [Change("gaj", sources["gaj"] + 1, "disability", "update",
                    {"person_id": "P999999", "category": "1", "grade": "1", "certificate_valid_until": "2030-01-01"},
                    "c.jsonl:1")]  # fmt: skip
    with pytest.raises(ChangeError, match="disability has no person_id P999999 to update"):
        apply_changes(con, folder, ghost, POLICIES, DAY)
    assert dict(con.execute("SELECT source, last_seq FROM change_sources").fetchall()) == sources
    assert _entitlements(con) == before  # nothing of a refused batch was applied
    assert apply_changes(con, folder, later, POLICIES, DAY).applied == len(later)  # and the good one still goes in


def test_change_files_are_read_strictly_with_every_problem_located(tmp_path: Path) -> None:
    good = {"source": "gaj", "seq": 1, "registry": "persons", "op": "delete", "row": {"person_id": "P000001"}}
    lines = [
        json.dumps(good),
        "not json",
        json.dumps({**good, "registry": "pets"}),
        json.dumps({**good, "op": "upsert"}),
        json.dumps({**good, "seq": 0}),
        json.dumps({**good, "op": "update", "row": {"person_id": "P1", "birth_date": "19500101"}}),
        json.dumps({**good, "row": {"shoe": 1}}),
        json.dumps({**good, "registry": "kinship", "row": {"person_id": "P1"}}),
    ]
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ChangeError) as refused:
        read_changes(tmp_path)
    message = str(refused.value)
    assert message.startswith("7 problem(s), nothing applied:")
    for expected in ["a.jsonl:2: not a JSON object", "a.jsonl:3: unknown registry 'pets'",
                     "a.jsonl:4: op must be insert, update or delete", "a.jsonl:5: seq must be a whole number",
                     "a.jsonl:6: persons.birth_date must be a date YYYY-MM-DD", "a.jsonl:7: persons has no column shoe",
                     "a.jsonl:8: a delete names the row by person_id, relative_id, relation"]:  # fmt: skip
        assert expected in message
    (tmp_path / "a.jsonl").write_text(json.dumps(good) + "\n")
    (changes,) = read_changes(tmp_path)
    assert changes.row == {"person_id": "P000001"} and changes.where == "a.jsonl:1"


def test_the_command_applies_a_file_once_and_refuses_a_gap_in_words(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from app.cli import app

    con, folder = _results(tmp_path, 12)
    person = rows(con, "state_persons")[0]
    con.close()
    record = {"source": "gaj", "seq": 1, "registry": "persons", "op": "update",
              "row": {**person, "income_monthly": 0, "hukou_region": 310000}}  # fmt: skip
    (tmp_path / "changes").mkdir()
    (tmp_path / "changes" / "0001.jsonl").write_text(json.dumps(record) + "\n")
    args = ["match", "apply-changes", "--changes", str(tmp_path / "changes"), "--registries", str(folder),
            "--db", str(tmp_path / "results.duckdb"), "--catalogue", str(CATALOGUE)]  # fmt: skip
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0 and first.output.startswith("1 change(s) applied, 0 already applied;"), first.output
    assert "on 2026-11-26" in first.output  # the day of the last run
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and again.output.startswith("0 change(s) applied, 1 already applied"), again.output
    (tmp_path / "changes" / "0002.jsonl").write_text(json.dumps({**record, "seq": 3}) + "\n")
    gap = CliRunner().invoke(app, args)
    assert gap.exit_code == 2 and "gaj: sequence 3 follows 1 (2 is missing)" in gap.output
    assert "Traceback" not in gap.output


def test_a_second_head_or_a_kin_cycle_sent_as_changes_is_refused_and_nothing_applied(tmp_path: Path) -> None:
    con, folder = _results(tmp_path, 14)
    head = con.execute(
        "SELECT household_id, person_id FROM state_households WHERE relation_to_head = 'head' AND to_date IS NULL "
        "ORDER BY household_id LIMIT 1"
    ).fetchone()
    assert head is not None
    other = con.execute("SELECT person_id FROM state_persons WHERE person_id <> ? LIMIT 1", [head[1]]).fetchone()
    assert other is not None
    second = Change("gaj", 1, "households", "insert", {"household_id": head[0], "person_id": other[0],
                    "relation_to_head": "head", "from_date": "2020-01-01", "to_date": None}, "a.jsonl:1")  # fmt: skip
    with pytest.raises(ChangeError, match=f"households household_id {head[0]}: a second head of the household"):
        apply_changes(con, folder, [second], POLICIES, DAY)
    cycle = [  # each the other's parent
        Change("mzj", i, "kinship", "insert", {"person_id": head[1], "relative_id": other[0], "relation": r}, "b")
        for i, r in enumerate(("parent", "child"), 1)
    ]
    with pytest.raises(ChangeError, match="a kin cycle: each an ancestor of the other"):
        apply_changes(con, folder, cycle, POLICIES, DAY)
    assert con.execute("SELECT count(*) FROM change_sources").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM state_households WHERE person_id = ? AND relation_to_head = 'head' "
                       "AND household_id = ?", [other[0], head[0]]).fetchone() == (0,)  # fmt: skip


def test_a_person_still_named_in_other_registries_cannot_be_deleted_and_nothing_is_applied(tmp_path: Path) -> None:
    con, folder = _results(tmp_path, 15)
    found = con.execute("SELECT person_id FROM state_households ORDER BY person_id LIMIT 1").fetchone()
    assert found is not None
    (person,) = found
    before = _entitlements(con)
    delete = Change("gaj", 1, "persons", "delete", {"person_id": person}, "a.jsonl:1")
    with pytest.raises(ChangeError, match=f"persons person_id {person}: still in households: delete those rows first"):
        apply_changes(con, folder, [delete], POLICIES, DAY)
    assert con.execute("SELECT count(*) FROM state_persons WHERE person_id = ?", [person]).fetchone() == (1,)
    assert _entitlements(con) == before and con.execute("SELECT count(*) FROM change_sources").fetchone() == (0,)
