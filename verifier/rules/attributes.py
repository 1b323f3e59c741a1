"""The attributes a rule may read, their types, and where each can be evaluated.

A gate knows only what the code carries (the profile); the matching engine reads registries.
Each attribute says which of the two can evaluate it, so a scan-mode policy that reads a
registry-only fact is refused when the catalogue is validated, not at a gate.
"""

from __future__ import annotations

from typing import NamedTuple

from verifier.claims import AGE_THRESHOLDS

INT, BOOL, DATE, TEXT = "int", "bool", "date", "text"


class Attribute(NamedTuple):
    name: str
    kind: str
    subject: str  # "person" or "enterprise"
    at_gate: bool  # carried by the code (so usable by scan-mode policies)
    privilege: str | None  # trust-list privilege an issuer needs to assert it
    words: str  # how an explanation names it


ATTRIBUTES: dict[str, Attribute] = {
    a.name: a
    for a in (
        Attribute("age", INT, "person", True, "age_over", "age"),
        Attribute("birth_date", DATE, "person", False, None, "birth date"),
        Attribute("disability.category", INT, "person", True, "disability", "disability category"),
        Attribute("disability.grade", INT, "person", True, "disability", "disability grade"),
        Attribute(
            "disability.certificate_valid_until", DATE, "person", False, None, "disability certificate valid until"
        ),
        Attribute("martyr_family", BOOL, "person", True, "martyr_family", "martyr family (烈属)"),
        Attribute("entitled_group", BOOL, "person", True, "entitled_group", "entitled group (优抚对象)"),
        Attribute("student.level", INT, "person", True, "student", "student level"),
        Attribute("student.enrolled_until", DATE, "person", True, "student", "enrolled until"),
        Attribute("residence.region", INT, "person", True, "residence", "residence region"),
        Attribute("hukou.region", INT, "person", False, None, "household registration region"),
        Attribute("income.monthly", INT, "person", False, None, "monthly household income (yuan)"),
        Attribute("credit.blacklisted", BOOL, "person", False, None, "on the credit blacklist (失信受限)"),
        Attribute("enterprise.employees", INT, "enterprise", False, None, "employees"),
        Attribute("enterprise.insured_employees", INT, "enterprise", False, None, "employees with social insurance"),
        Attribute("enterprise.layoff_rate_pct", INT, "enterprise", False, None, "layoff rate (%)"),
        Attribute("enterprise.annual_revenue", INT, "enterprise", False, None, "annual revenue (yuan)"),
        Attribute("enterprise.industry", TEXT, "enterprise", False, None, "industry"),
        Attribute("enterprise.registered_on", DATE, "enterprise", False, None, "registration date"),
        Attribute("enterprise.region", INT, "enterprise", True, "enterprise", "registered region"),
        Attribute(
            "enterprise.credit.blacklisted", BOOL, "enterprise", False, None, "on the credit blacklist (失信受限)"
        ),
        # -- 守信优先 (issue 15): an A-level taxpayer with no blacklist entry; an enterprise code carries it
        Attribute(
            "enterprise.credit_good", BOOL, "enterprise", True, "enterprise",
            "creditworthy: A-level taxpayer, not blacklisted (守信)",
        ),
    )
}

# Registries a subject may be a member of, and the attribute that says so at a gate.
REGISTRIES: dict[str, tuple[str, str | None]] = {
    "martyr_families": ("person", "martyr_family"),
    "entitled_groups": ("person", "entitled_group"),
    "disabled_persons": ("person", "disability.category"),
    "students": ("person", "student.level"),
    "small_enterprises": ("enterprise", None),
}

GATE_AGE_BOUNDS = AGE_THRESHOLDS
