"""The shared replay cache in Redis (SET NX with expiry), behind a 50 ms timeout and a circuit breaker.

A gate must never wait on Redis: each call is bounded by the socket timeout, and after a few
failures the breaker stops calling for a while, so a dead Redis costs nothing per scan. The
layered guard keeps the local SQLite cache as the floor and marks decisions made without
Redis as degraded.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

from verifier.replay import ReplayGuard

DEFAULT_TIMEOUT_S = 0.05
DEFAULT_FAILURES = 3
DEFAULT_RESET_S = 5.0
KEY_PREFIX = b"suishen:replay:"


class SharedUnavailable(Exception):
    """The shared cache did not answer (down, timed out, or the breaker is open)."""


class CircuitBreaker:
    """Closed → open after `failures` failures in a row → one trial call after `reset_s` (half-open)."""

    def __init__(
        self,
        *,
        failures: int = DEFAULT_FAILURES,
        reset_s: float = DEFAULT_RESET_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.reset_s = reset_s
        self.clock = clock
        self._count = 0
        self._opened_at: float | None = None
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        return self._opened_at is not None

    def allow(self) -> bool:
        with self._lock:
            if self._opened_at is None:
                return True
            if self.clock() - self._opened_at >= self.reset_s:
                self._opened_at = self.clock()  # one trial; a failure keeps it open for another period
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._count = 0
            self._opened_at = None

    def failure(self) -> None:
        with self._lock:
            self._count += 1
            if self._count >= self.failures:
                self._opened_at = self.clock()


class SharedCache(Protocol):
    def set_once(self, key: bytes, ttl_ms: int) -> bool:
        """True when the key was absent and is now set; raises SharedUnavailable."""
        ...


class RedisCache:
    """SET key 1 NX PX ttl on one Redis, with short timeouts and no retries (the breaker decides when to retry)."""

    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._errors = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            health_check_interval=0,
        )

    def set_once(self, key: bytes, ttl_ms: int) -> bool:
        try:
            return bool(self._client.set(KEY_PREFIX + key, b"1", nx=True, px=max(1, ttl_ms)))
        except self._errors as exc:
            raise SharedUnavailable(f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        self._client.close()


class LayeredReplayGuard:
    """Local SQLite first (a code used here is refused without asking Redis), then the shared cache.

    `degraded` tells the caller whether the last check went without the shared cache.
    """

    def __init__(self, local: ReplayGuard, shared: SharedCache | None, breaker: CircuitBreaker | None = None) -> None:
        self.local = local
        self.shared = shared
        self.breaker = breaker or CircuitBreaker()
        self.degraded = False

    def first_use(self, key: bytes, expires_at: float, now: float) -> bool:
        self.degraded = False
        if not self.local.first_use(key, expires_at, now):
            return False
        if self.shared is None:
            return True
        if not self.breaker.allow():
            self.degraded = True
            return True
        ttl_ms = math.ceil(max(0.0, expires_at - now) * 1000)
        try:
            fresh = self.shared.set_once(key, ttl_ms)
        except SharedUnavailable:
            self.breaker.failure()
            self.degraded = True
            return True
        self.breaker.success()
        return fresh
