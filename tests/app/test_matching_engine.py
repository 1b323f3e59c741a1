"""A whole matching run over Parquet registries agrees with the per-subject evaluator, policy by policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.catalogue import load_catalogue
from app.matching.engine import attach_registries, connect, run_matching
from app.matching.load import RegistryError
from app.matching.relations import RelationIndex, index_of
from tests.support.registries import DAY, facts_on_day, random_registries, write_parquet_registries
from verifier.catalogue import YRD_REGIONS

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_parquet_registries(random_registries(seed=11, n=400), tmp_path_factory.mktemp("registries"))


def _expected(rows: list[dict[str, Any]], policies: Any, index: RelationIndex) -> set[tuple[str, str]]:
    out = set()
    for policy in policies:
        version = policy.version_on(DAY)
        if policy.subject != "person" or policy.status != "published" or version is None:
            continue
        for row in rows:
            region = row["residence_region"]
            if policy.region_scope == "residents" and region != 310000:
                continue
            if policy.region_scope == "yrd" and region not in YRD_REGIONS:
                continue
            if version.test({**facts_on_day(row), **index.facts_for(row["subject"], DAY)}, DAY):
                out.add((row["subject"], policy.id))
    return out


def test_a_run_over_parquet_matches_the_evaluator_for_every_sample_policy(registries: Path) -> None:
    catalogue = load_catalogue(CATALOGUE)
    con = connect()
    attach_registries(con, registries)
    run = run_matching(con, catalogue.policies, DAY)
    got = set(con.execute("SELECT subject, policy_id FROM entitlements").fetchall())
    cursor = con.execute("SELECT * FROM person_facts")
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    assert got == _expected(rows, catalogue.policies, index_of(con, DAY))
    assert run.persons == len(rows) and sum(run.counts.values()) == len(got)
    assert len(run.counts) >= 8  # the random registries make many sample policies match someone
    by_relations = {"sh-minimum-living-guarantee", "sh-senior-living-alone-care", "sh-martyr-survivor-allowance",
                    "sh-severe-disability-child-carer"}  # fmt: skip
    assert len(by_relations & {p for _, p in got}) >= 3  # household and kin rules match someone too
    versions = dict(con.execute("SELECT DISTINCT policy_id, version FROM entitlements").fetchall())
    by_id = {p.id: p for p in catalogue.policies}
    assert all(by_id[pid].version_on(DAY).version == v for pid, v in versions.items())  # type: ignore[union-attr]


def test_drafts_and_retired_policies_entitle_nobody(registries: Path) -> None:
    catalogue = load_catalogue(CATALOGUE)
    con = connect()
    attach_registries(con, registries)
    run_matching(con, catalogue.policies, DAY)
    unpublished = {p.id for p in catalogue.policies if p.status != "published"}
    assert unpublished
    assert not unpublished & set(run_matching(con, catalogue.policies, DAY).counts)


def test_a_missing_person_base_or_a_bad_file_is_named(tmp_path: Path) -> None:
    con = connect()
    with pytest.raises(RegistryError, match=r"no persons\.parquet"):
        attach_registries(con, tmp_path)
    (tmp_path / "persons.csv").write_text("person_id,birth_date\nP1,1950-01-01\n")
    with pytest.raises(RegistryError, match="persons"):
        attach_registries(con, tmp_path)  # declared columns are missing from the file


def test_subjects_kept_out_only_by_an_unknown_fact_are_listed_for_the_original_channel(registries: Path) -> None:
    from app.matching.engine import list_incomplete

    catalogue = load_catalogue(CATALOGUE)
    con = connect()
    attach_registries(con, registries)
    run_matching(con, catalogue.policies, DAY)
    counts = list_incomplete(con, catalogue.policies, DAY)
    listed = set(con.execute("SELECT subject, policy_id FROM incomplete").fetchall())
    cursor = con.execute("SELECT * FROM person_facts")
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    index = index_of(con, DAY)
    expected = set()
    for policy in catalogue.policies:
        version = policy.version_on(DAY)
        if policy.status != "published" or version is None:
            continue
        for attribute in ("income.monthly", "household.per_capita_income"):  # registries.UNKNOWN_WHEN_NULL
            if attribute not in str(version.rule):
                continue
            for row in rows:
                facts = {**facts_on_day(row), **index.facts_for(row["subject"], DAY)}
                if attribute in facts or (policy.region_scope == "residents" and row["residence_region"] != 310000):
                    continue
                low = version.test({**facts, attribute: 0}, DAY)
                high = version.test({**facts, attribute: 10**9}, DAY)
                if low != high:  # only the unknown fact decides
                    expected.add((row["subject"], policy.id))
    assert listed == expected and expected
    assert {p for _, p in listed} >= {"sh-minimum-living-guarantee", "sh-disability-living-subsidy"}
    assert sum(counts.values()) == len(listed)
    entitled = set(con.execute("SELECT subject, policy_id FROM entitlements").fetchall())
    assert not listed & entitled


def test_explaining_one_subject_reads_its_neighbourhood_and_agrees_with_the_run(registries: Path) -> None:
    """`match explain` loads only the rows a subject's household and kin facts depend on (relations.
    load_neighbourhood), and decides every household and kin policy as the whole run did."""
    from app.matching.explain import evaluate, subject_facts

    catalogue = load_catalogue(CATALOGUE)
    con = connect()
    attach_registries(con, registries)
    run_matching(con, catalogue.policies, DAY)
    got = set(con.execute("SELECT subject, policy_id FROM entitlements").fetchall())
    policies = [p for p in catalogue.policies if p.id in {
        "sh-minimum-living-guarantee", "sh-senior-living-alone-care", "sh-martyr-survivor-allowance",
        "sh-severe-disability-child-carer"}]  # fmt: skip
    entitled = sorted({s for s, p in got if p in {q.id for q in policies}})
    others = [r[0] for r in con.execute("SELECT subject FROM person_facts ORDER BY subject LIMIT 12").fetchall()]
    checked = 0
    for subject in entitled[:18] + others:
        for policy in policies:
            facts, rejected = subject_facts(registries, policy, subject, DAY)
            decided = evaluate(policy, subject, facts, DAY, rejected=rejected).entitled
            assert decided == ((subject, policy.id) in got), (subject, policy.id)
            checked += decided
    assert checked >= 10


def test_a_member_who_joined_another_household_counts_there_when_one_subject_is_explained(tmp_path: Path) -> None:
    """The neighbourhood holds the members' own household rows too: a son who left for a household of his
    own no longer counts in his mother's, in the explanation as in the run."""
    from app.matching.explain import evaluate, subject_facts

    (tmp_path / "persons.csv").write_text(
        "person_id,birth_date,residence_region,hukou_region,income_monthly,death_date\n"
        "M1,1950-03-01,310000,310000,1000,\nS1,1980-01-01,310000,310000,9000,\n"
    )
    (tmp_path / "households.csv").write_text(
        "household_id,person_id,relation_to_head,from_date,to_date\n"
        "H1,M1,head,2000-01-01,\nH1,S1,child,2000-01-01,\nH2,S1,head,2024-01-01,\n"
    )
    policy = next(p for p in load_catalogue(CATALOGUE).policies if p.id == "sh-minimum-living-guarantee")
    con = connect()
    attach_registries(con, tmp_path)
    run_matching(con, [policy], DAY)
    assert con.execute("SELECT subject FROM entitlements").fetchall() == [("M1",)]  # alone in H1: 1000 a month
    facts, _ = subject_facts(tmp_path, policy, "M1", DAY)
    assert facts is not None and facts["household.size"] == 1
    assert evaluate(policy, "M1", facts, DAY).entitled
