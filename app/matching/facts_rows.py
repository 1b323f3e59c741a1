"""A row of the facts views as the per-subject evaluator's facts: the one reading every evaluator shares.

`match explain`, objections, applications and the household and kin facts of relations.py all
read person_facts and enterprise_facts rows this way, so that they and the compiled SQL agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.matching.registries import column_of, facts_held_on
from verifier.rules.attributes import ATTRIBUTES
from verifier.rules.evaluate import years_between

_ATTRIBUTE_OF_COLUMN = {column_of(name): name for name in ATTRIBUTES}


def facts_from_row(row: dict[str, Any], day: dt.date) -> dict[str, Any]:
    """A facts-view row as the per-subject evaluator's facts on the day (absent when NULL; age on
    the day; a disability only while its certificate is valid)."""
    return facts_held_on(registry_facts(row, day), day)


def registry_facts(row: dict[str, Any], day: dt.date) -> dict[str, Any]:
    """A facts-view row as the evaluator's facts, before dating: what the registry rows say, age on the day."""
    facts: dict[str, Any] = {}
    for column, value in row.items():
        if column.startswith("in_"):
            facts[f"registry:{column[3:]}"] = value
        elif column in _ATTRIBUTE_OF_COLUMN and value is not None:
            facts[_ATTRIBUTE_OF_COLUMN[column]] = value
    if row.get("birth_date") is not None:
        facts["age"] = years_between(row["birth_date"], day)
    return facts
