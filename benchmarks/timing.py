"""Batch timing: interleaved rounds, per-operation medians, no assertions.

A *batch* is a callable that runs `n` operations and returns the nanoseconds its timed part
took; anything it needs (a slice of fresh codes, say) is prepared before its clock starts.
`interleave` runs every case once per round, rotating the order, so that slow drift of the
machine (frequency, neighbours) lands on all cases alike and ratios stay fair.
"""

from __future__ import annotations

import gc
import itertools
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any

Batch = Callable[[int], int]


@dataclass(frozen=True)
class Stats:
    """Per-operation nanoseconds, one value per timed batch."""

    per_op_ns: tuple[float, ...]
    ops_per_batch: int

    @property
    def median_ns(self) -> float:
        return statistics.median(self.per_op_ns)

    @property
    def median_us(self) -> float:
        return self.median_ns / 1000

    def quantile_us(self, q: float) -> float:
        values = sorted(self.per_op_ns)
        if len(values) == 1:
            return values[0] / 1000
        position = q * (len(values) - 1)
        low = int(position)
        high = min(low + 1, len(values) - 1)
        return (values[low] + (values[high] - values[low]) * (position - low)) / 1000

    def to_json(self) -> dict[str, Any]:
        return {
            "median_us": round(self.median_us, 3),
            "p25_us": round(self.quantile_us(0.25), 3),
            "p75_us": round(self.quantile_us(0.75), 3),
            "min_us": round(min(self.per_op_ns) / 1000, 3),
            "batches": len(self.per_op_ns),
            "ops_per_batch": self.ops_per_batch,
        }


def interleave(cases: dict[str, tuple[Batch, int]], *, rounds: int, warmup: int = 2) -> dict[str, Stats]:
    """Run each case (batch, ops per batch) once per round; the first `warmup` rounds are discarded."""
    names = list(cases)
    samples: dict[str, list[float]] = {name: [] for name in names}
    gc_was_enabled = gc.isenabled()
    try:
        for round_index in range(warmup + rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                batch, n = cases[name]
                gc.collect()
                gc.disable()  # as timeit does: a collection should not land in one batch only
                try:
                    elapsed = batch(n)
                finally:
                    gc.enable()
                if round_index >= warmup:
                    samples[name].append(elapsed / n)
    finally:
        if not gc_was_enabled:
            gc.disable()
    return {name: Stats(tuple(samples[name]), cases[name][1]) for name in names}


def fresh(fn: Callable[[Any, float], object], items: Iterator[Any], now: float) -> Batch:
    """`fn(item, now)` on the next n items, each used once (codes under a replay guard)."""

    def batch(n: int) -> int:
        chunk = list(itertools.islice(items, n))
        if len(chunk) < n:
            raise RuntimeError("ran out of pre-generated codes: raise the code count")
        t0 = perf_counter_ns()
        for item in chunk:
            fn(item, now)
        return perf_counter_ns() - t0

    return batch


def each(fn: Callable[[Any], object], items: Sequence[Any]) -> Batch:
    """`fn(item)` over n items cycled from `items` (steps with no replay state)."""

    def batch(n: int) -> int:
        chunk = [items[i % len(items)] for i in range(n)]
        t0 = perf_counter_ns()
        for item in chunk:
            fn(item)
        return perf_counter_ns() - t0

    return batch


def each_star(fn: Callable[..., object], arg_tuples: Sequence[tuple[Any, ...]]) -> Batch:
    """`fn(*args)` over n argument tuples cycled from `arg_tuples`."""

    def batch(n: int) -> int:
        chunk = [arg_tuples[i % len(arg_tuples)] for i in range(n)]
        t0 = perf_counter_ns()
        for args in chunk:
            fn(*args)
        return perf_counter_ns() - t0

    return batch


def prepared(fn: Callable[..., object], make_args: Callable[[int], tuple[Any, ...]]) -> Batch:
    """`fn(*make_args(i))` for i in range(n), the arguments built before the clock starts.

    For steps whose inputs must be new objects each call (a device key just decoded from
    claims costs more on its first verify than on later ones).
    """

    def batch(n: int) -> int:
        chunk = [make_args(i) for i in range(n)]
        t0 = perf_counter_ns()
        for args in chunk:
            fn(*args)
        return perf_counter_ns() - t0

    return batch


def repeat(fn: Callable[[], object]) -> Batch:
    """`fn()` n times."""

    def batch(n: int) -> int:
        r = range(n)
        t0 = perf_counter_ns()
        for _ in r:
            fn()
        return perf_counter_ns() - t0

    return batch


def in_child(module: str, persons: int, policies: int) -> dict[str, Any]:
    """`python -m module --persons N --policies P` in a fresh process (its peak memory its own); its JSON line."""
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", module, "--persons", str(persons), "--policies", str(policies)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]
