"""State that several server processes share through Redis, with an in-process fallback.

Redis holds the replay cache (`SET key NX EXAT`) and the rate-limit counters (one Lua call:
INCR and EXPIRE together). When Redis is slow or down, a circuit opens: for `retry_s` the
process answers from its own memory (replays and limits then hold per process, not across the
fleet) and `/readyz` says "degraded"; nothing a client was told is accepted is lost, because
events and entitlements live in the database, not in Redis.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from verifier.replay import InMemoryReplayGuard

T = TypeVar("T")
log = logging.getLogger("suishen.redis")
_DOWN = object()

# KEYS[1] counter; ARGV[1] window seconds. Returns [count, ttl].
_RATE_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('TTL', KEYS[1])}
"""


class RedisLink:
    """One Redis client behind a circuit breaker: a failure means 'use the fallback for a while'."""

    def __init__(self, url: str, timeout_s: float, retry_s: float) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self.retry_s = retry_s
        self._open_until = 0.0
        self._rate = self.client.register_script(_RATE_SCRIPT)

    @property
    def degraded(self) -> bool:
        return time.monotonic() < self._open_until

    def call(self, action: Callable[[redis.Redis], T]) -> T | object:
        """The action's result, or `_DOWN` when Redis is (or just went) unreachable."""
        if self.degraded:
            return _DOWN
        try:
            return action(self.client)
        except (redis.RedisError, OSError) as exc:
            self._open_until = time.monotonic() + self.retry_s
            log.warning("redis unreachable, in-process fallback for %.0f s: %s", self.retry_s, type(exc).__name__)
            return _DOWN

    def count_in_window(self, key: str, window_s: int) -> object:
        """[count, ttl] after counting one more in the window, or `_DOWN`."""
        return self.call(lambda r: self._rate(keys=[key], args=[window_s]))

    def ping(self) -> bool:
        self._open_until = 0.0  # a readiness probe always asks Redis itself
        return self.call(lambda r: r.ping()) is True


class SharedReplayGuard:
    """Replay cache for every process of the service; falls back to this process's memory."""

    def __init__(self, link: RedisLink | None) -> None:
        self.link = link
        self.local = InMemoryReplayGuard()
        self._lock = threading.Lock()

    def first_use(self, key: bytes, expires_at: float, now: float) -> bool:
        with self._lock:
            locally_first = self.local.first_use(key, expires_at, now)  # remembered for when Redis goes away
        if self.link is None:
            return locally_first
        stored = self.link.call(lambda r: r.set(b"sp:rp:" + key, b"1", nx=True, exat=int(expires_at) + 1))
        if stored is _DOWN:
            return locally_first
        return stored is True


class RateLimiter:
    """Fixed-window counters per (scope, id): `check` answers the seconds to wait, 0 when allowed."""

    def __init__(self, link: RedisLink | None, window_s: int = 60) -> None:
        self.link = link
        self.window_s = window_s
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def check(self, scope: str, ident: str, limit: int, now: float) -> int:
        window = int(now) // self.window_s
        wait = self.window_s - int(now) % self.window_s
        if self.link is not None:
            key = f"sp:rl:{scope}:{ident}:{window}"
            answer: Any = self.link.count_in_window(key, self.window_s)
            if answer is not _DOWN:
                count, ttl = answer  # type: ignore[misc]
                return 0 if int(count) <= limit else max(int(ttl), 1)
        with self._lock:
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items() if k[1] == window}
            slot = (f"{scope}:{ident}", window)
            self._counts[slot] = self._counts.get(slot, 0) + 1
            return 0 if self._counts[slot] <= limit else wait


class UpdateChannel:
    """Tells the other processes that the catalogue or trust list changed (Redis pub/sub)."""

    CHANNEL = "sp:updates"

    def __init__(self, link: RedisLink | None) -> None:
        self.link = link

    def publish(self, what: str) -> None:
        if self.link is not None:
            self.link.call(lambda r: r.publish(self.CHANNEL, what))

    def listen(self, on_update: Callable[[str], None], stop: threading.Event) -> threading.Thread | None:
        if self.link is None:
            return None

        def run() -> None:
            while not stop.is_set():
                try:
                    pubsub = self.link.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[union-attr]
                    pubsub.subscribe(self.CHANNEL)
                    while not stop.is_set():
                        message = pubsub.get_message(timeout=0.5)
                        if message and message.get("type") == "message":
                            on_update(message["data"].decode())
                except (redis.RedisError, OSError):
                    stop.wait(1.0)  # Redis away: the periodic version check covers the gap

        thread = threading.Thread(target=run, name="suishen-updates", daemon=True)
        thread.start()
        return thread
