"""Versioned value sets (region codes, disability categories, student levels) and partner mappings.

Partner regions may code a group attribute their own way; a mapping table per partner issuer
turns their codes into ours before any rule reads them. A code we cannot map is dropped, so
a rule sees "not known" rather than a wrong value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from verifier.claims import Profile
from verifier.rules.parse import RuleProblem, show_found
from verifier.words import Words

# Value-set name -> the profile field it governs.
PROFILE_FIELDS = {
    "residence.region": "residence",
    "disability.category": "disability_category",
    "student.level": "student_level",
}
# A code as to_json writes it as a JSON key: str() of an int, in ASCII digits (int() would also take
# " 1 ", "1_0" and "١"), at most 20 of them (any code a claim can carry; int() refuses 4,300 and more).
_CODE_TEXT = re.compile(r"-?(0|[1-9][0-9]{0,19})", re.ASCII)


class ValueSet(NamedTuple):
    name: str
    version: int
    values: dict[int, str]  # our code -> label
    mappings: dict[str, dict[int, int]]  # partner issuer -> {their code: our code}


def parse_value_set(data: Any) -> tuple[ValueSet | None, list[RuleProblem]]:
    """A value set from plain data (YAML: integer codes), or None with every problem located.

    The name must be one PROFILE_FIELDS knows: a value set for anything else would govern no
    profile field, and its mappings could not be applied.
    """
    problems: list[RuleProblem] = []

    def fail(path: str, expected: str, found: Any) -> None:
        problems.append(RuleProblem(path, expected, show_found(found)))

    if not isinstance(data, dict):
        fail("(file)", "a mapping with name, version, values and mappings", data)
        return None, problems
    name = data.get("name")
    if not isinstance(name, str) or name not in PROFILE_FIELDS:
        fail("name", f"one of {sorted(PROFILE_FIELDS)}", name)
    version = data.get("version")
    if type(version) is not int or version < 1:
        fail("version", "a whole number from 1", version)
    raw_values = data.get("values")
    values: dict[int, str] = {}
    if not isinstance(raw_values, dict) or not raw_values:
        fail("values", "a mapping of codes to labels", raw_values)
    else:
        for code, label in raw_values.items():
            if type(code) is not int or not isinstance(label, str):
                fail(f"values.{code}", "an integer code with a text label", label)
            else:
                values[code] = label
    mappings: dict[str, dict[int, int]] = {}
    raw_mappings = data.get("mappings", {})
    if not isinstance(raw_mappings, dict):
        fail("mappings", "a mapping of partner issuers to code tables", raw_mappings)
        raw_mappings = {}
    for issuer, table in raw_mappings.items():
        if not isinstance(table, dict):
            fail(f"mappings.{issuer}", "a table of partner code to our code", table)
            continue
        mapped: dict[int, int] = {}
        for theirs, ours in table.items():
            if type(theirs) is not int or type(ours) is not int or ours not in values:
                fail(f"mappings.{issuer}.{theirs}", f"an integer code mapped to one of {sorted(values)}", ours)
            else:
                mapped[theirs] = ours
        mappings[str(issuer)] = mapped
    if problems:
        return None, problems
    return ValueSet(str(name), version, values, mappings), []  # type: ignore[arg-type]


def value_set_from_json(data: Any) -> tuple[ValueSet | None, list[RuleProblem]]:
    """Inverse of to_json, for value sets inside a verified snapshot, checked as parse_value_set checks.

    JSON keys are text: a code is read from exactly the text to_json writes for it (str of an
    int); any other key stays text, and parse_value_set names it as a code that is not an integer.
    """
    if isinstance(data, dict):
        data = dict(data)
        if isinstance(data.get("values"), dict):
            data["values"] = _codes(data["values"])
        if isinstance(data.get("mappings"), dict):
            data["mappings"] = {k: _codes(t) if isinstance(t, dict) else t for k, t in data["mappings"].items()}
    return parse_value_set(data)


def _codes(table: dict[str, Any]) -> dict[Any, Any]:
    return {int(k) if isinstance(k, str) and _CODE_TEXT.fullmatch(k) else k: v for k, v in table.items()}


def to_json(value_set: ValueSet) -> dict[str, Any]:
    return {
        "name": value_set.name,
        "version": value_set.version,
        "values": {str(k): v for k, v in sorted(value_set.values.items())},
        "mappings": {
            issuer: {str(k): v for k, v in sorted(table.items())}
            for issuer, table in sorted(value_set.mappings.items())
        },
    }


def partner_mapper(value_sets: dict[str, ValueSet]) -> dict[str, list[tuple[str, dict[int, int]]]]:
    """issuer -> [(profile field, table)], for the issuers that code something their own way."""
    by_issuer: dict[str, list[tuple[str, dict[int, int]]]] = {}
    for value_set in value_sets.values():
        for issuer, table in value_set.mappings.items():
            by_issuer.setdefault(issuer, []).append((PROFILE_FIELDS[value_set.name], table))
    return by_issuer


def map_profile(profile: Profile, tables: list[tuple[str, dict[int, int]]]) -> Profile:
    """A partner's profile in our codes; an unmappable code becomes 'not asserted'."""
    changes: dict[str, Any] = {}
    for field, table in tables:
        value = getattr(profile, field)
        if value is not None:
            changes[field] = table.get(value)
    if changes.get("disability_category", 0) is None:
        changes["disability_grade"] = None
    if changes.get("student_level", 0) is None:
        changes["enrolled_until"] = None
    return profile._replace(**changes)


def ignored_attributes(profile: Profile, issuer: str, value_sets: Iterable[ValueSet]) -> list[Words]:
    """In words, each partner code that no mapping table knows and that the decision therefore ignored.

    `profile` is the profile as the partner issued it (before mapping). For explanations only.
    """
    lines = []
    for value_set in value_sets:
        table = value_set.mappings.get(issuer)
        if table is None:
            continue
        value = getattr(profile, PROFILE_FIELDS[value_set.name])
        if value is not None and value not in table:
            lines.append(Words(
                f"{issuer} 的{value_set.name}代码 {value} 在值集 {value_set.name} v{value_set.version} "
                "中没有对应：已忽略",
                f"{issuer} code {value} for {value_set.name} has no mapping in value set "
                f"{value_set.name} v{value_set.version}: ignored",
            ))  # fmt: skip
    return lines
