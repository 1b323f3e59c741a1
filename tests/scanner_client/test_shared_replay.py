"""The shared Redis replay cache: one use across gates, and decisions that go on when Redis dies."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from scanner_client.replay_shared import CircuitBreaker, RedisCache, SharedUnavailable
from scanner_client.runner import SharedCacheWatch
from tests.support.gates import Clock, Kit
from tests.support.servers import RedisServer
from verifier.code import device_proof, holder_code


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


@pytest.mark.parametrize("order", [(-2, -1, 0, 1, 2), (2, 1, 0, -1, -2), (0, 2, -2, 1, -1)])
def test_proofs_for_every_step_of_the_skew_window_pass_once_at_a_gate(kit: Kit, order: tuple[int, ...]) -> None:
    """The reported attack against the gate's SQLite cache: steps -2 ... +2 at once, one GRANTED."""
    gate = kit.gate()
    now = kit.clock() + 10  # mid-step
    _, cred, device = kit.world.holder()

    def code(step: int) -> str:
        return holder_code(cred, device_proof(cred, device, now + 30 * step))  # type: ignore[arg-type]

    decisions = [gate.on_code(code(step), now + 0.01 * i) for i, step in enumerate(order)]
    assert [(d.result, d.reason) for d in decisions if d] == [("GRANTED", None)] + [("REJECTED", "REPLAYED")] * 4
    restarted = kit.gate()  # the same SQLite file after a restart, without the dedup memory
    shown_again = restarted.on_code(code(order[0]), now + 1)  # a new proof (new nonce) for the accepted step
    assert shown_again is not None and shown_again.reason == "REPLAYED"
    next_visit = restarted.on_code(code(max(order) + 1), now + 30)
    assert next_visit is not None and next_visit.result == "GRANTED"


def test_proofs_for_every_step_of_the_skew_window_pass_once_across_gates(kit: Kit, redis_server: RedisServer) -> None:
    """The same attack spread over two gates sharing Redis: one GRANTED, and the next code 30 s on passes."""
    east = kit.gate(kit.folder / "east", shared=RedisCache(redis_server.url))
    west = kit.gate(kit.folder / "west", shared=RedisCache(redis_server.url))
    now = kit.clock() + 10
    _, cred, device = kit.world.holder()

    def code(at: float) -> str:
        return holder_code(cred, device_proof(cred, device, at))  # type: ignore[arg-type]

    decisions = [(east, west)[i % 2].on_code(code(now + 30 * step), now + 0.01 * i)
                 for i, step in enumerate((0, 2, -2, 1, -1))]  # fmt: skip
    assert [(d.result, d.reason, d.degraded) for d in decisions if d] == [("GRANTED", None, False)] + [
        ("REJECTED", "REPLAYED", False)
    ] * 4
    later = west.on_code(code(now + 90), now + 30)  # the phone's next code after +2, 30 s later: a new visit
    assert later is not None and (later.result, later.degraded) == ("GRANTED", False)


def test_a_step_refused_by_redis_does_not_occupy_the_gate(kit: Kit, redis_server: RedisServer) -> None:
    east = kit.gate(kit.folder / "east", shared=RedisCache(redis_server.url))
    west = kit.gate(kit.folder / "west", shared=RedisCache(redis_server.url))
    now = kit.clock() + 10
    _, cred, device = kit.world.holder()
    first = east.on_code(holder_code(cred, device_proof(cred, device, now)), now)  # type: ignore[arg-type]
    assert first is not None and first.result == "GRANTED"
    nxt = holder_code(cred, device_proof(cred, device, now + 30))  # type: ignore[arg-type]
    refused = west.on_code(nxt, now + 20)
    assert refused is not None and refused.reason == "REPLAYED"  # within 30 s of the east gate's acceptance
    west_again = kit.gate(kit.folder / "west", shared=RedisCache(redis_server.url))  # no dedup memory
    passed = west_again.on_code(nxt, now + 30)
    assert passed is not None and passed.result == "GRANTED"  # the refusal wrote nothing at the west gate
