"""Proactive reminders (主动提醒): a notice for each newly eligible (subject, policy, version), sent once.

A matching run copied into the services database creates the notices (entitlement_store); the
row itself is the subject's inbox entry, so the inbox is the built-in channel. The SMS/push
gateway the servers call is app.matching.delivery (a webhook with retries and a delivery status
per notice). `deliver` feeds an in-process `NotificationChannel`, claiming each notice before
sending it: a notice goes out at most once even with two deliverers running.
The unique constraint, not the run's bookkeeping, makes "once per (subject, policy, version)".

Renewal reminders (`remind_renewals`): the matching run also tells a subject, 30 days before it
ends, that a fact a code depends on is about to end (a disability certificate's validity, a
student enrolment), so the privileges do not stop at a gate by surprise. One per (subject, fact,
end date), by a unique constraint again: a rerun adds none, a renewed fact is reminded again
when its new end comes near.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, NamedTuple, Protocol

from sqlalchemy import (
    Engine,
    select,
    update,
)

from app.db.schema import notifications, renewal_reminders

if TYPE_CHECKING:
    import duckdb

INBOX = "inbox"


class Notification(NamedTuple):
    id: int
    subject: str
    policy_id: str
    policy_version: int
    matching_run: int
    created_at: dt.datetime  # UTC, naive
    read: bool


class NotificationChannel(Protocol):
    """Something that can tell a subject about a notice: SMS, app push, e-mail. Raise to retry later."""

    name: str

    def send(self, notification: Notification) -> None: ...


class InboxChannel:
    """The built-in channel: a notice is in the subject's inbox from the moment it is created."""

    name = INBOX

    def send(self, notification: Notification) -> None:
        """Nothing to carry: `notifications_of` lists the row."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _notification(row: object) -> Notification:
    return Notification(
        row.id, row.subject, row.policy_id, row.policy_version, row.matching_run,  # type: ignore[attr-defined]
        row.queued_at, row.read_at is not None,  # type: ignore[attr-defined]
    )  # fmt: skip


def notifications_of(engine: Engine, subject: str, *, limit: int = 200) -> list[Notification]:
    """The subject's inbox, newest first."""
    query = (
        select(notifications)
        .where(notifications.c.subject == subject)
        .order_by(notifications.c.queued_at.desc(), notifications.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as db:
        return [_notification(row) for row in db.execute(query)]


def mark_read(engine: Engine, subject: str, notification_id: int, at: dt.datetime | None = None) -> bool:
    """Mark one of the subject's notices read; False when the subject has no such notice (answer 404).

    Marking a read notice again keeps the first reading time.
    """
    with engine.begin() as db:
        owned = db.execute(
            select(notifications.c.read_at).where(
                notifications.c.id == notification_id, notifications.c.subject == subject
            )
        ).first()
        if owned is None:
            return False
        if owned.read_at is None:
            db.execute(update(notifications).where(notifications.c.id == notification_id).values(read_at=at or _now()))
    return True


def deliver(engine: Engine, channel: NotificationChannel, *, limit: int = 10_000) -> int:
    """Send up to `limit` notices no channel has sent yet; returns how many were sent.

    Each notice is claimed (sent_at set where it was NULL) before `send`: a concurrent deliverer
    that loses the claim skips it. A `send` that raises gives the claim back and stops the batch.
    """
    with engine.connect() as db:
        pending = db.execute(
            select(notifications).where(notifications.c.sent_at.is_(None)).order_by(notifications.c.id).limit(limit)
        ).all()
    sent = 0
    for row in pending:
        with engine.begin() as db:
            claimed = db.execute(
                update(notifications)
                .where(notifications.c.id == row.id, notifications.c.sent_at.is_(None))
                .values(sent_at=_now(), channel=channel.name)
            ).rowcount
        if not claimed:
            continue
        try:
            channel.send(_notification(row))
        except Exception:
            with engine.begin() as db:
                db.execute(update(notifications).where(notifications.c.id == row.id).values(sent_at=None))
            raise
        sent += 1
    return sent


# -- renewal reminders -------------------------------------------------------------------------

RENEWAL_NOTICE_DAYS = 30  # a reminder when the last day of the fact is at most this many days away

# The facts whose end takes a group out of a code, with their words. Each HELD_UNTIL date of the
# registries is one (a test keeps them in step); the enrolment end is the profile builder's own.
ENDING_FACTS: dict[str, dict[str, str]] = {
    "disability.certificate_valid_until": {"zh": "残疾人证", "en": "disability certificate"},
    "student.enrolled_until": {"zh": "学籍", "en": "student enrolment"},
}


class RenewalReminder(NamedTuple):
    id: int
    subject: str
    fact: str  # a key of ENDING_FACTS
    ends_on: dt.date  # the last day the fact holds
    matching_run: int
    created_at: dt.datetime  # UTC, naive
    read: bool

    def title(self) -> dict[str, str]:
        """The inbox line, in Chinese and English, with the end date."""
        what = ENDING_FACTS.get(self.fact, {"zh": self.fact, "en": self.fact})
        on = self.ends_on.isoformat()
        return {
            "zh": f"您的{what['zh']}将于 {on} 到期，请及时办理续期，以免到期后无法享受相关优待",
            "en": f"Your {what['en']} ends on {on}: renew it in time to keep the privileges that depend on it",
        }


def remind_renewals(
    con: duckdb.DuckDBPyConnection, engine: Engine, day: dt.date, run: int, *, batch: int = 50_000
) -> int:
    """Reminders for the facts that end within RENEWAL_NOTICE_DAYS of `day`; returns how many are new.

    Read from the run's facts view (registries attached, corrections applied): a fact whose last
    day is from `day` to `day` + 30 days, so it still holds today and the code still carries it.
    A rerun, or a second run inside the window, finds the same (subject, fact, end date) and the
    unique constraint skips it (INSERT OR IGNORE / ON CONFLICT DO NOTHING, no check-then-insert).
    """
    from app.db.bulk import insert_ignoring_duplicates
    from app.matching.registries import column_of
    from app.matching.sql import literal

    first, last = literal(day), literal(day + dt.timedelta(days=RENEWAL_NOTICE_DAYS))
    query = " UNION ALL ".join(
        f"SELECT subject, {literal(fact)} AS fact, {column_of(fact)} AS ends_on FROM person_facts "
        f"WHERE {column_of(fact)} BETWEEN {first} AND {last}"
        for fact in ENDING_FACTS
    )
    cursor = con.execute(f"SELECT * FROM ({query}) ORDER BY subject, fact")
    queued = _now()
    statement = insert_ignoring_duplicates(engine, renewal_reminders)
    written = 0
    with engine.begin() as db:
        while rows := cursor.fetchmany(batch):
            values = [
                {"subject": subject, "fact": fact, "ends_on": ends_on, "matching_run": run, "queued_at": queued}
                for subject, fact, ends_on in rows
            ]
            written += max(db.execute(statement, values).rowcount, 0)
    return written


def reminders_of(engine: Engine, subject: str, *, limit: int = 200) -> list[RenewalReminder]:
    """The subject's renewal reminders, newest first."""
    r = renewal_reminders
    query = select(r).where(r.c.subject == subject).order_by(r.c.queued_at.desc(), r.c.id.desc()).limit(limit)
    with engine.connect() as db:
        return [
            RenewalReminder(row.id, row.subject, row.fact, row.ends_on, row.matching_run, row.queued_at,
                            row.read_at is not None)
            for row in db.execute(query)
        ]  # fmt: skip


def mark_reminder_read(engine: Engine, subject: str, reminder_id: int, at: dt.datetime | None = None) -> bool:
    """Mark one of the subject's reminders read (the first reading time kept); False when it is not theirs."""
    r = renewal_reminders
    with engine.begin() as db:
        owned = db.execute(select(r.c.read_at).where(r.c.id == reminder_id, r.c.subject == subject)).first()
        if owned is None:
            return False
        if owned.read_at is None:
            db.execute(update(r).where(r.c.id == reminder_id).values(read_at=at or _now()))
    return True
