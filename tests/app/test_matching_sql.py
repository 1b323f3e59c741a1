"""The SQL compiled from a rule selects exactly the subjects the per-subject evaluator accepts.

Random registries (with missing facts) and random rules over every construct; DuckDB runs the
compiled SQL over the real facts view, Python runs the compiled closures over the same rows.
The household and kin forms read the day's view over it (relation_sql) in SQL, and the facts
app.matching.relations derives in plain Python from the relation rows: random households
(members in two at once, members who died), addresses, kin graphs with cycles, self-relations
and relatives not in `persons`, marriages and martyrs, with records starting and ending at DAY.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.matching.relation_sql import make_day_view
from app.matching.relations import RelationIndex, index_of
from app.matching.sql import compile_sql, compile_with_needs
from tests.support.registries import (
    DAY,
    ENTERPRISE_INDUSTRIES,
    REGIONS,
    facts_on_day,
    random_enterprise_registries,
    random_registries,
)
from verifier.rules.ast import (
    AgeOn,
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
    Rule,
    Today,
)
from verifier.rules.attributes import ATTRIBUTES, BOOL, DATE, INT, REGISTRIES, RELATED_REGISTRIES, RELATION_WORDS, TEXT
from verifier.rules.evaluate import ParamValues, compile_rule, years_between

PARAMS = {"p": ParamValues([(dt.date.min, 65)])}
INT_VALUES = {
    "age": (0, 105),
    "disability.category": (1, 7),
    "disability.grade": (1, 4),
    "student.level": (1, 6),
    "residence.region": (310000, 340000),
    "hukou.region": (310000, 340000),
    "income.monthly": (0, 6000),
    "household.size": (0, 6),
    "household.per_capita_income": (0, 6000),
}


_PERSON_ATTRS = [a for a in ATTRIBUTES.values() if a.subject == "person" and a.name != "birth_date"]


def _value(attr: str) -> st.SearchStrategy[Any]:
    kind = ATTRIBUTES[attr].kind
    if kind == INT:
        low, high = INT_VALUES[attr]
        literal = st.sampled_from(REGIONS) if "region" in attr else st.integers(low, high)
        return literal | st.just(Param("p")) if attr == "age" else literal
    if kind == DATE:
        return st.dates(dt.date(2024, 1, 1), dt.date(2029, 1, 1)) | st.builds(Today, st.integers(-400, 400))
    assert kind == BOOL
    return st.booleans()


@st.composite
def _where(draw: st.DrawFn, registry: str) -> Rule | None:
    """A `related_to` where: one or two comparisons of the registry's columns, or none."""
    columns = RELATED_REGISTRIES[registry]
    if not columns or draw(st.booleans()):
        return None
    parts = []
    for _ in range(draw(st.integers(1, 2))):
        attr = columns[draw(st.sampled_from(sorted(columns)))]
        parts.append(Compare(attr, draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="])), draw(_value(attr))))
    return parts[0] if len(parts) == 1 else draw(st.sampled_from([All, Any_]))(tuple(parts))


@st.composite
def _leaf(draw: st.DrawFn) -> Rule:
    form = draw(st.sampled_from(["compare", "in", "between", "member", "age_on", "members_aged", "related_to"]))
    if form == "members_aged":
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return MembersAged(draw(st.integers(0, 100)), op, draw(st.integers(0, 4)))
    if form == "related_to":
        registry = draw(st.sampled_from(sorted(RELATED_REGISTRIES)))
        relations = draw(st.lists(st.sampled_from(sorted(RELATION_WORDS)), min_size=1, max_size=3, unique=True))
        return RelatedTo(registry, tuple(relations), draw(_where(registry)))
    if form == "member":
        return Member(draw(st.sampled_from([r for r, (s, _) in REGISTRIES.items() if s == "person"])))
    if form == "age_on":
        on = draw(st.dates(dt.date(2026, 1, 1), dt.date(2027, 12, 31)) | st.builds(Today, st.integers(-30, 400)))
        return AgeOn(on, draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="])), draw(st.integers(50, 90)))
    attribute = draw(st.sampled_from(_PERSON_ATTRS))
    attr, kind = attribute.name, attribute.kind
    if form == "between" and kind in (INT, DATE) and attr != "age":
        low, high = sorted([draw(_value(attr)) for _ in range(2)], key=lambda v: (str(type(v)), str(v)))
        if type(low) is type(high) and not isinstance(low, Today) and low > high:
            low, high = high, low
        return Between(attr, low, high)
    if form == "in":
        return In(attr, tuple(draw(st.lists(_value(attr), min_size=1, max_size=3))), draw(st.booleans()))
    ops = ["==", "!="] if kind == BOOL else ["==", "!=", "<", "<=", ">", ">="]
    return Compare(attr, draw(st.sampled_from(ops)), draw(_value(attr)))


RULES = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.builds(Not, inner),
        st.builds(lambda rs: All(tuple(rs)), st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda rs: Any_(tuple(rs)), st.lists(inner, min_size=1, max_size=3)),
    ),
    max_leaves=6,
)


Registry = tuple[duckdb.DuckDBPyConnection, list[dict[str, Any]], RelationIndex]


@pytest.fixture(scope="module")
def registry() -> Registry:
    con = random_registries(seed=7, bad_relations=True)  # cycles and self-relations too: SQL reads them as they are
    cursor = con.execute("SELECT * FROM person_facts")
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    return con, rows, index_of(con, DAY)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule=RULES)
def test_sql_selects_exactly_what_the_evaluator_accepts(registry: Registry, rule: Rule) -> None:
    con, rows, index = registry
    sql, needs = compile_with_needs(rule, DAY, PARAMS)
    view = make_day_view(con, needs, DAY)
    by_sql = {r[0] for r in con.execute(f"SELECT subject FROM {view} WHERE {sql}").fetchall()}
    test = compile_rule(rule, PARAMS)
    by_python = {
        row["subject"] for row in rows if test({**facts_on_day(row), **index.facts_for(row["subject"], DAY)}, DAY)
    }
    assert by_sql == by_python, sql


def test_the_random_relations_exercise_every_household_and_kin_case(registry: Registry) -> None:
    _, rows, index = registry
    facts = [index.facts_for(row["subject"], DAY) for row in rows]
    sizes = {f.get("household.size") for f in facts}
    assert {None, 1, 2, 3} <= sizes  # no household on the day, and households of several sizes
    assert any("household.size" in f and "household.per_capita_income" not in f for f in facts)  # income unknown
    assert any("household.per_capita_income" in f for f in facts)
    assert {True, False} <= {f.get("lives_alone") for f in facts} and any("lives_alone" not in f for f in facts)
    kin = [k for f in facts for k in f["kin"]]
    assert any(k["registry:martyrs"] for _, k in kin) and any(not k["registry:persons"] for _, k in kin)
    assert any(k.get("registry:disabled_persons") for _, k in kin)
    assert {r for r, _ in kin} == set(RELATION_WORDS)


def test_the_random_registries_exercise_missing_facts_and_every_registry(registry: Registry) -> None:
    _, rows, _ = registry
    assert 200 <= len(rows) < 240  # the dead are not in the facts view
    assert any(r["disability_category"] is None for r in rows) and any(r["disability_category"] for r in rows)
    assert any(r["income_monthly"] is None for r in rows) and any(r["martyr_family"] for r in rows)
    assert any(r["birth_date"] == dt.date(1960, 2, 29) for r in rows)


def test_leap_day_birthdays_and_birthdays_today_agree() -> None:
    con = duckdb.connect()
    for born, on in [(dt.date(1960, 2, 29), dt.date(2026, 2, 28)), (dt.date(1960, 2, 29), dt.date(2026, 3, 1)),
                     (dt.date(1961, 11, 26), DAY), (dt.date(1961, 11, 27), DAY)]:  # fmt: skip
        sql = compile_sql(AgeOn(on, ">=", 65), DAY).replace("birth_date", f"DATE '{born.isoformat()}'")
        assert con.execute(f"SELECT {sql}").fetchone()[0] == (years_between(born, on) >= 65)  # type: ignore[index]


# -- enterprises (issue 15): 守信 (enterprise.credit_good) beside the 失信受限 exclusion ---------------------------

ENTERPRISE_INTS = {
    "enterprise.employees": (0, 2000),
    "enterprise.insured_employees": (0, 2000),
    "enterprise.layoff_rate_pct": (0, 30),
    "enterprise.annual_revenue": (0, 10**8),
    "enterprise.region": (310000, 340000),
}
_ENTERPRISE_ATTRS = [a for a in ATTRIBUTES.values() if a.subject == "enterprise"]


def _enterprise_value(attr: str) -> st.SearchStrategy[Any]:
    kind = ATTRIBUTES[attr].kind
    if kind == INT:
        low, high = ENTERPRISE_INTS[attr]
        return st.sampled_from(REGIONS) if "region" in attr else st.integers(low, high)
    if kind == DATE:
        return st.dates(dt.date(2015, 1, 1), dt.date(2027, 1, 1)) | st.builds(Today, st.integers(-4000, 10))
    if kind == TEXT:
        return st.sampled_from([*ENTERPRISE_INDUSTRIES, "finance"])
    assert kind == BOOL
    return st.booleans()


@st.composite
def _enterprise_leaf(draw: st.DrawFn) -> Rule:
    if draw(st.integers(0, 5)) == 0:
        return Member("small_enterprises")
    attribute = draw(st.sampled_from(_ENTERPRISE_ATTRS))
    attr, kind = attribute.name, attribute.kind
    if kind == BOOL:
        return Compare(attr, draw(st.sampled_from(["==", "!="])), draw(st.booleans()))
    if kind == TEXT or draw(st.booleans()):
        return In(attr, tuple(draw(st.lists(_enterprise_value(attr), min_size=1, max_size=3))), draw(st.booleans()))
    return Compare(attr, draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="])), draw(_enterprise_value(attr)))


ENTERPRISE_RULES = st.recursive(
    _enterprise_leaf(),
    lambda inner: st.one_of(
        st.builds(Not, inner),
        st.builds(lambda rs: All(tuple(rs)), st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda rs: Any_(tuple(rs)), st.lists(inner, min_size=1, max_size=3)),
    ),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def enterprises() -> tuple[duckdb.DuckDBPyConnection, list[dict[str, Any]]]:
    con = random_enterprise_registries(seed=11)
    cursor = con.execute("SELECT * FROM enterprise_facts")
    names = [d[0] for d in cursor.description]
    return con, [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule=ENTERPRISE_RULES)
def test_sql_selects_exactly_the_enterprises_the_evaluator_accepts(
    enterprises: tuple[duckdb.DuckDBPyConnection, list[dict[str, Any]]], rule: Rule
) -> None:
    con, rows = enterprises
    sql = compile_sql(rule, DAY, PARAMS)
    by_sql = {r[0] for r in con.execute(f"SELECT subject FROM enterprise_facts WHERE {sql}").fetchall()}
    test = compile_rule(rule, PARAMS)
    by_python = {row["subject"] for row in rows if test(facts_on_day(row), DAY)}
    assert by_sql == by_python, sql


def test_credit_good_is_an_a_level_taxpayer_with_no_blacklist_entry_in_sql_and_in_the_evaluator(
    enterprises: tuple[duckdb.DuckDBPyConnection, list[dict[str, Any]]],
) -> None:
    con, rows = enterprises
    level = dict(con.execute("SELECT credit_code, level FROM tax_credit_ratings").fetchall())
    listed = {r[0] for r in con.execute("SELECT credit_code FROM enterprise_blacklist").fetchall()}
    expected = {s for s in (r["subject"] for r in rows) if level.get(s) == "A" and s not in listed}
    good = Compare("enterprise.credit_good", "==", True)
    query = f"SELECT subject FROM enterprise_facts WHERE {compile_sql(good, DAY)}"
    by_sql = {r[0] for r in con.execute(query).fetchall()}
    test = compile_rule(good)
    assert by_sql == expected == {row["subject"] for row in rows if test(facts_on_day(row), DAY)}
    # every kind of enterprise is there: A-level and listed, A-level and clean, unrated, lower levels
    assert any(level.get(s) == "A" and s in listed for s in level) and len(expected) >= 20
    assert any(r["subject"] not in level for r in rows) and {"B", "M", "C", "D"} <= set(level.values())
    # 失信受限 stays its own exclusion: a blacklisted enterprise is never credit-good, whatever its rating
    excluded = compile_sql(Not(Compare("enterprise.credit.blacklisted", "==", True)), DAY)
    clean = {r[0] for r in con.execute(f"SELECT subject FROM enterprise_facts WHERE {excluded}").fetchall()}
    assert expected <= clean and not (expected & listed)
