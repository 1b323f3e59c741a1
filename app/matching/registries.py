"""The registries departments feed, as declared schemas, and the facts views rules read.

Each registry is one Parquet (or CSV) file named after it. The facts views join them into one
row per subject whose columns are the rule language's attributes ('.' becomes '_'), so the SQL
compiled from a rule reads the same names the per-subject evaluator reads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple


def column_of(attribute: str) -> str:
    """The facts-view column of a rule attribute."""
    return attribute.replace(".", "_")


class Column(NamedTuple):
    name: str
    sql_type: str  # DuckDB type
    required: bool = True
    check: str | None = None  # SQL condition on the typed value (as column `v`), e.g. "v BETWEEN 1 AND 7"
    meaning: str = ""  # what the check asks, for the rejects report


class Registry(NamedTuple):
    name: str
    key: str  # the subject id column; unique within the registry unless `unique` says otherwise
    columns: tuple[Column, ...]
    department: str
    row_checks: tuple[tuple[str, str], ...] = ()  # (SQL condition over typed columns, meaning)
    refers_to: str | None = None  # registry whose key every row's key must exist in
    unique: tuple[str, ...] = ()  # a relation registry (many rows a subject): the columns unique together
    # A check across rows: a SELECT of (row_, first_) over `{rows}` (the rows that passed every other
    # check, typed columns `t_<name>`) naming each later row that contradicts an earlier one, and what
    # the contradiction is, for the rejects report ("<meaning> (first at row N)").
    group_check: tuple[str, str] | None = None

    @property
    def unique_columns(self) -> tuple[str, ...]:
        """What a repeated row repeats: the key, or a relation registry's columns taken together."""
        return self.unique or (self.key,)


HOUSEHOLD_RELATIONS = ("head", "spouse", "child", "parent", "sibling", "grandchild", "grandparent", "other")
KIN_RELATIONS = ("spouse", "child", "parent", "sibling", "grandparent", "grandchild")
RELATION_REGISTRIES = ("households", "kinship", "marriages", "addresses", "martyrs")  # not in the facts views

# Two heads of one household whose records are in force on a common day: the later row is refused.
_TWO_HEADS = """
SELECT b.row_, min(a.row_) AS first_
FROM {rows} a JOIN {rows} b ON a.t_household_id = b.t_household_id AND a.row_ < b.row_
WHERE a.t_relation_to_head = 'head' AND b.t_relation_to_head = 'head'
  AND a.t_from_date <= COALESCE(b.t_to_date, DATE '2100-12-31')
  AND b.t_from_date <= COALESCE(a.t_to_date, DATE '2100-12-31')
GROUP BY b.row_"""
# A parent-or-grandparent line both ways between two people (A is B's parent and B is A's parent, or
# A's grandchild): the later row is refused. `up_` is the elder of a row, `down_` the younger.
_DESCENT = """(SELECT row_,
    CASE WHEN t_relation IN ('parent', 'grandparent') THEN t_relative_id ELSE t_person_id END AS up_,
    CASE WHEN t_relation IN ('parent', 'grandparent') THEN t_person_id ELSE t_relative_id END AS down_
  FROM {rows} WHERE t_relation IN ('parent', 'child', 'grandparent', 'grandchild'))"""
_KIN_CYCLE = f"""
SELECT b.row_, min(a.row_) AS first_
FROM {_DESCENT} a JOIN {_DESCENT} b ON a.up_ = b.down_ AND a.down_ = b.up_ AND a.row_ < b.row_
GROUP BY b.row_"""

_DATE_RANGE = "v BETWEEN DATE '1900-01-01' AND DATE '2100-12-31'"
_ID = "length(v) BETWEEN 1 AND 64"
_REGION = "v BETWEEN 100000 AND 999999"
_PERSON = "person_id"

REGISTRIES: tuple[Registry, ...] = (
    Registry("persons", _PERSON, (
        Column(_PERSON, "VARCHAR"),
        Column("birth_date", "DATE", check="v BETWEEN DATE '1900-01-01' AND current_date", meaning="a past date"),
        Column("residence_region", "INTEGER", check=_REGION, meaning="a six-digit region code"),
        Column("hukou_region", "INTEGER", required=False, check=_REGION, meaning="a six-digit region code"),
        Column("income_monthly", "INTEGER", required=False, check="v >= 0", meaning="not negative"),
        Column("death_date", "DATE", required=False, check=_DATE_RANGE, meaning="a date from 1900"),
    ), "上海市公安局 / 上海市大数据中心",
        row_checks=(("death_date IS NULL OR death_date >= birth_date", "death_date before birth_date"),)),
    Registry("disability", _PERSON, (
        Column(_PERSON, "VARCHAR"),
        Column("category", "TINYINT", check="v BETWEEN 1 AND 7", meaning="a category 1-7"),
        Column("grade", "TINYINT", check="v BETWEEN 1 AND 4", meaning="a grade 1-4"),
        Column("certificate_valid_until", "DATE", check=_DATE_RANGE, meaning="a date from 1900"),
    ), "上海市残疾人联合会", refers_to="persons"),
    Registry("martyr_families", _PERSON, (Column(_PERSON, "VARCHAR"),), "上海市退役军人事务局", refers_to="persons"),
    Registry("entitled_groups", _PERSON, (Column(_PERSON, "VARCHAR"),), "上海市退役军人事务局", refers_to="persons"),
    Registry("students", _PERSON, (
        Column(_PERSON, "VARCHAR"),
        Column("level", "TINYINT", check="v BETWEEN 1 AND 6", meaning="a level 1-6"),
        Column("school", "VARCHAR", required=False),
        Column("enrolled_until", "DATE", check=_DATE_RANGE, meaning="a date from 1900"),
    ), "上海市教育委员会", refers_to="persons"),
    Registry("person_blacklist", _PERSON, (Column(_PERSON, "VARCHAR"),), "上海市发展和改革委员会",
             refers_to="persons"),
    Registry("enterprises", "credit_code", (
        Column("credit_code", "VARCHAR", check="length(v) = 18", meaning="an 18-character credit code"),
        Column("industry", "VARCHAR"),
        Column("region", "INTEGER", check=_REGION, meaning="a six-digit region code"),
        Column("employees", "INTEGER", check="v >= 0", meaning="not negative"),
        Column("insured_employees", "INTEGER", check="v >= 0", meaning="not negative"),
        Column("layoff_rate_pct", "INTEGER", check="v BETWEEN 0 AND 100", meaning="a percentage"),
        Column("annual_revenue", "BIGINT", check="v >= 0", meaning="not negative"),
        Column("registered_on", "DATE", check="v BETWEEN DATE '1949-10-01' AND current_date", meaning="a past date"),
    ), "上海市市场监督管理局 / 上海市人力资源和社会保障局 / 上海市税务局",
        row_checks=(("insured_employees <= employees", "more insured employees than employees"),)),
    Registry("enterprise_blacklist", "credit_code", (Column("credit_code", "VARCHAR"),), "上海市发展和改革委员会",
             refers_to="enterprises"),
    # 纳税信用等级 (A, B, M, C, D) of the last assessment; an enterprise not yet assessed has no row. With the
    # blacklist it makes 守信 (enterprise.credit_good: an A-level taxpayer with no blacklist entry).
    Registry("tax_credit_ratings", "credit_code", (
        Column("credit_code", "VARCHAR"),
        Column("level", "VARCHAR", check="v IN ('A', 'B', 'M', 'C', 'D')", meaning="a level A, B, M, C or D"),
    ), "国家税务总局上海市税务局", refers_to="enterprises"),
    # -- relation registries (依托亲属关系库、婚姻库、地址库): many rows a person, each row unique in `unique`.
    # A relative, spouse or household member need not be in `persons` (a martyr who died long ago, a member
    # registered elsewhere): household and kin rules treat what is missing as not known.
    Registry("households", _PERSON, (
        Column("household_id", "VARCHAR", check=_ID, meaning="an id of 1-64 characters"),
        Column(_PERSON, "VARCHAR"),
        Column("relation_to_head", "VARCHAR", check=f"v IN {HOUSEHOLD_RELATIONS!r}",
               meaning=f"one of {', '.join(HOUSEHOLD_RELATIONS)}"),
        Column("from_date", "DATE", check=_DATE_RANGE, meaning="a date from 1900"),
        Column("to_date", "DATE", required=False, check=_DATE_RANGE, meaning="a date from 1900"),
    ), "上海市公安局（户籍）", refers_to="persons", unique=("household_id", _PERSON, "from_date"),
        row_checks=(("to_date IS NULL OR to_date >= from_date", "to_date before from_date"),),
        group_check=(_TWO_HEADS, "a second head of the household at the same time")),
    Registry("kinship", _PERSON, (
        Column(_PERSON, "VARCHAR"),
        Column("relative_id", "VARCHAR", check=_ID, meaning="an id of 1-64 characters"),
        Column("relation", "VARCHAR", check=f"v IN {KIN_RELATIONS!r}", meaning=f"one of {', '.join(KIN_RELATIONS)}"),
    ), "上海市民政局（亲属关系）", refers_to="persons", unique=(_PERSON, "relative_id", "relation"),
        row_checks=(("relative_id <> person_id", "a person is not their own relative"),),
        group_check=(_KIN_CYCLE, "a kin cycle: each an ancestor of the other")),
    Registry("marriages", _PERSON, (
        Column(_PERSON, "VARCHAR"),
        Column("spouse_id", "VARCHAR", check=_ID, meaning="an id of 1-64 characters"),
        Column("from_date", "DATE", check=_DATE_RANGE, meaning="a date from 1900"),
        Column("to_date", "DATE", required=False, check=_DATE_RANGE, meaning="a date from 1900"),
    ), "上海市民政局（婚姻登记）", refers_to="persons", unique=(_PERSON, "spouse_id", "from_date"),
        row_checks=(("spouse_id <> person_id", "a person is not their own spouse"),
                    ("to_date IS NULL OR to_date >= from_date", "to_date before from_date"))),
    Registry("addresses", _PERSON, (
        Column(_PERSON, "VARCHAR"),
        Column("address_id", "VARCHAR", check=_ID, meaning="an id of 1-64 characters"),
        Column("from_date", "DATE", check=_DATE_RANGE, meaning="a date from 1900"),
        Column("to_date", "DATE", required=False, check=_DATE_RANGE, meaning="a date from 1900"),
    ), "上海市公安局（实有人口）", refers_to="persons", unique=(_PERSON, "address_id", "from_date"),
        row_checks=(("to_date IS NULL OR to_date >= from_date", "to_date before from_date"),)),
    # The martyrs themselves (烈士), by the date they were recognised: "martyr family member" is derived
    # through kinship (spouse, parents, children), not typed in a list.
    Registry("martyrs", _PERSON, (
        Column(_PERSON, "VARCHAR", check=_ID, meaning="an id of 1-64 characters"),
        Column("recognised_on", "DATE", check="v BETWEEN DATE '1900-01-01' AND current_date", meaning="a past date"),
    ), "上海市退役军人事务局（烈士褒扬）"),
)  # fmt: skip

BY_NAME = {r.name: r for r in REGISTRIES}

# One row per living person; columns named as rule attributes ('.' -> '_'). `age` is not here:
# it depends on the decision date, so the compiled SQL computes it from birth_date. Nor is
# whether a disability holds (HELD_UNTIL, below): the view has the registry's rows as they are.
PERSON_FACTS_SQL = """
CREATE OR REPLACE VIEW person_facts AS
SELECT
    p.person_id AS subject,
    p.birth_date AS birth_date,
    p.residence_region AS residence_region,
    p.hukou_region AS hukou_region,
    p.income_monthly AS income_monthly,
    d.category AS disability_category,
    d.grade AS disability_grade,
    d.certificate_valid_until AS disability_certificate_valid_until,
    m.person_id IS NOT NULL AS martyr_family,
    e.person_id IS NOT NULL AS entitled_group,
    s.level AS student_level,
    s.enrolled_until AS student_enrolled_until,
    b.person_id IS NOT NULL AS credit_blacklisted,
    m.person_id IS NOT NULL AS in_martyr_families,
    e.person_id IS NOT NULL AS in_entitled_groups,
    d.person_id IS NOT NULL AS in_disabled_persons,
    s.person_id IS NOT NULL AS in_students
FROM persons p
LEFT JOIN disability d USING (person_id)
LEFT JOIN martyr_families m USING (person_id)
LEFT JOIN entitled_groups e USING (person_id)
LEFT JOIN students s USING (person_id)
LEFT JOIN person_blacklist b USING (person_id)
WHERE p.death_date IS NULL
"""

SMALL_ENTERPRISE_EMPLOYEES = 300  # who is in `small_enterprises`

ENTERPRISE_FACTS_SQL = f"""
CREATE OR REPLACE VIEW enterprise_facts AS
SELECT
    e.credit_code AS subject,
    e.employees AS enterprise_employees,
    e.insured_employees AS enterprise_insured_employees,
    e.layoff_rate_pct AS enterprise_layoff_rate_pct,
    e.annual_revenue AS enterprise_annual_revenue,
    e.industry AS enterprise_industry,
    e.registered_on AS enterprise_registered_on,
    e.region AS enterprise_region,
    b.credit_code IS NOT NULL AS enterprise_credit_blacklisted,
    e.employees <= {SMALL_ENTERPRISE_EMPLOYEES} AS in_small_enterprises,
    COALESCE(t.level = 'A', FALSE) AND b.credit_code IS NULL AS enterprise_credit_good
FROM enterprises e
LEFT JOIN enterprise_blacklist b USING (credit_code)
LEFT JOIN tax_credit_ratings t USING (credit_code)
"""


class HeldUntil(NamedTuple):
    """Facts that hold on a day only while a date of the same record has not passed (inclusive)."""

    until: str  # the attribute holding the last day, e.g. disability.certificate_valid_until
    attributes: tuple[str, ...]  # the attributes that hold only until then
    registry: str  # the `member_of` registry that holds only until then


# A disability counts on the decision day only while its certificate is valid, the last day
# included (持证残疾人): the registry keeps ended certificates, and the profile a code carries
# has the disability only while it holds. This is the one definition: the compiled SQL reads
# these facts through held_sql (DuckDB and, transpiled, Spark), the profile builder too, and the
# per-subject evaluator's facts go through facts_held_on; the date itself stays readable.
HELD_UNTIL = (
    HeldUntil("disability.certificate_valid_until", ("disability.category", "disability.grade"), "disabled_persons"),
)
_HELD_BY_COLUMN = {
    column: held for held in HELD_UNTIL for column in (*(column_of(a) for a in held.attributes), f"in_{held.registry}")
}


def held_sql(column: str, day: str) -> str:
    """A facts-view column as it holds on the day (`day` a SQL date literal).

    Once its record has ended (or its end is not known) a held column is NULL and a registry's
    `in_` flag false; any other column is returned as it is.
    """
    held = _HELD_BY_COLUMN.get(column)
    if held is None:
        return column
    valid = f"{column_of(held.until)} >= {day}"
    if column.startswith("in_"):
        return f"({column} AND COALESCE({valid}, FALSE))"
    return f"CASE WHEN {valid} THEN {column} END"


def facts_held_on(facts: dict[str, Any], day: dt.date) -> dict[str, Any]:
    """The per-subject evaluator's facts as they hold on the day: held_sql in Python.

    An attribute whose record has ended (or whose end is not known) is left out and the
    registry's membership is false, as a NULL column and a false `in_` flag are in SQL.
    """
    out = dict(facts)
    for held in HELD_UNTIL:
        until = out.get(held.until)
        if until is not None and until >= day:
            continue
        for attribute in held.attributes:
            out.pop(attribute, None)
        if f"registry:{held.registry}" in out:
            out[f"registry:{held.registry}"] = False
    return out


# Facts that a registry may simply not have yet: NULL there means "not known", not "no". A
# subject whose rule fails while one of these is unknown is listed for the original channel.
UNKNOWN_WHEN_NULL = frozenset({"income.monthly", "household.per_capita_income"})
