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
    words: str  # how an explanation names it, in English
    words_zh: str = ""  # and in Chinese (WORDS_ZH below), the explanation's first language


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
        # -- derived for the day from the relation registries (issue 16); never carried by a code
        Attribute("household.size", INT, "person", False, None, "household members"),
        Attribute(
            "household.per_capita_income", INT, "person", False, None, "household monthly income per member (yuan)"
        ),
        Attribute("lives_alone", BOOL, "person", False, None, "lives alone (no one else at the address)"),
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
            "enterprise.credit_good",
            BOOL,
            "enterprise",
            True,
            "enterprise",
            "creditworthy: A-level taxpayer, not blacklisted (守信)",
        ),
    )
}

# How a Chinese explanation names each attribute (the pages' default language); the handheld's rules.js
# holds the same words.
WORDS_ZH: dict[str, str] = {
    "age": "年龄",
    "birth_date": "出生日期",
    "disability.category": "残疾类别",
    "disability.grade": "残疾等级",
    "disability.certificate_valid_until": "残疾证有效期至",
    "martyr_family": "烈属",
    "entitled_group": "优抚对象",
    "student.level": "学段",
    "student.enrolled_until": "学籍有效期至",
    "residence.region": "居住地区",
    "hukou.region": "户籍地区",
    "income.monthly": "家庭月收入（元）",
    "credit.blacklisted": "列入失信名单",
    "household.size": "户内人数",
    "household.per_capita_income": "家庭月人均收入（元）",
    "lives_alone": "独居（同一地址无其他人员）",
    "enterprise.employees": "职工人数",
    "enterprise.insured_employees": "参保职工人数",
    "enterprise.layoff_rate_pct": "裁员率（%）",
    "enterprise.annual_revenue": "年营业收入（元）",
    "enterprise.industry": "行业",
    "enterprise.registered_on": "登记日期",
    "enterprise.region": "注册地区",
    "enterprise.credit.blacklisted": "列入失信名单",
    "enterprise.credit_good": "守信企业（A级纳税人且未列入失信名单）",
}
ATTRIBUTES = {name: a._replace(words_zh=WORDS_ZH[name]) for name, a in ATTRIBUTES.items()}

# Registries a subject may be a member of, and the attribute that says so at a gate.
REGISTRIES: dict[str, tuple[str, str | None]] = {
    "martyr_families": ("person", "martyr_family"),
    "entitled_groups": ("person", "entitled_group"),
    "disabled_persons": ("person", "disability.category"),
    "students": ("person", "student.level"),
    "small_enterprises": ("enterprise", None),
}

# How an explanation names each registry: (Chinese, English).
REGISTRY_WORDS: dict[str, tuple[str, str]] = {
    "martyr_families": ("烈属", "martyr families"),
    "entitled_groups": ("优抚对象", "entitled groups"),
    "disabled_persons": ("残疾人", "disabled persons"),
    "students": ("在校学生", "students"),
    "small_enterprises": ("小型微利企业", "small enterprises"),
}

# `related_to: {registry: R, ...}`: the registries a relative may be found in, with the columns its
# `where` may test (each read as the person attribute named here), and how an explanation names it.
RELATED_REGISTRIES: dict[str, dict[str, str]] = {
    "martyrs": {},
    "disability": {"category": "disability.category", "grade": "disability.grade"},
    "students": {"level": "student.level", "enrolled_until": "student.enrolled_until"},
    "persons": {"age": "age", "residence_region": "residence.region", "hukou_region": "hukou.region"},
}
RELATED_REGISTRY_WORDS: dict[str, tuple[str, str]] = {
    "martyrs": ("烈士", "a martyr"),
    "disability": ("持证残疾人", "a person with a disability certificate"),
    "students": ("在校学生", "a student"),
    "persons": ("在世人员", "a living person"),
}
# Relations as kinship records them (KIN_RELATIONS of the registries), in words (Chinese, English).
RELATION_WORDS: dict[str, tuple[str, str]] = {
    "spouse": ("配偶", "spouse"),
    "child": ("子女", "child"),
    "parent": ("父母", "parent"),
    "sibling": ("兄弟姐妹", "sibling"),
    "grandparent": ("祖父母或外祖父母", "grandparent"),
    "grandchild": ("孙子女或外孙子女", "grandchild"),
}

GATE_AGE_BOUNDS = AGE_THRESHOLDS
