"""The latest run's entitlements and the run history in the services database (SQLite files), read without DuckDB."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlalchemy import create_engine, func, select, text

import app.matching.entitlement_store as store
from app.catalogue import load_catalogue
from app.db.engine import open_database
from app.db.schema import notifications, stored_entitlements
from app.matching.applications import write_applications
from app.matching.confirmations import confirm
from app.matching.engine import attach_registries, connect, diff_runs, record_run, registries_fingerprint, run_matching
from app.matching.entitlement_store import (
    CONFIRMED,
    ELIGIBLE,
    NOTIFIED,
    OBJECTED,
    PAID,
    REVOKED,
    copy_results,
    diff_of,
    entitlements_of,
    runs,
)
from app.matching.objections import file_objection
from app.matching.payouts import pay
from keys import directory
from tests.support.entitlements import duck, live
from tests.support.registries import DAY, random_registries, write_parquet_registries

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"
LATER = DAY + dt.timedelta(days=3650)  # enrolments end, certificates lapse, people age into policies


@pytest.fixture
def setting(tmp_path: Path, services_url: str) -> Iterator[tuple[duckdb.DuckDBPyConnection, Any, Path, list[Any]]]:
    (tmp_path / "registries").mkdir()
    folder = write_parquet_registries(random_registries(seed=71, n=500), tmp_path / "registries")
    con = connect(tmp_path / "results.duckdb", threads=1, memory_limit="1GB")
    attach_registries(con, folder)
    engine = open_database(services_url)
    yield con, engine, folder, load_catalogue(CATALOGUE).policies
    engine.dispose()


def _run(con: duckdb.DuckDBPyConnection, policies: list[Any], day: dt.date, folder: Path) -> int:
    return record_run(con, run_matching(con, policies, day), registries_fingerprint(folder))


def _notices(engine: Any) -> set[tuple[str, str, int]]:
    n = notifications
    with engine.connect() as db:
        return {tuple(r) for r in db.execute(select(n.c.subject, n.c.policy_id, n.c.policy_version))}  # type: ignore[misc]


def test_runs_replace_each_other_revoke_what_they_drop_and_notify_once(setting) -> None:  # type: ignore[no-untyped-def]
    con, engine, folder, policies = setting
    modes = {p.id: p.delivery for p in policies}
    first = _run(con, policies, DAY, folder)
    one = duck(con)
    report = copy_results(con, engine, policies)
    assert (report.run, report.entitlements, report.revoked, report.notified) == (first, len(one), 0, len(one))
    assert report.written == len(one)  # the first copy writes every row
    assert live(engine) == one and _notices(engine) == one
    with engine.connect() as db:
        stored = db.execute(select(stored_entitlements)).all()
    assert {(r.subject, r.policy_id, r.mode) for r in stored} == {(s, p, modes[p]) for s, p, _ in one}
    assert {(r.run, r.evidence) for r in stored} == {(first, registries_fingerprint(folder))}

    second = _run(con, policies, LATER, folder)
    two = duck(con)
    dropped = {(s, p) for s, p, _ in one} - {(s, p) for s, p, _ in two}
    assert dropped and two - one  # the later day both takes and gives
    report = copy_results(con, engine, policies)
    assert (report.run, report.entitlements, report.revoked) == (second, len(two), len(dropped))
    assert report.notified == len(two - one)  # new (subject, policy, version) triples only
    assert report.written == len(dropped) + len(two - one)  # the differences only
    assert live(engine) == two and _notices(engine) == one | two
    e = stored_entitlements
    with engine.connect() as db:
        revoked = db.execute(select(e.c.subject, e.c.policy_id, e.c.revoked_in).where(e.c.revoked_in.is_not(None)))
        assert {(s, p) for s, p, _ in revoked} == dropped
        assert db.execute(select(func.count()).select_from(e)).scalar_one() == len(two) + len(dropped)
    subject, policy_id = sorted(dropped)[0]
    mine = {x.policy_id: x for x in entitlements_of(engine, subject)}
    assert mine[policy_id].status == REVOKED and not mine[policy_id].confirmable
    assert diff_of(engine, first, second) == [tuple(d) for d in diff_runs(con, first, second)]
    assert diff_of(engine, second, first) is None

    # The same day again: nothing new to notify, nothing revoked, the same rows.
    third = _run(con, policies, LATER, folder)
    report = copy_results(con, engine, policies)
    assert (report.run, report.revoked, report.notified, report.written) == (third, 0, 0, 0) and live(engine) == two
    history = runs(engine)
    assert [r.run for r in history] == [third, second, first]
    assert history[0].counts == dict(con.execute("SELECT policy_id, count(*) FROM entitlements GROUP BY 1").fetchall())
    assert all(r.copied_at is not None and r.registries == registries_fingerprint(folder) for r in history)
    assert all(r.started_at is not None and r.finished_at is not None and r.started_at <= r.finished_at
               for r in history)  # fmt: skip
    assert history[2].entitlements == len(one) and history[2].day == DAY


def test_the_status_of_each_entitlement_follows_the_ledger(setting, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    con, engine, folder, policies = setting
    run = _run(con, policies, DAY, folder)
    copy_results(con, engine, policies, notify_modes=("direct",))  # scan and confirm ones: not noticed

    def first(policy_id: str, skip: int = 0) -> str:
        row = con.execute("SELECT subject FROM entitlements WHERE policy_id = ? ORDER BY subject LIMIT 1 OFFSET ?",
                          [policy_id, skip]).fetchone()  # fmt: skip
        assert row is not None, policy_id
        return str(row[0])

    def status(subject: str, policy_id: str) -> Any:
        return {x.policy_id: x for x in entitlements_of(engine, subject)}[policy_id]

    direct, confirm_mode, scan = "sh-senior-allowance-70-79", "sh-student-transport-subsidy", "sh-park-senior-free"
    assert status(first(direct), direct).status == NOTIFIED
    assert status(first(scan), scan).status == ELIGIBLE
    pay(con, engine, policies, "2026-11", run)
    assert status(first(direct), direct).status == PAID
    student = first(confirm_mode)
    assert status(student, confirm_mode)[2:] == ("confirm", ELIGIBLE, run, registries_fingerprint(folder), False)
    write_applications(con, engine, policies, DAY, run, lambda d: directory.seal_key(tmp_path / "keys", d, b"pw"))
    assert status(student, confirm_mode).confirmable
    confirm(engine, student, confirm_mode, "web")
    assert status(student, confirm_mode).status == CONFIRMED and not status(student, confirm_mode).confirmable
    file_objection(engine, first(direct, 1), direct, "wrong", "the amount should be higher")
    assert status(first(direct, 1), direct).status == OBJECTED
    assert entitlements_of(engine, "P-nobody") == []
    assert [x.policy_id for x in entitlements_of(engine, student)] == sorted(
        x.policy_id for x in entitlements_of(engine, student)
    )


def test_a_copy_that_fails_midway_leaves_the_previous_one_whole(setting, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    con, engine, folder, policies = setting
    _run(con, policies, DAY, folder)
    copy_results(con, engine, policies)
    before, notices, history = live(engine), _notices(engine), runs(engine)
    _run(con, policies, LATER, folder)
    fresh = connect(tmp_path / "fresh.duckdb", threads=1, memory_limit="1GB")  # no run 1 here: every row is written
    attach_registries(fresh, folder)
    _run(fresh, policies, LATER, folder)
    _run(fresh, policies, LATER, folder)
    postgres = engine.dialect.name == "postgresql"  # COPY there (app.db.copy), batches of inserts on SQLite
    writers = ("copy_rows", "copy_query") if postgres else ("bulk_insert",)
    for results, fail_at in ((con, 1), (fresh, 1 if postgres else 2)):  # differences only, then everything
        calls: list[str] = []
        for name in writers:
            real = getattr(store, name)

            def failing(*args, real=real, calls=calls, fail_at=fail_at, name=name):  # type: ignore[no-untyped-def]
                calls.append(name)
                if len(calls) == fail_at:
                    raise OSError("disk full")
                return real(*args)

            monkeypatch.setattr(store, name, failing)
        with pytest.raises(OSError, match="disk full"):
            copy_results(results, engine, policies, batch=50)
        assert live(engine) == before and _notices(engine) == notices and runs(engine) == history
        monkeypatch.undo()
    assert copy_results(con, engine, policies).entitlements == len(duck(con)) and live(engine) == duck(con)


def test_match_run_with_a_ledger_fills_the_services_database(tmp_path: Path, env: dict[str, str]) -> None:
    import subprocess
    import sys

    from app.matching.notifications import notifications_of
    from app.matching.profile_store import profile_of

    (tmp_path / "registries").mkdir()
    folder = write_parquet_registries(random_registries(seed=72, n=300), tmp_path / "registries")
    services = tmp_path / "services.sqlite"
    command = [str(Path(sys.executable).parent / "suishen"), "match", "run", "--registries", str(folder),
               "--db", str(tmp_path / "results.duckdb"), "--day", DAY.isoformat(), "--ledger", str(services),
               "--catalogue", str(CATALOGUE)]  # fmt: skip
    outputs = [subprocess.run(command, capture_output=True, text=True, env=env, timeout=120) for _ in range(2)]
    assert [o.returncode for o in outputs] == [0, 0], outputs[-1].stderr
    said = " ".join(outputs[1].stdout.split())  # Rich wraps lines at the terminal's width
    assert "0 new notices" in said and "(0 revoked by this run; 0 rows written)" in said and "293 profiles" in said
    engine = open_database(services)
    assert [r.run for r in runs(engine)] == [2, 1]
    subject = next(s for s, _, _ in sorted(live(engine)))
    assert entitlements_of(engine, subject) and notifications_of(engine, subject)
    profile = profile_of(engine, subject, b"\x01" * 16)
    assert profile is not None and profile.version == 2


def test_readers_see_the_old_run_or_the_new_one_never_half(setting, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import threading

    from app.matching.profiles import build_profiles

    con, engine, folder, policies = setting
    first = connect(tmp_path / "first.duckdb", threads=1, memory_limit="1GB")  # another results database: the
    attach_registries(first, folder)  # second copy below cannot take the differences only, it writes every row
    build_profiles(first, DAY, _run(first, policies, DAY, folder))
    copy_results(first, engine, policies, with_profiles=True)
    old = (live(engine), 1)
    _run(con, policies, DAY, folder)
    build_profiles(con, LATER, _run(con, policies, LATER, folder))
    new = (duck(con), 2)
    reader = create_engine(engine.url)  # another connection pool, as the HTTP server has
    both = text(  # one statement, one snapshot: the profiles' version and the live entitlements
        "SELECT e.subject, e.policy_id, e.policy_version, (SELECT max(version) FROM profiles) "
        "FROM entitlements AS e WHERE e.revoked_in IS NULL"
    )

    def read() -> tuple[set[tuple[str, str, int]], int]:
        with reader.connect() as db:
            rows = db.execute(both).all()
        return {(s, p, v) for s, p, v, _ in rows}, rows[0][3]

    seen = []
    done = threading.Event()
    writer = threading.Thread(
        target=lambda: (copy_results(con, engine, policies, with_profiles=True, batch=20), done.set())
    )
    writer.start()
    while not done.is_set():
        seen.append(read())
    writer.join()
    seen.append(read())
    assert len(seen) > 1 and all(s in (old, new) for s in seen) and seen[-1] == new
    reader.dispose()


def test_a_results_database_started_afresh_replaces_the_history(setting, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    con, engine, folder, policies = setting
    _run(con, policies, DAY, folder)
    _run(con, policies, LATER, folder)
    copy_results(con, engine, policies)
    fresh = connect(tmp_path / "fresh.duckdb", threads=1, memory_limit="1GB")
    attach_registries(fresh, folder)
    assert _run(fresh, policies, DAY, folder) == 1  # numbering starts again
    report = copy_results(fresh, engine, policies)
    assert report.run == 1 and live(engine) == duck(fresh)
    history = runs(engine)
    assert [(r.run, r.day) for r in history] == [(1, DAY)] and history[0].copied_at is not None
    dropped = {(s, p) for s, p, _ in duck(con)} - {(s, p) for s, p, _ in duck(fresh)}
    assert report.revoked == len(dropped) > 0  # what the new run 1 does not find is revoked, by run 1


def test_too_many_changes_write_every_row_with_the_same_result(setting, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    con, engine, folder, policies = setting
    _run(con, policies, DAY, folder)
    one = duck(con)
    copy_results(con, engine, policies)
    _run(con, policies, LATER, folder)
    two = duck(con)
    monkeypatch.setattr(store, "_most_changes", lambda total: 1)  # any difference is "too many"
    calls: list[int] = []
    if engine.dialect.name == "postgresql":  # one COPY of every row (app.db.copy)
        real_copy = store.copy_query
        monkeypatch.setattr(store, "copy_query", lambda *args: calls.append(real_copy(*args)) or calls[-1])
    else:
        real = store.bulk_insert
        monkeypatch.setattr(store, "bulk_insert",
                            lambda db, table, rows: (calls.append(len(rows)), real(db, table, rows)))  # fmt: skip
    report = copy_results(con, engine, policies, batch=100)
    assert sum(calls) == len(two) and len(calls) >= (1 if engine.dialect.name == "postgresql" else 2)  # every row
    dropped = {(s, p) for s, p, _ in one} - {(s, p) for s, p, _ in two}
    assert (report.revoked, report.notified) == (len(dropped), len(two - one))
    assert live(engine) == two and _notices(engine) == one | two
