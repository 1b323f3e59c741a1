"""Proactive reminders: one notice per newly eligible (subject, policy, version), an inbox, channels that send once;
renewal reminders 30 days before a fact a code depends on ends, once per (subject, fact, end date)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from app.catalogue import load_catalogue
from app.db.engine import open_database
from app.db.schema import notifications, renewal_reminders
from app.matching.engine import attach_registries, connect, record_run, run_matching
from app.matching.entitlement_store import copy_results
from app.matching.notifications import (
    ENDING_FACTS,
    InboxChannel,
    Notification,
    NotificationChannel,
    deliver,
    mark_read,
    mark_reminder_read,
    notifications_of,
    reminders_of,
)
from app.matching.registries import HELD_UNTIL
from app.matching.run import match_registries
from app.matching.statuses import notify
from tests.support.registries import DAY, random_registries, write_parquet_registries

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"
POLICY = "sh-senior-allowance-70-79"


class Recorder:
    def __init__(self, name: str = "sms") -> None:
        self.name = name
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)


@pytest.fixture
def setting(tmp_path: Path, services_url: str) -> tuple[Any, Any, list[Any]]:
    (tmp_path / "registries").mkdir()
    folder = write_parquet_registries(random_registries(seed=81, n=300), tmp_path / "registries")
    con = connect(tmp_path / "results.duckdb", threads=1, memory_limit="1GB")
    attach_registries(con, folder)
    policies = load_catalogue(CATALOGUE).policies
    record_run(con, run_matching(con, policies, DAY))
    engine = open_database(services_url)
    copy_results(con, engine, policies, notify_modes=("direct",))
    return con, engine, policies


def _count(engine: Any) -> int:
    with engine.connect() as db:
        return int(db.execute(select(func.count()).select_from(notifications)).scalar_one())


def test_a_new_policy_version_is_noticed_again_and_a_repeated_run_is_not(setting) -> None:  # type: ignore[no-untyped-def]
    con, engine, policies = setting
    entitled = con.execute("SELECT count(*) FROM entitlements WHERE policy_id = ?", [POLICY]).fetchone()[0]
    direct = con.execute(
        "SELECT count(*) FROM entitlements WHERE policy_id IN (SELECT unnest(?))",
        [[p.id for p in policies if p.delivery == "direct"]],
    ).fetchone()[0]
    assert entitled > 0 and _count(engine) == direct
    record_run(con, run_matching(con, policies, DAY))
    assert copy_results(con, engine, policies, notify_modes=("direct",)).notified == 0
    assert notify(con, engine, [POLICY], 2, "sms") == 0  # the command's notices share the constraint
    run_matching(con, policies, DAY)
    con.execute("UPDATE entitlements SET version = version + 1 WHERE policy_id = ?", [POLICY])  # a new version
    record_run(con, _same(con))
    assert copy_results(con, engine, policies, notify_modes=("direct",)).notified == entitled
    assert _count(engine) == direct + entitled


def _same(con: Any) -> Any:
    """The MatchRun of the entitlements table as it stands (after the test changed a version)."""
    from app.matching.engine import MatchRun

    counts = dict(con.execute("SELECT policy_id, count(*) FROM entitlements GROUP BY 1").fetchall())
    return MatchRun(DAY, 0, 0, counts, 0.0)


def test_the_inbox_lists_a_subjects_notices_and_marks_them_read(setting) -> None:  # type: ignore[no-untyped-def]
    con, engine, _ = setting
    subject, other = (r[0] for r in con.execute(
        "SELECT subject FROM entitlements WHERE policy_id = ? ORDER BY subject LIMIT 2", [POLICY]
    ).fetchall())  # fmt: skip
    inbox = notifications_of(engine, subject)
    assert inbox and all(n.subject == subject and not n.read for n in inbox)
    assert POLICY in {n.policy_id for n in inbox} and inbox == sorted(inbox, key=lambda n: n.created_at, reverse=True)
    mine = next(n for n in inbox if n.policy_id == POLICY)
    assert not mark_read(engine, other, mine.id)  # not theirs: the API answers 404
    assert not mark_read(engine, subject, 10**9)
    first = dt.datetime(2026, 11, 26, 9, 0)
    assert mark_read(engine, subject, mine.id, at=first) and mark_read(engine, subject, mine.id)
    assert next(n for n in notifications_of(engine, subject) if n.id == mine.id).read
    with engine.connect() as db:
        assert db.execute(select(notifications.c.read_at).where(notifications.c.id == mine.id)).scalar_one() == first
    assert not any(n.read for n in notifications_of(engine, other))
    assert notifications_of(engine, "P-nobody") == []


def test_each_notice_is_sent_once_through_a_channel_even_with_two_deliverers(setting) -> None:  # type: ignore[no-untyped-def]
    _, engine, _ = setting
    total = _count(engine)
    inbox: NotificationChannel = InboxChannel()
    inbox.send(_any(engine))  # the row is the inbox: nothing to carry, nothing marked sent
    assert inbox.name == "inbox"
    sms, push = Recorder("sms"), Recorder("push")

    class Racing(Recorder):
        """Starts a second deliverer while it sends its first notice."""

        def send(self, notification: Notification) -> None:
            if not self.sent:
                deliver(engine, push, limit=5)
            super().send(notification)

    racing = Racing("sms")
    assert deliver(engine, racing) + len(push.sent) == total
    ids = [n.id for n in racing.sent + push.sent]
    assert len(ids) == len(set(ids)) == total and len(push.sent) == 5
    assert deliver(engine, sms) == 0 and sms.sent == []


def test_a_channel_that_fails_gives_the_notice_back(setting) -> None:  # type: ignore[no-untyped-def]
    _, engine, _ = setting

    class Down(Recorder):
        def send(self, notification: Notification) -> None:
            raise ConnectionError("SMS gateway down")

    with pytest.raises(ConnectionError):
        deliver(engine, Down())
    sms = Recorder()
    assert deliver(engine, sms, limit=3) == 3 and deliver(engine, sms) == _count(engine) - 3


def _any(engine: Any) -> Notification:
    with engine.connect() as db:
        subject = db.execute(select(notifications.c.subject).limit(1)).scalar_one()
    return notifications_of(engine, subject)[0]


# -- renewal reminders: 30 days before a fact a code depends on ends, once each --------------

ENDS = {  # person -> (registry, days from the matching day to the fact's last day)
    "P-CERT-29": ("disability", 29), "P-CERT-31": ("disability", 31), "P-CERT-0": ("disability", 0),
    "P-CERT-ENDED": ("disability", -1), "P-ENROL-29": ("students", 29), "P-ENROL-31": ("students", 31),
}  # fmt: skip
CERTIFICATE, ENROLMENT = "disability.certificate_valid_until", "student.enrolled_until"


def _ending_registries(folder: Path, dead: str | None = None) -> Path:
    """One person per case in ENDS (born 1990, in Shanghai), as Parquet files; `dead` died last month."""
    con = random_registries(seed=1, n=0)  # every registry table, empty
    for person, (registry, days) in ENDS.items():
        died = DAY - dt.timedelta(days=30) if person == dead else None
        con.execute("INSERT INTO persons VALUES (?, DATE '1990-05-01', 310000, 310000, NULL, ?)", [person, died])
        until = DAY + dt.timedelta(days=days)
        if registry == "disability":
            con.execute("INSERT INTO disability VALUES (?, 4, 2, ?)", [person, until])
        else:
            con.execute("INSERT INTO students VALUES (?, 5, NULL, ?)", [person, until])
    folder.mkdir(exist_ok=True)
    return write_parquet_registries(con, folder)


def _reminders(engine: Any) -> set[tuple[str, str, dt.date]]:
    with engine.connect() as db:
        rows = db.execute(select(renewal_reminders.c.subject, renewal_reminders.c.fact, renewal_reminders.c.ends_on))
        return {(r.subject, r.fact, r.ends_on) for r in rows}


def _run(folder: Path, results: Path, engine: Any, day: dt.date) -> int:
    policies = load_catalogue(CATALOGUE).policies
    return match_registries(folder, policies, results, day, ledger=engine).reminded


def test_a_fact_ending_in_29_days_is_reminded_once_and_one_ending_in_31_days_not_yet(
    tmp_path: Path, services_url: str
) -> None:
    folder, results = _ending_registries(tmp_path / "registries"), tmp_path / "results.duckdb"
    engine = open_database(services_url)
    in_29, in_0 = DAY + dt.timedelta(days=29), DAY
    expected = {("P-CERT-29", CERTIFICATE, in_29), ("P-CERT-0", CERTIFICATE, in_0), ("P-ENROL-29", ENROLMENT, in_29)}
    assert _run(folder, results, engine, DAY) == 3
    assert _reminders(engine) == expected  # not the 31-day ones yet, nor a certificate that has already ended

    assert _run(folder, results, engine, DAY) == 0  # the same run again: none more
    assert _reminders(engine) == expected

    later = DAY + dt.timedelta(days=1)  # the 31-day ones are now 30 days away; the others were reminded already
    assert _run(folder, results, engine, later) == 2
    in_31 = DAY + dt.timedelta(days=31)
    assert _reminders(engine) == expected | {("P-CERT-31", CERTIFICATE, in_31), ("P-ENROL-31", ENROLMENT, in_31)}
    assert _run(folder, results, engine, later + dt.timedelta(days=1)) == 0


def test_the_database_keeps_one_reminder_per_subject_fact_and_end_date(tmp_path: Path, services_url: str) -> None:
    """The unique constraint, not the run's own check, is what makes "once": a second writer cannot add one."""
    engine = open_database(services_url)
    queued = dt.datetime(2026, 1, 1)
    row = {"subject": "P1", "fact": CERTIFICATE, "ends_on": DAY, "matching_run": 1, "queued_at": queued}
    with engine.begin() as db:
        db.execute(insert(renewal_reminders).values(**row))
    with pytest.raises(IntegrityError), engine.begin() as db:
        db.execute(insert(renewal_reminders).values(**{**row, "matching_run": 2}))
    with engine.begin() as db:  # a renewed certificate (a later end) is a new fact to remind of
        db.execute(insert(renewal_reminders).values(**{**row, "ends_on": DAY + dt.timedelta(days=365)}))
    assert len(_reminders(engine)) == 2


def test_a_dead_person_is_not_reminded_and_the_inbox_lists_reminders_with_their_end_date(
    tmp_path: Path, services_url: str
) -> None:
    folder = _ending_registries(tmp_path / "registries", dead="P-CERT-29")
    engine = open_database(services_url)
    assert _run(folder, tmp_path / "results.duckdb", engine, DAY) == 2
    assert not notifications_of(engine, "P-CERT-29") and reminders_of(engine, "P-CERT-29") == []
    [mine] = reminders_of(engine, "P-ENROL-29")
    assert (mine.fact, mine.ends_on, mine.read) == (ENROLMENT, DAY + dt.timedelta(days=29), False)
    title = mine.title()
    assert "2026-12-25" in title["zh"] and "学籍" in title["zh"]
    assert title["en"].startswith("Your student enrolment ends on 2026-12-25")
    [certificate] = reminders_of(engine, "P-CERT-0")
    assert "残疾人证" in certificate.title()["zh"] and "disability certificate" in certificate.title()["en"]
    assert not mark_reminder_read(engine, "P-CERT-0", mine.id)  # not theirs
    assert mark_reminder_read(engine, "P-ENROL-29", mine.id) and reminders_of(engine, "P-ENROL-29")[0].read


def test_every_dated_fact_of_the_registries_has_reminder_words() -> None:
    assert {held.until for held in HELD_UNTIL} | {ENROLMENT} == set(ENDING_FACTS)
