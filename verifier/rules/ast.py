"""The rule AST: the single source of truth both evaluators compile from."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple, Union

COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")


class Param(NamedTuple):
    """A named parameter of the policy version, bound when the catalogue is compiled."""

    name: str


class Today(NamedTuple):
    """The decision date plus an offset in days ("enrolled until >= today")."""

    offset_days: int = 0


Literal = Union[int, bool, str, dt.date]
Value = Union[Literal, Param, Today]


class Compare(NamedTuple):
    attr: str
    op: str
    value: Value


class AgeOn(NamedTuple):
    """Age in whole years on a date ("80 or older on 31 December"): needs a birth date."""

    on: Value
    op: str
    bound: Value


class In(NamedTuple):
    attr: str
    values: tuple[Value, ...]
    negate: bool = False


class Between(NamedTuple):
    attr: str
    low: Value
    high: Value


class Member(NamedTuple):
    registry: str


class MembersAged(NamedTuple):
    """How many members of the subject's household on the day (the subject too) are `age` or older."""

    age: Value
    op: str
    number: Value  # how many members the comparison needs


class RelatedTo(NamedTuple):
    """A relative (kinship, or a marriage in force on the day) in a registry, optionally one that
    satisfies `where` (a rule over that registry's columns, read as the relative's facts)."""

    registry: str
    relations: tuple[str, ...]
    where: Rule | None = None


class All(NamedTuple):
    rules: tuple[Rule, ...]


class Any_(NamedTuple):
    rules: tuple[Rule, ...]


class Not(NamedTuple):
    rule: Rule


Rule = Union[Compare, AgeOn, In, Between, Member, MembersAged, RelatedTo, All, Any_, Not]

# Facts a matching run derives from the relation registries (households, kinship, marriages,
# addresses, martyrs) for the day: registry-only, never at a gate. The two forms that are not a
# plain attribute are read as these names.
MEMBERS_AGED = "household.members_aged_over"
RELATED_TO = "related_to"


def attributes_read(rule: Rule) -> set[str]:
    """Every attribute a rule reads (registries count as the attribute that stands for them)."""
    from verifier.rules.attributes import REGISTRIES

    if isinstance(rule, (Compare, In, Between)):
        return {rule.attr}
    if isinstance(rule, AgeOn):
        return {"birth_date"}
    if isinstance(rule, Member):
        gate_attr = REGISTRIES[rule.registry][1]
        return {gate_attr} if gate_attr else {f"registry:{rule.registry}"}
    if isinstance(rule, MembersAged):
        return {MEMBERS_AGED}
    if isinstance(rule, RelatedTo):
        return {RELATED_TO}  # `where` reads the relative's facts, not the subject's
    if isinstance(rule, Not):
        return attributes_read(rule.rule)
    return set().union(*(attributes_read(r) for r in rule.rules))


def params_read(rule: Rule) -> set[str]:
    if isinstance(rule, Compare):
        return {rule.value.name} if isinstance(rule.value, Param) else set()
    if isinstance(rule, AgeOn):
        return {v.name for v in (rule.on, rule.bound) if isinstance(v, Param)}
    if isinstance(rule, In):
        return {v.name for v in rule.values if isinstance(v, Param)}
    if isinstance(rule, Between):
        return {v.name for v in (rule.low, rule.high) if isinstance(v, Param)}
    if isinstance(rule, Member):
        return set()
    if isinstance(rule, MembersAged):
        return {v.name for v in (rule.age, rule.number) if isinstance(v, Param)}
    if isinstance(rule, RelatedTo):
        return params_read(rule.where) if rule.where is not None else set()
    if isinstance(rule, Not):
        return params_read(rule.rule)
    return set().union(*(params_read(r) for r in rule.rules))
