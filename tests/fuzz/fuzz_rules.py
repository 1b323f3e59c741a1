"""Atheris harness for the rule language: `parse_rule`, then compiling and evaluating what it accepts.

`parse_rule` answers with `RuleProblem`s; a rule it accepts without parameters must compile
and evaluate (per subject, at a gate with an age band, and explained in words) on any facts
and decision date without an exception: a gate or a matching run would meet it there.

First byte of an input picks the mode:

    json      the rest as JSON (bad JSON skipped)
    build     the rest drives a generator of rule-shaped data from the rule language's own
              words (all, any, not, member_of, age_on, attributes, operators, value forms),
              so most inputs are nearly valid rules

    .venv/bin/python tests/fuzz/fuzz_rules.py -max_total_time=60
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["verifier.rules"]):
    from verifier.rules.ast import params_read
    from verifier.rules.attributes import ATTRIBUTES, REGISTRIES
    from verifier.rules.evaluate import AgeBand, compile_rule, explain
    from verifier.rules.parse import parse_rule

import fuzzlib

NAME = "rules"
MODES = ("json", "build")
SUBJECTS = ("person", "enterprise")
OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "between", "~")
WORDS = ("all", "any", "not", "member_of", "age_on", *ATTRIBUTES, "unknown")
DAYS = (dt.date(2026, 7, 1), dt.date(1970, 1, 1), dt.date(2099, 12, 31))  # decision dates a gate or run can have
PERSON = {
    "age": 67, "birth_date": dt.date(1959, 3, 1), "disability.category": 2, "disability.grade": 1,
    "disability.certificate_valid_until": dt.date(2030, 1, 1), "martyr_family": True, "entitled_group": False,
    "student.level": 5, "student.enrolled_until": dt.date(2027, 6, 30), "residence.region": 310000,
    "hukou.region": 310000, "income.monthly": 1800, "credit.blacklisted": False,
    "registries": frozenset({"martyr_families"}),
}  # fmt: skip
GATE = {"age": AgeBand(65, 70), "martyr_family": True, "residence.region": 320500}
ENTERPRISE = {
    "enterprise.employees": 40, "enterprise.insured_employees": 38, "enterprise.layoff_rate_pct": 2,
    "enterprise.annual_revenue": 10**7, "enterprise.industry": "C", "enterprise.registered_on": dt.date(2020, 1, 1),
    "enterprise.region": 310104, "enterprise.credit.blacklisted": False,
}  # fmt: skip


def _value(fdp: atheris.FuzzedDataProvider) -> Any:
    kind = fdp.ConsumeIntInRange(0, 9)
    if kind == 0:
        return fdp.ConsumeIntInRange(-(10**12), 10**12)
    if kind == 1:
        return fdp.ConsumeIntInRange(0, 100)
    if kind == 2:
        return fdp.ConsumeBool()
    if kind == 3:
        return fdp.PickValueInList(["2026-01-01", "today", "0001-01-01", "9999-12-31", "2026-02-30", "60"])
    if kind == 4:
        return {"today": fdp.ConsumeIntInRange(-(10**10), 10**10)}
    if kind == 5:
        return {"param": fdp.ConsumeUnicodeNoSurrogates(4)}
    if kind == 6:
        return [_value(fdp) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    if kind == 7:
        return None
    if kind == 8:
        return fdp.ConsumeFloat()
    return fdp.ConsumeUnicodeNoSurrogates(6)


def _build(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> Any:
    """Rule-shaped data: mostly the forms the parser knows, sometimes a wrong shape in their place."""
    word = fdp.PickValueInList(list(WORDS)) if depth < 16 else "age"
    if fdp.ConsumeIntInRange(0, 15) == 0:
        return _value(fdp)
    if word in ("all", "any"):
        return {word: [_build(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]}
    if word == "not":
        return {word: _build(fdp, depth + 1)}
    if word == "member_of":
        return {word: fdp.PickValueInList([*REGISTRIES, "nobody"])}
    if word == "age_on":
        return {word: {"date": _value(fdp), fdp.PickValueInList(list(OPS)): _value(fdp)}}
    body: dict[str, Any] = {fdp.PickValueInList(list(OPS)): _value(fdp)}
    if fdp.ConsumeIntInRange(0, 7) == 0:
        body[fdp.PickValueInList(list(OPS))] = _value(fdp)
    return {word: body}


def TestOneInput(data: bytes) -> None:
    if len(data) < 2:
        return
    mode, subject = MODES[data[0] % len(MODES)], SUBJECTS[(data[0] >> 1) % len(SUBJECTS)]
    if mode == "json":
        try:
            value = json.loads(data[1:])
        except (ValueError, RecursionError):
            return
    else:
        value = _build(atheris.FuzzedDataProvider(data[1:]))
    rule, problems = parse_rule(value, subject=subject)
    assert (rule is None) == bool(problems), problems
    if rule is None or params_read(rule):
        return
    test = compile_rule(rule)
    for facts in (PERSON, GATE, {}) if subject == "person" else (ENTERPRISE, {}):
        for day in DAYS:
            test(facts, day)
            explain(rule, facts, day).lines()


def seeds() -> dict[str, bytes]:
    """The eligibility rule of every sample policy, as JSON for its subject, and a few generator starts."""
    import yaml

    from app.catalogue import json_ready

    out: dict[str, bytes] = {}
    for path in sorted((fuzzlib.ROOT / "data" / "catalogue").glob("*.yaml")):
        policy = json_ready(yaml.safe_load(path.read_text()))
        for i, version in enumerate(policy.get("versions", [])):
            subject = 2 if policy.get("subject") == "enterprise" else 0
            rule = json.dumps(version.get("eligibility"), ensure_ascii=False).encode()
            out[f"json-{path.stem}-{i}"] = bytes([subject]) + rule
    for i in range(8):
        out[f"build-{i}"] = bytes([1 + 2 * (i % 2)]) + bytes([i * 31 % 256]) * (8 + 8 * i)
    return out


if __name__ == "__main__":
    fuzzlib.main(NAME, TestOneInput, seeds, defaults=("-max_len=4096", "-timeout=10"))
