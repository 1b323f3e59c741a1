"""Runs are numbered and compared; one subject's result is explained from the registries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from app.catalogue import load_catalogue
from app.matching.engine import attach_registries, connect, diff_runs, record_run, run_matching
from app.matching.explain import explain_subject
from tests.support.registries import DAY, random_registries, write_parquet_registries

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_parquet_registries(random_registries(seed=23, n=400), tmp_path_factory.mktemp("registries"))


def _run(con, policies, day) -> int:  # type: ignore[no-untyped-def]
    return record_run(con, run_matching(con, policies, day))


def test_runs_are_numbered_and_a_diff_counts_every_change(registries: Path, tmp_path: Path) -> None:
    policies = load_catalogue(CATALOGUE).policies
    con = connect(tmp_path / "results.duckdb")
    attach_registries(con, registries)
    first = _run(con, policies, DAY)
    before = set(con.execute("SELECT subject, policy_id, version FROM entitlements").fetchall())
    later = DAY + dt.timedelta(days=400)  # birthdays pass, enrolments end, certificates lapse
    second = _run(con, policies, later)
    after = set(con.execute("SELECT subject, policy_id, version FROM entitlements").fetchall())
    assert (first, second) == (1, 2)
    diffs = {d.policy_id: d for d in diff_runs(con, first, second)}
    old_pairs = {(s, p): v for s, p, v in before}
    new_pairs = {(s, p): v for s, p, v in after}
    for policy_id in {p for _, p in old_pairs} | {p for _, p in new_pairs}:
        newly = sum(1 for (s, p) in new_pairs if p == policy_id and (s, p) not in old_pairs)
        gone = sum(1 for (s, p) in old_pairs if p == policy_id and (s, p) not in new_pairs)
        changed = sum(
            1 for key, v in new_pairs.items() if key[1] == policy_id and key in old_pairs and old_pairs[key] != v
        )
        d = diffs[policy_id]
        assert (d.newly_eligible, d.no_longer_eligible, d.changed_version) == (newly, gone, changed), policy_id
    assert any(d.newly_eligible for d in diffs.values()) and any(d.no_longer_eligible for d in diffs.values())
    with pytest.raises(ValueError, match="no run 3"):
        diff_runs(con, 1, 3)


def test_explain_one_subject_agrees_with_the_run(registries: Path) -> None:
    policies = {p.id: p for p in load_catalogue(CATALOGUE).policies}
    con = connect()
    attach_registries(con, registries)
    run_matching(con, list(policies.values()), DAY)
    entitled = con.execute(
        "SELECT subject FROM entitlements WHERE policy_id = 'sh-park-senior-free' ORDER BY subject LIMIT 1"
    ).fetchone()
    assert entitled is not None
    lines = explain_subject(registries, policies["sh-park-senior-free"], entitled[0], DAY)
    assert lines[0].startswith("本市老年人免费游览城市公园") and lines[1].startswith("✓")
    not_entitled = con.execute(
        "SELECT subject FROM person_facts WHERE subject NOT IN "
        "(SELECT subject FROM entitlements WHERE policy_id = 'sh-park-senior-free') AND residence_region = 310000 "
        "ORDER BY subject LIMIT 1"
    ).fetchone()
    assert not_entitled is not None
    refused = explain_subject(registries, policies["sh-park-senior-free"], not_entitled[0], DAY)
    assert refused[1].startswith("✗") and "needs ≥ 65" in refused[1]


def test_a_subject_missing_from_the_registries_is_sent_to_the_original_channel(registries: Path) -> None:
    policy = next(p for p in load_catalogue(CATALOGUE).policies if p.id == "sh-park-senior-free")
    lines = explain_subject(registries, policy, "P-not-there", DAY)
    assert lines == ["P-not-there is not in the person registries: apply through the original channel"]
