"""The registries departments feed, as declared schemas, and the facts views rules read.

Each registry is one Parquet (or CSV) file named after it. The facts views join them into one
row per subject whose columns are the rule language's attributes ('.' becomes '_'), so the SQL
compiled from a rule reads the same names the per-subject evaluator reads.
"""

from __future__ import annotations

from typing import NamedTuple


class Column(NamedTuple):
    name: str
    sql_type: str  # DuckDB type
    required: bool = True


class Registry(NamedTuple):
    name: str
    key: str  # the subject id column; unique within the registry
    columns: tuple[Column, ...]
    department: str


REGISTRIES: tuple[Registry, ...] = (
    Registry("persons", "person_id", (
        Column("person_id", "VARCHAR"),
        Column("birth_date", "DATE"),
        Column("residence_region", "INTEGER"),
        Column("hukou_region", "INTEGER", required=False),  # 户籍; null when not registered here
        Column("income_monthly", "INTEGER", required=False),
        Column("death_date", "DATE", required=False),
    ), "上海市公安局 / 上海市大数据中心"),
    Registry("disability", "person_id", (
        Column("person_id", "VARCHAR"),
        Column("category", "TINYINT"),
        Column("grade", "TINYINT"),
        Column("certificate_valid_until", "DATE"),
    ), "上海市残疾人联合会"),
    Registry("martyr_families", "person_id", (Column("person_id", "VARCHAR"),), "上海市退役军人事务局"),
    Registry("entitled_groups", "person_id", (Column("person_id", "VARCHAR"),), "上海市退役军人事务局"),
    Registry("students", "person_id", (
        Column("person_id", "VARCHAR"),
        Column("level", "TINYINT"),
        Column("school", "VARCHAR", required=False),
        Column("enrolled_until", "DATE"),
    ), "上海市教育委员会"),
    Registry("person_blacklist", "person_id", (Column("person_id", "VARCHAR"),), "上海市发展和改革委员会"),
    Registry("enterprises", "credit_code", (
        Column("credit_code", "VARCHAR"),  # 统一社会信用代码
        Column("industry", "VARCHAR"),
        Column("region", "INTEGER"),
        Column("employees", "INTEGER"),
        Column("insured_employees", "INTEGER"),
        Column("layoff_rate_pct", "INTEGER"),
        Column("annual_revenue", "BIGINT"),
        Column("registered_on", "DATE"),
    ), "上海市市场监督管理局 / 上海市人力资源和社会保障局 / 上海市税务局"),
    Registry("enterprise_blacklist", "credit_code", (Column("credit_code", "VARCHAR"),), "上海市发展和改革委员会"),
)  # fmt: skip

BY_NAME = {r.name: r for r in REGISTRIES}

# One row per living person; columns named as rule attributes ('.' -> '_'). `age` is not here:
# it depends on the decision date, so the compiled SQL computes it from birth_date.
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

ENTERPRISE_FACTS_SQL = """
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
    e.employees <= 300 AS in_small_enterprises
FROM enterprises e
LEFT JOIN enterprise_blacklist b USING (credit_code)
"""


def column_of(attribute: str) -> str:
    """The facts-view column of a rule attribute."""
    return attribute.replace(".", "_")
