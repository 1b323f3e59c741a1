"""One verification as the CLI reports it: a JSON-ready dict, never an exception for a bad code."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Protocol

from verifier.catalogue import VENUE_TYPES
from verifier.decide import Venue, VenueError
from verifier.errors import VerificationError
from verifier.verify import VerifiedCode, Verifier


class Judgement(Protocol):
    @property
    def limited(self) -> bool: ...

    def to_json(self) -> dict[str, Any]: ...


class Deciding(Protocol):
    """A Decider, or a wrapper of one (the server's remembers explanations)."""

    def decide(self, code: VerifiedCode, venue: Venue, now: float) -> Judgement: ...


def read_venue(path: Path | None, venue_type: str | None) -> Venue:
    """A venue from a JSON file ({id, type, region, operator}) or from a bare type."""
    if path is None:
        if venue_type not in VENUE_TYPES:
            raise VenueError(f"--venue-type must be one of {list(VENUE_TYPES)}, not {venue_type!r}")
        return Venue(id=f"any-{venue_type}", type=venue_type)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise VenueError(f"cannot read venue file {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or data.get("type") not in VENUE_TYPES:
        raise VenueError(f"{path}: a venue needs a text id and a type from {list(VENUE_TYPES)}")
    region = data.get("region", 310000)
    if type(region) is not int:
        raise VenueError(f"{path}: region must be a six-digit number")
    return Venue(data["id"], data["type"], region, str(data.get("operator", "")))


def answered_profile(profile: dict[str, Any], decision: Judgement | None) -> dict[str, Any]:
    """The profile without its pseudonym unless the grant has a daily limit, counted by it.

    Whoever reads answers (a handheld, a log) could otherwise link one holder's scans; a grant
    limited per holder and day is the one case where the answer must say whose it was.
    """
    if decision is not None and decision.limited:
        return profile
    return {name: value for name, value in profile.items() if name != "subject"}


def result_json(
    verifier: Verifier, text: str, now: float, decider: Deciding | None = None, venue: Venue | None = None
) -> dict[str, Any]:
    started = time.perf_counter_ns()
    try:
        verified = verifier.verify(text, now, venue.id if venue is not None else "")
    except VerificationError as exc:
        latency = (time.perf_counter_ns() - started) // 1000
        return {
            "result": "REJECTED",
            "reason": exc.reason.value,
            "detail": exc.detail,
            "kind": None,
            "issuer": None,
            "profile": None,
            "latency_us": latency,
        }
    decision = decider.decide(verified, venue, now) if decider is not None and venue is not None else None
    latency = (time.perf_counter_ns() - started) // 1000
    body = verified.to_json()
    result = {
        "result": "VALID",
        "reason": None,
        "detail": None,
        "kind": body["kind"],
        "issuer": body["issuer"],
        "profile": answered_profile(body["profile"], decision),
        "latency_us": latency,
    }
    if "card_number" in body:  # a printed card: the number staff can read off it
        result["card_number"] = body["card_number"]
    if decision is not None:
        result["decision"] = decision.to_json()
    return result
