"""The handheld decides in the browser exactly as `verifier` decides: the parity proof, in Chromium.

Thousands of generated decisions (tests/support/handheld_decisions.py) over the sample catalogue,
generated catalogues and a hand-signed one, each decided by Python's `Decider` and by the page's
decide.js (app/api/web/static/js/verifier/): result, reason, privileges in order, venue, the
check-photo-ID flag and every explanation line must be equal. The policy test cases of
data/catalogue/tests run through the page's evaluator too, and a damaged snapshot is refused
with Python's words.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from keys.algorithms import spki_der
from tests.support.handheld_cases import HandheldWorld, load_documents, open_page, run_in_page, verify_cases
from tests.support.handheld_decisions import (
    E2E_STEP,
    JS_LOAD,
    JS_OPEN,
    Catalogue,
    Session,
    damaged_snapshots,
    e2e_cases,
    generated_catalogue,
    hand_signed_catalogue,
    page_answers,
    policy_case_sessions,
    python_answers,
    python_e2e,
    random_policy,
    sample_catalogue,
    sessions_for,
    snapshot_outcome,
)

MIN_DECISIONS = 2000
# Explanation words that the generated cases must reach, so that the comparison covers them.
REACHED = (
    "already used", "not at this day or hour", "not in force on this date", "has no mapping",
    "for residents of 320000 only", "for Yangtze River Delta residents only", "Yangtze River Delta residents:",
    "must not hold:", "any of:", "not one of", "registry", "card SC", "enrolled until",
)  # fmt: skip
REACHED_ZH = (  # the same, in the Chinese the pages show first
    "今日已在本场所使用", "不在适用的日期或时段", "当日不在有效期内", "中没有对应：已忽略", "仅限 320000 居民",
    "仅限长三角居民", "（长三角居民：", "不得满足：", "须满足其一：", "需不为", "名册", "请核对持卡人身份证件",
    "学籍有效期至", "准予享受", "仅限个人码", "仅限企业码",
)  # fmt: skip


@pytest.fixture(scope="module")
def page(browser: Any, static_server: str) -> Iterator[Any]:
    tab = browser.new_page()
    tab.goto(static_server + "/")
    yield tab
    tab.close()


def _catalogues() -> dict[str, Catalogue]:
    rng = random.Random(2026)
    drafts = [random_policy(rng, f"hand-p{i}", ["hand-venue-0"], dt.date(2024, 6, 1)) for i in range(6)]
    drafts[0]["status"] = "draft"  # signed as it is: the decider must skip it
    drafts[1]["status"] = "retired"
    catalogues = [
        sample_catalogue(),
        *(generated_catalogue(f"gen{k}", 100 + k) for k in range(6)),
        generated_catalogue("jiangsu", 200, region=320000),  # a partner's own snapshot: residents are Jiangsu's
        generated_catalogue("stale", 300, max_age_days=30),
        hand_signed_catalogue("hand", drafts),
    ]
    return {c.name: c for c in catalogues}


def _differences(
    sessions: list[Session], python: list[list[dict[str, Any]]], js: list[list[dict[str, Any]]]
) -> list[str]:
    out = []
    for session, want, got in zip(sessions, python, js, strict=True):
        for step, a, b in zip(session.steps, want, got, strict=True):
            if a != b:
                case = {"catalogue": session.catalogue, "usage": session.usage, "step": step.for_page()}
                out.append(f"{json.dumps(case, ensure_ascii=False)}\n  python: {a}\n  page:   {b}")
    return out


def test_the_page_decides_every_generated_case_as_python_does(page: Any) -> None:
    catalogues = _catalogues()
    rng = random.Random(14)
    sessions: list[Session] = []
    for name, catalogue in catalogues.items():
        sessions += sessions_for(catalogue, 800 if name == "sample" else 250, rng)
    python = python_answers(catalogues, sessions)
    js = page_answers(page, catalogues, sessions)
    differences = _differences(sessions, python, js)
    assert not differences, f"{len(differences)} decisions differ; the first:\n" + "\n".join(differences[:3])

    decisions = [a for answers in python for a in answers]
    assert len(decisions) >= MIN_DECISIONS
    assert sum(s.usage == "idb" and len(s.steps) > 1 for s in sessions) >= 50  # the IndexedDB ledger across reloads
    # the cases reach what they are meant to reach
    reasons = {a["reason"] for a in decisions}
    assert {None, "NOT_ELIGIBLE", "NO_POLICY_FOR_VENUE", "CATALOGUE_STALE"} <= reasons
    assert any(len(a["privileges"]) > 1 for a in decisions)  # best first, the others after
    assert any(p["companions"] for a in decisions for p in a["privileges"])
    assert any(a["check_id"] for a in decisions) and any(a["result"] == "GRANTED" and a["check_id"] for a in decisions)
    lines = [line["en"] for a in decisions for line in a["explanation"]]
    for words in REACHED:
        assert any(words in line for line in lines), words
    chinese = [line["zh"] for a in decisions for line in a["explanation"]]
    for words in REACHED_ZH:
        assert any(words in line for line in chinese), words
    assert all(set(line) == {"zh", "en"} for a in decisions for line in a["explanation"])
    # enterprise codes (法人随申码): granted by enterprise policies only, and told so by the persons' ones
    steps = [(step, a) for s, answers in zip(sessions, python, strict=True)
             for step, a in zip(s.steps, answers, strict=True)]  # fmt: skip
    firms = [a for step, a in steps if step.code.profile.enterprise]
    assert len(firms) >= 50 and any(a["result"] == "GRANTED" for a in firms)

    assert any("for persons' codes only" in line["en"] for a in firms for line in a["explanation"])
    assert any("for enterprises' codes only" in line["en"] for step, a in steps if not step.code.profile.enterprise
               for line in a["explanation"])  # fmt: skip


@pytest.fixture(scope="module")
def policy_cases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Catalogue, list[tuple[Any, Session]]]:
    return policy_case_sessions(tmp_path_factory.mktemp("policy-case-registries"))


def test_the_indexeddb_ledger_keeps_todays_uses_across_a_reload_and_drops_old_days(page: Any) -> None:
    now = 1_800_000_000  # 2027-01-15 16:00 in Shanghai
    got = page.evaluate(
        """async (now) => {
          const dec = await import('/static/js/verifier/decide.js');
          const name = 'ledger-test';
          const key = (day) => ['00ff', 'sh-museum', 'p-1', day];
          let ledger = await dec.IndexedDbUsage.open({ name, now });
          ledger.record(key('2027-01-15'));
          ledger.record(key('2027-01-15'));
          ledger.record(key('2027-01-14'));
          ledger.record(key('2027-01-10'));
          const before = [ledger.count(key('2027-01-15')), ledger.count(key('2027-01-10'))];
          await ledger.flush();
          ledger.close();
          ledger = await dec.IndexedDbUsage.open({ name, now });
          const after = ['2027-01-15', '2027-01-14', '2027-01-10', '2027-01-16'].map((d) => ledger.count(key(d)));
          ledger.close();
          return { before, after };
        }""",
        now,
    )
    assert got == {"before": [2, 1], "after": [2, 1, 0, 0]}


def test_the_policy_cases_decide_in_the_page_as_in_python_and_as_the_cases_expect(
    page: Any, policy_cases: tuple[Catalogue, list[tuple[Any, Session]]]
) -> None:
    catalogue, cases = policy_cases
    sessions = [s for _, s in cases]
    python = python_answers({catalogue.name: catalogue}, sessions)
    js = page_answers(page, {catalogue.name: catalogue}, sessions)
    assert not _differences(sessions, python, js)
    assert len(cases) >= 40
    checked = 0
    for (case, _), (answer,) in zip(cases, js, strict=True):
        if case.known_issue:
            continue
        best = answer["privileges"][0]["policy_id"] if answer["privileges"] else None
        assert (answer["result"], best, answer["reason"]) == (
            case.expect.result,
            case.expect.privilege,
            case.expect.reason,
        ), f"{case.id}: {answer['explanation']}"
        checked += 1
    assert checked >= 40


JS_RULE = """async ([catalogue, cases]) => {
  const dec = await import('/static/js/verifier/decide.js');
  const rules = await import('/static/js/verifier/rules.js');
  const snapshot = window.__snapshots[catalogue];
  return cases.map(([policyId, code, day]) => {
    const policy = snapshot.policies.find((p) => p.id === policyId);
    if (policy === undefined) return [false, "not published"]; // drafts and retired policies are not in a snapshot
    const when = rules.isoDate(day);
    const version = policy.versionOn(when);
    if (version === null) return [false, null];
    const profile = new dec.Decider(snapshot).profileOf({ ...code, profile: dec.profileFromJson(code.profile) });
    const region = profile.residence;
    const scope = policy.regionScope;
    const yrd = [310000, 320000, 330000, 340000].includes(region);
    const inScope = scope === "residents" ? region === snapshot.region : scope === "yrd" ? yrd : true;
    return [inScope && version.test(dec.profileFacts(profile), when), version.version];
  });
}"""


def test_the_page_rule_says_eligible_exactly_when_each_policy_case_expects(
    page: Any, policy_cases: tuple[Catalogue, list[tuple[Any, Session]]]
) -> None:
    catalogue, cases = policy_cases
    page.evaluate(JS_LOAD, {catalogue.name: catalogue.for_page()})
    asked = [[case.policy_id, s.steps[0].code.to_json(), case.day.isoformat()] for case, s in cases]
    said = page.evaluate(JS_RULE, [catalogue.name, asked])
    wrong = [
        f"{case.id}: eligible {eligible} (version {version}), expected {case.expect.eligible}"
        for (case, _), (eligible, version) in zip(cases, said, strict=True)
        if not case.known_issue and eligible != case.expect.eligible
    ]
    assert not wrong, "\n".join(wrong)


def _words(outcome: str) -> str:
    """Python names only the exception of a JSON text it cannot read; signed_json.js says where it stopped."""
    head, found, _ = outcome.partition(" is not valid JSON: ")
    return head + found


def test_a_damaged_snapshot_is_refused_in_the_page_with_pythons_words(page: Any) -> None:
    root, documents = damaged_snapshots()
    python = [snapshot_outcome(document, root) for _, document in documents]
    spki = base64.urlsafe_b64encode(spki_der(root.public_key())).rstrip(b"=").decode()
    js = page.evaluate(JS_OPEN, [spki, [base64.b64encode(d).decode() for _, d in documents]])
    wrong = [
        f"{what}:\n  python: {a}\n  page:   {b}"
        for (what, _), a, b in zip(documents, python, js, strict=True)
        if _words(a) != _words(b)
    ]
    assert not wrong, f"{len(wrong)} of {len(documents)} differ:\n" + "\n".join(wrong)
    assert python[0].startswith("ok: ") and sum(o.startswith("CatalogueError") for o in python) >= 120
    crashed = [f"{what}: {o}" for (what, _), o in zip(documents, python, strict=True) if o.startswith("other: ")]
    assert not crashed, "every damaged snapshot is a CatalogueError or loads (and a Decider is built over it)"


def test_whole_codes_from_text_to_decision_answer_as_result_json_does(browser: Any, static_server: str) -> None:
    world = HandheldWorld()
    catalogue = sample_catalogue()
    cases = verify_cases(world)
    expected = python_e2e(cases, world.docsets, catalogue)
    tab = open_page(browser, static_server)
    try:
        load_documents(tab, world.docsets.values())
        assert tab.evaluate(JS_LOAD, {catalogue.name: catalogue.for_page()}) == {}
        got = run_in_page(tab, e2e_cases(cases, catalogue), step=E2E_STEP)
    finally:
        tab.close()
    wrong = [
        f"{case.id} at {case.now} ({case.venue or 'no venue'}):\n  python: {a}\n  page:   {b}"
        for case, a, b in zip(cases, expected, got, strict=True)
        if a != b
    ]
    assert not wrong, f"{len(wrong)} of {len(cases)} differ:\n" + "\n".join(wrong[:3])
    decided = [a["decision"] for a in expected if "decision" in a]
    assert len(decided) >= 500 and sum(d["result"] == "GRANTED" for d in decided) >= 50
    assert any(d["check_id"] for d in decided)
