"""A printed card at the gate program: CHECK PHOTO ID beside the privilege on every display and in the event,
and the dedup remembers a card only for a minute, so a second use hours later the same day is REPLAYED (the
verifier's once-per-venue-per-day rule), never a "repeat" of the first GRANTED."""

from __future__ import annotations

import random

from rich.console import Console

from scanner_client.decision import CHECK_PHOTO_ID
from scanner_client.dedup import CARD_MEMORY_S
from scanner_client.display import TerminalDisplay
from tests.support.gates import Kit
from tests.support.scenes import make_frame
from tests.support.world import elderly


def test_a_card_is_granted_with_check_photo_id_beside_the_privilege(kit: Kit) -> None:
    gate = kit.gate()
    decision = gate.on_code(kit.world.card(number=12345674, at=kit.world.now), kit.clock())
    assert decision is not None and decision.result == "GRANTED" and decision.kind == "card"
    assert decision.check_id and decision.words.endswith(CHECK_PHOTO_ID) and "free entry" in decision.words
    assert decision.event()["check_id"] is True and decision.to_json()["check_id"] is True
    console = Console(record=True, width=200)
    TerminalDisplay(console).show(decision)
    shown = console.export_text()
    assert "GRANTED" in shown and "free entry" in shown and "CHECK PHOTO ID" in shown
    online = gate.on_code(kit.world.online(), kit.clock())
    assert online is not None and not online.check_id and CHECK_PHOTO_ID not in online.words
    assert online.event()["check_id"] is False


def test_a_card_refused_still_says_check_photo_id(kit: Kit) -> None:
    decision = kit.gate().on_code(kit.world.card(elderly(age_over=None), number=12345674), kit.clock())
    assert decision is not None and (decision.result, decision.reason) == ("REJECTED", "NOT_ELIGIBLE")
    assert decision.check_id
    console = Console(record=True, width=200)
    TerminalDisplay(console).show(decision)
    assert "CHECK PHOTO ID" in console.export_text()


def test_a_card_shown_again_hours_later_the_same_day_is_replayed_not_a_repeat(kit: Kit) -> None:
    gate = kit.gate()
    card = kit.world.card(number=12345674, at=kit.world.now)
    frame = make_frame(card, 640, 480, random.Random(5), "plain")
    first = gate.process(frame).decisions
    assert [(d.result, d.repeat) for d in first] == [("GRANTED", False)]
    kit.clock.advance(10)  # taken away and held up again at once: the same holder, the same decision
    again = gate.process(frame).decisions
    assert [(d.result, d.repeat) for d in again] == [("GRANTED", True)]
    kit.clock.advance(3 * 3600)  # hours later, the same venue, the same day: a copy, or the card lent out
    later = gate.process(frame).decisions
    assert [(d.result, d.reason, d.repeat) for d in later] == [("REJECTED", "REPLAYED", False)]
    assert CARD_MEMORY_S <= 60
    events = gate.outbox.pending(10)
    assert [(e["result"], e["repeat"]) for e in events] == [("GRANTED", False), ("GRANTED", True),
                                                            ("REJECTED", False)]  # fmt: skip
