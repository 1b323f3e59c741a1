"""The facts a run derives for the day from the relation registries, and the view that adds them.

Household and kin rules (`household.size`, `household.per_capita_income`,
`household.members_aged_over`, `lives_alone`, `related_to`) read facts that are not one row of
a registry: they depend on the day (who lives where, which marriage is in force) and on other
people's rows. A run computes only what its rules read (sql.Needs), once per day, as a few
tables keyed by subject, each one hash join or aggregate over a relation registry, and the rules
read them through `person_day_facts`: person_facts with those columns joined on. With no such
rule the view is person_facts itself and a run costs what it did.

The definitions, which the per-subject evaluator's facts (app.matching.relations) follow exactly:
- A record is in force on the day when from_date <= day and (to_date is NULL or day <= to_date).
- A person's household on the day is that of their record in force with the latest from_date
  (ties: the greatest household id); its members are the living persons whose household it is.
  Size counts them (the subject too); per-capita income is floor(sum of their monthly incomes /
  size), unknown (NULL) when any member's income is unknown; members aged N or over counts those
  N or older on the day.
- Living alone: the subject has an address in force and no other living person has one at the
  same address on the day; unknown (no row, so false) without an address.
- Kin on the day: kinship rows, their inverses (a parent's child, a grandchild's grandparent;
  spouse and sibling are their own inverse), and marriages in force, both ways. A relative is
  found in `martyrs` when recognised on or before the day; in `persons`, `disability` or
  `students` when they are a living person whose facts (as person_facts holds them on the day)
  are in that registry and pass the rule's `where`.

Statements are DuckDB SQL, each one SELECT a table is made from, so the Spark path transpiles the
same statements into its temporary views.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import NamedTuple

import duckdb

from app.matching.registries import held_sql
from app.matching.sql import Needs, aged_column, literal, years_sql

DAY_VIEW = "person_day_facts"
INVERSE = {"child": "parent", "parent": "child", "grandchild": "grandparent", "grandparent": "grandchild"}
_RELATIVE_IN = {  # a relative's person_facts row is in the registry on the day
    "persons": "TRUE",
    "disability": "in_disabled_persons",
    "students": "in_students",
}


class DayTable(NamedTuple):
    name: str
    select: str  # the SELECT it is made from (DuckDB SQL)


def in_force(day: str, alias: str = "") -> str:
    a = f"{alias}." if alias else ""
    return f"({a}from_date <= {day} AND ({a}to_date IS NULL OR {a}to_date >= {day}))"


def day_tables(needs: Needs, day: dt.date) -> list[DayTable]:
    """The tables the day's view joins, in the order they must be made."""
    d = literal(day)
    tables: list[DayTable] = []
    if needs.household:
        tables.append(DayTable("household_on_day", f"""
            SELECT person_id, household_id FROM (
                SELECT person_id, household_id,
                       row_number() OVER (PARTITION BY person_id ORDER BY from_date DESC, household_id DESC) AS rank_
                FROM households WHERE {in_force(d)}
            ) AS h WHERE rank_ = 1"""))  # fmt: skip
        aged = "".join(
            f", sum(CASE WHEN {years_sql('birth_date', d)} >= {age} THEN 1 ELSE 0 END) AS {aged_column(age)}"
            for age in sorted(needs.ages)
        )
        aged_out = "".join(f", s.{aged_column(age)}" for age in sorted(needs.ages))
        tables.append(DayTable("household_facts", f"""
            WITH members AS (
                SELECT h.person_id, h.household_id, p.birth_date, p.income_monthly
                FROM household_on_day h JOIN persons p ON p.person_id = h.person_id
                WHERE p.death_date IS NULL
            ),
            stats AS (
                SELECT household_id, count(*) AS household_size,
                       CASE WHEN count(income_monthly) = count(*)
                            THEN CAST(floor(sum(income_monthly) / count(*)) AS BIGINT) END
                           AS household_per_capita_income{aged}
                FROM members GROUP BY household_id
            )
            SELECT m.person_id AS subject, s.household_size, s.household_per_capita_income{aged_out}
            FROM members m JOIN stats s ON s.household_id = m.household_id"""))  # fmt: skip
    if needs.alone:
        tables.append(DayTable("alone_facts", f"""
            WITH here AS (
                SELECT a.person_id, a.address_id FROM addresses a JOIN persons p ON p.person_id = a.person_id
                WHERE {in_force(d, 'a')} AND p.death_date IS NULL
            )
            SELECT h.person_id AS subject, count(o.person_id) = 0 AS lives_alone
            FROM here h LEFT JOIN here o ON o.address_id = h.address_id AND o.person_id <> h.person_id
            GROUP BY h.person_id"""))  # fmt: skip
    if needs.related:
        inverse = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in INVERSE.items())
        tables.append(DayTable("kin_on_day", f"""
            SELECT person_id, relative_id, relation FROM kinship
            UNION SELECT relative_id, person_id, CASE relation {inverse} ELSE relation END FROM kinship
            UNION SELECT person_id, spouse_id, 'spouse' FROM marriages WHERE {in_force(d)}
            UNION SELECT spouse_id, person_id, 'spouse' FROM marriages WHERE {in_force(d)}"""))  # fmt: skip
    for related in needs.related:
        relations = ", ".join(literal(r) for r in related.relations)
        if related.registry == "martyrs":
            source, found = f"(SELECT person_id AS subject FROM martyrs WHERE recognised_on <= {d})", "TRUE"
        else:
            source, found = "person_facts", held_sql(_RELATIVE_IN[related.registry], d)
        tables.append(DayTable(related.column, f"""
            SELECT DISTINCT k.person_id AS subject
            FROM kin_on_day k JOIN {source} r ON r.subject = k.relative_id
            WHERE k.relation IN ({relations}) AND COALESCE({found}, FALSE) AND {related.where}"""))  # fmt: skip
    return tables


def day_view_sql(needs: Needs) -> str:
    """The SELECT of `person_day_facts`: person_facts and the day's derived columns."""
    columns, joins = ["f.*"], []
    if needs.household:
        columns += ["hf.household_size", "hf.household_per_capita_income"]
        columns += [f"hf.{aged_column(age)}" for age in sorted(needs.ages)]
        joins.append("LEFT JOIN household_facts hf ON hf.subject = f.subject")
    if needs.alone:
        columns.append("af.lives_alone")
        joins.append("LEFT JOIN alone_facts af ON af.subject = f.subject")
    for i, related in enumerate(needs.related):
        columns.append(f"r{i}.subject IS NOT NULL AS {related.column}")
        joins.append(f"LEFT JOIN {related.column} r{i} ON r{i}.subject = f.subject")
    return f"SELECT {', '.join(columns)} FROM person_facts f {' '.join(joins)}"


def make_day_view(con: duckdb.DuckDBPyConnection, needs: Needs, day: dt.date) -> str:
    """Make the day's tables and `person_day_facts` in a DuckDB connection; returns the view's name.

    Made once for a day and needs: the run and its original-channel list read the same view, and
    at 25 M persons the household tables take seconds to make.
    """
    key = hashlib.sha256(repr((day, needs)).encode()).hexdigest()
    con.execute("CREATE TEMP TABLE IF NOT EXISTS day_view_made (key VARCHAR)")
    if con.execute("SELECT count(*) FROM day_view_made WHERE key = ?", [key]).fetchone()[0]:  # type: ignore[index]
        return DAY_VIEW
    for table in day_tables(needs, day):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table.name} AS {table.select}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {DAY_VIEW} AS {day_view_sql(needs)}")
    con.execute("DELETE FROM day_view_made")
    con.execute("INSERT INTO day_view_made VALUES (?)", [key])
    return DAY_VIEW
