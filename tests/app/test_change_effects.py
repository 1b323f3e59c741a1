"""A change batch reaches the services database as a run's copy would: entitlements, notices, profiles and
code withdrawals, each batch exactly once, and the next copy of a run writes only what the batches did not."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlalchemy import Engine, select

from app.catalogue import load_catalogue
from app.db.engine import open_database
from app.db.schema import change_publications, notifications, profiles, revocation_requests
from app.matching.change_effects import NOTHING, publish_pending
from app.matching.changes import Change, ChangeError, apply_changes, ensure_state, export_state
from app.matching.engine import attach_registries, connect, record_run, run_matching
from app.matching.entitlement_store import copy_results
from app.matching.run import match_registries
from app.revocations import ENTITLEMENT_DROPPED
from tests.support.change_feed import Feed
from tests.support.entitlements import duck, live
from tests.support.registries import DAY, random_registries, write_parquet_registries

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"
POLICIES = load_catalogue(CATALOGUE).policies


def _first_run(tmp_path: Path, services_url: str, seed: int) -> tuple[Path, Path, Engine]:
    (tmp_path / "registries").mkdir()
    folder = write_parquet_registries(random_registries(seed=seed, n=300), tmp_path / "registries")
    engine = open_database(services_url)
    match_registries(folder, POLICIES, tmp_path / "results.duckdb", DAY, ledger=engine)
    return folder, tmp_path / "results.duckdb", engine


def _fed(tmp_path: Path, services_url: str, seed: int) -> tuple[duckdb.DuckDBPyConnection, Path, Path, Engine]:
    """A first run copied to the services database, and its results open with the feed's state made."""
    folder, results, engine = _first_run(tmp_path, services_url, seed)
    con = connect(results, threads=1, memory_limit="1GB")
    ensure_state(con, folder)
    return con, folder, results, engine


def _profiles(engine: Engine) -> set[tuple[Any, ...]]:
    with engine.connect() as db:
        return {tuple(r) for r in db.execute(select(profiles))}


def __duck_profiles(con: duckdb.DuckDBPyConnection) -> set[tuple[Any, ...]]:
    names = ", ".join(c.name for c in profiles.columns)
    return {tuple(r) for r in con.execute(f"SELECT {names} FROM profiles").fetchall()}


def test_published_batches_leave_the_services_holding_what_the_results_hold(
    tmp_path: Path, services_url: str
) -> None:
    con, folder, results, engine = _fed(tmp_path, services_url, 31)
    feed = Feed(con, random.Random(31))
    gained_pairs: set[tuple[str, str, int]] = set()
    for size in (40, 80):
        before = duck(con)
        result = apply_changes(con, folder, feed.batch(size), POLICIES, DAY)
        published = publish_pending(con, engine, POLICIES)
        assert published.batches == 1 and published.entitlements == result.gained + result.lost
        assert live(engine) == duck(con)  # the services hold what the results hold
        assert _profiles(engine) == __duck_profiles(con)  # and the profiles the next codes carry
        gained_pairs |= duck(con) - before
        assert publish_pending(con, engine, POLICIES) == NOTHING  # exactly once
    assert gained_pairs
    with engine.connect() as db:
        noticed = {tuple(r) for r in db.execute(
            select(notifications.c.subject, notifications.c.policy_id, notifications.c.policy_version)
        )}  # fmt: skip
        published_rows = db.execute(select(change_publications.c.batch).order_by(change_publications.c.batch)).all()
    assert gained_pairs <= noticed  # every newly entitled subject has a notice
    assert [b for (b,) in published_rows] == [1, 2]

    export_state(con, tmp_path / "changed")  # a full run over the changed registries ...
    con.close()
    again = match_registries(tmp_path / "changed", POLICIES, results, DAY, ledger=engine)
    assert again.copied is not None and again.copied.written == 0  # ... finds what the batches already published
    assert again.copied.revoked == 0 and again.copied.notified == 0


def test_a_fact_taken_back_withdraws_the_subjects_codes_once_and_their_new_profile_is_stored(
    tmp_path: Path, services_url: str
) -> None:
    con, folder, _, engine = _fed(tmp_path, services_url, 32)
    found = con.execute(
        "SELECT subject FROM profiles WHERE disability_category IS NOT NULL ORDER BY subject LIMIT 1"
    ).fetchone()
    assert found is not None
    (subject,) = found
    lapsed = Change("cdpf", 1, "disability", "delete", {"person_id": subject}, "a.jsonl:1")
    result = apply_changes(con, folder, [lapsed], POLICIES, DAY)
    assert result.withdrawn == 1
    published = publish_pending(con, engine, POLICIES)
    assert published.withdrawn == 1
    with engine.connect() as db:
        requests = db.execute(select(revocation_requests.c.subject, revocation_requests.c.cause)).all()
        stored = db.execute(select(profiles.c.disability_category).where(profiles.c.subject == subject)).scalar_one()
    assert [tuple(r) for r in requests] == [(subject, ENTITLEMENT_DROPPED)] and stored is None
    assert publish_pending(con, engine, POLICIES) == NOTHING
    with engine.connect() as db:
        assert len(db.execute(select(revocation_requests.c.subject)).all()) == 1  # not asked for twice
    con.close()


def test_batches_over_a_run_not_yet_copied_wait_and_the_copy_of_that_run_carries_them(
    tmp_path: Path, services_url: str
) -> None:
    folder, results, engine = _first_run(tmp_path, services_url, 33)
    con = connect(results, threads=1, memory_limit="1GB")
    attach_registries(con, folder)
    record_run(con, run_matching(con, POLICIES, DAY + dt.timedelta(days=400)))  # run 2, not copied
    ensure_state(con, folder)
    apply_changes(con, folder, Feed(con, random.Random(33)).batch(30), POLICIES, DAY + dt.timedelta(days=400))
    with pytest.raises(ChangeError, match="the services database holds run 1 of these results, not run 2"):
        publish_pending(con, engine, POLICIES)
    copied = copy_results(con, engine, POLICIES, with_profiles=True)
    assert copied.run == 2 and live(engine) == duck(con)
    assert publish_pending(con, engine, POLICIES) == NOTHING  # the copy carried the batch
    with engine.connect() as db:
        assert db.execute(select(change_publications.c.run, change_publications.c.batch)).all() == [(2, 1)]
    con.close()


def test_the_command_publishes_to_the_ledger_it_is_given(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from app.cli import app

    ledger = str(tmp_path / "services.sqlite")
    folder, results, engine = _first_run(tmp_path, ledger, 34)
    con = connect(results, threads=1, memory_limit="1GB")
    person = con.execute("SELECT subject FROM profiles ORDER BY subject LIMIT 1").fetchone()[0]  # type: ignore[index]
    con.close()
    record = {"source": "mzj", "seq": 1, "registry": "martyrs", "op": "insert",
              "row": {"person_id": person, "recognised_on": "1990-01-01"}}  # fmt: skip
    (tmp_path / "changes.jsonl").write_text(json.dumps(record) + "\n")
    args = ["match", "apply-changes", "--changes", str(tmp_path / "changes.jsonl"), "--registries", str(folder),
            "--db", str(results), "--catalogue", str(CATALOGUE), "--ledger", ledger]  # fmt: skip
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0 and "published 1 batch(es) to the services database" in first.output, first.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "published 0 batch(es)" in again.output, again.output
    with engine.connect() as db:
        assert db.execute(select(change_publications.c.batch)).all() == [(1,)]
