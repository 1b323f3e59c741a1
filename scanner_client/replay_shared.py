"""The shared replay cache in Redis, behind a 50 ms timeout and a circuit breaker.

Online codes: SET NX with expiry. Holder-bound credentials: one Lua call that compares the
proof step and the gate's clock with the latest accepted and sets them when the rule of
`verifier.replay.step_is_next` holds, so two gates cannot both accept in between.

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

from keys.errors import SuishenError
from verifier.replay import MIN_INTERVAL_S, LocalReplayGuard, step_is_next

DEFAULT_TIMEOUT_S = 0.05
DEFAULT_FAILURES = 3
DEFAULT_RESET_S = 5.0
KEY_PREFIX = b"suishen:replay:"
STEP_PREFIX = b"suishen:steps:"

# KEYS[1] one credential; ARGV[1] proof step, ARGV[2] the gate's clock (ms), ARGV[3] interval (ms), ARGV[4] ttl (ms).
# 1 when accepted (and set); a refusal writes nothing.
_STEP_SCRIPT = """
local held = redis.call('HMGET', KEYS[1], 's', 't')
local s, t = tonumber(held[1]), tonumber(held[2])
if s and t and (tonumber(ARGV[1]) <= s or tonumber(ARGV[2]) < t + tonumber(ARGV[3])) then
  return 0
end
redis.call('HSET', KEYS[1], 's', ARGV[1], 't', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""


class SharedUnavailable(SuishenError):
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

    def advance_step(self, key: bytes, step: int, now_ms: int, ttl_ms: int) -> bool:
        """True when `step` at `now_ms` follows the latest accepted (and is now set); raises SharedUnavailable."""
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
        self._step = self._client.register_script(_STEP_SCRIPT)

    def set_once(self, key: bytes, ttl_ms: int) -> bool:
        try:
            return bool(self._client.set(KEY_PREFIX + key, b"1", nx=True, px=max(1, ttl_ms)))
        except self._errors as exc:
            raise SharedUnavailable(f"{type(exc).__name__}: {exc}") from None

    def advance_step(self, key: bytes, step: int, now_ms: int, ttl_ms: int) -> bool:
        try:
            args = [step, now_ms, MIN_INTERVAL_S * 1000, max(1, ttl_ms)]
            return self._step(keys=[STEP_PREFIX + key], args=args) == 1
        except self._errors as exc:
            raise SharedUnavailable(f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        self._client.close()


class LayeredReplayGuard:
    """Local SQLite first (a code used here is refused without asking Redis), then the shared cache.

    `degraded` tells the caller whether the last check went without the shared cache. A
    holder-bound step is recorded here only once the shared cache accepted it (or could not be
    asked), so a step refused elsewhere never occupies this gate's entry.
    """

    def __init__(
        self, local: LocalReplayGuard, shared: SharedCache | None, breaker: CircuitBreaker | None = None
    ) -> None:
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
        ttl_ms = math.ceil(max(0.0, expires_at - now) * 1000)
        return self._ask_shared(lambda shared: shared.set_once(key, ttl_ms))

    def first_step(self, key: bytes, step: int, expires_at: float, now: float) -> bool:
        self.degraded = False
        if not step_is_next(self.local.last_step(key, now), step, now):
            return False
        if self.shared is not None:
            ttl_ms = math.ceil(max(0.0, expires_at - now) * 1000)
            if not self._ask_shared(lambda shared: shared.advance_step(key, step, int(now * 1000), ttl_ms)):
                return False
        return self.local.first_step(key, step, expires_at, now)

    def _ask_shared(self, ask: Callable[[SharedCache], bool]) -> bool:
        """The shared cache's answer; True (degraded) when the breaker is open or the cache does not answer."""
        assert self.shared is not None
        if not self.breaker.allow():
            self.degraded = True
            return True
        try:
            fresh = ask(self.shared)
        except SharedUnavailable:
            self.breaker.failure()
            self.degraded = True
            return True
        self.breaker.success()
        return fresh
