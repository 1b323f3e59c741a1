"""Whose new profile takes back something their earlier codes assert: the matching run's revocations.

A code carries the profile of the run in force when it was issued (only the fields some
published scan-mode policy reads). When a later run no longer finds what such a code asserts,
the code must stop working before it expires: the subject's earlier credentials are withdrawn
(`app.revocations.request_subject_revocations`, published by the servers) and their next code
carries the new profile. Only those subjects: a run that changes nothing a code carries, or
only adds to it (an age threshold reached, a later enrolment end, a new flag), withdraws nothing.

What counts as taking back, field by field (old value asserted by the earlier codes):
`age_over` lower or gone (a corrected birth date); disability category or grade, student level
or residence changed or gone; `martyr_family` or `entitled_group` no longer true; an earlier
`enrolled_until`; or no profile at all any more.

The comparison runs in DuckDB between the profiles the run replaces and the new ones. The
previous profiles are the results database's own copy when that is the run the services
database holds (the usual case: the same version); otherwise the services database's profiles
are read into DuckDB first (through a CSV file, once).
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import duckdb
from sqlalchemy import Engine, select

from app.db.schema import objections, profiles
from app.issuing import carried_fields
from app.revocations import ENTITLEMENT_DROPPED, OBJECTION_UPHELD
from verifier.catalogue import Policy

PREVIOUS = "profiles_before_run"
_LEDGER = "profiles_in_ledger"
_FIELDS = [c.name for c in profiles.columns]

# field -> SQL that is true when the new profile `n` takes back what the old `o` asserted
_TAKEN_BACK = {
    "age_over": "o.age_over IS NOT NULL AND (n.age_over IS NULL OR n.age_over < o.age_over)",
    "disability_category": "o.disability_category IS NOT NULL AND o.disability_category IS DISTINCT FROM "
    "n.disability_category",
    "disability_grade": "o.disability_grade IS NOT NULL AND o.disability_grade IS DISTINCT FROM n.disability_grade",
    "martyr_family": "o.martyr_family AND NOT COALESCE(n.martyr_family, FALSE)",
    "entitled_group": "o.entitled_group AND NOT COALESCE(n.entitled_group, FALSE)",
    "student_level": "o.student_level IS NOT NULL AND o.student_level IS DISTINCT FROM n.student_level",
    "enrolled_until": "o.enrolled_until IS NOT NULL AND (n.enrolled_until IS NULL OR n.enrolled_until < "
    "o.enrolled_until)",
    "residence": "o.residence IS NOT NULL AND o.residence IS DISTINCT FROM n.residence",
}


def scan_fields(policies: Iterable[Policy]) -> frozenset[str]:
    """The profile fields codes carry: those the published scan-mode policies read (as the issuer keeps)."""
    read: set[str] = set()
    for policy in policies:
        if policy.delivery == "scan" and policy.status == "published":
            read |= policy.attributes_read()
    return carried_fields(frozenset(read))


def keep_previous(con: duckdb.DuckDBPyConnection) -> None:
    """Before `build_profiles` replaces them: keep the results database's profiles to compare with."""
    if con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'profiles'").fetchone()[0]:  # type: ignore[index]
        con.execute(f"CREATE OR REPLACE TABLE {PREVIOUS} AS SELECT * FROM profiles")
    else:
        con.execute(f"DROP TABLE IF EXISTS {PREVIOUS}")


def taken_back_sql(fields: frozenset[str]) -> str | None:
    """SQL true when the new profile `n` takes back what the old `o` asserted in one of `fields` (None: none can)."""
    conditions = [_TAKEN_BACK[f] for f in sorted(fields) if f in _TAKEN_BACK]
    return f"n.subject IS NULL OR ({' OR '.join(conditions)})" if conditions else None


def withdrawn_subjects(
    con: duckdb.DuckDBPyConnection, ledger: Engine, fields: frozenset[str]
) -> list[tuple[str, str]]:
    """(subject, cause) for everyone whose earlier codes the new profiles take back, before they are copied.

    The cause is `objection_upheld` for a subject an officer upheld an objection of since the
    profiles in the ledger were copied (the run applied those corrections), else
    `entitlement_dropped`.
    """
    taken_back = taken_back_sql(fields)
    if taken_back is None:
        return []
    with ledger.connect() as db:
        held = db.execute(select(profiles.c.version).limit(1)).scalar()
    if held is None:
        return []  # no profile was ever copied: no code was issued from one
    source = PREVIOUS if _previous_version(con) == held else _read_ledger(con, ledger)
    subjects = [row[0] for row in con.execute(
        f"SELECT o.subject FROM {source} AS o LEFT JOIN profiles AS n ON n.subject = o.subject "
        f"WHERE {taken_back} ORDER BY o.subject"
    ).fetchall()]  # fmt: skip
    corrected = _corrected_since(ledger, int(held))
    return [(s, OBJECTION_UPHELD if s in corrected else ENTITLEMENT_DROPPED) for s in subjects]


def _previous_version(con: duckdb.DuckDBPyConnection) -> int | None:
    try:
        row = con.execute(f"SELECT version FROM {PREVIOUS} LIMIT 1").fetchone()
    except duckdb.CatalogException:
        return None
    return int(row[0]) if row is not None else None


def _read_ledger(con: duckdb.DuckDBPyConnection, ledger: Engine, batch: int = 50_000) -> str:
    """The ledger's profiles as a DuckDB table (the previous run's are not in this results database)."""
    with tempfile.TemporaryDirectory(prefix="suishen-profiles-") as tmp:
        path = Path(tmp) / "profiles.csv"
        with path.open("w", newline="") as out, ledger.connect() as db:
            writer = csv.writer(out)
            writer.writerow(_FIELDS)
            result = db.execute(select(*(profiles.c[f] for f in _FIELDS))).yield_per(batch)
            for rows in result.partitions(batch):
                writer.writerows(["" if v is None else v for v in row] for row in rows)
        types = {c.name: _duck_type(str(c.type)) for c in profiles.columns}
        columns = ", ".join(f"'{name}': '{kind}'" for name, kind in types.items())
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_LEDGER} AS SELECT * FROM read_csv('{path}', header = true, "
            f"columns = {{{columns}}}, nullstr = '')"
        )
    return _LEDGER


def _duck_type(sql_type: str) -> str:
    return {"BOOLEAN": "BOOLEAN", "DATE": "DATE", "VARCHAR(64)": "VARCHAR"}.get(sql_type, "INTEGER")


def _corrected_since(ledger: Engine, version: int) -> set[str]:
    """Subjects with an objection upheld after the run whose profiles the ledger holds was copied."""
    from app.db.schema import matching_runs

    with ledger.connect() as db:
        copied = db.execute(select(matching_runs.c.copied_at).where(matching_runs.c.run == version)).scalar()
        query = select(objections.c.subject).where(objections.c.status == "upheld")
        if copied is not None:
            query = query.where(objections.c.resolved_at >= copied)
        return set(db.execute(query).scalars())


def describe(withdrawn: Sequence[tuple[str, str]]) -> dict[str, int]:
    """How many subjects per cause (for the run's report; never who)."""
    counts: dict[str, int] = {}
    for _, cause in withdrawn:
        counts[cause] = counts.get(cause, 0) + 1
    return counts
