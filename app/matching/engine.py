"""One matching run: registries and published policies in, entitlements out, in one DuckDB scan.

Every person rule becomes one column of a single pass over `person_facts` (and every
enterprise rule one of a pass over `enterprise_facts`), so the registries are read and joined
once however many policies there are; DuckDB spills to disk past its memory limit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import duckdb

from app.matching.load import LoadReport, load_registries
from app.matching.registries import UNKNOWN_WHEN_NULL
from app.matching.relation_sql import make_day_view
from app.matching.sql import Needs, compile_sql, compile_with_needs, literal, merge_needs
from app.private_files import private_dir, tighten
from verifier.catalogue import YRD_REGIONS, Policy, PolicyVersion
from verifier.rules.ast import attributes_read


class MatchRun(NamedTuple):
    day: dt.date
    persons: int
    enterprises: int
    counts: dict[str, int]  # policy id -> subjects entitled
    seconds: float
    started_at: dt.datetime | None = None  # UTC, naive; the CLI sets it to before the registries were loaded


def connect(
    database: str | Path = ":memory:", *, threads: int = 2, memory_limit: str = "6GB"
) -> duckdb.DuckDBPyConnection:
    if str(database) != ":memory:":
        private_dir(Path(database).parent)  # results hold everyone's entitlements: folder 0700
    con = duckdb.connect(str(database))
    if str(database) != ":memory:":
        for made in (Path(database), Path(f"{database}.wal")):
            tighten(made)  # and the file 0600, whatever the umask
    con.execute(f"SET threads = {int(threads)}")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")  # logs and terminals get our own messages only
    return con


def attach_registries(con: duckdb.DuckDBPyConnection, folder: Path) -> LoadReport:
    """Load the registries in `folder` (bad rows to `rejects`) and create the facts views."""
    return load_registries(con, folder)


def _scope_sql(policy: Policy, home_region: int) -> str:
    if policy.region_scope == "residents":
        return f"COALESCE(residence_region = {home_region}, FALSE)"
    if policy.region_scope == "yrd":
        return f"COALESCE(residence_region IN ({', '.join(map(str, sorted(YRD_REGIONS)))}), FALSE)"
    return "TRUE"


def _in_force(policies: Sequence[Policy], subject: str, day: dt.date) -> list[tuple[Policy, PolicyVersion]]:
    out = []
    for policy in policies:
        version = policy.version_on(day)
        if policy.subject == subject and policy.status == "published" and version is not None:
            out.append((policy, version))
    return out


def entitlement_columns(policies: Sequence[Policy], subject: str, day: dt.date, home_region: int) -> list[str]:
    """One `CASE WHEN <rule> THEN '<policy id>' END` per published policy in force on the day."""
    columns = []
    for policy, version in _in_force(policies, subject, day):
        rule = compile_sql(version.rule, day, version.params)
        columns.append(f"CASE WHEN {_scope_sql(policy, home_region)} AND {rule} THEN {literal(policy.id)} END")
    return columns


def person_needs(policies: Sequence[Policy], day: dt.date) -> Needs:
    """What the day's person rules read from the relation registries (relation_sql makes it)."""
    return merge_needs([compile_with_needs(v.rule, day, v.params)[1] for _, v in _in_force(policies, "person", day)])


def facts_view(con: duckdb.DuckDBPyConnection, policies: Sequence[Policy], subject: str, day: dt.date) -> str:
    """The view the rules of the day are run over: enterprise_facts, or person_facts with the day's relation facts."""
    if subject == "enterprise":
        return "enterprise_facts"
    return make_day_view(con, person_needs(policies, day), day)


def list_incomplete(
    con: duckdb.DuckDBPyConnection, policies: Sequence[Policy], day: dt.date, *, home_region: int = 310000
) -> dict[str, int]:
    """Table `incomplete(subject, policy_id, missing)`: those only an unknown fact keeps from a policy.

    They are told to apply through the original channel (原渠道申请) rather than silently missed.
    """
    con.execute("CREATE OR REPLACE TABLE incomplete (subject VARCHAR, policy_id VARCHAR, missing VARCHAR)")
    for policy, version in _in_force(policies, "person", day):
        unknown = sorted(attributes_read(version.rule) & UNKNOWN_WHEN_NULL)
        if not unknown:
            continue
        undecided = compile_sql(version.rule, day, version.params, frozenset(unknown))
        view = facts_view(con, policies, "person", day)
        con.execute(
            f"INSERT INTO incomplete SELECT subject, ?, ? FROM {view} "
            f"WHERE {_scope_sql(policy, home_region)} AND ({undecided}) IS NULL",
            [policy.id, ", ".join(unknown)],
        )
    return dict(con.execute("SELECT policy_id, count(*) FROM incomplete GROUP BY 1").fetchall())


def registries_fingerprint(folder: Path) -> str:
    """Which registry files a run read (names, sizes, modification times): the run's evidence."""
    parts = sorted(
        f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in folder.iterdir()
        if p.suffix in (".parquet", ".csv")
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def latest_run(con: duckdb.DuckDBPyConnection) -> tuple[int, dt.date]:
    """(version, day) of the newest recorded run; ValueError when nothing has run yet."""
    try:
        row = con.execute("SELECT version, day FROM runs ORDER BY version DESC LIMIT 1").fetchone()
    except duckdb.CatalogException:  # a results database no run has written to
        row = None
    if row is None:
        raise ValueError("no run recorded yet: run `suishen match run` first")
    return int(row[0]), row[1]


def record_run(con: duckdb.DuckDBPyConnection, run: MatchRun, registries: str = "") -> int:
    """Append the run to table `runs` (and its per-policy counts to `run_counts`); returns its version.

    Versions are 1, 2, ... per results database. `registries` is the fingerprint of the registry
    files the run read (registries_fingerprint).
    """
    con.execute(
        "CREATE TABLE IF NOT EXISTS runs (version INTEGER PRIMARY KEY, day DATE, finished_at TIMESTAMP, "
        "persons BIGINT, enterprises BIGINT, entitlements BIGINT, seconds DOUBLE, registries VARCHAR)"
    )
    con.execute("ALTER TABLE runs ADD COLUMN IF NOT EXISTS started_at TIMESTAMP")  # results files from before it
    con.execute("CREATE TABLE IF NOT EXISTS run_counts (run INTEGER, policy_id VARCHAR, entitled BIGINT)")
    version: int = con.execute("SELECT COALESCE(max(version), 0) + 1 FROM runs").fetchone()[0]  # type: ignore[index]
    con.execute(
        "CREATE TABLE IF NOT EXISTS entitlement_history "
        "(run INTEGER, subject VARCHAR, policy_id VARCHAR, version INTEGER)"
    )
    finished = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    started = run.started_at or finished - dt.timedelta(seconds=run.seconds)
    con.execute(
        "INSERT INTO runs (version, day, finished_at, persons, enterprises, entitlements, seconds, registries, "
        "started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [version, run.day, finished, run.persons, run.enterprises, sum(run.counts.values()), run.seconds,
         registries, started],
    )  # fmt: skip
    if run.counts:
        con.executemany("INSERT INTO run_counts VALUES (?, ?, ?)", [(version, p, n) for p, n in run.counts.items()])
    con.execute("INSERT INTO entitlement_history SELECT ?, * FROM entitlements", [version])
    return version


class PolicyDiff(NamedTuple):
    policy_id: str
    newly_eligible: int
    no_longer_eligible: int
    changed_version: int  # still eligible, under another version of the policy


def diff_runs(con: duckdb.DuckDBPyConnection, old: int, new: int) -> list[PolicyDiff]:
    """Per policy: who became eligible, who no longer is, and whose policy version changed."""
    latest_run(con)  # a clear error when nothing has run yet
    known = {r[0] for r in con.execute("SELECT version FROM runs WHERE version IN (?, ?)", [old, new]).fetchall()}
    missing = sorted({old, new} - known)
    if missing:
        raise ValueError(f"no run {missing[0]} in this results database")
    rows = con.execute(
        """
        WITH a AS (SELECT subject, policy_id, version FROM entitlement_history WHERE run = ?),
             b AS (SELECT subject, policy_id, version FROM entitlement_history WHERE run = ?)
        SELECT policy_id,
               count(*) FILTER (WHERE a.subject IS NULL) AS newly,
               count(*) FILTER (WHERE b.subject IS NULL) AS gone,
               count(*) FILTER (WHERE a.subject IS NOT NULL AND b.subject IS NOT NULL AND a.version <> b.version)
        FROM a FULL OUTER JOIN b USING (subject, policy_id)
        GROUP BY policy_id ORDER BY policy_id
        """,
        [old, new],
    ).fetchall()
    return [PolicyDiff(*row) for row in rows]


def run_matching(
    con: duckdb.DuckDBPyConnection, policies: Sequence[Policy], day: dt.date, *, home_region: int = 310000
) -> MatchRun:
    """Fill table `entitlements(subject, policy_id, version)` for the day; registries already attached."""
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    versions = {p.id: v.version for p in policies if (v := p.version_on(day)) is not None}
    con.execute("CREATE OR REPLACE TABLE entitlements (subject VARCHAR, policy_id VARCHAR, version INTEGER)")
    con.execute("CREATE OR REPLACE TEMP TABLE policy_versions (policy_id VARCHAR, version INTEGER)")
    if versions:
        con.executemany("INSERT INTO policy_versions VALUES (?, ?)", list(versions.items()))
    for subject in ("person", "enterprise"):
        columns = entitlement_columns(policies, subject, day, home_region)
        if not columns:
            continue
        view = facts_view(con, policies, subject, day)
        con.execute(
            f"""
            INSERT INTO entitlements
            SELECT h.subject, h.policy_id, v.version
            FROM (
                SELECT subject, unnest(list_filter([{", ".join(columns)}], lambda x: x IS NOT NULL)) AS policy_id
                FROM {view}
            ) AS h JOIN policy_versions AS v USING (policy_id)
            """
        )
    counts = dict(con.execute("SELECT policy_id, count(*) FROM entitlements GROUP BY policy_id").fetchall())
    persons = con.execute("SELECT count(*) FROM persons WHERE death_date IS NULL").fetchone()[0]  # type: ignore[index]
    enterprises = con.execute("SELECT count(*) FROM enterprises").fetchone()[0]  # type: ignore[index]
    return MatchRun(day, persons, enterprises, counts, time.perf_counter() - started, started_at)
