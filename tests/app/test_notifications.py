"""Proactive reminders: one notice per newly eligible (subject, policy, version), an inbox, channels that send once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.catalogue import load_catalogue
from app.db.engine import open_database
from app.db.schema import notifications
from app.matching.engine import attach_registries, connect, record_run, run_matching
from app.matching.entitlement_store import copy_results
from app.matching.notifications import (
    InboxChannel,
    Notification,
    NotificationChannel,
    deliver,
    mark_read,
    notifications_of,
)
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
