"""What a gate shows and records for one code: granted, rejected, or "manual check".

MANUAL_CHECK is the gate's third answer: when its trust list or catalogue is past its max age
it cannot know whether a grant would be right, so it never grants and asks staff to check the
holder's documents by hand (DESIGN.md: "both with a maximum age after which the gate answers
manual check").
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from verifier.decide import GRANTED
from verifier.reasons import REASON_WORDS

MANUAL_CHECK = "MANUAL_CHECK"
CHECK_PHOTO_ID = "CHECK PHOTO ID (请核对本人证件)"


def new_event_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class GateDecision:
    result: str
    reason: str | None
    detail: str
    at: float
    venue: str
    kind: str | None = None
    issuer: str | None = None
    privileges: list[dict[str, Any]] = field(default_factory=list)
    degraded: bool = False
    repeat: bool = False
    decoder: str = ""
    id: str = field(default_factory=new_event_id)
    check_id: bool = False  # a printed card: staff check the holder's photo ID, whatever the answer

    @property
    def policy_id(self) -> str | None:
        return self.privileges[0]["policy_id"] if self.privileges else None

    @property
    def words(self) -> str:
        """The line staff read: the best privilege, or the reason in the words the staff page shows too;
        a card's says CHECK PHOTO ID beside the privilege."""
        if self.result == GRANTED and self.privileges:
            best = self.privileges[0]
            line = f"{best['benefit']}: {best['title']['en']} ({best['title']['zh']})"
            return f"{line}  {CHECK_PHOTO_ID}" if self.check_id else line
        words = REASON_WORDS.get(self.reason or "")
        return f"{words.en} ({words.zh})" if words else self.detail or (self.reason or "")

    def as_repeat(self, at: float) -> GateDecision:
        """The same answer, shown again: a new event marked repeat."""
        return replace(self, repeat=True, at=at, id=new_event_id())

    def event(self) -> dict[str, Any]:
        """The event as `POST /v1/events` takes it (docs/api.md): no subject, no code text."""
        return {
            "id": self.id,
            "venue": self.venue,
            "at": self.at,
            "result": self.result,
            "reason": self.reason,
            "policy_id": self.policy_id,
            "kind": self.kind,
            "issuer": self.issuer,
            "degraded": self.degraded,
            "repeat": self.repeat,
            "check_id": self.check_id,
        }

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "policy_id": self.policy_id, "words": self.words}
