"""The Redis-backed replay cache and rate limits directly, on a real redis-server: leases, sharing, fallback."""

from __future__ import annotations

import time
import uuid

from app.api.shared_state import _RATE_SCRIPT, RateLimiter, RedisLink, SharedReplayGuard
from tests.support.servers import RedisServer

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


STEP = int(NOW) // 30  # the verifier's own time step at NOW


def test_proofs_for_every_step_of_the_skew_window_pass_once_across_processes(redis_server: RedisServer) -> None:
    """The reported attack on the Redis guard: steps -2 ... +2 at two processes in any order, one acceptance."""
    one, two = SharedReplayGuard(link(redis_server)), SharedReplayGuard(link(redis_server))
    for order in ((-2, -1, 0, 1, 2), (2, 1, 0, -1, -2), (0, 2, -2, 1, -1)):
        credential = uuid.uuid4().bytes
        guards = [one, two, one, two, one]
        answers = [g.first_step(credential, STEP + d, NOW + 3600, NOW + 0.01 * i)
                   for i, (g, d) in enumerate(zip(guards, order, strict=True))]  # fmt: skip
        assert answers == [True, False, False, False, False], order


def test_the_redis_guard_accepts_the_next_code_30_s_later_and_never_an_earlier_step(redis_server: RedisServer) -> None:
    one, two = SharedReplayGuard(link(redis_server)), SharedReplayGuard(link(redis_server))
    credential = uuid.uuid4().bytes
    assert one.first_step(credential, STEP, NOW + 3600, NOW)
    assert not two.first_step(credential, STEP + 1, NOW + 3600, NOW + 29.9)  # within 30 s, at another process
    assert two.first_step(credential, STEP + 1, NOW + 3600, NOW + 30)  # the refusal above wrote nowhere
    assert not one.first_step(credential, STEP + 1, NOW + 3600, NOW + 90)  # one has not seen it: Redis has
    assert not two.first_step(credential, STEP - 1, NOW + 3600, NOW + 90)
    with redis_server.client() as client:
        ttl = client.ttl(b"sp:rs:" + credential)
    assert 0 < ttl <= int(NOW + 3600) + 1 - int(time.time())  # kept until the credential's expiry, no longer


def test_steps_accepted_while_redis_was_away_are_shared_when_it_answers(own_redis: RedisServer) -> None:
    guard = SharedReplayGuard(RedisLink(own_redis.url, timeout_s=0.5, retry_s=0.0))  # asks Redis every time
    ahead, behind = uuid.uuid4().bytes, uuid.uuid4().bytes
    own_redis.stop()
    assert guard.first_step(ahead, STEP, NOW + 3600, NOW)  # Redis away: this process alone decides
    assert guard.first_step(behind, STEP, NOW + 3600, NOW)
    assert not guard.first_step(behind, STEP + 1, NOW + 3600, NOW + 1)  # the fallback keeps the rule
    own_redis.start()  # empty, on the same port
    other = SharedReplayGuard(link(own_redis))
    assert other.first_step(ahead, STEP + 3, NOW + 3600, NOW + 40)  # a later acceptance elsewhere, meanwhile
    guard.share(NOW + 40)
    fresh = SharedReplayGuard(link(own_redis))  # a process that saw neither
    assert not fresh.first_step(behind, STEP + 1, NOW + 3600, NOW + 20)  # learnt from the write-back
    assert fresh.first_step(behind, STEP + 1, NOW + 3600, NOW + 30)
    # the write-back merged: the later step and time of the two (STEP + 3 at NOW + 40) stand
    assert not fresh.first_step(ahead, STEP + 3, NOW + 3600, NOW + 80)
    assert not fresh.first_step(ahead, STEP + 4, NOW + 3600, NOW + 60)
    assert fresh.first_step(ahead, STEP + 4, NOW + 3600, NOW + 70)


def test_a_redis_that_came_back_empty_is_refilled_from_a_process_that_saw_no_outage(own_redis: RedisServer) -> None:
    """The `make chaos` finding: Redis restarted empty, a server restarted empty, old codes accepted again."""
    survivor = SharedReplayGuard(link(own_redis))
    assert survivor.refill_if_emptied(NOW)  # a new Redis: marked as holding what the processes wrote
    assert not survivor.refill_if_emptied(NOW)  # marked: nothing to do
    code, credential = uuid.uuid4().bytes, uuid.uuid4().bytes
    assert survivor.first_use(code, NOW + 3600, NOW)
    assert survivor.first_step(credential, STEP, NOW + 3600, NOW)
    own_redis.stop()
    own_redis.start()  # empty, between two requests of the survivor: it saw no failure
    restarted = SharedReplayGuard(link(own_redis))  # a process that restarted meanwhile: nothing in memory
    assert survivor.refill_if_emptied(NOW + 1)
    assert not restarted.first_use(code, NOW + 3600, NOW + 2)
    assert not restarted.first_step(credential, STEP + 1, NOW + 3600, NOW + 10)  # within 30 s of the acceptance
    assert restarted.first_step(credential, STEP + 1, NOW + 3600, NOW + 30)
