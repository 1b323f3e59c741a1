"""Proactive reminders (主动提醒): a notice for each newly eligible (subject, policy, version), sent once.

A matching run copied into the services database creates the notices (entitlement_store); the
row itself is the subject's inbox entry, so the inbox is the built-in channel. Other channels
(SMS, app push) implement `NotificationChannel` and are fed by `deliver`, which claims each
notice before sending it: a notice goes out at most once even with two deliverers running.
The unique constraint, not the run's bookkeeping, makes "once per (subject, policy, version)".
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple, Protocol

from sqlalchemy import (
    Engine,
    select,
    update,
)

from app.db.schema import notifications

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
