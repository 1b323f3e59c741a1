"""Replay guards remember which signed codes were already used until those codes expire.

Keys are built from signed fields (kid, cti, and the proof's time step), never from
signature bytes: an ECDSA signature can be re-encoded as (r, n - s) and still verify.

Two questions, one guard:

- `first_use(key)`: an online code is used once (key: kid, cti).
- `first_step(key, step)`: a holder-bound credential (key: kid, cti) is shown with a device
  proof for a 30 s time step. The clock-skew window accepts proofs for steps -2 ... +2 around
  the verifier's own step, and the holder's phone can sign any of them, so remembering each
  step on its own let one credential pass five times in a moment. The rule instead, per
  credential: a proof is accepted only when its step is later than every step accepted
  before, and at least `MIN_INTERVAL_S` of the verifier's clock after the last acceptance.
  Steps -2 ... +2 shown together, in any order, give one acceptance; a phone showing its next
  code 30 s later passes again, whatever its clock's offset. A proof that is refused changes
  nothing.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from verifier.code import TIME_STEP_S

MIN_INTERVAL_S = TIME_STEP_S  # the phone shows a new code every time step: one acceptance per code shown


class ReplayGuard(Protocol):
    def first_use(self, key: bytes, expires_at: float, now: float) -> bool:
        """Record `key` until `expires_at`; False when it was already recorded and alive."""
        ...

    def first_step(self, key: bytes, step: int, expires_at: float, now: float) -> bool:
        """Accept `step` for credential `key` when `step_is_next` allows it; remember it until `expires_at`."""
        ...


class LocalReplayGuard(ReplayGuard, Protocol):
    """A guard in front of a shared one: it can be asked first without recording anything."""

    def last_step(self, key: bytes, now: float) -> Accepted | None:
        """The latest acceptance for credential `key` still alive at `now`."""
        ...


class Accepted(NamedTuple):
    """The last proof accepted for one credential: its time step and the verifier's clock then."""

    step: int
    at: float
    expires_at: float


def step_is_next(last: Accepted | None, step: int, now: float) -> bool:
    """The rule every guard applies (see the module docstring); an expired entry counts as none."""
    if last is None or last.expires_at < now:
        return True
    return step > last.step and now >= last.at + MIN_INTERVAL_S


class InMemoryReplayGuard:
    """Single-process guard; expired entries are swept when a table has doubled."""

    __slots__ = ("_seen", "_steps", "_sweep_at")

    def __init__(self) -> None:
        self._seen: dict[bytes, float] = {}
        self._steps: dict[bytes, Accepted] = {}
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

    def last_step(self, key: bytes, now: float) -> Accepted | None:
        held = self._steps.get(key)
        return held if held is not None and held.expires_at >= now else None

    def first_step(self, key: bytes, step: int, expires_at: float, now: float) -> bool:
        steps = self._steps
        if not step_is_next(steps.get(key), step, now):
            return False
        steps[key] = Accepted(step, now, expires_at)
        if len(steps) >= self._sweep_at:
            self._sweep(now)
        return True

    def live(self, now: float) -> tuple[dict[bytes, float], dict[bytes, Accepted]]:
        """Copies of the entries still in force: for a shared cache that lost them to be refilled."""
        seen = {k: exp for k, exp in self._seen.items() if exp >= now}
        return seen, {k: a for k, a in self._steps.items() if a.expires_at >= now}

    def _sweep(self, now: float) -> None:
        self._seen = {k: exp for k, exp in self._seen.items() if exp >= now}
        self._steps = {k: a for k, a in self._steps.items() if a.expires_at >= now}
        self._sweep_at = max(1024, 2 * max(len(self._seen), len(self._steps)))

    def __len__(self) -> int:
        return len(self._seen) + len(self._steps)


def replay_key(kid: bytes, cti: bytes, step: int | None = None) -> bytes:
    return kid + cti if step is None else kid + cti + step.to_bytes(8, "big")


def card_replay_key(kid: bytes, cti: bytes, venue: str, day_number: int) -> bytes:
    """A printed card is used once per venue per local day: a copied card cannot pass all day."""
    return kid + cti + b"@" + venue.encode() + day_number.to_bytes(4, "big")
