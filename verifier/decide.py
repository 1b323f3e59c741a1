"""Privilege decisions at the gate: a verified code, a venue and a time in; a decision out.

Policies are indexed by venue type (and venue id) when the snapshot loads, so a decision
evaluates only those that can apply. A decision is never silent: `explain()` says, policy by
policy, what held and what did not. Explanations are built on demand, not on every scan.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any, NamedTuple, Protocol

from verifier.catalogue import YRD_REGIONS, Benefit, Policy, PolicyVersion, Snapshot
from verifier.claims import AGE_THRESHOLDS, Profile
from verifier.errors import Reason
from verifier.rules.evaluate import AgeBand, explain
from verifier.verify import VerifiedCode

LOCAL_TIME = dt.timezone(dt.timedelta(hours=8), "CST")  # China Standard Time has no daylight saving
GRANTED = "GRANTED"
REJECTED = "REJECTED"
_NEXT_THRESHOLD: dict[int, int | None] = dict(zip(AGE_THRESHOLDS, (*AGE_THRESHOLDS[1:], None), strict=True))


class Venue(NamedTuple):
    id: str
    type: str
    region: int = 310000
    operator: str = ""


class Privilege(NamedTuple):
    policy_id: str
    version: int
    title_zh: str
    title_en: str
    benefit: Benefit

    def to_json(self) -> dict[str, Any]:
        return {
            "policy_id": self.policy_id,
            "version": self.version,
            "title": {"zh": self.title_zh, "en": self.title_en},
            "benefit": self.benefit.words(),
            "companions": self.benefit.companions,
        }


class UsageLedger(Protocol):
    """Counts uses per (subject, venue, policy, local day) for policies with daily limits."""

    def count(self, key: tuple[bytes, str, str, dt.date]) -> int: ...

    def record(self, key: tuple[bytes, str, str, dt.date]) -> None: ...


class InMemoryUsage:
    def __init__(self) -> None:
        self._counts: dict[tuple[bytes, str, str, dt.date], int] = defaultdict(int)

    def count(self, key: tuple[bytes, str, str, dt.date]) -> int:
        return self._counts.get(key, 0)

    def record(self, key: tuple[bytes, str, str, dt.date]) -> None:
        self._counts[key] += 1


class Decision(NamedTuple):
    result: str
    reason: Reason | None
    privileges: tuple[Privilege, ...]  # best first; the others are listed after it
    venue: Venue
    day: dt.date
    considered: tuple[tuple[Policy, PolicyVersion | None, str], ...]  # (policy, version, note)
    facts: dict[str, Any]

    @property
    def granted(self) -> bool:
        return self.result == GRANTED

    @property
    def best(self) -> Privilege | None:
        return self.privileges[0] if self.privileges else None

    def explain(self) -> list[str]:
        """In words, policy by policy: which clauses held and which failed."""
        if self.reason is Reason.CATALOGUE_STALE:
            return ["the policy catalogue on this gate is out of date: check the holder's documents by hand"]
        if self.reason is Reason.NO_POLICY_FOR_VENUE:
            return [f"no published policy covers {self.venue.type} venues or venue {self.venue.id}"]
        lines: list[str] = []
        for policy, version, note in self.considered:
            head = f"{policy.title_en} ({policy.id}"
            head += f" v{version.version})" if version else ")"
            lines.append(f"{head}: {note}")
            if version is not None and note != "not in force on this date":
                lines.extend(explain(version.rule, self.facts, self.day, version.params).lines(1))
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "reason": self.reason.value if self.reason else None,
            "privileges": [p.to_json() for p in self.privileges],
            "venue": self.venue._asdict(),
            "explanation": self.explain(),
        }


def profile_facts(profile: Profile) -> dict[str, Any]:
    """What a code tells a gate, under the rule language's attribute names."""
    facts: dict[str, Any] = {}
    if profile.age_over is not None:
        facts["age"] = AgeBand(profile.age_over, _NEXT_THRESHOLD.get(profile.age_over))
    if profile.disability_category is not None:
        facts["disability.category"] = profile.disability_category
        facts["disability.grade"] = profile.disability_grade
    if profile.martyr_family:
        facts["martyr_family"] = True
    if profile.entitled_group:
        facts["entitled_group"] = True
    if profile.student_level is not None:
        facts["student.level"] = profile.student_level
        facts["student.enrolled_until"] = profile.enrolled_until
    if profile.residence is not None:
        facts["residence.region"] = profile.residence
    return facts


class Decider:
    """Decisions from one catalogue snapshot; build one per snapshot load."""

    def __init__(self, snapshot: Snapshot, usage: UsageLedger | None = None) -> None:
        self.snapshot = snapshot
        self.usage = usage
        by_type: dict[str, list[Policy]] = defaultdict(list)
        by_id: dict[str, list[Policy]] = defaultdict(list)
        for policy in snapshot.policies:
            if policy.delivery != "scan" or policy.status != "published":
                continue
            for venue_type in policy.venue_types:
                by_type[venue_type].append(policy)
            for venue_id in policy.venue_ids:
                by_id[venue_id].append(policy)
        self._by_type = {k: tuple(v) for k, v in by_type.items()}
        self._by_id = {k: tuple(v) for k, v in by_id.items()}

    def candidates(self, venue: Venue) -> tuple[Policy, ...]:
        by_type = self._by_type.get(venue.type, ())
        by_id = self._by_id.get(venue.id)
        if not by_id:
            return by_type
        return by_type + tuple(p for p in by_id if p not in by_type)

    def decide(self, code: VerifiedCode, venue: Venue, now: float) -> Decision:
        local = dt.datetime.fromtimestamp(now, LOCAL_TIME)
        day = local.date()
        facts = profile_facts(code.profile)
        if now > self.snapshot.expires_at:
            return Decision(REJECTED, Reason.CATALOGUE_STALE, (), venue, day, (), facts)
        candidates = self.candidates(venue)
        if not candidates:
            return Decision(REJECTED, Reason.NO_POLICY_FOR_VENUE, (), venue, day, (), facts)
        granted: list[tuple[Privilege, Policy]] = []
        considered = []
        for policy in candidates:
            version = policy.version_on(day)
            note = self._check(policy, version, facts, local, day, code, venue)
            considered.append((policy, version, note))
            if note == "granted":
                assert version is not None
                privilege = Privilege(policy.id, version.version, policy.title_zh, policy.title_en, version.benefit)
                granted.append((privilege, policy))
        if not granted:
            return Decision(REJECTED, Reason.NOT_ELIGIBLE, (), venue, day, tuple(considered), facts)
        granted.sort(key=lambda pair: pair[0].benefit.rank(), reverse=True)
        best_policy = granted[0][1]
        if self.usage is not None and best_policy.version_on(day).uses_per_day_per_venue:  # type: ignore[union-attr]
            self.usage.record((code.profile.subject, venue.id, best_policy.id, day))
        privileges = tuple(p for p, _ in granted)
        return Decision(GRANTED, None, privileges, venue, day, tuple(considered), facts)

    def _check(
        self,
        policy: Policy,
        version: PolicyVersion | None,
        facts: dict[str, Any],
        local: dt.datetime,
        day: dt.date,
        code: VerifiedCode,
        venue: Venue,
    ) -> str:
        """'granted', or why not, in a few words."""
        if version is None:
            return "not in force on this date"
        if not version.time_rules.allows(local):
            return "not at this day or hour"
        scope = policy.region_scope
        if scope != "everyone":
            region = facts.get("residence.region")
            if scope == "residents" and region != self.snapshot.region:
                return f"for residents of {self.snapshot.region} only (code: {region})"
            if scope == "yrd" and region not in YRD_REGIONS:
                return f"for Yangtze River Delta residents only (code: {region})"
        if not version.test(facts, day):
            return "not eligible"
        limit = version.uses_per_day_per_venue
        if limit and self.usage is not None:
            used = self.usage.count((code.profile.subject, venue.id, policy.id, day))
            if used >= limit:
                return f"already used {used} time(s) today at this venue (limit {limit})"
        return "granted"
