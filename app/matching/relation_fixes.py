"""Corrections of relation facts from upheld objections: a missing spouse, a wrong household.

An officer upholding an objection may add or remove the subject's own rows of a relation registry
(households, kinship, marriages, addresses): `add` puts a row in (replacing one with the same
unique columns), `remove` takes out the row with those unique columns. The person id is always
the objection's subject. A run applies them to the loaded registries after the files are read,
like the other corrections, until the owning department has fixed its file; `match explain` and
the resolution's own re-evaluation apply them to the subject's neighbourhood the same way.

In an objection's corrections they are kept under the key RELATIONS, as a list of
{registry, op, row} with dates as YYYY-MM-DD, oldest first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from app.matching.registries import BY_NAME, Registry
from keys.errors import SuishenError

RELATIONS = "relations"
CORRECTABLE = ("households", "kinship", "marriages", "addresses")
OPS = ("add", "remove")
_INTEGER_TYPES = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT"})
MAX_FIXES = 50  # relation corrections in one resolution


class RelationFixError(SuishenError, ValueError):
    """A relation correction that cannot be applied as written; the message says which and why."""


class RelationFix(NamedTuple):
    registry: str
    op: str  # add or remove
    row: dict[str, Any]  # typed values, without person_id

    def to_json(self) -> dict[str, Any]:
        row = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in self.row.items()}
        return {"registry": self.registry, "op": self.op, "row": row}


def _typed(registry: Registry, column: str, value: Any) -> Any:
    declared = {c.name: c for c in registry.columns}
    if column not in declared or column == registry.key:
        known = ", ".join(c.name for c in registry.columns if c.name != registry.key)
        raise RelationFixError(f"{registry.name} has no column {column!r} to correct (columns: {known})")
    kind = declared[column].sql_type
    if value is None or value == "":
        return None
    try:
        if kind in _INTEGER_TYPES:
            return int(value)
        if kind == "DATE":
            return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    except ValueError:
        raise RelationFixError(f"{registry.name}.{column}: {value!r} is not a {kind}") from None
    return str(value)


def relation_fix(registry: str, op: str, row: Mapping[str, Any]) -> RelationFix:
    """One correction, checked: a known registry and op, typed columns, what an add or a remove needs."""
    if registry not in CORRECTABLE:
        raise RelationFixError(f"relation corrections are for {', '.join(CORRECTABLE)}, not {registry!r}")
    if op not in OPS:
        raise RelationFixError(f"a relation correction adds or removes a row, not {op!r}")
    spec = BY_NAME[registry]
    typed = {column: _typed(spec, column, value) for column, value in row.items()}
    wanted = [c for c in spec.unique_columns if c != spec.key]
    if op == "add":
        wanted = [c.name for c in spec.columns if c.required and c.name != spec.key]
    missing = [c for c in wanted if typed.get(c) is None]
    if missing:
        raise RelationFixError(f"{registry} {op}: give {', '.join(missing)}")
    problem = _row_problem(spec, typed) if op == "add" else None
    if problem is not None:
        raise RelationFixError(f"{registry} add: {problem}")
    return RelationFix(registry, op, typed)


def _row_problem(spec: Registry, row: Mapping[str, Any]) -> str | None:
    """What the registry's own checks say about a row to add (the loader's reason_sql), or None."""
    import duckdb

    from app.matching.load import reason_sql

    values = {c.name: row.get(c.name) for c in spec.columns}
    values[spec.key] = "subject"  # the objection's subject, whom the run checks against persons itself
    raw = ", ".join(f"CAST(? AS VARCHAR) AS {c.name}, CAST(? AS {c.sql_type}) AS t_{c.name}" for c in spec.columns)
    params = [v for c in spec.columns for v in (values[c.name], values[c.name])]
    found = duckdb.connect().execute(f"SELECT {reason_sql(spec, 'FALSE')} FROM (SELECT {raw})", params).fetchone()
    return None if found is None else found[0]


def parse_relation_fix(text: str) -> RelationFix:
    """`kinship+=relative_id:P9,relation:spouse` (add) or `households-=household_id:H1,from_date:2000-01-01`."""
    marker = next((m for m in ("+=", "-=") if m in text), None)
    if marker is None:
        raise RelationFixError(f"{text!r}: expected REGISTRY+=column:value,... or REGISTRY-=column:value,...")
    registry, _, rest = text.partition(marker)
    op = "add" if marker == "+=" else "remove"
    row: dict[str, str] = {}
    for part in filter(None, rest.split(",")):
        column, colon, value = part.partition(":")
        if not colon:
            raise RelationFixError(f"{text!r}: {part!r} is not column:value")
        row[column.strip()] = value.strip()
    return relation_fix(registry.strip(), op, row)


def fixes_from_json(items: Iterable[Mapping[str, Any]]) -> list[RelationFix]:
    return [relation_fix(str(i.get("registry")), str(i.get("op")), dict(i.get("row") or {})) for i in items]


def _where_unique(spec: Registry, fix: RelationFix) -> tuple[str, list[Any]]:
    columns = [c for c in spec.unique_columns if c != spec.key]
    clause = " AND ".join([f"{spec.key} = ?", *(f"{c} = ?" for c in columns)])
    return clause, [fix.row.get(c) for c in columns]


def apply_fixes(con: Any, subject: str, fixes: Iterable[RelationFix]) -> tuple[int, list[str]]:
    """Apply the subject's relation corrections to loaded tables (DuckDB); (applied, [what was not, why])."""
    applied, skipped = 0, []
    known = con.execute("SELECT count(*) FROM persons WHERE person_id = ?", [subject]).fetchone()[0]
    for fix in fixes:
        if not known:
            skipped.append(f"{fix.registry} {fix.op} (the subject is not in persons)")
            continue
        spec = BY_NAME[fix.registry]
        clause, values = _where_unique(spec, fix)
        removed = con.execute(f"DELETE FROM {fix.registry} WHERE {clause} RETURNING 1", [subject, *values]).fetchall()
        if fix.op == "remove":
            if removed:
                applied += 1
            else:
                skipped.append(f"{fix.registry} remove (no such row)")
            continue
        names = [spec.key, *fix.row]
        marks = ", ".join("?" for _ in names)
        con.execute(f"INSERT INTO {fix.registry} ({', '.join(names)}) VALUES ({marks})", [subject, *fix.row.values()])
        applied += 1
    return applied, skipped
