"""The shared Redis replay cache: one use across gates, and decisions that go on when Redis dies."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from scanner_client.replay_shared import CircuitBreaker, RedisCache, SharedUnavailable
from scanner_client.runner import SharedCacheWatch
from tests.scanner_client.conftest import Clock, Kit
from tests.servers import RedisServer


def test_a_code_used_at_one_gate_is_refused_at_another(kit: Kit, redis_server: RedisServer) -> None:
    east = kit.gate(kit.folder / "east", shared=RedisCache(redis_server.url))
    west = kit.gate(kit.folder / "west", shared=RedisCache(redis_server.url))
    code = kit.world.online()
    first = east.on_code(code, kit.clock())
    second = west.on_code(code, kit.clock())
    assert first is not None and (first.result, first.degraded) == ("GRANTED", False)
    assert second is not None and (second.result, second.reason, second.degraded) == ("REJECTED", "REPLAYED", False)


def test_redis_killed_mid_run_decisions_go_on_degraded_then_recover(kit: Kit, redis_server: RedisServer) -> None:
    breaker_clock = Clock(0)
    breaker = CircuitBreaker(failures=2, reset_s=5, clock=breaker_clock)
    gate = kit.gate(shared=RedisCache(redis_server.url), breaker=breaker)
    watch = SharedCacheWatch(gate.replay)
    before = gate.on_code(kit.world.online(), kit.clock())
    assert watch.message() is None
    assert before is not None and (before.result, before.degraded) == ("GRANTED", False)

    redis_server.kill()
    during = [gate.on_code(kit.world.online(), kit.clock()) for _ in range(4)]
    assert [(d.result, d.degraded) for d in during if d] == [("GRANTED", True)] * 4
    assert breaker.open  # after two failures it stops asking
    assert "unreachable" in (watch.message() or "") and watch.message() is None  # said once
    used = kit.world.online()
    assert gate.on_code(used, kit.clock()) is not None
    again = gate.on_code(used, kit.clock() + 10)
    assert again is not None and again.repeat is True  # dedup shows the earlier decision
    restarted = kit.gate()  # a restarted gate (no dedup memory, no Redis) refuses it from SQLite
    replayed = restarted.on_code(used, kit.clock())
    assert replayed is not None and replayed.reason == "REPLAYED"

    redis_server.start()  # same port
    breaker_clock.advance(6)  # the breaker lets one trial through
    after = gate.on_code(kit.world.online(), kit.clock())
    assert after is not None and (after.result, after.degraded) == ("GRANTED", False)
    assert not breaker.open and watch.message() == "shared replay cache back"
    events = gate.outbox.pending(20)
    # before, 4 during, the used code and its repeat, the restarted gate's refusal (no Redis there), after
    assert [e["degraded"] for e in events] == [False, True, True, True, True, True, True, False, False]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung Redis)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


def test_a_hung_redis_is_cut_off_by_the_timeout(kit: Kit, silent_port: int) -> None:
    cache = RedisCache(f"redis://127.0.0.1:{silent_port}/0", timeout_s=0.05)
    with pytest.raises(SharedUnavailable):
        cache.set_once(b"k", 1000)
    gate = kit.gate(shared=cache)
    decision = gate.on_code(kit.world.online(), kit.clock())
    assert decision is not None and (decision.result, decision.degraded) == ("GRANTED", True)


def test_breaker_opens_after_failures_and_half_opens_after_the_reset() -> None:
    clock = Clock(0)
    breaker = CircuitBreaker(failures=3, reset_s=5, clock=clock)
    for _ in range(3):
        assert breaker.allow()
        breaker.failure()
    assert breaker.open and not breaker.allow()
    clock.advance(5)
    assert breaker.allow()  # one trial
    breaker.failure()
    assert not breaker.allow()  # failed trial: open for another period
    clock.advance(5)
    assert breaker.allow()
    breaker.success()
    assert not breaker.open and breaker.allow()
