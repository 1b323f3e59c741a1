"""Plain data (from YAML or JSON) to the rule AST, with every error located and explained.

Forms, each a one-key mapping so a department officer can read them:
  all: [rule, ...]            any: [rule, ...]            not: rule
  member_of: REGISTRY
  ATTRIBUTE: {OP: VALUE}      OP is one of == != < <= > >= in not_in between
  age_on: {date: DATE, OP: N}  age in whole years on a date (from the birth date; not at gates)
  household.members_aged_over: {age: N, OP: M}   household members (the subject too) N or older
  related_to: {registry: R, relations: [spouse, ...], where: rule}   a relative in registry R,
      `where` testing R's own columns (the relation forms are read from the relation registries
      for the day, so neither reaches a gate)
VALUE is a literal (number, true/false, text, YYYY-MM-DD), `today`, {today: +N days},
or {param: NAME}; `in`/`not_in` take a list, `between` a list of two (inclusive).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, NamedTuple

from verifier.rules.ast import (
    COMPARISONS,
    MEMBERS_AGED,
    RELATED_TO,
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
from verifier.rules.attributes import ATTRIBUTES, BOOL, DATE, INT, REGISTRIES, RELATED_REGISTRIES, RELATION_WORDS, TEXT

MAX_DEPTH = 12
MAX_TODAY_OFFSET_DAYS = 36600  # {today: N}: a century either way keeps every decision date a real date
# Exactly YYYY-MM-DD in ASCII digits, matched whole (fullmatch: "$" would also take a final newline).
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


class RuleProblem(NamedTuple):
    """One thing wrong with a rule: where, what was expected, what was found."""

    path: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.path}: expected {self.expected}, found {self.found}"


def show_found(value: Any) -> str:
    """A found value as a problem shows it: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def iso_date(text: str) -> dt.date:
    """The calendar date written exactly YYYY-MM-DD; ValueError for anything else.

    `date.fromisoformat` alone is not enough: since Python 3.11 it also reads the basic form
    20250101 (and, by a quirk of its C parser, "20250101ab") and ISO week dates (2025-W01-1 is
    2024-12-30), none of which a policy or a snapshot is written in.
    """
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(f"not a date YYYY-MM-DD: {text!r}")
    return dt.date.fromisoformat(text)


FORMS = "all, any, not, member_of, age_on, household.members_aged_over, related_to"


class _Parser:
    def __init__(self, subject: str, columns: dict[str, str] | None = None) -> None:
        self.subject = subject
        self.columns = columns  # in a `related_to` where: the registry's columns, as the attributes they are
        self.problems: list[RuleProblem] = []

    def fail(self, path: str, expected: str, found: Any) -> None:
        self.problems.append(RuleProblem(path, expected, show_found(found)))

    def rule(self, data: Any, path: str, depth: int = 0) -> Rule | None:
        if depth > MAX_DEPTH:
            self.fail(path, f"rules nested at most {MAX_DEPTH} deep", "deeper nesting")
            return None
        if not isinstance(data, dict) or len(data) != 1:
            self.fail(path, "a mapping with exactly one key (all, any, not, member_of or an attribute)", data)
            return None
        ((key, body),) = data.items()
        where = f"{path}.{key}"
        if key in ("all", "any"):
            if not isinstance(body, list) or not body:
                self.fail(where, "a non-empty list of rules", body)
                return None
            parts = [self.rule(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(body)]
            if any(p is None for p in parts):
                return None
            return (All if key == "all" else Any_)(tuple(parts))  # type: ignore[arg-type]
        if key == "not":
            inner = self.rule(body, where, depth + 1)
            return None if inner is None else Not(inner)
        if self.columns is not None:
            if key in self.columns:
                return self.condition(self.columns[key], body, where)
            self.fail(path, f"all, any, not or a column of the registry ({', '.join(sorted(self.columns))})", key)
            return None
        if key == "member_of":
            registry = REGISTRIES.get(body) if isinstance(body, str) else None
            if registry is None:
                self.fail(where, f"one of the registries {sorted(REGISTRIES)}", body)
                return None
            if registry[0] != self.subject:
                self.fail(where, f"a registry of {self.subject}s", f"{body} (a registry of {registry[0]}s)")
                return None
            return Member(body)
        if key == "age_on":
            return self.age_on(body, where)
        if key == MEMBERS_AGED:
            return self.members_aged(body, where)
        if key == RELATED_TO:
            return self.related_to(body, where, depth)
        if key in ATTRIBUTES:
            return self.condition(key, body, where)
        self.fail(path, f"{FORMS} or an attribute ({', '.join(sorted(ATTRIBUTES))})", key)
        return None

    def _about_a_person(self, path: str, form: str) -> bool:
        if self.subject == "person":
            return True
        self.fail(path, f"a rule about a {self.subject}", f"{form} (about a person)")
        return False

    def members_aged(self, body: Any, path: str) -> Rule | None:
        if not self._about_a_person(path, MEMBERS_AGED):
            return None
        ops = [k for k in body if k in COMPARISONS] if isinstance(body, dict) else []
        if not isinstance(body, dict) or set(body) != {"age", *ops} or len(ops) != 1:
            self.fail(path, "a mapping with age and one comparison of the count, e.g. {age: 80, '>=': 1}", body)
            return None
        age = self.value(body["age"], INT, f"{path}.age")
        count = self.value(body[ops[0]], INT, f"{path}.{ops[0]}")
        if age is None or count is None:
            return None
        return MembersAged(age, ops[0], count)

    def related_to(self, body: Any, path: str, depth: int) -> Rule | None:
        if not self._about_a_person(path, RELATED_TO):
            return None
        allowed = {"registry", "relations", "where"}
        if not isinstance(body, dict) or not {"registry", "relations"} <= set(body) <= allowed:
            self.fail(path, "a mapping with registry, relations and optionally where", body)
            return None
        registry, relations = body["registry"], body["relations"]
        if not isinstance(registry, str) or registry not in RELATED_REGISTRIES:
            self.fail(f"{path}.registry", f"one of the registries {sorted(RELATED_REGISTRIES)}", registry)
            return None
        known = list(RELATION_WORDS)
        if (
            not isinstance(relations, list)
            or not relations
            or any(not isinstance(r, str) or r not in known for r in relations)
            or len(set(relations)) != len(relations)
        ):
            self.fail(f"{path}.relations", f"a non-empty list of distinct relations from {known}", relations)
            return None
        where: Rule | None = None
        if "where" in body:
            columns = RELATED_REGISTRIES[registry]
            if not columns:
                self.fail(f"{path}.where", f"no where: the {registry} registry has no columns to test", body["where"])
                return None
            inner = _Parser(self.subject, columns)
            where = inner.rule(body["where"], f"{path}.where", depth + 1)
            self.problems.extend(inner.problems)
            if where is None:
                return None
        return RelatedTo(registry, tuple(relations), where)

    def age_on(self, body: Any, path: str) -> Rule | None:
        if self.subject != "person":
            self.fail(path, f"a rule about a {self.subject}", "age_on (about a person)")
            return None
        ops = [k for k in body if k in COMPARISONS] if isinstance(body, dict) else []
        if not isinstance(body, dict) or set(body) != {"date", *ops} or len(ops) != 1:
            self.fail(path, "a mapping with date and one comparison, e.g. {date: 2026-12-31, '>=': 80}", body)
            return None
        on = self.value(body["date"], DATE, f"{path}.date")
        bound = self.value(body[ops[0]], INT, f"{path}.{ops[0]}")
        if on is None or bound is None:
            return None
        return AgeOn(on, ops[0], bound)

    def condition(self, attr: str, body: Any, path: str) -> Rule | None:
        attribute = ATTRIBUTES[attr]
        if attribute.subject != self.subject:
            self.fail(path, f"an attribute of a {self.subject}", f"{attr} (an attribute of a {attribute.subject})")
            return None
        ops = ", ".join((*COMPARISONS, "in", "not_in", "between"))
        if not isinstance(body, dict) or len(body) != 1:
            self.fail(path, f"a mapping with one operator ({ops})", body)
            return None
        ((op, raw),) = body.items()
        where = f"{path}.{op}"
        kind = attribute.kind
        if op in COMPARISONS:
            if kind in (BOOL, TEXT) and op not in ("==", "!="):
                self.fail(where, f"== or != for a {kind} attribute", op)
                return None
            value = self.value(raw, kind, where)
            return None if value is None else Compare(attr, op, value)
        if op in ("in", "not_in"):
            if not isinstance(raw, list) or not raw:
                self.fail(where, "a non-empty list", raw)
                return None
            values = [self.value(v, kind, f"{where}[{i}]") for i, v in enumerate(raw)]
            if any(v is None for v in values):
                return None
            return In(attr, tuple(values), negate=op == "not_in")  # type: ignore[arg-type]
        if op == "between":
            if not isinstance(raw, list) or len(raw) != 2:
                self.fail(where, "a list of two bounds [low, high]", raw)
                return None
            if kind not in (INT, DATE):
                self.fail(where, "a number or date attribute for between", f"{attr} ({kind})")
                return None
            low, high = self.value(raw[0], kind, f"{where}[0]"), self.value(raw[1], kind, f"{where}[1]")
            if low is None or high is None:
                return None
            if not isinstance(low, (Param, Today)) and not isinstance(high, (Param, Today)) and low > high:  # type: ignore[operator]
                self.fail(where, "low <= high", raw)
                return None
            return Between(attr, low, high)
        self.fail(path, f"an operator ({ops})", op)
        return None

    def value(self, raw: Any, kind: str, path: str) -> Value | None:
        if isinstance(raw, dict) and set(raw) == {"param"} and isinstance(raw["param"], str):
            return Param(raw["param"])
        if kind == DATE:
            if raw == "today":
                return Today()
            if isinstance(raw, dict) and set(raw) == {"today"} and type(raw["today"]) is int:
                if abs(raw["today"]) > MAX_TODAY_OFFSET_DAYS:
                    bound = MAX_TODAY_OFFSET_DAYS
                    self.fail(path, f"{{today: N}} with N from -{bound} to {bound}", raw)
                    return None
                return Today(raw["today"])
            if type(raw) is dt.date:
                return raw
            if isinstance(raw, str):
                try:
                    return iso_date(raw)
                except ValueError:
                    pass
            self.fail(path, "a date YYYY-MM-DD, today, {today: N} or {param: NAME}", raw)
            return None
        if kind == INT and type(raw) is int:
            return raw
        if kind == BOOL and type(raw) is bool:
            return raw
        if kind == TEXT and isinstance(raw, str):
            return raw
        self.fail(path, f"a {kind} value or {{param: NAME}}", raw)
        return None


def parse_rule(
    data: Any, path: str = "eligibility", *, subject: str = "person"
) -> tuple[Rule | None, list[RuleProblem]]:
    """(rule, problems): the rule is None whenever there is a problem."""
    parser = _Parser(subject)
    rule = parser.rule(data, path)
    return (rule if not parser.problems else None), parser.problems
