"""Uploading the outbox to `POST /v1/events` in batches, with exponential backoff while the server is away.

The server stores events idempotently by id, so a batch whose answer was lost is simply sent
again: at-least-once delivery here plus idempotent storage there gives each event once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from scanner_client.outbox import Outbox
from scanner_client.server import Refused, ServerClient, Unreachable

log = logging.getLogger(__name__)

MAX_BATCH = 1000  # the contract's limit per request
DEFAULT_BATCH = 200
BASE_DELAY_S = 1.0
MAX_DELAY_S = 300.0


class Attempt(NamedTuple):
    sent: int  # events acknowledged by the server in this attempt
    error: str | None


class Uploader:
    """One batch per `step`; failures push the next attempt back (exponential, with jitter)."""

    def __init__(
        self,
        outbox: Outbox,
        client: ServerClient,
        *,
        batch: int = DEFAULT_BATCH,
        base_delay_s: float = BASE_DELAY_S,
        max_delay_s: float = MAX_DELAY_S,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.batch = max(1, min(batch, MAX_BATCH))
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.clock = clock
        self.rng = rng or random.Random()
        self.failures = 0
        self.next_attempt = 0.0
        self.last_error: str | None = None

    def due(self) -> bool:
        return self.clock() >= self.next_attempt

    def step(self) -> Attempt:
        """Send one batch if one is waiting and the backoff allows it."""
        if not self.due():
            return Attempt(0, self.last_error)
        events = self.outbox.pending(self.batch)
        if not events:
            return Attempt(0, None)
        ids = [e["id"] for e in events]
        try:
            self.client.post_events(events)
        except Unreachable as exc:
            return self._failed(str(exc), exc.retry_after)
        except Refused as exc:
            if exc.status in (401, 403):  # the key or its venue: keep everything, retry slowly
                what = "this gate's venue" if "wrong_venue" in str(exc) else "the device key"
                return self._failed(f"server refused {what} ({exc})", None)
            self.outbox.mark(ids, "refused")  # a malformed batch never succeeds; keep it, unblock the rest
            log.error("server refused %d events: %s", len(ids), exc)
            return Attempt(0, str(exc))
        self.outbox.mark(ids, "sent")
        self.failures = 0
        self.next_attempt = 0.0
        self.last_error = None
        return Attempt(len(ids), None)

    def _failed(self, error: str, retry_after: float | None) -> Attempt:
        self.failures += 1
        delay = min(self.max_delay_s, self.base_delay_s * 2 ** (self.failures - 1))
        delay *= self.rng.uniform(0.5, 1.0)  # jitter: gates that lost the same server do not return in step
        if retry_after is not None:
            delay = max(delay, retry_after)
        self.next_attempt = self.clock() + delay
        self.last_error = error
        return Attempt(0, error)

    def drain(self, max_batches: int = 100) -> int:
        """Send batches until the outbox is empty, a send fails, or `max_batches` went."""
        sent = 0
        for _ in range(max_batches):
            attempt = self.step()
            sent += attempt.sent
            if attempt.sent == 0:
                break
        return sent


class Background:
    """A daemon thread that runs `tick` every `period_s` until stopped (uploads, document refresh)."""

    def __init__(self, tick: Callable[[], None], period_s: float = 1.0) -> None:
        self._tick = tick
        self._period = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="suishen-gate-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # the sync thread must outlive any one failure
                log.exception("gate sync failed")
            self._stop.wait(self._period)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
