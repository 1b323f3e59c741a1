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
from collections.abc import Mapping
from typing import Any

from app.matching.registries import column_of, held_sql
from verifier.rules.ast import AgeOn, All, Any_, Between, Compare, In, Member, Not, Param, Rule, Today, Value
from verifier.rules.evaluate import ParamValues

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
        return held_sql(column_of(attribute), literal(self.day))

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
        if isinstance(rule, Not):
            return f"(NOT {self.rule(rule.rule)})"
        joiner = " AND " if isinstance(rule, All) else " OR "
        assert isinstance(rule, (All, Any_))
        return "(" + joiner.join(self.rule(r) for r in rule.rules) + ")"


def compile_sql(
    rule: Rule, day: dt.date, params: Mapping[str, ParamValues] | None = None, unknown: frozenset[str] = frozenset()
) -> str:
    """A SQL boolean expression over a facts view (person_facts or enterprise_facts).

    With `unknown`, tests on those attributes are left three-valued (see SqlCompiler).
    """
    return SqlCompiler(day, params, unknown).rule(rule)
