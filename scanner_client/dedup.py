"""One decision per code shown: consecutive frames of the same code are one sighting.

A code seen again after it left the view, while it is still alive, gets the earlier decision
back marked as a repeat (it is not verified again: the replay guard would call it REPLAYED,
which is true but unhelpful to a holder who simply held the phone up twice).

A printed card's text never changes and lives a year, so it is remembered only for
`CARD_MEMORY_S`, not until its expiry: held up twice at the gate it is one decision, but shown
again later the same day it is verified again, and the verifier's once-per-venue-per-day rule
answers REPLAYED (a copied card used by a second person), never a repeat of the first GRANTED.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")

DEFAULT_GAP_S = 1.5  # a code absent for less than this (and for fewer than DEFAULT_GAP_FRAMES frames) is still
DEFAULT_GAP_FRAMES = 15  # the same sighting: frames lost to motion blur or a glint do not make a second one
DEFAULT_REJECT_LIFE_S = 60.0  # how long a rejection is remembered when the code carries no expiry
CARD_MEMORY_S = 60.0  # how long a printed card's decision is remembered (the holder holding it up again)


class Seen(NamedTuple, Generic[T]):
    decision: T
    expires_at: float
    last_seen: float
    last_frame: int


class Sighting(NamedTuple, Generic[T]):
    """What to do with a code in a frame: `decision` is None for a new code (decide it)."""

    decision: T | None
    repeat: bool  # shown again after leaving the view: the earlier decision, marked repeat
    same_view: bool  # still in view since the last frame: nothing new to show or record


class Deduper(Generic[T]):
    """Remembers decisions by code text until the code's own expiry.

    A gap is measured in both seconds and frames, so that a recording replayed faster than
    real time still tells a code held up twice from a code held up once.
    """

    def __init__(
        self, *, gap_s: float = DEFAULT_GAP_S, gap_frames: int = DEFAULT_GAP_FRAMES, max_entries: int = 10_000
    ) -> None:
        self.gap_s = gap_s
        self.gap_frames = gap_frames
        self.max_entries = max_entries
        self._seen: dict[str, Seen[T]] = {}

    def look(self, text: str, now: float, frame: int = 0) -> Sighting[T]:
        entry = self._seen.get(text)
        if entry is None or now > entry.expires_at:
            return Sighting(None, False, False)
        self._seen[text] = entry._replace(last_seen=now, last_frame=frame)
        if now - entry.last_seen <= self.gap_s and frame - entry.last_frame <= self.gap_frames:
            return Sighting(entry.decision, False, True)
        return Sighting(entry.decision, True, False)

    def remember(self, text: str, decision: T, expires_at: float, now: float, frame: int = 0) -> None:
        if len(self._seen) >= self.max_entries:
            self.sweep(now)
        self._seen[text] = Seen(decision, expires_at, now, frame)

    def sweep(self, now: float, keep: Callable[[Seen[T]], bool] | None = None) -> None:
        self._seen = {k: v for k, v in self._seen.items() if v.expires_at >= now and (keep is None or keep(v))}
        if len(self._seen) >= self.max_entries:  # all alive: drop the oldest sightings
            oldest = sorted(self._seen.items(), key=lambda kv: kv[1].last_seen)
            self._seen = dict(oldest[len(oldest) // 2 :])
