"""Every policy explained for one subject from one read of its rows, agreeing with the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.catalogue import load_catalogue
from app.db.engine import open_database
from app.matching.engine import attach_registries, connect, run_matching
from app.matching.explanations import explain_policies
from app.matching.objections import file_objection, parse_corrections, resolve
from tests.support.registries import DAY, random_registries, write_parquet_registries

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"


def test_explanations_agree_with_the_run_and_include_upheld_corrections(tmp_path: Path) -> None:
    (tmp_path / "registries").mkdir()
    folder = write_parquet_registries(random_registries(seed=61, n=300), tmp_path / "registries")
    policies = [p for p in load_catalogue(CATALOGUE).policies if p.subject == "person"]
    con = connect(threads=1, memory_limit="1GB")
    attach_registries(con, folder)
    run_matching(con, policies, DAY)
    subjects = [s for (s,) in con.execute("SELECT subject FROM person_facts ORDER BY subject LIMIT 6").fetchall()]
    for subject in subjects:
        explained = explain_policies(folder, policies, subject, DAY)
        entitled = {
            p for (p,) in con.execute("SELECT policy_id FROM entitlements WHERE subject = ?", [subject]).fetchall()
        }
        assert {pid for pid, e in explained.items() if e.entitled} == entitled
        assert all(e.lines for e in explained.values()) and any(subject in e.lines[0] for e in explained.values())
    assert (
        explain_policies(folder, policies[:1], "P-nobody", DAY)[policies[0].id]
        .lines[0]
        .endswith("apply through the original channel")
    )

    engine = open_database(tmp_path / "services.sqlite")
    martyr = "sh-park-martyr-family-free"
    outsider = next(s for s in subjects if not explain_policies(folder, policies, s, DAY)[martyr].entitled)
    number = file_objection(engine, outsider, martyr, "missing", "my father was a martyr")
    resolve(engine, number, "o-1", parse_corrections(["martyr_family=true"]),
            folder, next(p for p in policies if p.id == martyr), DAY)  # fmt: skip
    assert explain_policies(folder, policies, outsider, DAY, engine=engine)[martyr].entitled
    assert not explain_policies(folder, policies, outsider, DAY)[martyr].entitled  # the registry file itself


def _entitled(con: Any, subject: str) -> set[str]:
    return {p for (p,) in con.execute("SELECT policy_id FROM entitlements WHERE subject = ?", [subject]).fetchall()}


def test_an_ended_certificate_is_explained_and_a_corrected_date_counts_as_in_the_run(tmp_path: Path) -> None:
    from app.matching.objections import apply_corrections

    (tmp_path / "registries").mkdir()
    folder = write_parquet_registries(random_registries(seed=61, n=300), tmp_path / "registries")
    policies = [p for p in load_catalogue(CATALOGUE).policies if p.subject == "person"]
    venue = next(p for p in policies if p.id == "sh-venue-disabled-free")  # member_of disabled_persons, grade 3-4
    con = connect(threads=1, memory_limit="1GB")
    attach_registries(con, folder)
    found = con.execute(
        "SELECT subject, disability_certificate_valid_until FROM person_facts WHERE disability_grade IN (3, 4) "
        "AND disability_certificate_valid_until < ? ORDER BY subject LIMIT 1",
        [DAY],
    ).fetchone()
    assert found is not None
    subject, ended = found
    run_matching(con, policies, DAY)
    assert venue.id not in _entitled(con, subject)
    before = explain_policies(folder, [venue], subject, DAY)[venue.id]
    assert not before.entitled
    assert any(f"certificate valid until {ended}, ended before {DAY}" in line for line in before.lines), before.lines

    # Renewed: an upheld objection corrects the date alone. The run applies it to the registry rows,
    # so the grade and the membership hold again; the explanation must say the same.
    engine = open_database(tmp_path / "services.sqlite")
    number = file_objection(engine, subject, venue.id, "missing", "my certificate was renewed")
    after = resolve(engine, number, "o-1", parse_corrections(["disability.certificate_valid_until=2030-01-01"]),
                    folder, venue, DAY)  # fmt: skip
    assert after.entitled
    assert explain_policies(folder, [venue], subject, DAY, engine=engine)[venue.id].entitled
    corrected = connect(threads=1, memory_limit="1GB")
    attach_registries(corrected, folder)
    apply_corrections(corrected, engine)
    run_matching(corrected, policies, DAY)
    assert venue.id in _entitled(corrected, subject)
