"""Reminders that reach people: the SMS/push gateway adapter, a plain HTTP webhook (主动提醒).

The inbox (notifications, renewal_reminders) stays the built-in channel. With a gateway
configured (`SUISHEN_NOTIFY_WEBHOOK_URL`), every notice and renewal reminder is also handed to
it, once, through the `deliveries` table:

1. `enqueue`: one `deliveries` row per notice or reminder that has none, with its idempotency
   key chosen then and sent with every attempt (unique per (kind, ref), so two processes
   enqueueing at once make one row).
2. `deliver_due`: each due row is leased (`lease_until`) before its POST, so two server
   processes never post the same notice at once; a process that dies mid-post leaves a lease
   that runs out, and the row is posted again with the same key (the gateway drops repeats).
3. The answer decides: 2xx (or 409, "this key was already delivered") is delivered; another
   4xx (but 408, 425 and 429) is failed for good, its reason kept; 5xx, 408, 425, 429, a
   timeout or a refused connection is retried after 30 s, 60 s, 120 s ... at most 1 h apart
   (a Retry-After the gateway sends is honoured up to that), failed after `MAX_ATTEMPTS`.

The webhook (docs/api.md, "SMS and push gateway") is a POST of JSON:
`{idempotency_key, kind, recipient, message: {zh, en}, policy_id, created_at}` with headers
`Idempotency-Key`, `X-Suishen-Attempt` and `X-Suishen-Signature: sha256=<hex HMAC of the body>`.
`recipient` is the subject as the registries name it (the person's registry number, or an
enterprise's credit code), which the government messaging platform resolves to a phone or an
app account; the message carries no other personal data, and this system holds no phone
numbers or names. Nothing about a recipient is logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any, NamedTuple

import httpx
from sqlalchemy import Engine, and_, func, or_, select, update

from app.db.bulk import insert_ignoring_duplicates
from app.db.schema import deliveries, notifications, renewal_reminders
from app.matching.notifications import RenewalReminder
from verifier.catalogue import Policy

log = logging.getLogger("suishen.delivery")

MAX_ATTEMPTS = 8
FIRST_RETRY_S = 30.0
LONGEST_RETRY_S = 3600.0
LEASE_S = 60.0  # longer than one POST's deadline: a lease outlives the attempt it covers
POST_DEADLINE_S = 5.0
RETRYABLE = frozenset({408, 425, 429})
PRIVILEGE, RENEWAL = "privilege", "renewal"
MESSAGE_LIMIT = 500  # characters a message may have (an SMS gateway splits what it must)


class Attempt(NamedTuple):
    """What one POST came to: delivered, retry later (with an optional wait) or failed for good."""

    outcome: str  # delivered, retry, failed
    reason: str | None = None
    wait_s: float | None = None


class DeliveryReport(NamedTuple):
    enqueued: int
    delivered: int
    retried: int
    failed: int


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def signature(secret: bytes, body: bytes) -> str:
    """The X-Suishen-Signature header: the gateway checks the body came from us, unchanged."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookGateway:
    """POSTs a message to the gateway's URL; never raises: every answer or failure is an `Attempt`."""

    def __init__(self, url: str, secret: bytes, *, deadline_s: float = POST_DEADLINE_S,
                 transport: httpx.BaseTransport | None = None) -> None:  # fmt: skip
        self.url = url
        self.secret = secret
        self.client = httpx.Client(timeout=deadline_s, follow_redirects=False, transport=transport)

    def post(self, message: dict[str, Any], attempt: int) -> Attempt:
        body = json.dumps(message, ensure_ascii=False, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": message["idempotency_key"],
                   "X-Suishen-Attempt": str(attempt), "X-Suishen-Signature": signature(self.secret, body)}  # fmt: skip
        try:
            answer = self.client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return Attempt("retry", "the gateway did not answer in time")
        except httpx.HTTPError as exc:
            return Attempt("retry", f"the gateway could not be reached: {type(exc).__name__}")
        status = answer.status_code
        if 200 <= status < 300 or status == 409:
            return Attempt("delivered")
        reason = f"HTTP {status}: {answer.text[:200]}".strip()
        if status >= 500 or status in RETRYABLE:
            return Attempt("retry", reason, _retry_after(answer.headers.get("Retry-After")))
        return Attempt("failed", reason)

    def close(self) -> None:
        self.client.close()


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None
    return min(float(value), LONGEST_RETRY_S)


def backoff_s(attempts: int) -> float:
    """The wait after the n-th failed attempt: 30 s, 60 s, 120 s ... at most an hour."""
    return float(min(FIRST_RETRY_S * 2 ** max(0, attempts - 1), LONGEST_RETRY_S))


def enqueue(engine: Engine, now: dt.datetime | None = None, *, limit: int = 10_000) -> int:
    """One pending delivery per notice and renewal reminder that has none yet; returns how many were made."""
    now = now or _now()
    made = 0
    with engine.begin() as db:
        for kind, table in ((PRIVILEGE, notifications), (RENEWAL, renewal_reminders)):
            has = select(deliveries.c.id).where(deliveries.c.kind == kind, deliveries.c.ref == table.c.id).exists()
            refs = db.execute(select(table.c.id).where(~has).order_by(table.c.id).limit(limit)).scalars().all()
            rows = [{"kind": kind, "ref": ref, "idempotency_key": secrets.token_hex(16), "status": "pending",
                     "attempts": 0, "created_at": now, "next_attempt_at": now} for ref in refs]  # fmt: skip
            if rows:
                made += max(db.execute(insert_ignoring_duplicates(engine, deliveries), rows).rowcount, 0)
    return made


_MODE_WORDS = {
    "direct": ("将直接发放，无需申请", "it will be paid to you directly, with no application"),
    "confirm": ("请登录随申码一键确认", "sign in to Suishen Pass and confirm with one click"),
    "scan": ("在场所出示随申码即可享受", "show your Suishen code at the venue"),
}


def privilege_message(title: dict[str, str], mode: str | None) -> dict[str, str]:
    zh, en = _MODE_WORDS.get(mode or "", ("详情请登录随申码查看", "sign in to Suishen Pass for the details"))
    return {"zh": f"【随申码】您已符合“{title['zh']}”的条件，{zh}。"[:MESSAGE_LIMIT],
            "en": f"[Suishen Pass] You qualify for {title['en']}: {en}."[:MESSAGE_LIMIT]}  # fmt: skip


def _message(db: Any, row: Any, policies: dict[str, Policy]) -> dict[str, Any] | None:
    """The JSON the gateway receives for one delivery row (None: its notice is gone)."""
    base = {"idempotency_key": row.idempotency_key, "kind": row.kind}
    if row.kind == PRIVILEGE:
        notice = db.execute(select(notifications).where(notifications.c.id == row.ref)).first()
        if notice is None:
            return None
        policy = policies.get(notice.policy_id)
        title = {"zh": policy.title_zh, "en": policy.title_en} if policy else {"zh": notice.policy_id,
                                                                                   "en": notice.policy_id}  # fmt: skip
        return {**base, "recipient": notice.subject, "policy_id": notice.policy_id,
                "message": privilege_message(title, policy.delivery if policy else None),
                "created_at": notice.queued_at.isoformat(timespec="seconds") + "Z"}  # fmt: skip
    reminder = db.execute(select(renewal_reminders).where(renewal_reminders.c.id == row.ref)).first()
    if reminder is None:
        return None
    words = RenewalReminder(reminder.id, reminder.subject, reminder.fact, reminder.ends_on, reminder.matching_run,
                            reminder.queued_at, reminder.read_at is not None).title()  # fmt: skip
    return {**base, "recipient": reminder.subject, "policy_id": None,
            "message": {"zh": f"【随申码】{words['zh']}。", "en": f"[Suishen Pass] {words['en']}."},
            "created_at": reminder.queued_at.isoformat(timespec="seconds") + "Z"}  # fmt: skip


def _claim(engine: Engine, now: dt.datetime, limit: int) -> list[Any]:
    """Lease up to `limit` due rows; a row another process leased (and whose lease lasts) is not taken."""
    d = deliveries
    free = or_(d.c.lease_until.is_(None), d.c.lease_until < now)
    due = and_(d.c.status == "pending", d.c.next_attempt_at <= now, free)
    with engine.connect() as db:
        ids = db.execute(select(d.c.id).where(due).order_by(d.c.next_attempt_at, d.c.id).limit(limit)).scalars().all()
    claimed = []
    for delivery_id in ids:
        with engine.begin() as db:
            taken = db.execute(update(d).where(d.c.id == delivery_id, due)
                               .values(lease_until=now + dt.timedelta(seconds=LEASE_S))).rowcount  # fmt: skip
            if taken:
                claimed.append(db.execute(select(d).where(d.c.id == delivery_id)).one())
    return claimed


def deliver_due(
    engine: Engine,
    gateway: WebhookGateway,
    policies: list[Policy] | tuple[Policy, ...],
    *,
    now: Callable[[], dt.datetime] = _now,
    limit: int = 200,
) -> DeliveryReport:
    """Post every due delivery (up to `limit`) once; each ends delivered, pending for a retry, or failed."""
    by_id = {p.id: p for p in policies}
    delivered = retried = failed = 0
    for row in _claim(engine, now(), limit):
        with engine.connect() as db:
            message = _message(db, row, by_id)
        attempt = row.attempts + 1
        result = Attempt("failed", "the notice no longer exists") if message is None else gateway.post(message, attempt)
        at = now()
        values: dict[str, Any] = {"attempts": attempt, "lease_until": None}
        if result.outcome == "delivered":
            values.update(status="delivered", reason=None, finished_at=at)
            delivered += 1
        elif result.outcome == "retry" and attempt < MAX_ATTEMPTS:
            wait = max(backoff_s(attempt), result.wait_s or 0.0)
            values.update(reason=result.reason, next_attempt_at=at + dt.timedelta(seconds=wait))
            retried += 1
        else:
            why = result.reason if result.outcome == "failed" else f"{result.reason} (gave up after {attempt} attempts)"
            values.update(status="failed", reason=why, finished_at=at)
            failed += 1
        with engine.begin() as db:
            db.execute(update(deliveries).where(deliveries.c.id == row.id).values(**values))
        if result.outcome != "delivered":
            log.warning("delivery %d: %s", row.id, values.get("reason"))  # no recipient, no message text
    return DeliveryReport(0, delivered, retried, failed)


def delivery_counts(engine: Engine) -> dict[str, int]:
    """Rows per status: what the operator watches (a growing `pending` is a gateway in trouble)."""
    counts = {"pending": 0, "delivered": 0, "failed": 0}
    with engine.connect() as db:
        for status, n in db.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status)):
            counts[str(status)] = int(n)
    return counts


def run_once(engine: Engine, gateway: WebhookGateway, policies: list[Policy] | tuple[Policy, ...],
             *, limit: int = 200) -> DeliveryReport:  # fmt: skip
    """Enqueue what is new, then post what is due: one round of the server's deliverer."""
    made = enqueue(engine)
    report = deliver_due(engine, gateway, policies, limit=limit)
    return report._replace(enqueued=made)


__all__ = ["WebhookGateway", "backoff_s", "deliver_due", "delivery_counts", "enqueue", "run_once"]
