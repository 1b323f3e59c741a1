"""Per-subject evaluation: rules compiled once into closures, and explanations in words.

`compile_rule` runs when a catalogue loads: parameters are bound, attribute look-ups and
operators are chosen, so a scan pays only for the comparisons themselves. `explain` walks the
same AST to say which clauses held and which failed, with the values compared.

Facts are a mapping from attribute name to value; a missing attribute is absent (never
true). At a gate `age` is an AgeBand: the code carries only the highest threshold reached.
The relation forms read two facts a matching run derives for the day (app.matching.relations):
MEMBER_BIRTHS, the birth dates of the household's living members, and KIN, the subject's
relatives as (relation, the relative's own facts) pairs.
"""

from __future__ import annotations

import bisect
import datetime as dt
import operator
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

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
from verifier.rules.attributes import ATTRIBUTES, REGISTRIES, REGISTRY_WORDS, RELATED_REGISTRY_WORDS, RELATION_WORDS

MEMBER_BIRTHS = "household.member_births"  # tuple of dates; absent when the subject has no household on the day
KIN = "kin"  # tuple of (relation, facts of the relative); a relative's facts say which registries hold them
# Which of a relative's facts says that a `related_to` registry holds them on the day.
RELATED_MEMBERSHIP = {
    "martyrs": "registry:martyrs",
    "disability": "registry:disabled_persons",
    "students": "registry:students",
    "persons": "registry:persons",
}

Facts = Mapping[str, Any]
Test = Callable[[Facts, dt.date], bool]

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_SYMBOLS = {"==": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥"}


class AgeBand(NamedTuple):
    """Age known only as a band [low, high): what an `age_over` code tells a gate."""

    low: int
    high: int | None

    def compare(self, op: str, bound: int) -> bool:
        """True only when every age in the band satisfies `age OP bound`."""
        top = self.high - 1 if self.high is not None else None  # highest age in the band
        if op == ">=":
            return self.low >= bound
        if op == ">":
            return self.low > bound
        if op == "<":
            return top is not None and top < bound
        if op == "<=":
            return top is not None and top <= bound
        if op == "==":
            return top == self.low == bound
        return not (self.low <= bound and (top is None or bound <= top))  # "!=": bound outside the band

    def __str__(self) -> str:
        return f"at least {self.low}" if self.high is None else f"{self.low}-{self.high - 1}"


class ParamValues:
    """A parameter's value on a date: one value, or dated values [(from, value), ...] in order."""

    __slots__ = ("starts", "values")

    def __init__(self, dated: list[tuple[dt.date, Any]]) -> None:
        self.starts = [start for start, _ in dated]
        self.values = [value for _, value in dated]

    def on(self, day: dt.date) -> Any:
        i = bisect.bisect_right(self.starts, day) - 1
        if i < 0:
            raise LookupError(f"no value before {self.starts[0]}")
        return self.values[i]


Params = Mapping[str, ParamValues]


def _resolver(value: Value, params: Params) -> Callable[[dt.date], Any]:
    if isinstance(value, Param):
        dated = params[value.name]
        if len(dated.values) == 1:
            constant = dated.values[0]
            return lambda day: constant
        return dated.on
    if isinstance(value, Today):
        offset = dt.timedelta(days=value.offset_days)
        return lambda day: day + offset
    return lambda day: value


def _constant(value: Value, params: Params) -> tuple[bool, Any]:
    """(True, value) when the value does not depend on the date."""
    if isinstance(value, Today):
        return False, None
    if isinstance(value, Param):
        dated = params[value.name]
        return (True, dated.values[0]) if len(dated.values) == 1 else (False, None)
    return True, value


def years_between(born: dt.date, on: dt.date) -> int:
    """Whole years from a birth date to a date (a birthday counts on the day itself)."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _band_test(op: str, bound: int) -> Callable[[AgeBand], bool]:
    """AgeBand.compare with the operator chosen once, for the common gate comparisons."""
    if op == ">=":
        return lambda band: band.low >= bound
    if op == "<":
        return lambda band: band.high is not None and band.high <= bound
    return lambda band: band.compare(op, bound)


def _compare(have: Any, op: str, bound: Any) -> bool:
    if have is None:
        return False
    if type(have) is AgeBand:
        return have.compare(op, bound)
    return _OPS[op](have, bound)


def compile_rule(rule: Rule, params: Params | None = None) -> Test:
    """A closure `(facts, today) -> bool` for the rule, with parameters bound."""
    params = params or {}
    if isinstance(rule, Compare):
        attr, op = rule.attr, rule.op
        fixed, bound = _constant(rule.value, params)
        if fixed:
            native = _OPS[op]
            if attr == "age":
                band_test = _band_test(op, bound)

                def compare_age(facts: Facts, day: dt.date) -> bool:
                    have = facts.get("age")
                    if type(have) is AgeBand:
                        return band_test(have)
                    return have is not None and native(have, bound)

                return compare_age

            def compare_fixed(facts: Facts, day: dt.date) -> bool:
                have = facts.get(attr)
                return have is not None and native(have, bound)

            return compare_fixed
        resolve = _resolver(rule.value, params)
        return lambda facts, day: _compare(facts.get(attr), op, resolve(day))
    if isinstance(rule, AgeOn):
        on, bound, native = _resolver(rule.on, params), _resolver(rule.bound, params), _OPS[rule.op]

        def age_on(facts: Facts, day: dt.date) -> bool:
            born = facts.get("birth_date")
            return born is not None and native(years_between(born, on(day)), bound(day))

        return age_on
    if isinstance(rule, In):
        attr, negate = rule.attr, rule.negate
        resolvers = [_resolver(v, params) for v in rule.values]
        if all(_constant(v, params)[0] for v in rule.values):
            members = frozenset(r(dt.date.min) for r in resolvers)

            def in_fixed(facts: Facts, day: dt.date) -> bool:
                have = facts.get(attr)
                return have is not None and ((have in members) != negate)

            return in_fixed

        def in_dated(facts: Facts, day: dt.date) -> bool:
            have = facts.get(attr)
            return have is not None and ((have in {r(day) for r in resolvers}) != negate)

        return in_dated
    if isinstance(rule, Between):
        attr = rule.attr
        low, high = _resolver(rule.low, params), _resolver(rule.high, params)
        return lambda facts, day: (
            _compare(facts.get(attr), ">=", low(day)) and _compare(facts.get(attr), "<=", high(day))
        )
    if isinstance(rule, Member):
        registry = rule.registry
        gate_attr = REGISTRIES[registry][1]

        def member(facts: Facts, day: dt.date) -> bool:
            return bool(facts.get(f"registry:{registry}")) or (
                gate_attr is not None and facts.get(gate_attr) not in (None, False)
            )

        return member
    if isinstance(rule, MembersAged):
        age, count, counted = _resolver(rule.age, params), _resolver(rule.number, params), _OPS[rule.op]

        def members_aged(facts: Facts, day: dt.date) -> bool:
            births = facts.get(MEMBER_BIRTHS)
            return births is not None and counted(_aged(births, age(day), day), count(day))

        return members_aged
    if isinstance(rule, RelatedTo):
        found = _relative_test(rule, params)
        return lambda facts, day: found(facts, day) is not None
    if isinstance(rule, Not):
        inner = compile_rule(rule.rule, params)
        return lambda facts, day: not inner(facts, day)
    parts = tuple(compile_rule(r, params) for r in rule.rules)
    if len(parts) == 1:
        return parts[0]
    if isinstance(rule, All):
        if len(parts) == 2:
            first, second = parts
            return lambda facts, day: first(facts, day) and second(facts, day)

        def all_of(facts: Facts, day: dt.date) -> bool:  # a loop: a generator costs ~0.5 µs a call
            for part in parts:  # noqa: SIM110
                if not part(facts, day):
                    return False
            return True

        return all_of
    assert isinstance(rule, Any_)
    if len(parts) == 2:
        first, second = parts
        return lambda facts, day: first(facts, day) or second(facts, day)

    def any_of(facts: Facts, day: dt.date) -> bool:  # a loop, as in all_of
        for part in parts:  # noqa: SIM110
            if part(facts, day):
                return True
        return False

    return any_of


def _aged(births: tuple[dt.date, ...], age: int, day: dt.date) -> int:
    return sum(1 for born in births if years_between(born, day) >= age)


def _relative_test(rule: RelatedTo, params: Params) -> Callable[[Facts, dt.date], Facts | None]:
    """The first relative (their facts) that the rule finds, or None."""
    relations, membership = frozenset(rule.relations), RELATED_MEMBERSHIP[rule.registry]
    where = compile_rule(rule.where, params) if rule.where is not None else None

    def first(facts: Facts, day: dt.date) -> Facts | None:
        for relation, kin in facts.get(KIN, ()):
            if relation in relations and kin.get(membership) and (where is None or where(kin, day)):
                return kin  # type: ignore[no-any-return]
        return None

    return first


def relations_words(relations: tuple[str, ...]) -> tuple[str, str]:
    """(Chinese, English) for a list of relations: "配偶、父母或子女", "spouse, parent or child"."""
    zh = [RELATION_WORDS[r][0] for r in relations]
    en = [RELATION_WORDS[r][1] for r in relations]
    if len(relations) == 1:
        return zh[0], en[0]
    return "、".join(zh[:-1]) + "或" + zh[-1], ", ".join(en[:-1]) + " or " + en[-1]


class Explanation(NamedTuple):
    """A clause, whether it held, and its words in Chinese (`zh`, the pages' first language) and English."""

    held: bool
    text: str
    parts: tuple[Explanation, ...] = ()
    zh: str = ""

    def lines(self, indent: int = 0, lang: str = "en") -> list[str]:
        mark = "✓" if self.held else "✗"
        out = [f"{'  ' * indent}{mark} {self.zh if lang == 'zh' else self.text}"]
        for part in self.parts:
            out.extend(part.lines(indent + 1, lang))
        return out


def _show(value: Any) -> str:
    if value is None:
        return "not known"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _show_zh(value: Any) -> str:
    if value is None:
        return "未知"
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def _said(held: bool, en: str, zh: str, parts: tuple[Explanation, ...] = ()) -> Explanation:
    return Explanation(held, en, parts, zh)


def explain(rule: Rule, facts: Facts, day: dt.date, params: Params | None = None) -> Explanation:
    """Which clauses held and which failed, with the values compared, in Chinese and English."""
    params = params or {}
    if isinstance(rule, Compare):
        have, bound = facts.get(rule.attr), _resolver(rule.value, params)(day)
        a, sym = ATTRIBUTES[rule.attr], _SYMBOLS[rule.op]
        held = _compare(have, rule.op, bound)
        return _said(held, f"{a.words} {_show(have)}, needs {sym} {_show(bound)}",
                     f"{a.words_zh} {_show_zh(have)}，需 {sym} {_show_zh(bound)}")  # fmt: skip
    if isinstance(rule, AgeOn):
        born, on = facts.get("birth_date"), _resolver(rule.on, params)(day)
        bound = _resolver(rule.bound, params)(day)
        age = years_between(born, on) if born is not None else None
        held = age is not None and _OPS[rule.op](age, bound)
        sym = _SYMBOLS[rule.op]
        return _said(held, f"age on {on} {_show(age)}, needs {sym} {bound}",
                     f"{on} 时年龄 {_show_zh(age)}，需 {sym} {bound}")  # fmt: skip
    if isinstance(rule, In):
        have = facts.get(rule.attr)
        values = [_resolver(v, params)(day) for v in rule.values]
        held = have is not None and ((have in values) != rule.negate)
        a = ATTRIBUTES[rule.attr]
        verb, verb_zh = ("not one of", "不为") if rule.negate else ("one of", "为")
        return _said(held, f"{a.words} {_show(have)}, needs {verb} {values}",
                     f"{a.words_zh} {_show_zh(have)}，需{verb_zh} {values} 之一")  # fmt: skip
    if isinstance(rule, Between):
        have = facts.get(rule.attr)
        low, high = _resolver(rule.low, params)(day), _resolver(rule.high, params)(day)
        held = _compare(have, ">=", low) and _compare(have, "<=", high)
        a = ATTRIBUTES[rule.attr]
        return _said(held, f"{a.words} {_show(have)}, needs {low} to {high}",
                     f"{a.words_zh} {_show_zh(have)}，需在 {low} 至 {high} 之间")  # fmt: skip
    if isinstance(rule, Member):
        held = compile_rule(rule, params)(facts, day)
        registry_zh = REGISTRY_WORDS[rule.registry][0]
        return _said(held, f"{'in' if held else 'not in'} the {rule.registry.replace('_', ' ')} registry",
                     f"{'已列入' if held else '未列入'}{registry_zh}名册")  # fmt: skip
    if isinstance(rule, MembersAged):
        births = facts.get(MEMBER_BIRTHS)
        age, count = _resolver(rule.age, params)(day), _resolver(rule.number, params)(day)
        have = _aged(births, age, day) if births is not None else None
        held = have is not None and _OPS[rule.op](have, count)
        sym = _SYMBOLS[rule.op]
        return _said(held, f"household members aged {age} or over: {_show(have)}, needs {sym} {count}",
                     f"户内年满 {age} 周岁的成员 {_show_zh(have)} 人，需 {sym} {count}")  # fmt: skip
    if isinstance(rule, RelatedTo):
        kin = _relative_test(rule, params)(facts, day)
        whom_zh, whom_en = relations_words(rule.relations)
        what_zh, what_en = RELATED_REGISTRY_WORDS[rule.registry]
        parts: tuple[Explanation, ...] = ()
        if kin is not None and rule.where is not None:
            parts = (explain(rule.where, kin, day, params),)
        if kin is not None:
            return _said(True, f"a {whom_en} is {what_en}" + (":" if parts else ""),
                         f"{whom_zh}中有{what_zh}" + ("：" if parts else ""), parts)  # fmt: skip
        such = "（且符合条件）" if rule.where is not None else ""
        return _said(False, f"no {whom_en} is {what_en}" + (" as required" if rule.where is not None else ""),
                     f"{whom_zh}中没有{what_zh}{such}")  # fmt: skip
    if isinstance(rule, Not):
        inner = explain(rule.rule, facts, day, params)
        return _said(not inner.held, "must not hold:", "不得满足：", (inner,))
    parts = tuple(explain(r, facts, day, params) for r in rule.rules)
    if isinstance(rule, All):
        return _said(all(p.held for p in parts), "all of:", "须全部满足：", parts)
    return _said(any(p.held for p in parts), "any of:", "须满足其一：", parts)
