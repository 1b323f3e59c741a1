"""The rule language: parsing to the AST, per-scan evaluation, explanations, AgeBand semantics.

Rules are written as plain data (what YAML gives); dates are fixed, never the wall clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from verifier.rules.ast import (
    All,
    Any_,
    Between,
    Compare,
    In,
    Member,
    MembersAged,
    Not,
    Param,
    RelatedTo,
    Today,
    attributes_read,
    params_read,
)
from verifier.rules.evaluate import AgeBand, ParamValues, compile_rule, explain
from verifier.rules.parse import MAX_DEPTH, RuleProblem, parse_rule

DAY = dt.date(2027, 1, 15)


def rule_of(data: Any, *, subject: str = "person") -> Any:
    rule, problems = parse_rule(data, subject=subject)
    assert problems == [], problems
    assert rule is not None
    return rule


def holds(data: Any, facts: dict[str, Any], day: dt.date = DAY, params: dict[str, ParamValues] | None = None) -> bool:
    """Evaluate through both paths (closure and explanation); they must agree."""
    rule = rule_of(data)
    compiled = compile_rule(rule, params)(facts, day)
    explained = explain(rule, facts, day, params).held
    assert compiled == explained, (data, facts, compiled, explained)
    return compiled


def only_problem(data: Any, *, subject: str = "person") -> RuleProblem:
    rule, problems = parse_rule(data, subject=subject)
    assert rule is None
    assert len(problems) == 1, problems
    return problems[0]


# --- parsing: each construct to its AST node --------------------------------------------------


def test_each_construct_parses_to_its_ast_node() -> None:
    data = {
        "all": [
            {"age": {">=": 60}},
            {"any": [{"member_of": "martyr_families"}, {"residence.region": {"in": [310000, 320000]}}]},
            {"not": {"credit.blacklisted": {"==": True}}},
            {"disability.grade": {"between": [1, 2]}},
            {"student.enrolled_until": {">=": "today"}},
            {"student.enrolled_until": {"<": {"today": 30}}},
            {"income.monthly": {"<": {"param": "limit"}}},
            {"hukou.region": {"not_in": [110000]}},
            {"disability.certificate_valid_until": {">=": "2027-03-01"}},
        ]
    }
    assert rule_of(data) == All(
        (
            Compare("age", ">=", 60),
            Any_((Member("martyr_families"), In("residence.region", (310000, 320000)))),
            Not(Compare("credit.blacklisted", "==", True)),
            Between("disability.grade", 1, 2),
            Compare("student.enrolled_until", ">=", Today(0)),
            Compare("student.enrolled_until", "<", Today(30)),
            Compare("income.monthly", "<", Param("limit")),
            In("hukou.region", (110000,), negate=True),
            Compare("disability.certificate_valid_until", ">=", dt.date(2027, 3, 1)),
        )
    )


def test_attributes_and_params_read_walk_the_whole_tree() -> None:
    rule = rule_of(
        {
            "all": [
                {"not": {"income.monthly": {"<": {"param": "limit"}}}},
                {"any": [{"member_of": "disabled_persons"}, {"age": {"between": [{"param": "lo"}, 70]}}]},
                {"residence.region": {"in": [{"param": "home"}, 320000]}},
            ]
        }
    )
    assert attributes_read(rule) == {"income.monthly", "disability.category", "age", "residence.region"}
    assert params_read(rule) == {"limit", "lo", "home"}
    enterprise = rule_of({"member_of": "small_enterprises"}, subject="enterprise")
    assert attributes_read(enterprise) == {"registry:small_enterprises"}


# --- evaluation of each construct --------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "bound", "have", "expected"),
    [
        ("==", 3, 3, True),
        ("==", 3, 4, False),
        ("!=", 3, 4, True),
        ("!=", 3, 3, False),
        ("<", 1500, 1499, True),
        ("<", 1500, 1500, False),
        ("<=", 1500, 1500, True),
        ("<=", 1500, 1501, False),
        (">", 2, 3, True),
        (">", 2, 2, False),
        (">=", 2, 2, True),
        (">=", 2, 1, False),
    ],
)
def test_comparisons_on_integers(op: str, bound: int, have: int, expected: bool) -> None:
    assert holds({"income.monthly": {op: bound}}, {"income.monthly": have}) is expected


def test_a_missing_attribute_never_satisfies_a_condition_even_not_equal() -> None:
    assert holds({"income.monthly": {"!=": 5}}, {}) is False
    assert holds({"residence.region": {"not_in": [310000]}}, {}) is False
    assert holds({"disability.grade": {"between": [1, 4]}}, {}) is False
    # ... but `not` of a failing condition holds
    assert holds({"not": {"income.monthly": {"==": 5}}}, {}) is True


def test_boolean_and_text_attributes() -> None:
    assert holds({"martyr_family": {"==": True}}, {"martyr_family": True}) is True
    assert holds({"martyr_family": {"==": True}}, {"martyr_family": False}) is False
    assert holds({"martyr_family": {"!=": True}}, {"martyr_family": False}) is True
    rule = {"enterprise.industry": {"in": ["retail", "catering"]}}
    parsed = rule_of(rule, subject="enterprise")
    assert compile_rule(parsed)({"enterprise.industry": "catering"}, DAY) is True
    assert compile_rule(parsed)({"enterprise.industry": "mining"}, DAY) is False


def test_all_any_not() -> None:
    rule = {
        "all": [
            {"age": {">=": 60}},
            {"any": [{"residence.region": {"==": 310000}}, {"martyr_family": {"==": True}}]},
            {"not": {"credit.blacklisted": {"==": True}}},
        ]
    }
    base = {"age": 66, "residence.region": 310000, "credit.blacklisted": False}
    assert holds(rule, base) is True
    assert holds(rule, {**base, "age": 59}) is False  # the first of all fails
    assert holds(rule, {**base, "residence.region": 320000}) is False  # any: neither part
    assert holds(rule, {**base, "residence.region": 320000, "martyr_family": True}) is True  # any: second part
    assert holds(rule, {**base, "credit.blacklisted": True}) is False  # not
    # one- and three-part forms
    assert holds({"all": [{"age": {">=": 60}}]}, {"age": 60}) is True
    assert holds({"any": [{"age": {">=": 90}}]}, {"age": 60}) is False
    three = {"any": [{"age": {">=": 90}}, {"age": {"<": 10}}, {"age": {"==": 50}}]}
    assert holds(three, {"age": 50}) is True
    assert holds(three, {"age": 51}) is False
    three_all = {"all": [{"age": {">=": 10}}, {"age": {"<": 90}}, {"age": {"!=": 50}}]}
    assert holds(three_all, {"age": 51}) is True
    assert holds(three_all, {"age": 50}) is False


def test_in_and_not_in() -> None:
    assert holds({"disability.category": {"in": [1, 2, 3]}}, {"disability.category": 2}) is True
    assert holds({"disability.category": {"in": [1, 2, 3]}}, {"disability.category": 4}) is False
    assert holds({"hukou.region": {"not_in": [310000, 320000]}}, {"hukou.region": 330000}) is True
    assert holds({"hukou.region": {"not_in": [310000, 320000]}}, {"hukou.region": 320000}) is False


def test_between_is_inclusive_for_numbers_and_dates() -> None:
    rule = {"disability.grade": {"between": [1, 2]}}
    assert [holds(rule, {"disability.grade": g}) for g in (1, 2, 3)] == [True, True, False]
    dates = {"disability.certificate_valid_until": {"between": ["2027-01-01", "2027-12-31"]}}
    key = "disability.certificate_valid_until"
    assert holds(dates, {key: dt.date(2027, 12, 31)}) is True
    assert holds(dates, {key: dt.date(2027, 1, 1)}) is True
    assert holds(dates, {key: dt.date(2028, 1, 1)}) is False
    assert holds(dates, {key: dt.date(2026, 12, 31)}) is False


def test_date_arithmetic_today_and_offsets() -> None:
    key = "student.enrolled_until"
    still = {key: {">=": "today"}}
    assert holds(still, {key: DAY}) is True
    assert holds(still, {key: DAY - dt.timedelta(days=1)}) is False
    # the same fact on a later decision date
    assert holds(still, {key: DAY}, day=DAY + dt.timedelta(days=1)) is False
    month = {key: {">=": {"today": 30}}}
    assert holds(month, {key: DAY + dt.timedelta(days=30)}) is True
    assert holds(month, {key: DAY + dt.timedelta(days=29)}) is False
    past = {"enterprise.registered_on": {">=": {"today": -365}}}
    parsed = rule_of(past, subject="enterprise")
    assert compile_rule(parsed)({"enterprise.registered_on": DAY - dt.timedelta(days=365)}, DAY) is True
    assert compile_rule(parsed)({"enterprise.registered_on": DAY - dt.timedelta(days=366)}, DAY) is False
    window = {key: {"between": ["today", {"today": 7}]}}
    assert holds(window, {key: DAY + dt.timedelta(days=7)}) is True
    assert holds(window, {key: DAY + dt.timedelta(days=8)}) is False


def test_registry_membership_by_registry_fact_or_by_the_gate_attribute() -> None:
    assert holds({"member_of": "martyr_families"}, {"registry:martyr_families": True}) is True
    assert holds({"member_of": "martyr_families"}, {"martyr_family": True}) is True  # what a code says
    assert holds({"member_of": "martyr_families"}, {"martyr_family": False}) is False
    assert holds({"member_of": "martyr_families"}, {"registry:entitled_groups": True}) is False
    assert holds({"member_of": "disabled_persons"}, {"disability.category": 3}) is True
    assert holds({"member_of": "students"}, {}) is False
    small = rule_of({"member_of": "small_enterprises"}, subject="enterprise")
    assert compile_rule(small)({"registry:small_enterprises": True}, DAY) is True
    assert compile_rule(small)({}, DAY) is False


def test_credit_not_blacklisted() -> None:
    rule = {"not": {"credit.blacklisted": {"==": True}}}
    assert holds(rule, {"credit.blacklisted": False}) is True
    assert holds(rule, {"credit.blacklisted": True}) is False
    strict = {"credit.blacklisted": {"==": False}}  # requires the fact to be known
    assert holds(strict, {"credit.blacklisted": False}) is True
    assert holds(strict, {}) is False


def test_parameters_by_name_single_and_dated() -> None:
    limit = ParamValues([(dt.date(2023, 7, 1), 1420), (dt.date(2024, 7, 1), 1510), (dt.date(2025, 7, 1), 1550)])
    rule = {"income.monthly": {"<": {"param": "limit"}}}
    params = {"limit": limit}
    assert holds(rule, {"income.monthly": 1500}, dt.date(2024, 6, 30), params) is False
    assert holds(rule, {"income.monthly": 1500}, dt.date(2024, 7, 1), params) is True
    assert holds(rule, {"income.monthly": 1540}, dt.date(2025, 6, 30), params) is False
    assert holds(rule, {"income.monthly": 1540}, dt.date(2025, 7, 1), params) is True
    assert limit.on(dt.date(2030, 1, 1)) == 1550
    with pytest.raises(LookupError):
        limit.on(dt.date(2023, 6, 30))
    single = {"limit": ParamValues([(dt.date.min, 2000)])}
    assert holds(rule, {"income.monthly": 1999}, DAY, single) is True
    assert holds(rule, {"income.monthly": 2000}, DAY, single) is False
    in_params = {"disability.category": {"in": [{"param": "a"}, 7]}}
    cat = {"a": ParamValues([(dt.date(2020, 1, 1), 1), (dt.date(2027, 1, 1), 2)])}
    assert holds(in_params, {"disability.category": 1}, dt.date(2026, 12, 31), cat) is True
    assert holds(in_params, {"disability.category": 1}, dt.date(2027, 1, 1), cat) is False
    assert holds(in_params, {"disability.category": 2}, dt.date(2027, 1, 1), cat) is True
    between = {"income.monthly": {"between": [{"param": "lo"}, {"param": "hi"}]}}
    bounds = {"lo": ParamValues([(dt.date.min, 100)]), "hi": ParamValues([(dt.date.min, 200)])}
    assert holds(between, {"income.monthly": 200}, DAY, bounds) is True
    assert holds(between, {"income.monthly": 201}, DAY, bounds) is False


# --- AgeBand: what a code's age_over means at a gate -------------------------------------------


def band(age_over: int) -> AgeBand:
    return {60: AgeBand(60, 65), 65: AgeBand(65, 70), 70: AgeBand(70, 80), 80: AgeBand(80, None)}[age_over]


@pytest.mark.parametrize(
    ("rule", "age_over", "expected"),
    [
        ({"age": {">=": 65}}, 65, True),
        ({"age": {">=": 70}}, 65, False),  # 65-69 is not 70+
        ({"age": {">=": 60}}, 65, True),
        ({"age": {"<": 70}}, 65, True),  # every age 65-69 is under 70
        ({"age": {"<": 65}}, 65, False),
        ({"age": {"<": 70}}, 70, False),
        ({"age": {"<": 80}}, 70, True),
        ({"age": {"<": 80}}, 80, False),  # open band: no upper bound
        ({"age": {">=": 80}}, 80, True),
        ({"age": {">": 60}}, 60, False),  # 60 itself is in the band
        ({"age": {">": 60}}, 65, True),
        ({"age": {"<=": 64}}, 60, True),
        ({"age": {"<=": 64}}, 65, False),
        ({"age": {"between": [60, 64]}}, 60, True),
        ({"age": {"between": [60, 64]}}, 65, False),
        ({"age": {"between": [60, 69]}}, 65, True),
        ({"age": {"between": [65, 69]}}, 65, True),
        ({"age": {"between": [65, 69]}}, 70, False),
        ({"age": {"between": [70, 79]}}, 70, True),
        ({"age": {"between": [70, 79]}}, 80, False),
        ({"age": {"==": 65}}, 65, False),  # the band does not say the exact age
        ({"age": {"!=": 60}}, 65, True),
        ({"age": {"!=": 66}}, 65, False),
        ({"not": {"age": {">=": 70}}}, 65, True),
        ({"all": [{"age": {">=": 65}}, {"age": {"<": 70}}]}, 65, True),
        ({"all": [{"age": {">=": 65}}, {"age": {"<": 70}}]}, 70, False),
    ],
)
def test_age_band_semantics_at_the_gate(rule: dict[str, Any], age_over: int, expected: bool) -> None:
    assert holds(rule, {"age": band(age_over)}) is expected


def test_age_band_text_and_exact_ages_elsewhere() -> None:
    assert str(AgeBand(65, 70)) == "65-69"
    assert str(AgeBand(80, None)) == "at least 80"
    # matching knows exact ages: the same rules on plain integers
    assert holds({"age": {">=": 70}}, {"age": 70}) is True
    assert holds({"age": {"between": [60, 64]}}, {"age": 64}) is True
    assert holds({"age": {"between": [60, 64]}}, {"age": 65}) is False


# --- explanations -------------------------------------------------------------------------------


def test_explanation_says_which_clauses_held_and_failed_with_values() -> None:
    rule = rule_of(
        {
            "all": [
                {"age": {">=": 70}},
                {"residence.region": {"in": [310000, 320000]}},
                {"not": {"credit.blacklisted": {"==": True}}},
                {"member_of": "martyr_families"},
                {"disability.grade": {"between": [1, 2]}},
            ]
        }
    )
    facts = {"age": AgeBand(65, 70), "residence.region": 310000, "credit.blacklisted": False, "disability.grade": 3}
    e = explain(rule, facts, DAY)
    assert e.held is False
    assert e.text == "all of:"
    assert [p.held for p in e.parts] == [False, True, True, False, False]
    assert e.parts[0].text == "age 65-69, needs ≥ 70"
    assert e.parts[1].text == "residence region 310000, needs one of [310000, 320000]"
    assert e.parts[2].text == "must not hold:"
    assert e.parts[2].parts[0].held is False
    assert e.parts[2].parts[0].text == "on the credit blacklist (失信受限) no, needs = yes"
    assert e.parts[3].text == "not in the martyr families registry"
    assert e.parts[4].text == "disability grade 3, needs 1 to 2"
    lines = e.lines()
    assert lines[0] == "✗ all of:"
    assert lines[1] == "  ✗ age 65-69, needs ≥ 70"
    assert lines[2] == "  ✓ residence region 310000, needs one of [310000, 320000]"
    assert lines[3] == "  ✓ must not hold:"
    assert lines[4] == "    ✗ on the credit blacklist (失信受限) no, needs = yes"


def test_explanation_of_any_missing_values_dates_and_params() -> None:
    rule = rule_of(
        {
            "any": [
                {"student.enrolled_until": {">=": {"today": 30}}},
                {"income.monthly": {"<": {"param": "limit"}}},
                {"hukou.region": {"not_in": [110000]}},
            ]
        }
    )
    params = {"limit": ParamValues([(dt.date(2020, 1, 1), 1420), (dt.date(2027, 1, 1), 1600)])}
    e = explain(rule, {"student.enrolled_until": dt.date(2027, 2, 1), "income.monthly": 1500}, DAY, params)
    assert e.held is True
    assert e.text == "any of:"
    assert e.parts[0].text == "enrolled until 2027-02-01, needs ≥ 2027-02-14"
    assert e.parts[0].held is False
    assert e.parts[1].text == "monthly household income (yuan) 1500, needs < 1600"  # the value on DAY
    assert e.parts[1].held is True
    assert e.parts[2].text == "household registration region not known, needs not one of [110000]"
    assert e.parts[2].held is False
    earlier = explain(rule, {"income.monthly": 1500}, dt.date(2026, 12, 31), params)
    assert earlier.parts[1].text.endswith("needs < 1420")
    assert earlier.held is False


# --- parse errors: located, with what was expected and what was found ---------------------------


def test_unknown_attribute_or_form() -> None:
    p = only_problem({"shoe_size": {">=": 40}})
    assert p.path == "eligibility"
    forms = "all, any, not, member_of, age_on, household.members_aged_over, related_to"
    assert p.expected.startswith(f"{forms} or an attribute (")
    assert "age" in p.expected
    assert p.found == "'shoe_size'"
    assert str(p) == f"eligibility: expected {p.expected}, found 'shoe_size'"
    p = only_problem({"age": {">=": 60}, "martyr_family": {"==": True}})
    assert p.expected.startswith("a mapping with exactly one key")
    p = only_problem(["age"])
    assert p.found == "['age']"


def test_household_and_kin_forms_parse_and_every_mistake_in_them_is_located() -> None:
    rule, problems = parse_rule({"all": [
        {"household.members_aged_over": {"age": 80, ">=": 1}},
        {"related_to": {"registry": "disability", "relations": ["child"], "where": {"grade": {"<=": 2}}}},
        {"related_to": {"registry": "martyrs", "relations": ["spouse", "parent", "child"]}},
        {"household.per_capita_income": {"<": {"param": "limit"}}},
    ]})  # fmt: skip
    assert problems == []
    assert rule == All((
        MembersAged(80, ">=", 1),
        RelatedTo("disability", ("child",), Compare("disability.grade", "<=", 2)),
        RelatedTo("martyrs", ("spouse", "parent", "child")),
        Compare("household.per_capita_income", "<", Param("limit")),
    ))  # fmt: skip
    assert attributes_read(rule) == {"household.members_aged_over", "related_to", "household.per_capita_income"}
    assert params_read(rule) == {"limit"}
    cases = [
        ({"household.members_aged_over": {"age": 80}}, "eligibility.household.members_aged_over",
         "a mapping with age and one comparison of the count, e.g. {age: 80, '>=': 1}"),
        ({"household.members_aged_over": {"age": "old", ">=": 1}}, "eligibility.household.members_aged_over.age",
         "a int value or {param: NAME}"),
        ({"related_to": {"registry": "martyrs"}}, "eligibility.related_to",
         "a mapping with registry, relations and optionally where"),
        ({"related_to": {"registry": "pets", "relations": ["child"]}}, "eligibility.related_to.registry",
         "one of the registries ['disability', 'martyrs', 'persons', 'students']"),
        ({"related_to": {"registry": "martyrs", "relations": ["cousin"]}}, "eligibility.related_to.relations",
         "a non-empty list of distinct relations from ['spouse', 'child', 'parent', 'sibling', 'grandparent', "
         "'grandchild']"),
        ({"related_to": {"registry": "martyrs", "relations": ["child"], "where": {"age": {">": 1}}}},
         "eligibility.related_to.where", "no where: the martyrs registry has no columns to test"),
        ({"related_to": {"registry": "disability", "relations": ["child"], "where": {"age": {">": 1}}}},
         "eligibility.related_to.where", "all, any, not or a column of the registry (category, grade)"),
        ({"related_to": {"registry": "disability", "relations": ["child"], "where": {"grade": {"<=": "two"}}}},
         "eligibility.related_to.where.grade.<=", "a int value or {param: NAME}"),
    ]  # fmt: skip
    for data, path, expected in cases:
        p = only_problem(data)
        assert (p.path, p.expected) == (path, expected), data
    p = only_problem({"related_to": {"registry": "martyrs", "relations": ["child"]}}, subject="enterprise")
    assert (p.expected, p.found) == ("a rule about a enterprise", "'related_to (about a person)'")


def test_household_and_kin_forms_are_explained_in_both_languages() -> None:
    born = [dt.date(1940, 1, 1), dt.date(1990, 6, 1), DAY.replace(year=DAY.year - 80)]  # the last turns 80 today
    child = {"registry:persons": True, "registry:disabled_persons": True, "disability.grade": 1}
    facts = {"household.member_births": tuple(born), "kin": (("child", child), ("spouse", {"registry:persons": True}))}
    aged = explain(MembersAged(80, ">=", 2), facts, DAY)
    assert aged.held and aged.text == "household members aged 80 or over: 2, needs ≥ 2"
    assert aged.zh == "户内年满 80 周岁的成员 2 人，需 ≥ 2"
    carer = explain(RelatedTo("disability", ("child",), Compare("disability.grade", "<=", 2)), facts, DAY)
    assert carer.held and carer.zh == "子女中有持证残疾人：" and carer.parts[0].text == "disability grade 1, needs ≤ 2"
    martyr = explain(RelatedTo("martyrs", ("spouse", "parent", "child")), facts, DAY)
    assert not martyr.held and martyr.zh == "配偶、父母或子女中没有烈士"
    assert martyr.text == "no spouse, parent or child is a martyr"
    alone = explain(MembersAged(60, ">=", 1), {}, DAY)
    assert not alone.held and alone.text == "household members aged 60 or over: not known, needs ≥ 1"


def test_wrong_value_types_and_operators() -> None:
    p = only_problem({"age": {">=": "60"}})
    assert (p.path, p.expected, p.found) == ("eligibility.age.>=", "a int value or {param: NAME}", "'60'")
    p = only_problem({"martyr_family": {"<": True}})
    assert (p.path, p.expected, p.found) == ("eligibility.martyr_family.<", "== or != for a bool attribute", "'<'")
    p = only_problem({"martyr_family": {"==": 1}})
    assert p.expected == "a bool value or {param: NAME}"
    p = only_problem({"age": {"~=": 60}})
    assert p.path == "eligibility.age"
    assert p.expected.startswith("an operator (==")
    assert p.found == "'~='"
    p = only_problem({"age": 60})
    assert p.path == "eligibility.age"
    assert p.expected.startswith("a mapping with one operator")
    p = only_problem({"age": {">=": True}})  # a bool is not an int
    assert p.found == "True"


def test_bad_dates_and_today_forms() -> None:
    p = only_problem({"student.enrolled_until": {">=": "2027-02-30"}})
    assert p.path == "eligibility.student.enrolled_until.>="
    assert p.expected == "a date YYYY-MM-DD, today, {today: N} or {param: NAME}"
    assert p.found == "'2027-02-30'"
    assert only_problem({"student.enrolled_until": {">=": {"today": "30"}}}).found == "{'today': '30'}"
    assert only_problem({"student.enrolled_until": {">=": {"today": True}}}).path.endswith(".>=")
    assert only_problem({"income.monthly": {">=": "today"}}).expected == "a int value or {param: NAME}"


def test_bad_in_and_between() -> None:
    p = only_problem({"disability.category": {"in": []}})
    assert (p.path, p.expected) == ("eligibility.disability.category.in", "a non-empty list")
    p = only_problem({"disability.category": {"not_in": 3}})
    assert p.expected == "a non-empty list"
    p = only_problem({"disability.category": {"in": [1, "two"]}})
    assert p.path == "eligibility.disability.category.in[1]"
    assert p.found == "'two'"
    p = only_problem({"age": {"between": [60]}})
    assert (p.path, p.expected, p.found) == ("eligibility.age.between", "a list of two bounds [low, high]", "[60]")
    p = only_problem({"age": {"between": [70, 60]}})
    assert (p.expected, p.found) == ("low <= high", "[70, 60]")
    p = only_problem({"martyr_family": {"between": [True, True]}})
    assert p.expected == "a number or date attribute for between"
    assert p.found == "'martyr_family (bool)'"
    p = only_problem({"age": {"between": [60, "x"]}})
    assert p.path == "eligibility.age.between[1]"


def test_bad_groups_registries_and_nesting() -> None:
    p = only_problem({"all": []})
    assert (p.path, p.expected, p.found) == ("eligibility.all", "a non-empty list of rules", "[]")
    p = only_problem({"any": {"age": {">=": 60}}})
    assert p.path == "eligibility.any"
    p = only_problem({"member_of": "golfers"})
    assert p.path == "eligibility.member_of"
    assert p.expected.startswith("one of the registries [")
    assert p.found == "'golfers'"
    p = only_problem({"not": {"all": [{"age": {">=": 60}}, {"nope": 1}]}})
    assert p.path == "eligibility.not.all[1]"
    deep: dict[str, Any] = {"age": {">=": 60}}
    for _ in range(MAX_DEPTH + 1):
        deep = {"not": deep}
    p = only_problem(deep)
    assert p.expected == f"rules nested at most {MAX_DEPTH} deep"
    ok: dict[str, Any] = {"age": {">=": 60}}
    for _ in range(MAX_DEPTH):
        ok = {"not": ok}
    assert parse_rule(ok)[1] == []


def test_every_problem_is_reported_not_just_the_first() -> None:
    rule, problems = parse_rule(
        {"all": [{"age": {">=": "old"}}, {"martyr_family": {"<": True}}, {"member_of": "golfers"}, {"age": {">=": 60}}]}
    )
    assert rule is None
    assert [p.path for p in problems] == [
        "eligibility.all[0].age.>=",
        "eligibility.all[1].martyr_family.<",
        "eligibility.all[2].member_of",
    ]


def test_subjects_do_not_mix() -> None:
    p = only_problem({"enterprise.employees": {"<": 50}})
    assert p.path == "eligibility.enterprise.employees"
    assert p.expected == "an attribute of a person"
    assert p.found == "'enterprise.employees (an attribute of a enterprise)'"
    p = only_problem({"age": {">=": 60}}, subject="enterprise")
    assert p.expected == "an attribute of a enterprise"
    assert "age (an attribute of a person)" in p.found
    p = only_problem({"member_of": "small_enterprises"})
    assert p.expected == "a registry of persons"
    assert "small_enterprises (a registry of enterprises)" in p.found
    p = only_problem({"member_of": "students"}, subject="enterprise")
    assert p.expected == "a registry of enterprises"


def test_custom_path_prefix_is_used() -> None:
    _, problems = parse_rule({"age": {">=": "x"}}, "versions[2].eligibility")
    assert problems[0].path == "versions[2].eligibility.age.>="


# --------------------------------------------------------------------------- age on a date


def test_age_on_a_date_counts_whole_years_from_the_birth_date() -> None:
    import datetime as _dt

    from verifier.rules.ast import AgeOn
    from verifier.rules.evaluate import compile_rule as _compile
    from verifier.rules.evaluate import explain as _explain
    from verifier.rules.parse import parse_rule as _parse

    rule, problems = _parse({"age_on": {"date": "2026-12-31", ">=": 80}})
    assert problems == [] and rule == AgeOn(_dt.date(2026, 12, 31), ">=", 80)
    test = _compile(rule)
    today = _dt.date(2026, 3, 1)
    assert test({"birth_date": _dt.date(1946, 12, 31)}, today) is True  # 80 on the day itself
    assert test({"birth_date": _dt.date(1947, 1, 1)}, today) is False
    assert test({}, today) is False  # no birth date: never true
    text = _explain(rule, {"birth_date": _dt.date(1947, 1, 1)}, today).text
    assert text == "age on 2026-12-31 79, needs ≥ 80"


def test_age_on_today_plus_days_and_parameters() -> None:
    import datetime as _dt

    from verifier.rules.evaluate import ParamValues
    from verifier.rules.evaluate import compile_rule as _compile
    from verifier.rules.parse import parse_rule as _parse

    rule, problems = _parse({"age_on": {"date": {"today": 30}, ">=": {"param": "min_age"}}})
    assert problems == []
    test = _compile(rule, {"min_age": ParamValues([(_dt.date.min, 60)])})
    born = _dt.date(1966, 6, 15)
    assert test({"birth_date": born}, _dt.date(2026, 5, 15)) is False  # 59 on 2026-06-14
    assert test({"birth_date": born}, _dt.date(2026, 5, 16)) is True  # 60 on 2026-06-15


def test_age_on_is_refused_in_malformed_shapes_and_at_gates() -> None:
    from verifier.catalogue import parse_policy as _parse_policy
    from verifier.rules.parse import parse_rule as _parse

    assert _parse({"age_on": {"date": "2026-12-31"}})[1][0].path == "eligibility.age_on"
    assert _parse({"age_on": {"date": "soon", ">=": 80}})[1][0].path == "eligibility.age_on.date"
    assert _parse({"age_on": {"date": "2026-12-31", ">=": "eighty"}})[1][0].path == "eligibility.age_on.>="
    policy = {
        "id": "x-age-on", "title": {"zh": "a", "en": "b"}, "lead_department": "d", "legal_basis": {"title": "t"},
        "delivery": "scan", "subject": "person", "status": "published", "region_scope": "everyone",
        "venues": {"types": ["park"]},
        "versions": [{"version": 1, "effective_from": "2024-01-01", "benefit": {"kind": "free_entry"},
                      "eligibility": {"age_on": {"date": "today", ">=": 65}}}],
    }  # fmt: skip
    problems = _parse_policy(policy)[1]
    assert [(p.path, p.found) for p in problems] == [("versions[0].eligibility", "'birth_date'")]
