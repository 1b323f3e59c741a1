"""The change feed: registry changes reach entitlements in seconds, without a full run.

Departments send change records, one JSON object a line:

    {"source": "sh-gaj-hukou", "seq": 118, "registry": "households", "op": "update",
     "row": {"household_id": "H1", "person_id": "P1", "relation_to_head": "head",
             "from_date": "2000-01-01", "to_date": "2026-11-30"}}

`op` is insert, update (the whole new row) or delete (the columns that identify the row: the
registry's key, or a relation registry's unique columns). Each source numbers its records 1, 2, ...;
a batch is applied exactly once per source sequence: records already applied are skipped, a gap
(or a number reused for another change) refuses the batch, and a refused batch changes nothing.

Where the registries live: the first batch copies the checked registries (as a run loads them)
into the results database as `state_<registry>` tables, and every batch changes those in one
transaction with the sequence numbers it applied; a full run over the changed registries
(`export_state`, then `suishen match run`) gives the same entitlements, which a property test
checks (tests/app/test_changes.py). A full run over new registry files starts the state again from
them and keeps each source's last sequence: a department's full file holds every change it has
numbered so far, and its feed goes on from the next number.

Only the affected subjects are evaluated again: the changed persons, everyone in a household or at
an address a changed row names (before and after the change), and everyone with kin among the
changed persons (whose `related_to` rules read them); changed enterprises likewise. Their
neighbourhood (relations.py: households, addresses, kin) is copied into the temporary registry
tables a run reads, and the run's own SQL decides them; their entitlements and profiles are
replaced, and what the batch did is kept under its number: the difference (who gained, who lost a
policy) in `entitlement_changes`, the subjects evaluated in `batch_subjects`, those whose new
profile takes back what their codes assert in `batch_withdrawals`. change_effects.py carries that
to the services database, each batch once.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import duckdb

from app.matching.engine import latest_run, run_matching
from app.matching.enterprise_profiles import enterprise_profiles_sql
from app.matching.load import INTEGER_TYPES, LoadReport, load_registries, reason_sql
from app.matching.profile_changes import scan_fields, taken_back_sql
from app.matching.profiles import profiles_sql
from app.matching.registries import BY_NAME, ENTERPRISE_FACTS_SQL, PERSON_FACTS_SQL, REGISTRIES, Registry
from app.matching.sql import literal
from keys.errors import SuishenError
from verifier.catalogue import Policy
from verifier.rules.parse import iso_date

OPS = ("insert", "update", "delete")
MAX_BATCH = 1_000_000  # records in one batch
MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_LINE_BYTES = 64 * 1024
MAX_PROBLEMS = 20  # shown when a batch is refused


class ChangeError(SuishenError, ValueError):
    """A batch of changes is refused as a whole; nothing of it was applied. The message lists why."""


class Change(NamedTuple):
    source: str
    seq: int
    registry: str
    op: str
    row: dict[str, Any]
    where: str  # file:line, for messages


class BatchResult(NamedTuple):
    applied: int  # change records applied
    skipped: int  # already applied before (same source and sequence)
    affected: int  # subjects evaluated again
    gained: int  # (subject, policy) entitlements added
    lost: int  # and removed
    seconds: float
    batch: int = 0  # its number in change_batches (0: nothing new to apply)
    withdrawn: int = 0  # subjects whose earlier codes assert what their new profile takes back


# --- reading ---------------------------------------------------------------------------------


def read_changes(path: Path) -> list[Change]:
    """The records of a JSON Lines file, or of every `*.jsonl` file in a folder in name order."""
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if not files:
        raise ChangeError(f"no change files (*.jsonl) in {path}")
    out: list[Change] = []
    problems: list[str] = []
    for file in files:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise ChangeError(f"{file.name}: larger than {MAX_FILE_BYTES // 2**20} MiB: split the batch")
        with file.open("rb") as lines:
            _read_lines(lines, file.name, out, problems)
    _refuse(problems)
    return out


def parse_changes(body: bytes, name: str = "body") -> list[Change]:
    """The records of a JSON Lines request body (the route for departments' systems)."""
    out: list[Change] = []
    problems: list[str] = []
    _read_lines(body.splitlines(), name, out, problems)
    _refuse(problems)
    if not out:
        raise ChangeError("no change records: send one JSON object a line")
    return out


def _read_lines(lines: Iterable[bytes], name: str, out: list[Change], problems: list[str]) -> None:
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        if len(out) >= MAX_BATCH:
            raise ChangeError(f"more than {MAX_BATCH:,} change records in one batch: split it")
        change = _record(raw, f"{name}:{number}", problems)
        if change is not None:
            out.append(change)


def _record(raw: bytes, where: str, problems: list[str]) -> Change | None:
    if len(raw) > MAX_LINE_BYTES:
        problems.append(f"{where}: a record longer than {MAX_LINE_BYTES // 1024} KiB")
        return None
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        problems.append(f"{where}: not a JSON object")
        return None
    if not isinstance(data, dict) or set(data) != {"source", "seq", "registry", "op", "row"}:
        problems.append(f"{where}: expected an object with source, seq, registry, op and row")
        return None
    source, seq, registry, op, row = (data[k] for k in ("source", "seq", "registry", "op", "row"))
    if not isinstance(source, str) or not 1 <= len(source) <= 64:
        problems.append(f"{where}: source must be a name of 1-64 characters")
    elif type(seq) is not int or not 1 <= seq < 2**63:
        problems.append(f"{where}: seq must be a whole number from 1")
    elif registry not in BY_NAME:
        problems.append(f"{where}: unknown registry {registry!r} (registries: {', '.join(BY_NAME)})")
    elif op not in OPS:
        problems.append(f"{where}: op must be insert, update or delete, found {op!r}")
    elif not isinstance(row, dict) or any(not isinstance(v, (str, int, type(None))) for v in row.values()):
        problems.append(f"{where}: row must be an object of text, whole numbers and nulls")
    else:
        spec = BY_NAME[registry]
        known = {c.name for c in spec.columns}
        wanted = set(spec.unique_columns) if op == "delete" else known
        unknown = sorted(set(row) - known)
        missing = sorted(wanted - set(row)) if op == "delete" else []
        if unknown:
            problems.append(f"{where}: {registry} has no column {', '.join(unknown)}")
        elif missing:
            problems.append(f"{where}: a delete names the row by {', '.join(spec.unique_columns)}")
        else:
            text, problem = _normalised(spec, row)
            if problem is None:
                return Change(source, seq, registry, op, text, where)
            problems.append(f"{where}: {registry}.{problem}")
    return None


def _normalised(spec: Registry, row: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Values as text the way the state compares them: dates exactly YYYY-MM-DD, whole numbers in digits."""
    kinds = {c.name: c.sql_type for c in spec.columns}
    out: dict[str, Any] = {}
    for column, value in row.items():
        if value is None:
            out[column] = None
        elif kinds[column] == "DATE":
            try:
                out[column] = iso_date(str(value)).isoformat()
            except ValueError:
                return out, f"{column} must be a date YYYY-MM-DD, found {str(value)[:40]!r}"
        elif kinds[column] in INTEGER_TYPES:
            if type(value) is not int and not (isinstance(value, str) and value.lstrip("-").isdigit()):
                return out, f"{column} must be a whole number, found {str(value)[:40]!r}"
            out[column] = str(int(value))
        else:
            out[column] = str(value)
    return out, None


def _refuse(problems: list[str]) -> None:
    if problems:
        shown = "\n  ".join(problems[:MAX_PROBLEMS])
        more = f"\n  ... and {len(problems) - MAX_PROBLEMS} more" if len(problems) > MAX_PROBLEMS else ""
        raise ChangeError(f"{len(problems)} problem(s), nothing applied:\n  {shown}{more}")


# --- state -----------------------------------------------------------------------------------


def temp_table(
    con: duckdb.DuckDBPyConnection, name: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]
) -> None:
    """A temporary table of Python rows in one statement: each column passed as a list and unnested.

    executemany inserts a row at a time (about 1 ms each here): 10 k changes took 44 s that way.
    """
    lists = [[row[i] for row in rows] for i in range(len(columns))]
    select = ", ".join(f"unnest(?::{kind}[]) AS {column}" for column, kind in columns)
    declared = ", ".join(f"{column} {kind}" for column, kind in columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({declared})")
    if rows:
        con.execute(f"INSERT INTO {name} SELECT {select}", lists)


def _key_match(spec: Registry, table: str, keys: str) -> str:
    """Rows of `table` whose unique columns equal the text keys k0, k1, ... of `keys` (cast once, to the column)."""
    kinds = {c.name: c.sql_type for c in spec.columns}
    return " AND ".join(
        f"{table}.{c} = TRY_CAST({keys}.k{i} AS {kinds[c]})" for i, c in enumerate(spec.unique_columns)
    )


def state(registry: str) -> str:
    return f"state_{registry}"


def _has_state(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE NOT temporary AND table_name = 'state_persons'"
    ).fetchone()
    return bool(found and found[0])


def drop_state(con: duckdb.DuckDBPyConnection) -> None:
    """A full run over new registry files starts the state again from them (the sequence numbers stay)."""
    for registry in REGISTRIES:
        con.execute(f"DROP TABLE IF EXISTS {state(registry.name)}")


def ensure_state(con: duckdb.DuckDBPyConnection, registries: Path) -> LoadReport | None:
    """The registry state the feed changes: made once from the checked files (as a run loads them)."""
    if _has_state(con):
        return None
    report = load_registries(con, registries)
    con.execute("BEGIN")
    for registry in REGISTRIES:
        con.execute(f"CREATE TABLE {state(registry.name)} AS SELECT * FROM {registry.name}")
    con.execute(
        "CREATE TABLE IF NOT EXISTS change_sources (source VARCHAR PRIMARY KEY, last_seq BIGINT, applied_at TIMESTAMP)"
    )
    _ensure_batch_tables(con)
    con.execute("COMMIT")
    return report


def _ensure_batch_tables(con: duckdb.DuckDBPyConnection) -> None:
    """What each batch did, for the services (change_effects.py) and for the next copy of a run."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS change_batches (batch INTEGER, applied_at TIMESTAMP, day DATE, records BIGINT, "
        "affected BIGINT, gained BIGINT, lost BIGINT, seconds DOUBLE)"
    )
    con.execute("ALTER TABLE change_batches ADD COLUMN IF NOT EXISTS run INTEGER")  # the run it changed
    con.execute("ALTER TABLE change_batches ADD COLUMN IF NOT EXISTS withdrawn BIGINT")
    con.execute(
        "CREATE TABLE IF NOT EXISTS entitlement_changes (batch INTEGER, subject VARCHAR, policy_id VARCHAR, "
        "old_version INTEGER, new_version INTEGER)"
    )
    con.execute("CREATE TABLE IF NOT EXISTS batch_subjects (batch INTEGER, subject VARCHAR, enterprise BOOLEAN)")
    con.execute("CREATE TABLE IF NOT EXISTS batch_withdrawals (batch INTEGER, subject VARCHAR)")


def batches_of(con: duckdb.DuckDBPyConnection, run: int) -> list[int]:
    """The change batches applied over run `run`, in order (none when the feed never ran)."""
    try:
        return [b for (b,) in con.execute("SELECT batch FROM change_batches WHERE run = ? ORDER BY batch", [run])
                .fetchall()]  # fmt: skip
    except (duckdb.CatalogException, duckdb.BinderException):  # no feed yet, or batches from before `run`
        return []


def held_entitlements_sql(run: int, published: Sequence[int]) -> str:
    """A query of (subject, policy_id, version): run `run`'s entitlements as changed by the `published` batches,
    which is what the services database holds after that run's copy and those batches' publication."""
    history = f"SELECT subject, policy_id, version FROM entitlement_history WHERE run = {int(run)}"
    if not published:
        return history
    batches = ", ".join(str(int(b)) for b in published)
    last = (
        "SELECT subject, policy_id, first(new_version ORDER BY batch DESC) AS version FROM entitlement_changes "
        f"WHERE batch IN ({batches}) GROUP BY subject, policy_id"
    )
    return f"""
        WITH last_change AS ({last})
        SELECT h.subject, h.policy_id, h.version FROM ({history}) AS h
        WHERE NOT EXISTS (SELECT 1 FROM last_change AS c WHERE c.subject = h.subject AND c.policy_id = h.policy_id)
        UNION ALL SELECT subject, policy_id, version FROM last_change WHERE version IS NOT NULL
        """


def export_state(con: duckdb.DuckDBPyConnection, folder: Path) -> Path:
    """The changed registries as Parquet files (for a full run over them, or for the departments)."""
    folder.mkdir(parents=True, exist_ok=True)
    for registry in REGISTRIES:
        target = literal(str(folder / f"{registry.name}.parquet"))
        con.execute(f"COPY {state(registry.name)} TO {target} (FORMAT parquet)")
    return folder


# --- sequencing ------------------------------------------------------------------------------


def new_changes(con: duckdb.DuckDBPyConnection, changes: Sequence[Change]) -> tuple[list[Change], int]:
    """The records not yet applied, in sequence order per source; (new, skipped). A gap is refused."""
    return unapplied(dict(con.execute("SELECT source, last_seq FROM change_sources").fetchall()), changes)


def unapplied(last: Mapping[str, int], changes: Sequence[Change]) -> tuple[list[Change], int]:
    """new_changes given each source's last applied sequence number (the Spark feed keeps them in its manifest)."""
    by_source: dict[str, dict[int, Change]] = {}
    problems: list[str] = []
    for change in changes:
        seen = by_source.setdefault(change.source, {})
        earlier = seen.get(change.seq)
        if earlier is not None and earlier[2:5] != change[2:5]:
            problems.append(f"{change.where}: {change.source} sequence {change.seq} is also {earlier.where}, "
                            "with another change")  # fmt: skip
        seen.setdefault(change.seq, change)
    fresh: list[Change] = []
    skipped = 0
    for source, records in sorted(by_source.items()):
        expected = last.get(source, 0) + 1
        for seq in sorted(records):
            if seq < expected:
                skipped += 1
                continue
            if seq > expected:
                problems.append(f"{source}: sequence {seq} follows {expected - 1} ({expected} is missing)")
                break
            fresh.append(records[seq])
            expected += 1
    skipped += len(changes) - sum(len(r) for r in by_source.values())  # repeated lines of one change
    _refuse(problems)
    return fresh, skipped


# --- validation and the net effect -------------------------------------------------------------


def _key(spec: Registry, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row.get(c) for c in spec.unique_columns)


def _existing(con: duckdb.DuckDBPyConnection, spec: Registry, keys: Iterable[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    """Which of the keys (text) have a row in the state."""
    keys = list(keys)
    if not keys:
        return set()
    temp_table(con, "asked_keys", [(f"k{i}", "VARCHAR") for i in range(len(spec.unique_columns))], keys)
    found = con.execute(
        f"SELECT a.* FROM asked_keys a JOIN {state(spec.name)} s ON {_key_match(spec, 's', 'a')}"
    ).fetchall()
    return {tuple(r) for r in found}


def net_effect(con: duckdb.DuckDBPyConnection, changes: Sequence[Change]) -> dict[str, dict[tuple[Any, ...], Any]]:
    """Per registry, each touched row's final state: its row (text values) or None (deleted).

    Each record is checked against the rows as the records before it left them: an insert of a
    row that exists, an update or delete of one that does not, is refused.
    """
    problems: list[str] = []
    final: dict[str, dict[tuple[Any, ...], Any]] = {}
    by_registry: dict[str, list[Change]] = {}
    for change in changes:
        by_registry.setdefault(change.registry, []).append(change)
    for name, records in by_registry.items():
        spec = BY_NAME[name]
        exists = _existing(con, spec, {_key(spec, c.row) for c in records})
        rows = final.setdefault(name, {})
        for change in records:
            key = _key(spec, change.row)
            present = rows[key] is not None if key in rows else key in exists
            if change.op == "insert" and present:
                problems.append(f"{change.where}: {name} already has {_shown(spec, key)}: send an update")
            elif change.op != "insert" and not present:
                problems.append(f"{change.where}: {name} has no {_shown(spec, key)} to {change.op}")
            else:
                rows[key] = None if change.op == "delete" else change.row
    _refuse(problems)
    return final


def _shown(spec: Registry, key: tuple[Any, ...]) -> str:
    return ", ".join(f"{c} {v}" for c, v in zip(spec.unique_columns, key, strict=True))


def _stage(con: duckdb.DuckDBPyConnection, spec: Registry, rows: Sequence[dict[str, Any]]) -> str:
    """The new rows of a registry as a temporary table of text columns plus typed `t_` columns."""
    table = f"new_{spec.name}"
    names = [c.name for c in spec.columns]
    columns = [("row_", "BIGINT"), *((n, "VARCHAR") for n in names)]
    temp_table(con, f"{table}_raw", columns, [(i, *(r.get(n) for n in names)) for i, r in enumerate(rows)])
    typed = ", ".join(f"TRY_CAST({c.name} AS {c.sql_type}) AS t_{c.name}" for c in spec.columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT *, {typed} FROM {table}_raw")
    return table


def check_rows(con: duckdb.DuckDBPyConnection, final: dict[str, dict[tuple[Any, ...], Any]]) -> None:
    """Every inserted or updated row passes its registry's checks, its subject exists (after the batch),
    and no person is deleted while other registries still hold rows of theirs."""
    problems: list[str] = []
    persons = final.get("persons", {})
    temp_table(con, "batch_persons", [("person_id", "VARCHAR"), ("gone", "BOOLEAN")],
               [(k[0], v is None) for k, v in persons.items()])  # fmt: skip
    # Who is alive after the batch, among the persons the rows name (not the whole base: at 25 M a
    # hash table of every person per registry checked cost about a second each).
    _ids_table(con, "named_persons", named_ids(list(_as_changes(final)))[0])
    alive = (
        "(SELECT person_id FROM state_persons WHERE person_id IN (SELECT id FROM named_persons) "
        "AND person_id NOT IN (SELECT person_id FROM batch_persons) "
        "UNION ALL SELECT person_id FROM batch_persons WHERE NOT gone)"
    )
    for name, rows in final.items():
        spec = BY_NAME[name]
        kept = [r for r in rows.values() if r is not None]
        if not kept:
            continue
        table = _stage(con, spec, kept)
        unknown = None
        if spec.refers_to == "persons":
            unknown = f"t_{spec.key} NOT IN {alive}"
        elif spec.refers_to is not None:
            unknown = f"t_{spec.key} NOT IN (SELECT {spec.key} FROM {state(spec.refers_to)})"
        for row_, reason in con.execute(
            f"SELECT row_, {reason_sql(spec, unknown)} AS r FROM {table} WHERE r IS NOT NULL ORDER BY row_ LIMIT 50"
        ).fetchall():
            problems.append(f"{name} {_shown(spec, _key(spec, kept[row_]))}: {reason}")
    gone = [k[0] for k, v in persons.items() if v is None]
    if gone:
        for registry in REGISTRIES:
            if registry.refers_to != "persons":
                continue
            kept_rows = {k for k, v in final.get(registry.name, {}).items() if v is not None}
            for (pid,) in con.execute(
                f"SELECT DISTINCT person_id FROM {state(registry.name)} WHERE person_id IN "
                "(SELECT person_id FROM batch_persons WHERE gone)"
            ).fetchall():
                still = [k for k in _rows_of(con, registry, pid) if final.get(registry.name, {}).get(k, 1) is not None]
                if still or any(k[registry.unique_columns.index("person_id")] == pid for k in kept_rows):
                    problems.append(f"persons person_id {pid}: still in {registry.name}: delete those rows first, "
                                    "or record the death_date")  # fmt: skip
    _refuse(problems)


def _rows_of(con: duckdb.DuckDBPyConnection, spec: Registry, person: str) -> list[tuple[Any, ...]]:
    columns = ", ".join(f"CAST({c} AS VARCHAR)" for c in spec.unique_columns)
    found = con.execute(f"SELECT {columns} FROM {state(spec.name)} WHERE person_id = ?", [person]).fetchall()
    return [tuple(r) for r in found]


# --- who is affected ---------------------------------------------------------------------------


_PEOPLE_OF = {  # registry -> the columns of its rows that name people whose facts the row changes
    "kinship": ("person_id", "relative_id"),
    "marriages": ("person_id", "spouse_id"),
}


def touched_ids(final: dict[str, dict[tuple[Any, ...], Any]]) -> tuple[set[str], set[str], set[str], set[str]]:
    """(persons, enterprises, households, addresses) that the changed rows name, new values and keys."""
    persons: set[str] = set()
    enterprises: set[str] = set()
    households: set[str] = set()
    addresses: set[str] = set()
    for name, rows in final.items():
        spec = BY_NAME[name]
        for key, row in rows.items():
            named = dict(zip(spec.unique_columns, key, strict=True)) | (row or {})
            if spec.key == "credit_code":
                enterprises.add(named["credit_code"])
                continue
            for column in _PEOPLE_OF.get(name, ("person_id",)):
                if named.get(column):
                    persons.add(named[column])
            if named.get("household_id"):
                households.add(named["household_id"])
            if named.get("address_id"):
                addresses.add(named["address_id"])
    return persons, enterprises, households, addresses


def _ids_table(con: duckdb.DuckDBPyConnection, name: str, ids: Iterable[str]) -> None:
    temp_table(con, name, [("id", "VARCHAR")], [(i,) for i in sorted(ids)])


def people_around_sql(people: str, households: str | None = None, addresses: str | None = None) -> str:
    """A query of ids: the people of table `people`, everyone in their households and at their addresses
    (and in those of tables `households` and `addresses`), and their kin both ways, marriages too."""
    more_hh = f" UNION SELECT id FROM {households}" if households else ""
    more_ad = f" UNION SELECT id FROM {addresses}" if addresses else ""
    of = f"(SELECT id FROM {people})"
    return f"""
        WITH hh AS (SELECT household_id FROM state_households WHERE person_id IN {of}{more_hh}),
             ad AS (SELECT address_id FROM state_addresses WHERE person_id IN {of}{more_ad})
        SELECT id FROM {people}
        UNION SELECT person_id FROM state_households WHERE household_id IN (SELECT household_id FROM hh)
        UNION SELECT person_id FROM state_addresses WHERE address_id IN (SELECT address_id FROM ad)
        UNION SELECT CASE WHEN person_id IN {of} THEN relative_id ELSE person_id END FROM state_kinship
              WHERE person_id IN {of} OR relative_id IN {of}
        UNION SELECT CASE WHEN person_id IN {of} THEN spouse_id ELSE person_id END FROM state_marriages
              WHERE person_id IN {of} OR spouse_id IN {of}
        """  # each relation registry read once for both directions: 0.85 s to 0.68 s at 5 M persons


def affected_persons(
    con: duckdb.DuckDBPyConnection, persons: set[str], households: set[str], addresses: set[str]
) -> set[str]:
    """The changed persons, everyone in their households and at their addresses and in the named ones,
    and their kin (both ways, marriages too), from the state as it is now."""
    _ids_table(con, "changed_persons", persons)
    _ids_table(con, "changed_households", households)
    _ids_table(con, "changed_addresses", addresses)
    found = con.execute(people_around_sql("changed_persons", "changed_households", "changed_addresses")).fetchall()
    return {r[0] for r in found if r[0] is not None}


def _neighbourhood(con: duckdb.DuckDBPyConnection) -> None:
    """The temporary registry tables a run reads, holding only what the affected subjects' facts read:
    their rows, their households' and addresses' rows, and the rows of the people those and their kin name."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE near AS {people_around_sql('affected')}")
    for registry in REGISTRIES:
        if registry.key == "credit_code":
            where = "credit_code IN (SELECT id FROM affected_enterprises)"
        else:
            where = "person_id IN (SELECT id FROM near)"
        source = state(registry.name)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {registry.name} AS SELECT * FROM {source} WHERE {where}")
    con.execute("DROP TABLE IF EXISTS day_view_made")
    for facts_sql in (PERSON_FACTS_SQL, ENTERPRISE_FACTS_SQL):
        con.execute(facts_sql.replace("CREATE OR REPLACE VIEW", "CREATE OR REPLACE TEMP VIEW"))


# --- applying a batch --------------------------------------------------------------------------


NetRows = dict[str, dict[tuple[Any, ...], Any]]  # registry -> unique key (text) -> its row after the batch, None: gone


def _as_changes(final: NetRows) -> Iterable[Change]:
    """The net rows as records (keys and values), for named_ids."""
    for name, rows in final.items():
        spec = BY_NAME[name]
        for key, row in rows.items():
            yield Change("", 0, name, "update", dict(zip(spec.unique_columns, key, strict=True)) | (row or {}), "")


def named_ids(changes: Sequence[Change]) -> tuple[set[str], set[str], set[str], set[str]]:
    """(persons, enterprises, households, addresses) the records name: what the checks of a batch read."""
    named: NetRows = {}
    for change in changes:
        spec = BY_NAME[change.registry]
        named.setdefault(change.registry, {})[_key(spec, change.row)] = change.row
    return touched_ids(named)


def checked_final(con: duckdb.DuckDBPyConnection, fresh: Sequence[Change]) -> NetRows:
    """The batch's net effect, checked as apply_changes checks it, and applied to the `state_` tables of `con`.

    The checks read only the rows of the ids the records name (named_ids): a connection holding
    just those rows of a larger state (the Spark feed collects them from its cluster) decides as
    one holding all of it. Raises ChangeError, as apply_changes does.
    """
    final = net_effect(con, fresh)
    check_rows(con, final)
    _apply_final(con, final)
    _refuse(_group_problems(con, final))
    return final


def _apply_final(con: duckdb.DuckDBPyConnection, final: dict[str, dict[tuple[Any, ...], Any]]) -> None:
    for name, rows in final.items():
        spec = BY_NAME[name]
        temp_table(con, "gone_keys", [(f"k{i}", "VARCHAR") for i in range(len(spec.unique_columns))], list(rows))
        match = _key_match(spec, "s", "g")
        # by rowid from a hash join: a correlated EXISTS over the whole state cost 0.8 s at 5 M households
        con.execute(f"DELETE FROM {state(name)} WHERE rowid IN "
                    f"(SELECT s.rowid FROM {state(name)} AS s JOIN gone_keys AS g ON {match})")  # fmt: skip
        kept = [r for r in rows.values() if r is not None]
        if kept:
            table = _stage(con, spec, kept)
            typed = ", ".join(f"t_{c.name}" for c in spec.columns)
            con.execute(f"INSERT INTO {state(name)} SELECT {typed} FROM {table}")


def _group_problems(con: duckdb.DuckDBPyConnection, final: dict[str, dict[tuple[Any, ...], Any]]) -> list[str]:
    """The checks across rows (a second head at the same time, a kin cycle) over the rows the batch touched,
    as they are after it: what a full load would reject is refused here."""
    problems: list[str] = []
    for name, rows in final.items():
        spec = BY_NAME[name]
        if spec.group_check is None or not rows:
            continue
        check, meaning = spec.group_check
        if name == "households":
            ids, where = {k[0] for k in rows}, "household_id IN (SELECT id FROM touched)"
        else:  # kinship: both people of a changed row
            ids = {v for k in rows for v in (k[0], k[1])}
            where = "person_id IN (SELECT id FROM touched) OR relative_id IN (SELECT id FROM touched)"
        _ids_table(con, "touched", ids)
        typed = ", ".join(f"{c.name} AS t_{c.name}" for c in spec.columns)
        order = ", ".join(spec.unique_columns)
        touched = f"(SELECT row_number() OVER (ORDER BY {order}) AS row_, {typed} FROM {state(name)} WHERE {where})"
        named = f"(SELECT row_number() OVER (ORDER BY {order}) AS row_, * FROM {state(name)} WHERE {where})"
        for (later,) in con.execute(
            f"SELECT n.{spec.unique_columns[0]} FROM ({check.format(rows=touched)}) g JOIN {named} n USING (row_) "
            "ORDER BY 1 LIMIT 20"
        ).fetchall():
            problems.append(f"{name} {spec.unique_columns[0]} {later}: {meaning}")
    return problems


def apply_changes(
    con: duckdb.DuckDBPyConnection,
    registries: Path,
    changes: Sequence[Change],
    policies: Sequence[Policy],
    day: dt.date,
    *,
    home_region: int = 310000,
) -> BatchResult:
    """Apply a batch exactly once and evaluate the affected subjects again; all of it or nothing."""
    started = time.perf_counter()
    ensure_state(con, registries)
    fresh, skipped = new_changes(con, changes)
    if not fresh:
        return BatchResult(0, skipped, 0, 0, 0, time.perf_counter() - started)
    final = net_effect(con, fresh)
    check_rows(con, final)
    persons, enterprises, households, addresses = touched_ids(final)
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'entitlements'").fetchone()[0]:  # type: ignore[index]
        raise ChangeError("no entitlements in this results database yet: run `suishen match run` first")
    run, _ = latest_run(con)
    _ensure_batch_tables(con)
    con.execute("BEGIN")
    try:
        # As the rows were. Everyone around them after the batch is among these already: a household or
        # address the batch gives someone is one the changed rows name, and whoever a new row adds
        # to a household, an address or a kin line is a changed person; so once is enough.
        around = affected_persons(con, persons, households, addresses)
        _apply_final(con, final)
        _refuse(_group_problems(con, final))
        _ids_table(con, "affected", around)
        _ids_table(con, "affected_enterprises", enterprises)
        _neighbourhood(con)
        batch: int = con.execute("SELECT COALESCE(max(batch), 0) + 1 FROM change_batches").fetchone()[0]  # type: ignore[index]
        affected, gained, lost = _reevaluate(con, policies, day, home_region, batch)
        withdrawn = _refresh_profiles(con, day, run, batch, scan_fields(policies))
        last: dict[str, int] = {}
        for change in fresh:
            last[change.source] = max(last.get(change.source, 0), change.seq)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for source, seq in last.items():
            con.execute(
                "INSERT INTO change_sources VALUES (?, ?, ?) ON CONFLICT (source) DO UPDATE SET "
                "last_seq = excluded.last_seq, applied_at = excluded.applied_at",
                [source, seq, now],
            )
        seconds = time.perf_counter() - started
        con.execute(
            "INSERT INTO change_batches (batch, applied_at, day, records, affected, gained, lost, seconds, run, "
            "withdrawn) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [batch, now, day, len(fresh), affected, gained, lost, seconds, run, withdrawn],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return BatchResult(len(fresh), skipped, affected, gained, lost, seconds, batch, withdrawn)


def _reevaluate(
    con: duckdb.DuckDBPyConnection, policies: Sequence[Policy], day: dt.date, home_region: int, batch: int
) -> tuple[int, int, int]:
    """Replace the affected subjects' entitlements, the difference kept under `batch`; (affected, gained, lost)."""
    con.execute("ALTER TABLE entitlements RENAME TO entitlements_all")
    try:
        run_matching(con, policies, day, home_region=home_region)  # a new `entitlements` over the neighbourhood
        con.execute(
            "CREATE OR REPLACE TEMP TABLE evaluated AS "
            "SELECT id FROM affected UNION SELECT id FROM affected_enterprises"
        )
        # Only the affected: the others in the neighbourhood lack the rows their own facts read.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE fresh_entitlements AS SELECT * FROM entitlements "
            "WHERE subject IN (SELECT id FROM evaluated)"
        )
        con.execute("DROP TABLE entitlements")
    finally:
        con.execute("ALTER TABLE entitlements_all RENAME TO entitlements")
    con.execute(
        """
        INSERT INTO entitlement_changes
        SELECT ?, COALESCE(o.subject, n.subject), COALESCE(o.policy_id, n.policy_id), o.version, n.version
        FROM (SELECT * FROM entitlements WHERE subject IN (SELECT id FROM evaluated)) o
        FULL OUTER JOIN fresh_entitlements n USING (subject, policy_id)
        WHERE o.version IS DISTINCT FROM n.version
        """,
        [batch],
    )
    gained, lost = con.execute(
        "SELECT count(*) FILTER (WHERE old_version IS NULL), count(*) FILTER (WHERE new_version IS NULL) "
        "FROM entitlement_changes WHERE batch = ?",
        [batch],
    ).fetchone()  # type: ignore[misc]
    con.execute("DELETE FROM entitlements WHERE subject IN (SELECT id FROM evaluated)")
    con.execute("INSERT INTO entitlements SELECT * FROM fresh_entitlements")
    con.execute("INSERT INTO batch_subjects SELECT ?, id, FALSE FROM affected", [batch])
    con.execute("INSERT INTO batch_subjects SELECT ?, id, TRUE FROM affected_enterprises", [batch])
    affected: int = con.execute("SELECT count(*) FROM evaluated").fetchone()[0]  # type: ignore[index]
    return affected, int(gained), int(lost)


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE NOT temporary AND table_name = ?", [name]
    ).fetchone()
    return bool(found and found[0])


def _refresh_profiles(
    con: duckdb.DuckDBPyConnection, day: dt.date, run: int, batch: int, fields: frozenset[str]
) -> int:
    """The affected subjects' profiles made again from the neighbourhood (under the run's version, which
    the codes already issued carry); those whose new profile takes back what their earlier codes assert
    are kept in batch_withdrawals (their codes are withdrawn when the batch reaches the services).
    Returns how many."""
    withdrawn = 0
    if _has_table(con, "profiles"):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE fresh_profiles AS SELECT * FROM ({profiles_sql(day, run)}) "
            "WHERE subject IN (SELECT id FROM affected)"
        )
        taken_back = taken_back_sql(fields)
        if taken_back is not None:
            con.execute(
                "INSERT INTO batch_withdrawals SELECT ?, o.subject FROM profiles AS o "
                "LEFT JOIN fresh_profiles AS n ON n.subject = o.subject "
                f"WHERE o.subject IN (SELECT id FROM affected) AND ({taken_back})",
                [batch],
            )
            withdrawn = con.execute("SELECT count(*) FROM batch_withdrawals WHERE batch = ?", [batch]).fetchone()[0]  # type: ignore[index]
        con.execute("DELETE FROM profiles WHERE subject IN (SELECT id FROM affected)")
        con.execute("INSERT INTO profiles SELECT * FROM fresh_profiles")
    if _has_table(con, "enterprise_profiles"):
        con.execute("DELETE FROM enterprise_profiles WHERE subject IN (SELECT id FROM affected_enterprises)")
        con.execute(
            f"INSERT INTO enterprise_profiles SELECT * FROM ({enterprise_profiles_sql(run)}) "
            "WHERE subject IN (SELECT id FROM affected_enterprises)"
        )
    return int(withdrawn)
