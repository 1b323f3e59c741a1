"""State that several server processes share through Redis, with an in-process fallback.

Redis holds the replay cache (`SET key NX EXAT` for online codes; for holder-bound credentials
one Lua call that compares and sets the latest accepted proof step) and the rate-limit counters
(one Lua call: INCR and EXPIRE together). When Redis is slow or down, a circuit opens: for `retry_s` the
process answers from its own memory (replays and limits then hold per process, not across the
fleet) and `/readyz` says "degraded"; nothing a client was told is accepted is lost, because
events and entitlements live in the database, not in Redis.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from verifier.replay import MIN_INTERVAL_S, Accepted, InMemoryReplayGuard, step_is_next

T = TypeVar("T")
log = logging.getLogger("suishen.redis")
_DOWN = object()

# KEYS[1] counter; ARGV[1] window seconds; ARGV[2] how many to count. Returns [count, ttl].
_RATE_SCRIPT = """
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
if n == tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('TTL', KEYS[1])}
"""

# KEYS[1] one credential's latest accepted proof; ARGV[1] step, ARGV[2] now (ms), ARGV[3] interval (ms), ARGV[4]
# expiry (unix s), ARGV[5] '1' to merge an acceptance made while Redis was away (keep the later of each field).
# Returns 1 when accepted (verifier.replay.step_is_next); a refusal writes nothing.
_STEP_SCRIPT = """
local held = redis.call('HMGET', KEYS[1], 's', 't')
local step, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local s, t = tonumber(held[1]), tonumber(held[2])
if s and t then
  if ARGV[5] == '1' then
    step, now = math.max(step, s), math.max(now, t)
  elseif step <= s or now < t + tonumber(ARGV[3]) then
    return 0
  end
end
redis.call('HSET', KEYS[1], 's', ARGV[5] == '1' and step or ARGV[1], 't', ARGV[5] == '1' and now or ARGV[2])
redis.call('EXPIREAT', KEYS[1], ARGV[4])
return 1
"""


class RedisLink:
    """One Redis client behind a circuit breaker: a failure means 'use the fallback for a while'."""

    def __init__(self, url: str, timeout_s: float, retry_s: float) -> None:
        # One immediate retry on a broken connection (a pooled socket that Redis closed when it restarted),
        # never redis-py's default of ten with backoff: seconds of waiting per request while Redis is down.
        # Not on timeouts: a SET NX retried after a lost answer would call a fresh code a replay.
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        )  # fmt: skip
        self.retry_s = retry_s
        self._open_until = 0.0
        self._failed = False
        self._rate = self.client.register_script(_RATE_SCRIPT)
        self.step = self.client.register_script(_STEP_SCRIPT)
        self.on_recovery: list[Callable[[], object]] = []  # run once when Redis answers again after a failure

    @property
    def degraded(self) -> bool:
        return time.monotonic() < self._open_until

    def call(self, action: Callable[[redis.Redis], T]) -> T | object:
        """The action's result, or `_DOWN` when Redis is (or just went) unreachable."""
        if self.degraded:
            return _DOWN
        try:
            result = action(self.client)
        except (redis.RedisError, OSError) as exc:
            self._open_until = time.monotonic() + self.retry_s
            self._failed = True
            log.warning("redis unreachable, in-process fallback for %.0f s: %s", self.retry_s, type(exc).__name__)
            return _DOWN
        if self._failed:
            self._failed = False
            log.info("redis reachable again")
            for hook in self.on_recovery:
                hook()
        return result

    def count_in_window(self, key: str, window_s: int, amount: int = 1) -> object:
        """[count, ttl] after counting `amount` more in the window, or `_DOWN`."""
        return self.call(lambda r: self._rate(keys=[key], args=[window_s, amount]))

    def ping(self) -> bool:
        self._open_until = 0.0  # a readiness probe always asks Redis itself
        return self.call(lambda r: r.ping()) is True


KEPT_KEY = b"sp:rp:kept"  # no expiry: gone only when Redis lost its data


class SharedReplayGuard:
    """Replay cache for every process of the service; falls back to this process's memory.

    A code is new only when both this process and Redis have not seen it: Redis may come back
    empty after an outage, and must not make a code this process accepted new again. Keys
    accepted on the fallback are written to Redis when it answers again, so that the other
    processes learn them too. Holder-bound credentials follow `verifier.replay.step_is_next`
    in both places: a step this process refuses is refused without asking Redis, and a step is
    recorded here only once Redis accepted it (or could not be asked), so that a refusal never
    occupies an entry.
    """

    MAX_UNSHARED = 200_000  # about an hour of a busy gate fleet's codes while Redis is away

    def __init__(self, link: RedisLink | None) -> None:
        self.link = link
        self.local = InMemoryReplayGuard()
        self._lock = threading.Lock()
        self._unshared: dict[bytes, float] = {}  # accepted while Redis was away: key -> expiry
        self._unshared_steps: dict[bytes, Accepted] = {}  # the same for holder-bound credentials
        if link is not None:
            link.on_recovery.append(lambda: self.share(time.time()))

    def first_use(self, key: bytes, expires_at: float, now: float) -> bool:
        with self._lock:
            locally_first = self.local.first_use(key, expires_at, now)  # remembered for when Redis goes away
        if self.link is None:
            return locally_first
        stored = self.link.call(lambda r: r.set(b"sp:rp:" + key, b"1", nx=True, exat=int(expires_at) + 1))
        if stored is _DOWN:
            if locally_first:
                self._remember_unshared(key, expires_at, now)
            return locally_first
        return stored is True and locally_first

    def first_step(self, key: bytes, step: int, expires_at: float, now: float) -> bool:
        local = self.local
        with self._lock:
            if not step_is_next(local.last_step(key, now), step, now):
                return False  # refused here: Redis is not asked
        link = self.link
        if link is None:
            with self._lock:
                return local.first_step(key, step, expires_at, now)
        accepted = Accepted(step, now, expires_at)
        args = _step_args(accepted, merge=False)
        stored = link.call(lambda r: link.step(keys=[b"sp:rs:" + key], args=args))
        if stored is not _DOWN and stored != 1:
            return False  # refused by Redis: recorded nowhere
        with self._lock:
            fresh = local.first_step(key, step, expires_at, now)  # remembered for when Redis goes away
        if fresh and stored is _DOWN:
            self._remember_unshared_step(key, accepted, now)
        return fresh

    def _remember_unshared(self, key: bytes, expires_at: float, now: float) -> None:
        with self._lock:
            if len(self._unshared) >= self.MAX_UNSHARED:
                self._unshared = {k: e for k, e in self._unshared.items() if e >= now}
            if len(self._unshared) < self.MAX_UNSHARED:
                self._unshared[key] = expires_at

    def _remember_unshared_step(self, key: bytes, accepted: Accepted, now: float) -> None:
        with self._lock:
            if len(self._unshared_steps) >= self.MAX_UNSHARED:
                self._unshared_steps = {k: a for k, a in self._unshared_steps.items() if a.expires_at >= now}
            if len(self._unshared_steps) < self.MAX_UNSHARED:
                self._unshared_steps[key] = accepted

    def share(self, now: float) -> bool:
        """Write what was accepted on the fallback to Redis, never shortening or lowering what is there.

        Online keys by SET NX; holder-bound steps by the step script in merge mode (the later step
        and time of the two), so another process's later acceptance stands. False when Redis did
        not answer (the keys are kept for the next try).
        """
        with self._lock:
            pending, self._unshared = self._unshared, {}
            pending_steps, self._unshared_steps = self._unshared_steps, {}
        alive = [(k, e) for k, e in pending.items() if e >= now]
        alive_steps = [(k, a) for k, a in pending_steps.items() if a.expires_at >= now]
        link = self.link

        def write(r: redis.Redis) -> None:
            assert link is not None
            pipe = r.pipeline(transaction=False)
            for key, expires_at in alive:
                pipe.set(b"sp:rp:" + key, b"1", nx=True, exat=int(expires_at) + 1)
            for key, accepted in alive_steps:
                link.step(keys=[b"sp:rs:" + key], args=_step_args(accepted, merge=True), client=pipe)
            pipe.execute()

        if not alive and not alive_steps:
            return True
        if link is not None and link.call(write) is _DOWN:
            with self._lock:  # Redis went away again: keep them for the next time it answers
                self._unshared.update(alive)
                self._unshared_steps.update(alive_steps)
            return False
        log.info("shared %d replay keys with Redis", len(alive) + len(alive_steps))
        return True

    def refill_if_emptied(self, now: float) -> bool:
        """When Redis has lost its keys (restarted empty), write back every live key this process holds.

        Writing back only what was accepted while Redis was away is not enough: a code accepted
        before the outage lives on in this process's memory but not in an emptied Redis, so a
        process that restarted meanwhile (empty memory) would accept it again (40 of 40 such
        replays in `make chaos`). `KEPT_KEY` is set once Redis holds what the processes wrote;
        its absence means Redis started empty since, and each process then writes back its own
        live keys (SET NX: nothing another process wrote is shortened). Run every 2 s off the
        request path (`Services`); True when Redis was found emptied and refilled.
        """
        link = self.link
        if link is None:
            return False
        kept = link.call(lambda r: r.exists(KEPT_KEY))
        if kept is _DOWN or kept:
            return False
        with self._lock:
            seen, steps = self.local.live(now)
            self._unshared.update(seen)
            self._unshared_steps.update(steps)
        if not self.share(now):
            return False
        link.call(lambda r: r.set(KEPT_KEY, b"1"))
        log.info("redis had lost its replay keys: this process wrote back %d", len(seen) + len(steps))
        return True


def _step_args(accepted: Accepted, *, merge: bool) -> list[int]:
    """The step script's arguments: step, now and interval in ms, expiry, merge flag."""
    at_ms = int(accepted.at * 1000)
    return [accepted.step, at_ms, MIN_INTERVAL_S * 1000, int(accepted.expires_at) + 1, 1 if merge else 0]


class RateLimiter:
    """Fixed-window counters per (scope, id): `check` answers the seconds to wait, 0 when allowed.

    With Redis, a check normally costs one round trip. For high limits (a gate verifying all day)
    a process may instead reserve a lease of several requests at once (INCRBY) and spend it
    locally: never more than the limit is granted across all processes, and Redis is asked once
    a lease. A process holding an unspent lease at the end of a window can make the others
    refuse up to that many requests early; leases are kept to under 1 % of the limit.
    """

    MAX_LEASE = 50

    def __init__(self, link: RedisLink | None, window_s: int = 60) -> None:
        self.link = link
        self.window_s = window_s
        self._counts: dict[tuple[str, int], int] = {}
        self._leases: dict[tuple[str, int], int] = {}  # requests reserved in Redis, not spent yet
        self._lock = threading.Lock()

    @classmethod
    def lease_for(cls, limit: int) -> int:
        return max(1, min(cls.MAX_LEASE, limit // 100))

    def check(self, scope: str, ident: str, limit: int, now: float, *, leased: bool = False) -> int:
        window = int(now) // self.window_s
        wait = self.window_s - int(now) % self.window_s
        slot = (f"{scope}:{ident}", window)
        if self.link is not None:
            lease = self.lease_for(limit) if leased else 1
            if lease > 1:
                with self._lock:
                    left = self._leases.get(slot, 0)
                    if left > 0:
                        self._leases[slot] = left - 1
                        return 0
            answer: Any = self.link.count_in_window(f"sp:rl:{scope}:{ident}:{window}", self.window_s, lease)
            if answer is not _DOWN:
                count, ttl = (int(v) for v in answer)
                granted = min(lease, limit - (count - lease))  # this lease's part within the limit
                if granted <= 0:
                    return max(ttl, 1)
                if granted > 1:
                    with self._lock:
                        if len(self._leases) > 10_000:
                            self._leases = {k: v for k, v in self._leases.items() if k[1] == window}
                        self._leases[slot] = self._leases.get(slot, 0) + granted - 1
                return 0
        with self._lock:
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items() if k[1] == window}
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
                pubsub = self.link.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[union-attr]
                try:
                    pubsub.subscribe(self.CHANNEL)
                    while not stop.is_set():
                        message = pubsub.get_message(timeout=0.5)
                        if message and message.get("type") == "message":
                            on_update(message["data"].decode())
                except (redis.RedisError, OSError):
                    stop.wait(1.0)  # Redis away: the periodic version check covers the gap
                finally:
                    with contextlib.suppress(redis.RedisError, OSError):
                        pubsub.close()  # one connection at a time, however often Redis goes away

        thread = threading.Thread(target=run, name="suishen-updates", daemon=True)
        thread.start()
        return thread
