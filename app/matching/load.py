"""Loading registries: typed, checked rows in; every bad row reported with file, row and reason.

A row with a wrong type (a fraction in an integer column too: the cast alone rounds 1800.5 to
1801), an unknown code, an impossible date, an unknown subject or a duplicate id goes to the
`rejects` table (registry, row, reason), never silently dropped, and never into the facts the
rules read. Values are not copied into the report: it names the column and what was expected,
so it can be shared with the department that owns the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import duckdb

from app.matching.registries import ENTERPRISE_FACTS_SQL, PERSON_FACTS_SQL, REGISTRIES, Registry
from app.matching.sql import literal
from keys.errors import SuishenError


class RegistryError(SuishenError, ValueError):
    """A registry file is missing or unusable as a whole; the message names it."""


class TooManyRejects(RegistryError):
    """More rows were rejected than a run may leave behind; nothing is published."""


DEFAULT_MAX_REJECT_SHARE = 0.01
INTEGER_TYPES = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT"})


class LoadReport(NamedTuple):
    loaded: dict[str, int]  # registry -> clean rows
    rejected: dict[str, int]  # registry -> rejected rows

    @property
    def reject_share(self) -> float:
        total = sum(self.loaded.values()) + sum(self.rejected.values())
        return sum(self.rejected.values()) / total if total else 0.0


def source_sql(
    con: duckdb.DuckDBPyConnection, registry: Registry, folder: Path, only: Subject | None = None
) -> str | None:
    """A relation over the registry's file with a 1-based `row_` column, or None when there is no file.

    With `only`, just that subject's rows (Parquet pushes the filter down to the file), and
    nothing from the registries of the other kind of subject.
    """
    parquet, csv = folder / f"{registry.name}.parquet", folder / f"{registry.name}.csv"
    where = "" if only is None else f" WHERE {only.where(registry)}"
    if parquet.exists():
        reader = f"read_parquet({literal(str(parquet))}, file_row_number = true)"
        return f"(SELECT *, file_row_number + 1 AS row_ FROM {reader}{where})"
    if csv.exists():
        # The CSV reader has no row numbers: number rows while insertion order is kept.
        con.execute("SET preserve_insertion_order = true")
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE csv_{registry.name} AS SELECT *, row_number() OVER () AS row_ "
                f"FROM read_csv({literal(str(csv))}, header = true, all_varchar = true)"
            )
        except duckdb.Error as exc:  # not UTF-8, ragged rows, no header: the file as a whole is unusable
            raise RegistryError(f"{csv.name}: {str(exc).splitlines()[0]}") from None
        finally:
            con.execute("SET preserve_insertion_order = false")
        return f"(SELECT * FROM csv_{registry.name}{where})"
    return None


def reason_sql(registry: Registry, unknown_reference: str | None = None) -> str:
    """The first thing wrong with a row (typed columns are `t_<name>`, raw ones `<name>`), or NULL.

    An integer column's raw value must equal its typed one as a DOUBLE, so a fraction is a wrong
    type, not rounded away (in Spark too, whose cast truncates instead).

    `unknown_reference` is the condition for a key missing from the registry it refers to (by
    default a NOT IN subquery; Spark, which allows no subquery there, gives a join's NULL).
    """
    whens = []
    for c in registry.columns:
        if c.required:
            whens.append(f"WHEN {c.name} IS NULL THEN '{c.name} is missing'")
        not_typed = f"t_{c.name} IS NULL"
        if c.sql_type in INTEGER_TYPES:  # the cast rounds 1800.5 to 1801: a value with a fraction is no integer
            not_typed += f" OR TRY_CAST({c.name} AS DOUBLE) <> t_{c.name}"
        whens.append(f"WHEN {c.name} IS NOT NULL AND ({not_typed}) THEN '{c.name} is not a {c.sql_type}'")
        if c.check:
            condition = _bind_value(c.check, f"t_{c.name}")
            whens.append(f"WHEN t_{c.name} IS NOT NULL AND NOT ({condition}) THEN '{c.name} must be {c.meaning}'")
    for condition, meaning in registry.row_checks:
        typed = condition
        for c in registry.columns:
            typed = _bind_column(typed, c.name)
        whens.append(f"WHEN NOT COALESCE({typed}, TRUE) THEN '{meaning}'")
    if registry.refers_to is not None:
        unknown = unknown_reference or f"t_{registry.key} NOT IN (SELECT {registry.key} FROM {registry.refers_to})"
        whens.append(f"WHEN {unknown} THEN 'unknown {registry.key} (not in {registry.refers_to})'")
    return "CASE " + " ".join(whens) + " END"


def duplicate_words(registry: Registry) -> str:
    """What a repeated row repeats, for the rejects report: `person_id`, or `person_id, relative_id, relation`."""
    return ", ".join(registry.unique_columns)


def _bind_value(check: str, column: str) -> str:
    """Checks are written over `v`; give them the typed column (`v` is always a whole word there)."""
    return re.sub(r"\bv\b", column, check)


def _bind_column(condition: str, name: str) -> str:
    return re.sub(rf"\b{name}\b", f"t_{name}", condition)


class Subject(NamedTuple):
    """Whose rows to load: one subject, and for a person the rows their relation facts read
    (relations.load_neighbourhood fills the sets in)."""

    kind: str  # "person" or "enterprise"
    id: str
    related: frozenset[str] = frozenset()  # persons whose person-registry rows are loaded too
    households: frozenset[str] = frozenset()  # households whose rows are loaded whole
    addresses: frozenset[str] = frozenset()  # addresses whose rows are loaded whole

    def where(self, registry: Registry) -> str:
        """The SQL condition on a registry's raw rows that keeps this selection."""
        if (registry.key == "person_id") != (self.kind == "person"):
            return "FALSE"
        me = literal(self.id)
        if registry.name == "kinship":
            return f"person_id = {me} OR relative_id = {me}"
        if registry.name == "marriages":
            return f"person_id = {me} OR spouse_id = {me}"
        ids = ", ".join(literal(i) for i in sorted({self.id, *self.related}))
        whole = {"households": ("household_id", self.households), "addresses": ("address_id", self.addresses)}
        if registry.name in whole:  # the people's own rows too: a member's later household is where they count
            column, groups = whole[registry.name]
            if groups:
                return f"person_id IN ({ids}) OR {column} IN ({', '.join(literal(g) for g in sorted(groups))})"
        return f"{registry.key} IN ({ids})"


def load_registries(con: duckdb.DuckDBPyConnection, folder: Path, *, only: Subject | None = None) -> LoadReport:
    """Clean tables named after the registries, the `rejects` table, and the facts views.

    `only` loads one subject (a person id or credit code) for explaining a single decision.
    """
    # Registries live in temporary tables (DuckDB spills them to disk past its memory limit):
    # a results database keeps results, not copies of every registry.
    con.execute("CREATE OR REPLACE TEMP TABLE rejects (registry VARCHAR, row BIGINT, reason VARCHAR)")
    con.execute("DROP TABLE IF EXISTS day_view_made")  # the day's derived facts (relation_sql) are of the old rows
    loaded: dict[str, int] = {}
    rejected: dict[str, int] = {}
    for registry in REGISTRIES:
        declared = ", ".join(f"{c.name} {c.sql_type}" for c in registry.columns)
        source = source_sql(con, registry, folder, only)
        if source is None:
            if registry.name == "persons":
                raise RegistryError(f"no persons.parquet or persons.csv in {folder}")
            con.execute(f"CREATE OR REPLACE TEMP TABLE {registry.name} ({declared})")
            loaded[registry.name] = rejected[registry.name] = 0
            continue
        typed = ", ".join(f"TRY_CAST({c.name} AS {c.sql_type}) AS t_{c.name}" for c in registry.columns)
        raw = ", ".join(c.name for c in registry.columns)
        unique = ", ".join(f"t_{c}" for c in registry.unique_columns)
        try:
            con.execute(
                f"""
                CREATE OR REPLACE TEMP TABLE staged AS
                WITH rows_ AS (
                    SELECT row_, {typed}, {reason_sql(registry)} AS reason_
                    FROM (SELECT row_, {raw}, {typed} FROM {source})
                ),
                repeated AS (  -- a hash aggregate over the keys, not a sort of every row
                    SELECT {unique}, min(row_) AS first_ FROM rows_ GROUP BY {unique} HAVING count(*) > 1
                )
                SELECT rows_.*, repeated.first_,
                       CASE WHEN repeated.first_ IS NULL OR rows_.row_ = repeated.first_ THEN 1 ELSE 2 END AS rank_
                FROM rows_ LEFT JOIN repeated USING ({unique})
                """
            )
        except duckdb.Error as exc:
            raise RegistryError(f"{registry.name}: {str(exc).splitlines()[0]}") from None
        if registry.group_check is not None:
            check, meaning = registry.group_check
            clean = "(SELECT * FROM staged WHERE reason_ IS NULL AND rank_ = 1)"
            con.execute(
                f"UPDATE staged SET reason_ = {literal(meaning + ' (first at row ')} || g.first_ || ')' "
                f"FROM ({check.format(rows=clean)}) AS g WHERE staged.row_ = g.row_"
            )
        columns = ", ".join(f"t_{c.name} AS {c.name}" for c in registry.columns)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {registry.name} AS SELECT {columns} FROM staged "
            "WHERE reason_ IS NULL AND rank_ = 1"
        )
        con.execute(
            f"""
            INSERT INTO rejects
            SELECT '{registry.name}', row_,
                   CASE WHEN reason_ IS NOT NULL THEN reason_
                        ELSE 'duplicate {duplicate_words(registry)} (first at row ' || first_ || ')' END
            FROM staged WHERE reason_ IS NOT NULL OR rank_ > 1
            """
        )
        loaded[registry.name] = con.execute(f"SELECT count(*) FROM {registry.name}").fetchone()[0]  # type: ignore[index]
        rejected[registry.name] = con.execute(  # type: ignore[index]
            "SELECT count(*) FROM rejects WHERE registry = ?", [registry.name]
        ).fetchone()[0]
    con.execute("DROP TABLE IF EXISTS staged")
    for facts_sql in (PERSON_FACTS_SQL, ENTERPRISE_FACTS_SQL):
        con.execute(facts_sql.replace("CREATE OR REPLACE VIEW", "CREATE OR REPLACE TEMP VIEW"))
    return LoadReport(loaded, rejected)


def check_reject_share(report: LoadReport, max_share: float = DEFAULT_MAX_REJECT_SHARE) -> None:
    if report.reject_share > max_share:
        worst = ", ".join(f"{name} {count:,}" for name, count in report.rejected.items() if count)
        raise TooManyRejects(
            f"{report.reject_share:.2%} of registry rows were rejected ({worst}), more than the "
            f"{max_share:.2%} a run may leave behind: nothing is published; see the rejects report"
        )


def write_rejects(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY (SELECT * FROM rejects ORDER BY registry, row) TO {literal(str(path))} (HEADER, DELIMITER ',')")
