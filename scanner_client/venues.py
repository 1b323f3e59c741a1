"""The gate's venue, by id, from the shared venue list (data/venues.json or --venues FILE)."""

from __future__ import annotations

import json
from pathlib import Path

from verifier.catalogue import VENUE_TYPES
from verifier.decide import Venue, VenueError

DEFAULT_VENUES = Path(__file__).resolve().parent.parent / "data" / "venues.json"


def load_venues(path: Path = DEFAULT_VENUES) -> dict[str, Venue]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise VenueError(f"cannot read venue list {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise VenueError(f"venue list {path} is not valid JSON: {exc}") from None
    items = data.get("venues") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise VenueError(f"venue list {path} must be an object with a 'venues' list")
    venues: dict[str, Venue] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or item.get("type") not in VENUE_TYPES:
            raise VenueError(f"{path}: venues[{i}] needs a text id and a type from {list(VENUE_TYPES)}")
        region = item.get("region", 310000)
        if type(region) is not int:
            raise VenueError(f"{path}: venues[{i}].region must be a six-digit number")
        venues[item["id"]] = Venue(item["id"], item["type"], region, str(item.get("operator", "")))
    return venues


def resolve_venue(venue_id: str, path: Path = DEFAULT_VENUES) -> Venue:
    venues = load_venues(path)
    venue = venues.get(venue_id)
    if venue is None:
        known = ", ".join(sorted(venues)) or "none"
        raise VenueError(f"no venue {venue_id!r} in {path} (known: {known})")
    return venue
