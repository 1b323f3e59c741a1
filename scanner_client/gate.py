"""The gate loop's core: a frame in, decisions out, each recorded in the outbox before it is returned.

Frame → decoder chain → SP1 codes only (others counted) → dedup → offline verify + decide →
outbox → caller shows it. The clock is a parameter so tests never sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from scanner_client.chain import DecoderChain, FrameRead
from scanner_client.decision import MANUAL_CHECK, GateDecision
from scanner_client.dedup import CARD_MEMORY_S, DEFAULT_REJECT_LIFE_S, Deduper
from scanner_client.documents import DocumentCache
from scanner_client.outbox import Outbox
from scanner_client.replay_shared import LayeredReplayGuard
from verifier.code import PREFIX
from verifier.decide import GRANTED, REJECTED, Decider, Venue
from verifier.errors import Reason, VerificationError
from verifier.verify import DEFAULT_PROOF_MAX_AGE_S, Verifier

_STALE = (Reason.TRUST_LIST_STALE, Reason.CATALOGUE_STALE)


class FrameOutcome(NamedTuple):
    decisions: list[GateDecision]  # new decisions and repeats, already in the outbox
    read: FrameRead
    ignored: int  # codes that are not SP1


@dataclass
class Counters:
    frames: int = 0
    codes: int = 0
    not_sp1: int = 0
    decisions: int = 0
    repeats: int = 0
    degraded: int = 0
    by_result: dict[str, int] = field(default_factory=dict)


class Gate:
    def __init__(
        self,
        venue: Venue,
        chain: DecoderChain,
        documents: DocumentCache,
        replay: LayeredReplayGuard,
        outbox: Outbox,
        *,
        clock: Callable[[], float] = time.time,
        dedup: Deduper[GateDecision] | None = None,
    ) -> None:
        self.venue = venue
        self.chain = chain
        self.documents = documents
        self.replay = replay
        self.outbox = outbox
        self.clock = clock
        self.dedup: Deduper[GateDecision] = dedup or Deduper()
        self.counters = Counters()
        self.problems: list[str] = []
        self.verifier: Verifier | None = None
        self.decider: Decider | None = None
        self.reload()

    def reload(self) -> list[str]:
        """(Re)build the verifier and decider from the cached documents; the problems, in words."""
        loaded = self.documents.load()
        # "Manual check" answers were about the old documents: let those codes be decided afresh.
        self.dedup.sweep(self.clock(), keep=lambda seen: seen.decision.result != MANUAL_CHECK)
        # No trust list or no revocation list: every code is a manual check, as with a stale one.
        store, revocations = loaded.store, loaded.revocations
        self.verifier = None
        if store is not None and revocations is not None:
            self.verifier = Verifier(store, self.replay, revocations=revocations)
        self.missing = f"no usable {'trust' if store is None else 'revocation'} list on this gate"
        self.decider = Decider(loaded.snapshot) if loaded.snapshot is not None else None
        self.problems = loaded.problems
        return loaded.problems

    def process(self, frame: np.ndarray) -> FrameOutcome:
        read = self.chain.read(frame)
        self.counters.frames += 1
        now = self.clock()
        out: list[GateDecision] = []
        ignored = 0
        for r in read.reads:
            if not r.text.startswith(PREFIX):
                ignored += 1
                continue
            decision = self.on_code(r.text, now, r.step)
            if decision is not None:
                out.append(decision)
        self.counters.not_sp1 += ignored
        return FrameOutcome(out, read, ignored)

    def on_code(self, text: str, now: float, decoder: str = "") -> GateDecision | None:
        """The decision to show for one code seen now, or None while the same sighting continues."""
        self.counters.codes += 1
        frame = self.counters.frames
        sighting = self.dedup.look(text, now, frame)
        if sighting.same_view:
            return None
        if sighting.decision is not None:
            decision = sighting.decision.as_repeat(now)
            self.counters.repeats += 1
        else:
            decision, expires_at = self.decide(text, now, decoder)
            self.dedup.remember(text, decision, expires_at, now, frame)
        self.outbox.add(decision.event())  # durable before anyone sees it
        self.counters.decisions += 1
        self.counters.degraded += decision.degraded
        self.counters.by_result[decision.result] = self.counters.by_result.get(decision.result, 0) + 1
        return decision

    def decide(self, text: str, now: float, decoder: str = "") -> tuple[GateDecision, float]:
        """A fresh decision for a code (verified and replay-checked), and until when to remember it."""
        venue_id = self.venue.id
        reject_until = now + DEFAULT_REJECT_LIFE_S
        if self.verifier is None:
            detail = self.missing
            stale = Reason.TRUST_LIST_STALE.value
            return GateDecision(MANUAL_CHECK, stale, detail, now, venue_id, decoder=decoder), reject_until
        try:
            verified = self.verifier.verify(text, now, venue_id)
        except VerificationError as exc:
            result = MANUAL_CHECK if exc.reason in _STALE else REJECTED
            degraded = self.replay.degraded if exc.reason is Reason.REPLAYED else False
            decision = GateDecision(
                result, exc.reason.value, exc.detail, now, venue_id, degraded=degraded, decoder=decoder
            )
            return decision, reject_until
        degraded = self.replay.degraded
        expires_at = float(verified.claims.expires_at)
        if verified.proof_time is not None:  # this text carries one proof: alive while that proof is
            expires_at = min(expires_at, float(verified.proof_time + DEFAULT_PROOF_MAX_AGE_S))
        card = verified.card_number is not None
        if card:  # the same text all year: shown again later, the verifier's once-a-day rule decides
            expires_at = min(expires_at, now + CARD_MEMORY_S)
        base = GateDecision(
            REJECTED, None, "", now, venue_id, kind=verified.kind, issuer=verified.issuer, degraded=degraded,
            decoder=decoder, check_id=card,
        )  # fmt: skip
        if self.decider is None:
            detail = "no usable catalogue snapshot on this gate"
            return replace(base, result=MANUAL_CHECK, reason=Reason.CATALOGUE_STALE.value, detail=detail), reject_until
        decided = self.decider.decide(verified, self.venue, now)
        result = MANUAL_CHECK if decided.reason in _STALE else GRANTED if decided.granted else REJECTED
        detail = "" if result == GRANTED else "; ".join(decided.explain()[:3])  # explanations only when needed
        reason = decided.reason.value if decided.reason else None
        privileges = [p.to_json() for p in decided.privileges]
        return replace(base, result=result, reason=reason, detail=detail, privileges=privileges), expires_at
