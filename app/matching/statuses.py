"""Where an entitlement stands: eligible -> notified -> paid in direct mode, eligible -> notified ->
confirmed -> paid in confirm mode (paid only once confirmed: `payouts.pay`), or objected, or revoked,
or expired: a confirm-mode entitlement not confirmed within its policy's `confirm_within_days` of
the notice (apply through the original channel; app.matching.confirmations).

The status is read from the records each step leaves (the run history, notifications,
confirmations, payouts, objections), never stored twice, so it cannot disagree with them.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import duckdb
from sqlalchemy import Engine, select

from app.db.bulk import insert_ignoring_duplicates
from app.db.schema import applications, confirmations, notifications, objections, payouts
from verifier.catalogue import Policy

ELIGIBLE, NOTIFIED, CONFIRMED, PAID, OBJECTED, REVOKED, NONE = (
    "eligible", "notified", "confirmed", "paid", "objected", "revoked", "not entitled",
)  # fmt: skip
EXPIRED = "expired"


class Status(NamedTuple):
    status: str
    timeline: list[tuple[str, str]]  # (when, what happened), oldest first


def notify(
    con: duckdb.DuckDBPyConnection, engine: Engine, policy_ids: list[str], run: int, channel: str = "sms"
) -> int:
    """Queue one notice per (subject, policy, version) of the run not noticed before; returns how many are new.

    Delivery is notifications.deliver's, through a channel (SMS, app push); the inbox has them at once.
    """
    if not policy_ids:
        return 0
    cursor = con.execute(
        "SELECT subject, policy_id, version FROM entitlement_history WHERE run = ? AND policy_id IN (SELECT unnest(?))",
        [run, policy_ids],
    )
    queued = 0
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    statement = insert_ignoring_duplicates(engine, notifications)
    while rows := cursor.fetchmany(5_000):
        values = [{"subject": s, "policy_id": p, "policy_version": v, "matching_run": run, "channel": channel,
                   "queued_at": now} for s, p, v in rows]  # fmt: skip
        with engine.begin() as db:
            queued += db.execute(statement, values).rowcount
    return queued


def status_of(
    con: duckdb.DuckDBPyConnection,
    engine: Engine,
    subject: str,
    policy_id: str,
    *,
    policy: Policy | None = None,
    now: float | None = None,
) -> Status:
    """The status and its timeline; with the `policy`, an unconfirmed application past its deadline is expired."""
    runs = con.execute(
        "SELECT r.version, r.day, h.subject IS NOT NULL FROM runs AS r LEFT JOIN entitlement_history AS h "
        "ON h.run = r.version AND h.subject = ? AND h.policy_id = ? ORDER BY r.version",
        [subject, policy_id],
    ).fetchall()
    timeline: list[tuple[str, str]] = []
    was = False
    for version, day, entitled in runs:
        if entitled and not was:
            timeline.append((str(day), f"run {version}: eligible"))
        elif was and not entitled:
            timeline.append((str(day), f"run {version}: no longer eligible"))
        was = entitled
    with engine.connect() as db:
        for row in db.execute(select(notifications).where(notifications.c.subject == subject,
                                                          notifications.c.policy_id == policy_id)):  # fmt: skip
            timeline.append((row.queued_at.isoformat(timespec="seconds"), f"notified by {row.channel}"))
        confirmed = db.execute(
            select(confirmations.c.confirmed_at, confirmations.c.channel)
            .join(applications, applications.c.sha256 == confirmations.c.application_sha256)
            .where(applications.c.subject == subject, applications.c.policy_id == policy_id)
        ).all()
        for at, channel in confirmed:
            timeline.append((at.isoformat(timespec="seconds"), f"confirmed via {channel}"))
        paid = db.execute(select(payouts).where(payouts.c.subject == subject, payouts.c.policy_id == policy_id)).all()
        for row in paid:
            timeline.append((row.created_at.isoformat(timespec="seconds"), f"paid ¥{row.amount_yuan} for {row.period}"))
        raised = db.execute(select(objections).where(objections.c.subject == subject,
                                                     objections.c.policy_id == policy_id)).all()  # fmt: skip
        for row in raised:
            timeline.append((row.filed_at.isoformat(timespec="seconds"), f"objection #{row.id} ({row.kind})"))
            if row.resolved_at is not None:
                timeline.append((row.resolved_at.isoformat(timespec="seconds"), f"objection #{row.id} {row.status}"))
    timeline.sort()
    if any(r.status == "open" for r in raised):
        status = OBJECTED
    elif not was:
        status = REVOKED if any(e for *_, e in runs) else NONE
    elif paid:
        status = PAID
    elif confirmed:
        status = CONFIRMED
    elif any("notified" in what for _, what in timeline):
        status = NOTIFIED
    else:
        status = ELIGIBLE
    if status in (ELIGIBLE, NOTIFIED) and policy is not None and policy.delivery == "confirm":
        from app.matching.confirmations import EXPIRED_WORDS, confirm_by

        by = confirm_by(engine, subject, policy)
        at = dt.datetime.fromtimestamp(now if now is not None else dt.datetime.now(dt.UTC).timestamp(), dt.UTC)
        if by is not None and at.replace(tzinfo=None) > by:
            status = EXPIRED
            timeline.append((by.isoformat(timespec="seconds"), f"not confirmed in time: {EXPIRED_WORDS['en']}"))
    return Status(status, timeline)
