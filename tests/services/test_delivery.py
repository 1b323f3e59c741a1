"""Reminders that reach people: the SMS/push webhook, against a small real HTTP receiver started here.

The ledger is the session's real one (a matching run's notices). The receiver is an http.server on a
free loopback port that can be told to fail; it checks each POST's HMAC signature and records what
came. Time is a parameter of the deliverer, so retries are tested without sleeping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.db.engine import open_database
from app.db.schema import deliveries, notifications
from app.matching.delivery import (
    FIRST_RETRY_S,
    MAX_ATTEMPTS,
    WebhookGateway,
    backoff_s,
    deliver_due,
    delivery_counts,
    enqueue,
)
from app.matching.evaluation import evaluate, parse_period
from tests.support.services import Place, open_api

SECRET = b"gateway-test-secret"
SUISHEN = str(Path(sys.executable).parent / "suishen")


class Receiver:
    """The gateway: answers each POST with the next scripted status (then 200), records the good ones."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = []
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.bad_signatures = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
                with outer.lock:
                    status, extra = outer.script.pop(0) if outer.script else (200, {})
                    if self.headers.get("X-Suishen-Signature") != expected:
                        outer.bad_signatures += 1
                        status = 401
                    elif status == 200:
                        outer.received.append(json.loads(body))
                        outer.headers.append(dict(self.headers))
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


class Clock:
    def __init__(self) -> None:
        self.at = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += dt.timedelta(seconds=seconds)


def _notices(engine: sa.Engine) -> int:
    with engine.connect() as db:
        return int(db.execute(sa.select(sa.func.count()).select_from(notifications)).scalar_one())


def _rows(engine: sa.Engine) -> list[Any]:
    with engine.connect() as db:
        return list(db.execute(sa.select(deliveries).order_by(deliveries.c.id)))


def test_every_notice_reaches_the_gateway_once_signed_and_keyed(place: Place, receiver: Receiver) -> None:
    engine = open_database(place.database_url)
    notices = _notices(engine)
    assert notices >= 20, "the session's matching run leaves notices"
    clock = Clock()
    assert enqueue(engine, clock()) >= notices
    assert enqueue(engine, clock()) == 0  # a second round makes no second row
    gateway = WebhookGateway(receiver.url, SECRET)
    policies = open_api_policies(place)
    report = deliver_due(engine, gateway, policies, now=clock, limit=10_000)
    assert report.delivered == len(receiver.received) >= notices and report.failed == 0
    assert receiver.bad_signatures == 0
    keys = [m["idempotency_key"] for m in receiver.received]
    assert len(set(keys)) == len(keys)
    assert all(h["Idempotency-Key"] == m["idempotency_key"] for h, m in zip(receiver.headers, receiver.received,
                                                                            strict=True))  # fmt: skip
    first = next(m for m in receiver.received if m["kind"] == "privilege")
    assert first["message"]["zh"].startswith("【随申码】您已符合")
    assert first["message"]["en"].startswith("[Suishen Pass]")
    with engine.connect() as db:
        noticed = db.execute(sa.select(notifications).where(notifications.c.id == _rows(engine)[0].ref)).one()
    assert (first["recipient"], first["policy_id"]) == (noticed.subject, noticed.policy_id)
    assert set(first) == {"idempotency_key", "kind", "recipient", "policy_id", "message", "created_at"}
    assert deliver_due(engine, gateway, policies, now=clock).delivered == 0  # nothing is posted twice
    assert delivery_counts(engine)["delivered"] == len(receiver.received)
    gateway.close()


def open_api_policies(place: Place) -> Any:
    from app.catalogue import load_catalogue

    return load_catalogue(Path(__file__).resolve().parents[2] / "data" / "catalogue").policies


def test_a_failing_gateway_is_retried_with_backoff_under_the_same_key(place: Place, receiver: Receiver) -> None:
    engine = open_database(place.database_url)
    clock = Clock()
    enqueue(engine, clock(), limit=3)
    gateway = WebhookGateway(receiver.url, SECRET)
    policies = open_api_policies(place)
    receiver.script = [(503, {}), (429, {"Retry-After": "600"}), (400, {})]
    report = deliver_due(engine, gateway, policies, now=clock, limit=3)
    assert (report.delivered, report.retried, report.failed) == (0, 2, 1)
    rows = _rows(engine)[:3]
    bad = next(r for r in rows if r.status == "failed")
    assert bad.reason.startswith("HTTP 400") and bad.attempts == 1  # refused for good, the reason kept
    waits = sorted((r.next_attempt_at - clock()).total_seconds() for r in rows if r.status == "pending")
    assert waits == [pytest.approx(FIRST_RETRY_S), pytest.approx(600)]  # the 429's Retry-After is honoured
    keys = {r.id: r.idempotency_key for r in rows}
    assert deliver_due(engine, gateway, policies, now=clock).delivered == 0  # not due yet
    clock.advance(FIRST_RETRY_S + 1)
    assert deliver_due(engine, gateway, policies, now=clock).delivered == 1
    clock.advance(600)
    assert deliver_due(engine, gateway, policies, now=clock).delivered == 1
    assert {r.id: r.idempotency_key for r in _rows(engine)[:3]} == keys  # the same key on every attempt
    assert [m["idempotency_key"] for m in receiver.received] == [keys[r.id] for r in rows if r.status == "pending"]
    assert all(r.status in ("delivered", "failed") for r in _rows(engine)[:3])
    gateway.close()


def test_a_gateway_that_never_answers_is_given_up_after_the_last_attempt(place: Place) -> None:
    engine = open_database(place.database_url)
    clock = Clock()
    enqueue(engine, clock(), limit=1)
    gateway = WebhookGateway("http://127.0.0.1:9/notify", SECRET, deadline_s=0.5)  # port 9: nothing listens
    policies = open_api_policies(place)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = deliver_due(engine, gateway, policies, now=clock, limit=1)
        row = _rows(engine)[0]
        assert row.attempts == attempt and "could not be reached" in row.reason
        if attempt < MAX_ATTEMPTS:
            assert report.retried == 1 and row.status == "pending"
            assert (row.next_attempt_at - clock()).total_seconds() == pytest.approx(backoff_s(attempt))
            clock.advance(backoff_s(attempt))
    assert row.status == "failed" and f"gave up after {MAX_ATTEMPTS} attempts" in row.reason
    assert backoff_s(1) == 30 and backoff_s(2) == 60 and backoff_s(20) == 3600
    gateway.close()


def test_two_deliverers_at_once_post_each_notice_once(place: Place, receiver: Receiver) -> None:
    engine = open_database(place.database_url)
    made = enqueue(engine)
    policies = open_api_policies(place)
    gateways = [WebhookGateway(receiver.url, SECRET) for _ in range(2)]
    threads = [threading.Thread(target=deliver_due, args=(engine, g, policies), kwargs={"limit": 10_000})
               for g in gateways]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    keys = [m["idempotency_key"] for m in receiver.received]
    assert len(keys) == len(set(keys)) == made
    for g in gateways:
        g.close()


def test_the_server_delivers_on_its_own_and_the_evaluation_counts_it(place: Place, receiver: Receiver) -> None:
    with open_api(place, notify_webhook_url=receiver.url, notify_webhook_secret=SECRET.decode(),
                  notify_every_s=0.2) as api:  # fmt: skip
        engine = open_database(place.database_url)
        notices = _notices(engine)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and delivery_counts(engine)["delivered"] < notices:
            time.sleep(0.2)
        assert delivery_counts(engine)["delivered"] >= notices
        figures = evaluate(engine, api.services.catalogued.snapshot.policies, parse_period("all"))
        assert sum(f.notices_delivered for f in figures.policies) == notices
    assert receiver.bad_signatures == 0 and len(receiver.received) >= notices


def test_the_command_runs_one_round_and_refuses_a_url_that_is_not_http(place: Place, receiver: Receiver,
                                                                      tmp_path: Path) -> None:  # fmt: skip
    secret = tmp_path / "secret"
    secret.write_text(SECRET.decode())
    done = subprocess.run([SUISHEN, "match", "deliver", "--webhook", receiver.url, "--secret-file", str(secret),
                           "--ledger", place.database_url], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "delivered" in done.stdout and len(receiver.received) > 0 and receiver.bad_signatures == 0
    bad = subprocess.run([SUISHEN, "match", "deliver", "--webhook", "ftp://x", "--secret-file", str(secret),
                          "--ledger", place.database_url], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "not an http(s) URL" in bad.stderr and "Traceback" not in bad.stderr
