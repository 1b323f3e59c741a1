"""The rule AST compiled to SQL: the bulk evaluator, for DuckDB here and Spark SQL at national scale.

It must agree with the per-subject evaluator (verifier.rules.evaluate) on every row, so it
keeps that evaluator's meaning of a missing fact: every atomic test on a NULL is false (never
NULL), which makes NOT and OR behave the same in both. Parameters and `today` are bound to
the decision date as literals; whole years of age are counted as the evaluator counts them, and
facts that hold only until a date (a disability, while its certificate is valid) are read as
they hold on the decision date (registries.held_sql), as the evaluator's facts are.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any, NamedTuple

from app.matching.registries import column_of, held_sql
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
    Value,
)
from verifier.rules.evaluate import ParamValues

# Attributes a run derives for the day from the relation registries: their columns are not in
# person_facts but in the day's view over it (app.matching.relation_sql), which a compiler asks for.
HOUSEHOLD_COLUMNS = frozenset({"household_size", "household_per_capita_income"})
ALONE_COLUMN = "lives_alone"


class Related(NamedTuple):
    """A `related_to` test bound for the day: its column, and the SQL the day's view computes it with."""

    column: str
    registry: str
    relations: tuple[str, ...]
    where: str  # a SQL condition over the relative's person_facts row; TRUE when the rule has no where


class Needs(NamedTuple):
    """What the compiled rules read beyond person_facts (all empty: nothing to derive)."""

    household: bool
    ages: frozenset[int]
    alone: bool
    related: tuple[Related, ...]


_SQL_OPS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def years_sql(born: str, on: str) -> str:
    """Whole years from `born` to `on`; a birthday counts on the day itself (29 February: 1 March)."""
    return (
        f"(year({on}) - year({born}) - CASE WHEN month({on}) * 100 + day({on}) "
        f"< month({born}) * 100 + day({born}) THEN 1 ELSE 0 END)"
    )


class SqlCompiler:
    """Compiles rules for one decision date and one version's parameters."""

    def __init__(
        self, day: dt.date, params: Mapping[str, ParamValues] | None = None, unknown: frozenset[str] = frozenset()
    ) -> None:
        self.day = day
        self.params = params or {}
        # Attributes whose NULL means "not known": their tests stay NULL (three-valued), so a rule
        # that only an unknown fact decides comes out NULL rather than false.
        self.unknown = unknown
        self.household = self.alone = False
        self.ages: set[int] = set()
        self.related: dict[str, Related] = {}

    @property
    def needs(self) -> Needs:
        return Needs(self.household, frozenset(self.ages), self.alone, tuple(self.related.values()))

    def _atom(self, attribute: str, test: str) -> str:
        return test if attribute in self.unknown else f"COALESCE({test}, FALSE)"

    def value(self, value: Value) -> str:
        if isinstance(value, Param):
            return literal(self.params[value.name].on(self.day))
        if isinstance(value, Today):
            return literal(self.day + dt.timedelta(days=value.offset_days))
        return literal(value)

    def column(self, attribute: str) -> str:
        if attribute == "age":
            return years_sql("birth_date", literal(self.day))
        column = column_of(attribute)
        self.household |= column in HOUSEHOLD_COLUMNS
        self.alone |= column == ALONE_COLUMN
        return held_sql(column, literal(self.day))

    def members_aged(self, rule: MembersAged) -> str:
        age = self.value(rule.age)
        self.household = True
        self.ages.add(int(age))
        return f"COALESCE({aged_column(int(age))} {_SQL_OPS[rule.op]} {self.value(rule.number)}, FALSE)"

    def related_to(self, rule: RelatedTo) -> str:
        where = SqlCompiler(self.day, self.params).rule(rule.where) if rule.where is not None else "TRUE"
        key = hashlib.sha256(repr((rule.registry, rule.relations, where)).encode()).hexdigest()[:12]
        related = Related(f"related_{key}", rule.registry, rule.relations, where)
        self.related[related.column] = related
        return f"COALESCE({related.column}, FALSE)"

    def rule(self, rule: Rule) -> str:
        if isinstance(rule, Compare):
            return self._atom(rule.attr, f"{self.column(rule.attr)} {_SQL_OPS[rule.op]} {self.value(rule.value)}")
        if isinstance(rule, AgeOn):
            years = years_sql("birth_date", self.value(rule.on))
            return f"COALESCE({years} {_SQL_OPS[rule.op]} {self.value(rule.bound)}, FALSE)"
        if isinstance(rule, In):
            values = ", ".join(self.value(v) for v in rule.values)
            verb = "NOT IN" if rule.negate else "IN"
            return self._atom(rule.attr, f"{self.column(rule.attr)} {verb} ({values})")
        if isinstance(rule, Between):
            column = self.column(rule.attr)
            return self._atom(rule.attr, f"{column} BETWEEN {self.value(rule.low)} AND {self.value(rule.high)}")
        if isinstance(rule, Member):
            return f"COALESCE({held_sql(f'in_{rule.registry}', literal(self.day))}, FALSE)"
        if isinstance(rule, MembersAged):
            return self.members_aged(rule)
        if isinstance(rule, RelatedTo):
            return self.related_to(rule)
        if isinstance(rule, Not):
            return f"(NOT {self.rule(rule.rule)})"
        joiner = " AND " if isinstance(rule, All) else " OR "
        assert isinstance(rule, (All, Any_))
        return "(" + joiner.join(self.rule(r) for r in rule.rules) + ")"


def aged_column(age: int) -> str:
    """The day view's count of household members `age` or older."""
    return f"household_members_aged_over_{age}" if age >= 0 else f"household_members_aged_over_minus_{-age}"


def compile_sql(
    rule: Rule, day: dt.date, params: Mapping[str, ParamValues] | None = None, unknown: frozenset[str] = frozenset()
) -> str:
    """A SQL boolean expression over a facts view (person_facts or enterprise_facts).

    With `unknown`, tests on those attributes are left three-valued (see SqlCompiler).
    """
    return SqlCompiler(day, params, unknown).rule(rule)


def compile_with_needs(
    rule: Rule, day: dt.date, params: Mapping[str, ParamValues] | None = None, unknown: frozenset[str] = frozenset()
) -> tuple[str, Needs]:
    """compile_sql, and what the expression reads beyond person_facts (see app.matching.relation_sql)."""
    compiler = SqlCompiler(day, params, unknown)
    return compiler.rule(rule), compiler.needs


def merge_needs(needs: list[Needs]) -> Needs:
    related = {r.column: r for n in needs for r in n.related}
    return Needs(
        any(n.household for n in needs),
        frozenset().union(*(n.ages for n in needs)),
        any(n.alone for n in needs),
        tuple(related[c] for c in sorted(related)),
    )
