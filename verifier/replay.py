"""Replay guards remember which signed codes were already used until those codes expire.

Keys are built from signed fields (kid, cti, and the proof's time step), never from
signature bytes: an ECDSA signature can be re-encoded as (r, n - s) and still verify.
"""

from __future__ import annotations

from typing import Protocol


class ReplayGuard(Protocol):
    def first_use(self, key: bytes, expires_at: float, now: float) -> bool:
        """Record `key` until `expires_at`; False when it was already recorded and alive."""
        ...


class InMemoryReplayGuard:
    """Single-process guard; expired entries are swept when the table has doubled."""

    __slots__ = ("_seen", "_sweep_at")

    def __init__(self) -> None:
        self._seen: dict[bytes, float] = {}
        self._sweep_at = 1024

    def first_use(self, key: bytes, expires_at: float, now: float) -> bool:
        seen = self._seen
        previous = seen.get(key)
        if previous is not None and previous >= now:
            return False
        seen[key] = expires_at
        if len(seen) >= self._sweep_at:
            self._sweep(now)
        return True

    def _sweep(self, now: float) -> None:
        self._seen = {k: exp for k, exp in self._seen.items() if exp >= now}
        self._sweep_at = max(1024, 2 * len(self._seen))

    def __len__(self) -> int:
        return len(self._seen)


def replay_key(kid: bytes, cti: bytes, step: int | None = None) -> bytes:
    return kid + cti if step is None else kid + cti + step.to_bytes(8, "big")
