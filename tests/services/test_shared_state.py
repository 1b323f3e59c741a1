"""The Redis-backed replay cache and rate limits directly, on a real redis-server: leases, sharing, fallback."""

from __future__ import annotations

import time
import uuid

from app.shared_state import _RATE_SCRIPT, RateLimiter, RedisLink, SharedReplayGuard
from tests.servers import RedisServer

NOW = 1_800_000_030.0  # a fixed clock, mid-window: the tests never cross a window


def link(server: RedisServer) -> RedisLink:
    return RedisLink(server.url, timeout_s=0.5, retry_s=1.0)


def script_calls(server: RedisServer) -> int:
    """Script calls Redis has answered so far (the rate-limit Lua), the script loaded first."""
    with server.client() as client:
        client.script_load(_RATE_SCRIPT)
        stats = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))


def test_leased_limits_grant_exactly_the_limit_across_processes(redis_server: RedisServer) -> None:
    one, two = RateLimiter(link(redis_server)), RateLimiter(link(redis_server))
    device = uuid.uuid4().hex
    assert RateLimiter.lease_for(300) == 3 and RateLimiter.lease_for(50) == 1
    before = script_calls(redis_server)
    granted = sum(one.check("device", device, 300, NOW, leased=True) == 0 for _ in range(150))
    granted += sum(two.check("device", device, 300, NOW, leased=True) == 0 for _ in range(150))
    assert granted == 300
    assert script_calls(redis_server) - before == 100  # one Redis call per lease of 3, not one a request
    refusals = [limiter.check("device", device, 300, NOW, leased=True) for limiter in (one, two) for _ in range(5)]
    assert all(1 <= wait <= 60 for wait in refusals)


def test_leases_never_grant_past_the_limit_when_processes_interleave(redis_server: RedisServer) -> None:
    limiters = [RateLimiter(link(redis_server)) for _ in range(3)]
    device = uuid.uuid4().hex
    answers = [limiters[i % 3].check("device", device, 200, NOW, leased=True) for i in range(400)]
    assert sum(a == 0 for a in answers) == 200  # every lease part beyond the limit was refused


def test_exact_limits_ask_redis_every_time(redis_server: RedisServer) -> None:
    limiter = RateLimiter(link(redis_server))
    account = uuid.uuid4().hex
    before = script_calls(redis_server)
    assert [limiter.check("account", account, 3, NOW) for _ in range(4)][:3] == [0, 0, 0]
    assert script_calls(redis_server) - before == 4


def test_limits_and_replays_fall_back_in_process(own_redis: RedisServer) -> None:
    shared = link(own_redis)
    limiter, guard = RateLimiter(shared), SharedReplayGuard(shared)
    own_redis.stop()
    device = uuid.uuid4().hex
    assert [limiter.check("device", device, 2, NOW, leased=True) for _ in range(3)][:2] == [0, 0]
    assert limiter.check("device", device, 2, NOW, leased=True) > 0  # counted in this process
    assert shared.degraded
    assert guard.first_use(b"k" * 24, time.time() + 60, time.time()) is True
    assert guard.first_use(b"k" * 24, time.time() + 60, time.time()) is False
