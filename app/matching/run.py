"""The matching job as one function: registries in, entitlements, profiles and a report out.

The command line (`suishen match run`), the demo set-up of `suishen serve --demo` and the tests
call it in process; it prints nothing and reports each step to an optional callback, so each
caller shows progress its own way. With `ledger` (the services database) upheld objections
correct facts first, and the profiles, entitlements, run history and notices are copied there,
with a renewal reminder for each fact a code depends on that ends within 30 days; the subjects
whose new profile takes back what their earlier codes assert are asked to be withdrawn in the
same transaction as the copy (app.matching.profile_changes; the servers publish them).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import Connection, Engine

from app.matching.changes import drop_state
from app.matching.engine import (
    MatchRun,
    attach_registries,
    connect,
    list_incomplete,
    record_run,
    registries_fingerprint,
    run_matching,
)
from app.matching.enterprise_profiles import build_enterprise_profiles, replace_enterprise_profiles
from app.matching.entitlement_store import CopyReport, copy_results
from app.matching.evaluation import keep_original_channel_list
from app.matching.load import DEFAULT_MAX_REJECT_SHARE, LoadReport, check_reject_share, write_rejects
from app.matching.notifications import remind_renewals
from app.matching.objections import apply_corrections
from app.matching.profile_changes import keep_previous, scan_fields, withdrawn_subjects
from app.matching.profiles import build_profiles
from app.revocations import request_subject_revocations
from verifier.catalogue import Policy

STEPS = 6  # loading, matching, recording, profiles, the copy, the reminders: for a progress bar


class MatchReport(NamedTuple):
    day: dt.date
    version: int  # the run's number in the results database
    run: MatchRun
    load: LoadReport
    rejects: Path  # the CSV of rejected rows, beside the results database
    incomplete: dict[str, int]  # policy -> subjects kept out only by an unknown fact
    profiles: int
    corrected: int  # facts corrected from upheld objections
    uncorrected: list[str]  # corrections that could not be applied, one line each
    copied: CopyReport | None  # what reached the services database (None without `ledger`)
    reminded: int = 0  # new renewal reminders in the services database
    withdrawn: int = 0  # subjects whose earlier codes are to be withdrawn (their profile took something back)


def match_registries(
    registries: Path,
    policies: Sequence[Policy],
    results: Path,
    day: dt.date,
    *,
    ledger: Engine | None = None,
    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE,
    step: Callable[[str], None] = lambda _description: None,
) -> MatchReport:
    """One matching run into the DuckDB file `results`; raises RegistryError or TooManyRejects."""
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    results.parent.mkdir(parents=True, exist_ok=True)
    con = connect(results)
    try:
        step(f"loading and checking registries from {registries}")
        load = attach_registries(con, registries)
        corrected, uncorrected = (0, []) if ledger is None else apply_corrections(con, ledger)
        rejects = results.with_name(results.stem + "-rejects.csv")
        write_rejects(con, rejects)
        check_reject_share(load, max_reject_share)
        step(f"matching {len(policies)} policies")
        run = run_matching(con, policies, day)._replace(started_at=started)
        incomplete = list_incomplete(con, policies, day)
        step("recording the run")
        version = record_run(con, run, registries_fingerprint(registries))
        drop_state(con)  # the change feed starts again from these files (changes.py)
        step("building profiles")
        keep_previous(con)
        profiles = build_profiles(con, day, version)
        build_enterprise_profiles(con, day, version)  # what enterprise codes (法人随申码) may carry
        copied, reminded, withdrawn = None, 0, []
        if ledger is not None:
            step("copying profiles and entitlements to the services database")
            withdrawn = withdrawn_subjects(con, ledger, scan_fields(policies))
            def also(db: Connection) -> None:  # in the copy's transaction: the run's withdrawals and enterprises
                request_subject_revocations(db, withdrawn, time.time())
                replace_enterprise_profiles(con, db)

            copied = copy_results(con, ledger, policies, with_profiles=True, also=also)
            step("reminding of facts that end within 30 days")
            reminded = remind_renewals(con, ledger, day, version)
            keep_original_channel_list(con, ledger, version)  # what the evaluation counts (原渠道)
    finally:
        con.close()
    return MatchReport(day, version, run, load, rejects, incomplete, profiles, corrected, uncorrected, copied,
                       reminded, len(withdrawn))  # fmt: skip
