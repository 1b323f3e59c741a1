"""Policy test cases as data: every case in data/catalogue/tests/*.yaml, through every evaluator that applies.

The format is in data/catalogue/tests/README.md, the loader and the evaluators in
tests/support/policy_cases.py. A case is one test (id: file:case name); a file that cannot be
read is one failing test naming the file, the case and the problem. A case with `known_issue`
is a strict xfail: it fails until the evaluators agree, and then must lose the marker.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.catalogue import load_catalogue
from tests.support.policy_cases import (
    CASES,
    CATALOGUE,
    MAX_FILE_BYTES,
    CaseError,
    Matching,
    PolicyCase,
    load_case_file,
    load_cases,
    match_cases,
    mismatches,
    run_case,
    samples,
)

SAMPLES = samples()
LOADED = load_cases(CASES, SAMPLES.policies)


def _param(case: PolicyCase | CaseError) -> object:
    if isinstance(case, CaseError):
        return pytest.param(case, id=str(case).split(":")[0] + ":(cannot be read)")
    marks = [pytest.mark.xfail(reason=case.known_issue, strict=True)] if case.known_issue else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.fixture(scope="module")
def matched(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Matching | CaseError]:
    cases = [c for c in LOADED if isinstance(c, PolicyCase)]
    return match_cases(cases, SAMPLES, tmp_path_factory.mktemp("registries"))


@pytest.mark.parametrize("case", [_param(c) for c in LOADED])
def test_policy_case(case: PolicyCase | CaseError, matched: dict[str, Matching | CaseError]) -> None:
    if isinstance(case, CaseError):
        pytest.fail(str(case), pytrace=False)
    matching = matched.get(case.id)
    if isinstance(matching, CaseError):
        pytest.fail(str(matching), pytrace=False)
    outcome = run_case(case, SAMPLES, matching)
    in_force = SAMPLES.policies[case.policy_id].version_on(case.day)
    problems = mismatches(case, outcome, in_force.version if in_force else None)
    if problems:
        pytest.fail("\n".join([*problems, *outcome.explanation]), pytrace=False)


def test_every_policy_in_the_catalogue_has_at_least_two_cases() -> None:
    counts: dict[str, int] = {}
    for case in LOADED:
        assert isinstance(case, PolicyCase), str(case)
        counts[case.policy_id] = counts.get(case.policy_id, 0) + 1
    assert {p: counts.get(p, 0) for p in SAMPLES.policies if counts.get(p, 0) < 2} == {}


def test_the_catalogue_reads_its_policy_files_and_not_the_case_files() -> None:
    catalogue = load_catalogue(CATALOGUE)
    assert catalogue.problems == ()
    assert sorted(p.id for p in catalogue.policies) == sorted(p.stem for p in CATALOGUE.glob("*.yaml"))
    assert {p.stem for p in CASES.glob("*.yaml")} <= {p.id for p in catalogue.policies}


GOOD = """\
policy: sh-park-senior-free
cases:
  - name: turns 65 on the first day of version 2
    date: 2025-01-01 10:00
    venue: {id: park-001, type: park}
    registries:
      persons: {birth_date: 1960-01-01, residence_region: 310000}
    expect: {eligible: true, version: 2, result: GRANTED, privilege: sh-park-senior-free}
"""
CASE = "sh-park-senior-free.yaml: case 'turns 65 on the first day of version 2'"


def _write(tmp_path: Path, text: str, name: str = "sh-park-senior-free.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    (case,) = load_case_file(_write(tmp_path, GOOD), SAMPLES.policies)
    assert case.id == "sh-park-senior-free.yaml:turns 65 on the first day of version 2"
    assert case.at is not None and case.at.hour == 10 and case.venue is not None and case.venue.type == "park"
    assert case.registries == {"persons": {"birth_date": case.day.replace(year=1960), "residence_region": 310000}}


BAD_EDITS = [
    ("    expect:", "    expected:", f"{CASE}: unknown key(s) expected in the case"),
    ("{eligible: true,", "{eligble: true,", f"{CASE}: unknown key(s) eligble in expect"),
    ("{birth_date:", "{birthdate:", f"{CASE}: unknown key(s) birthdate in registries.persons"),
    ("      persons:", "      enterprises:", f"{CASE}: unknown key(s) enterprises in registries (of a person)"),
    ("persons: {birth_date: 1960-01-01, ", "persons: {birth_date: '1960-01-01', ",
     f"{CASE}: registries.persons.birth_date must be a date"),
    ("residence_region: 310000}", "residence_region: 310000, income: 900}", f"{CASE}: unknown key(s) income"),
    ("2025-01-01 10:00", "2025-01-01", f"{CASE}: a scan-mode policy's case needs a local time too"),
    ("2025-01-01 10:00", "2025-01-01T10:00+08:00", f"{CASE}: give the date as local time"),
    ("type: park}", "type: parc}", f"{CASE}: venue type must be one of"),
    ("    venue: {id: park-001, type: park}\n", "", f"{CASE}: a scan-mode policy's case needs a venue"),
    ("privilege: sh-park-senior-free}", "privilege: sh-park-senior-fre}", f"{CASE}: a GRANTED decision names"),
    ("result: GRANTED, privilege: sh-park-senior-free}", "result: REJECTED}", f"{CASE}: a REJECTED decision"),
    ("    registries:\n      persons: {birth_date: 1960-01-01, residence_region: 310000}\n", "",
     f"{CASE}: give either registries"),
    ("policy: sh-park-senior-free", "policy: sh-park-senior-fre", "sh-park-senior-free.yaml: policy 'sh-park"),
    ("cases:", "case:", "sh-park-senior-free.yaml: unknown key(s) case in the file"),
    ("  - name: turns 65 on the first day of version 2\n", "  - title: x\n",
     "sh-park-senior-free.yaml: case 1 needs a name"),
    ("    venue:", "    used_today: -1\n    venue:", f"{CASE}: used_today must be a whole number"),
    ("    venue:", "    profile: {age_over: 65}\n    venue:", f"{CASE}: give either registries"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "message"), BAD_EDITS, ids=[m.rsplit(": ", 1)[-1] for _, _, m in BAD_EDITS])
def test_anything_unknown_or_malformed_is_refused_naming_the_file_and_case(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in GOOD
    with pytest.raises(CaseError) as refused:
        load_case_file(_write(tmp_path, GOOD.replace(old, new, 1)), SAMPLES.policies)
    assert str(refused.value).startswith(message), str(refused.value)


def test_files_are_bounded_and_names_unique(tmp_path: Path) -> None:
    body = GOOD.split("cases:\n")[1]
    twice = _write(tmp_path, GOOD + body)
    with pytest.raises(CaseError, match=f"^{CASE.split(':')[0]}: two cases are named"):
        load_case_file(twice, SAMPLES.policies)
    huge = _write(tmp_path, GOOD + "# " + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(CaseError, match="a case file holds at most"):
        load_case_file(huge, SAMPLES.policies)
    aliased = _write(tmp_path, GOOD.replace("venue: {id", "venue: &v {id") + "  - {name: b, venue: *v}\n")
    with pytest.raises(CaseError, match="aliases"):
        load_case_file(aliased, SAMPLES.policies)
    misnamed = _write(tmp_path, GOOD, "park.yaml")
    with pytest.raises(CaseError, match=r"must be named sh-park-senior-free\.yaml"):
        load_case_file(misnamed, SAMPLES.policies)


MATCHING = """\
policy: sh-senior-allowance-70-79
cases:
  - name: turns 70 on the day
    date: 2026-04-15
    registries: {persons: {birth_date: 1956-04-15, residence_region: 310000, hukou_region: 310000}}
    expect: {eligible: true}
"""


MATCHING_EDITS = [
    ("2026-04-15\n", "2026-04-15 10:00\n", "a matching policy decides per day"),
    ("{eligible: true}", "{eligible: true, result: GRANTED}", "result, privilege and reason are a gate's answer"),
    ("    expect:", "    venue: {id: park-001, type: park}\n    expect:", "sh-senior-allowance-70-79 is a direct"),
    ("registries: {persons: {birth_date: 1956-04-15, residence_region: 310000, hukou_region: 310000}}",
     "profile: {age_over: 70}", "a profile is what a gate reads"),
    ("hukou_region: 310000}}", "hukou_region: 310000}, students: {level: 1}}", "registries.students needs"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "message"), MATCHING_EDITS, ids=[m for _, _, m in MATCHING_EDITS])
def test_a_matching_case_takes_a_date_registries_and_no_gate_answer(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    (case,) = load_case_file(_write(tmp_path, MATCHING, "sh-senior-allowance-70-79.yaml"), SAMPLES.policies)
    assert case.at is None and case.venue is None and case.expect.result is None
    assert old in MATCHING
    bad = _write(tmp_path, MATCHING.replace(old, new, 1), "sh-senior-allowance-70-79.yaml")
    with pytest.raises(CaseError) as refused:
        load_case_file(bad, SAMPLES.policies)
    assert str(refused.value).startswith(f"sh-senior-allowance-70-79.yaml: case 'turns 70 on the day': {message}")


def test_a_row_the_registries_reject_fails_its_case_by_name(tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (good,) = load_case_file(_write(tmp_path, GOOD), SAMPLES.policies)
    text = GOOD.replace("residence_region: 310000", "residence_region: 31").replace("turns 65", "a region of 31")
    (bad,) = load_case_file(_write(tmp_path / "bad", text), SAMPLES.policies)
    out = match_cases([bad, good], SAMPLES, tmp_path / "registries")
    assert str(out[bad.id]) == (
        "sh-park-senior-free.yaml:a region of 31 on the first day of version 2: the persons registry rejects its "
        "row: residence_region must be a six-digit region code"
    )
    assert isinstance(out[good.id], Matching)
