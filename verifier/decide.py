"""Privilege decisions at the gate: a verified code, a venue and a time in; a decision out.

Policies are indexed by venue type (and venue id) when the snapshot loads, so a decision
evaluates only those that can apply. A decision is never silent: `explain()` says, policy by
policy, what held and what did not. Explanations are built on demand, not on every scan.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from keys.errors import SuishenError
from verifier.catalogue import YRD_REGIONS, Benefit, Policy, PolicyVersion, Snapshot
from verifier.claims import AGE_THRESHOLDS, Profile, group_key
from verifier.errors import Reason
from verifier.local_time import LOCAL_OFFSET_S, LOCAL_TIME
from verifier.rules.evaluate import AgeBand, explain
from verifier.valuesets import ignored_attributes, map_profile, partner_mapper
from verifier.verify import VerifiedCode
from verifier.words import Words

# A decision's two results; the server, the gate program and the issuer import them (and local
# time, defined in verifier.local_time) from here.
GRANTED = "GRANTED"
REJECTED = "REJECTED"
GRANTED_WORDS = Words("准予享受", "granted")  # a candidate policy's note when it applied
_NEXT_THRESHOLD: dict[int, int | None] = dict(zip(AGE_THRESHOLDS, (*AGE_THRESHOLDS[1:], None), strict=True))


class Venue(NamedTuple):
    id: str
    type: str
    region: int = 310000
    operator: str = ""


class VenueError(SuishenError, ValueError):
    """A venue cannot be used: its file or the venue list is unreadable, or names no such venue."""


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
    profile: Profile
    code: VerifiedCode | None  # with `decider` and `now`: enough to explain on demand, nothing computed now
    decider: Decider | None
    now: float
    limited: bool = False  # the best grant has a daily limit, counted per holder pseudonym
    card_number: int | None = None  # a printed card: staff check the holder's photo ID, granted or not

    def notes(self) -> list[tuple[Policy, PolicyVersion | None, Words]]:
        """(policy, version in force, why it did or did not apply) for every candidate policy."""
        if self.decider is None or self.code is None:
            return []
        granted = frozenset(p.policy_id for p in self.privileges)
        return self.decider._notes(self.code, self.venue, self.now, granted)

    @property
    def facts(self) -> dict[str, Any]:
        return profile_facts(self.profile)

    @property
    def granted(self) -> bool:
        return self.result == GRANTED

    @property
    def best(self) -> Privilege | None:
        return self.privileges[0] if self.privileges else None

    @property
    def check_id(self) -> bool:
        return self.card_number is not None

    def explanation(self) -> list[Words]:
        """In words, policy by policy, Chinese and English: which clauses held and which failed."""
        lines: list[Words] = []
        if self.card_number is not None:
            label = card_label(self.card_number)
            lines.append(Words(f"卡 {label}：请核对持卡人身份证件", f"card {label}: check the holder's photo ID"))
        if self.reason is Reason.CATALOGUE_STALE:
            lines.append(Words(
                "本机政策目录已过期：请人工核验持有人证件",
                "the policy catalogue on this gate is out of date: check the holder's documents by hand",
            ))  # fmt: skip
            return lines
        if self.reason is Reason.NO_POLICY_FOR_VENUE:
            v = self.venue
            lines.append(Words(f"没有已发布的政策适用于 {v.type} 类场所或场所 {v.id}",
                               f"no published policy covers {v.type} venues or venue {v.id}"))
            return lines  # fmt: skip
        if self.decider and self.code:
            lines.extend(self.decider.ignored(self.code))
        facts = self.facts
        for policy, version, note in self.notes():
            if version is None:
                head = Words(f"{policy.title_zh}（{policy.id}）", f"{policy.title_en} ({policy.id})")
            else:
                head = Words(f"{policy.title_zh}（{policy.id} 第{version.version}版）",
                             f"{policy.title_en} ({policy.id} v{version.version})")  # fmt: skip
            lines.append(head + Words("：", ": ") + note)
            if version is not None:
                clauses = explain(version.rule, facts, self.day, version.params)
                lines.extend(Words(zh, en) for zh, en in zip(clauses.lines(1, "zh"), clauses.lines(1), strict=True))
        return lines

    def explain(self, lang: str = "en") -> list[str]:
        """The explanation's lines in one language (the gate's display and log use English)."""
        return [line.in_(lang) for line in self.explanation()]

    def to_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "reason": self.reason.value if self.reason else None,
            "privileges": [p.to_json() for p in self.privileges],
            "venue": self.venue._asdict(),
            "check_id": self.check_id,
            "explanation": [line.to_json() for line in self.explanation()],  # each line {zh, en}
        }


def card_label(number: int) -> str:
    """A card number as printed: SC and twelve digits in groups of four."""
    digits = f"{number:012d}"
    return f"SC {digits[:4]} {digits[4:8]} {digits[8:]}"


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
    if profile.enterprise:  # an enterprise's code: its own attributes only
        if profile.credit_good:
            facts["enterprise.credit_good"] = True
        if profile.enterprise_region is not None:
            facts["enterprise.region"] = profile.enterprise_region
    return facts


_EVERYONE, _RESIDENTS, _YRD = 0, 1, 2
_SCOPES = {"everyone": _EVERYONE, "residents": _RESIDENTS, "yrd": _YRD}
_EPOCH_WEEKDAY = 4  # 1970-01-01 was a Thursday (ISO 4)
_MEMO_SIZE = 65536


class _Entry(NamedTuple):
    """A candidate policy as it stands on one day: everything a scan needs, computed once."""

    policy: Policy
    version: PolicyVersion
    privilege: Privilege
    rank: tuple[int, int, int]
    scope: int
    weekdays: frozenset[int] | None  # None: every day
    opens_s: int  # seconds after local midnight
    closes_s: int
    test: Callable[[dict[str, Any], dt.date], bool]
    limit: int | None
    enterprise: bool  # an enterprise policy: for enterprise codes only, and a person's for persons' codes only


def _entry(policy: Policy, version: PolicyVersion) -> _Entry:
    rules = version.time_rules
    every_day = len(rules.weekdays) == 7
    opens = rules.opens.hour * 3600 + rules.opens.minute * 60 if rules.opens else 0
    closes = rules.closes.hour * 3600 + rules.closes.minute * 60 if rules.closes else 86400
    privilege = Privilege(policy.id, version.version, policy.title_zh, policy.title_en, version.benefit)
    return _Entry(
        policy, version, privilege, version.benefit.rank(), _SCOPES[policy.region_scope],
        None if every_day else rules.weekdays, opens, closes, version.test, version.uses_per_day_per_venue,
        policy.subject == "enterprise",
    )  # fmt: skip


class Decider:
    """Decisions from one catalogue snapshot; build one per snapshot load."""

    def __init__(self, snapshot: Snapshot, usage: UsageLedger | None = None, *, memo: bool = True) -> None:
        self.snapshot = snapshot
        self.usage = usage
        self._memo = memo
        self._eligible: dict[tuple[Any, ...], tuple[tuple[_Entry, ...], tuple[Privilege, ...], bool]] = {}
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
        self._entries: dict[tuple[str, str, int], tuple[_Entry, ...]] = {}
        self._partner_tables = partner_mapper({v.name: v for v in snapshot.value_sets})
        self._dates: dict[int, dt.date] = {}

    def candidates(self, venue: Venue) -> tuple[Policy, ...]:
        by_type = self._by_type.get(venue.type, ())
        by_id = self._by_id.get(venue.id)
        if not by_id:
            return by_type
        return by_type + tuple(p for p in by_id if p not in by_type)

    def _entries_on(self, venue: Venue, day_number: int) -> tuple[_Entry, ...]:
        key = (venue.type, venue.id, day_number)
        entries = self._entries.get(key)
        if entries is None:
            if len(self._entries) > 4096:  # a new day: yesterday's entries are of no more use
                self._entries.clear()
            day = self._day(day_number)
            entries = tuple(_entry(p, v) for p in self.candidates(venue) if (v := p.version_on(day)) is not None)
            self._entries[key] = entries
        return entries

    def _day(self, day_number: int) -> dt.date:
        day = self._dates.get(day_number)
        if day is None:
            day = self._dates[day_number] = dt.date(1970, 1, 1) + dt.timedelta(days=day_number)
        return day

    def decide(self, code: VerifiedCode, venue: Venue, now: float) -> Decision:
        local_s = int(now) + LOCAL_OFFSET_S
        day_number, second = divmod(local_s, 86400)
        day = self._day(day_number)
        profile = self.profile_of(code)
        card = code.claims.card_number
        if now > self.snapshot.expires_at or not self.candidates(venue):
            reason = Reason.CATALOGUE_STALE if now > self.snapshot.expires_at else Reason.NO_POLICY_FOR_VENUE
            return Decision(REJECTED, reason, (), venue, day, profile, None, None, now, card_number=card)
        # Eligibility depends on the group attributes, the venue, the day and the minute (time
        # windows are whole minutes), never on who the holder is: remember it per combination.
        key = (venue.type, venue.id, day_number, second // 60, group_key(profile))
        found = self._eligible.get(key) if self._memo else None
        if found is None:
            eligible = self._eligible_now(venue, day_number, second, profile)
            found = (eligible, tuple(e.privilege for e in eligible), any(e.limit for e in eligible))
            if self._memo:
                if len(self._eligible) >= _MEMO_SIZE:
                    self._eligible.clear()
                self._eligible[key] = found
        granted, privileges, limited = found
        if limited and self.usage is not None:
            granted = tuple(e for e in granted if not e.limit or self._used(code, venue, e, day) < e.limit)
            privileges = tuple(e.privilege for e in granted)
        if not granted:
            return Decision(REJECTED, Reason.NOT_ELIGIBLE, (), venue, day, profile, code, self, now, card_number=card)
        best = granted[0]
        if best.limit and self.usage is not None:
            self.usage.record((profile.subject, venue.id, best.policy.id, day))
        return Decision(GRANTED, None, privileges, venue, day, profile, code, self, now, bool(best.limit), card)

    def _eligible_now(self, venue: Venue, day_number: int, second: int, profile: Profile) -> tuple[_Entry, ...]:
        """The policies whose time, region and rule hold, best benefit first (no usage limits)."""
        entries = self._entries_on(venue, day_number)
        day = self._day(day_number)
        facts = profile_facts(profile)
        weekday = (day_number + _EPOCH_WEEKDAY - 1) % 7 + 1
        region = profile.residence
        home = self.snapshot.region
        eligible = []
        enterprise = profile.enterprise
        for e in entries:
            if e.enterprise is not enterprise:
                continue
            if e.weekdays is not None and weekday not in e.weekdays:
                continue
            if not e.opens_s <= second < e.closes_s:
                continue
            if e.scope and (region != home if e.scope == _RESIDENTS else region not in YRD_REGIONS):
                continue
            if e.test(facts, day):
                eligible.append(e)
        eligible.sort(key=lambda e: e.rank, reverse=True)
        return tuple(eligible)

    def profile_of(self, code: VerifiedCode) -> Profile:
        """The holder's profile in our codes (a partner issuer's codes mapped through the value sets)."""
        tables = self._partner_tables.get(code.issuer)
        return map_profile(code.profile, tables) if tables else code.profile

    def ignored(self, code: VerifiedCode) -> list[Words]:
        """A partner's codes that no mapping table knows: ignored by the decision, and said so."""
        if code.issuer not in self._partner_tables:
            return []
        return ignored_attributes(code.profile, code.issuer, self.snapshot.value_sets)

    def _used(self, code: VerifiedCode, venue: Venue, e: _Entry, day: dt.date) -> int:
        assert self.usage is not None
        return self.usage.count((code.profile.subject, venue.id, e.policy.id, day))

    def _notes(
        self, code: VerifiedCode, venue: Venue, now: float, granted: frozenset[str]
    ) -> list[tuple[Policy, PolicyVersion | None, Words]]:
        """Why each candidate policy did or did not apply (the slow path, for explanations)."""
        local = dt.datetime.fromtimestamp(now, LOCAL_TIME)
        day = local.date()
        facts = profile_facts(self.profile_of(code))
        out: list[tuple[Policy, PolicyVersion | None, Words]] = []
        for policy in self.candidates(venue):
            version = policy.version_on(day)
            if policy.id in granted:
                note = GRANTED_WORDS + self._scope_note(policy.region_scope, facts.get("residence.region"))
            else:
                note = self._note(policy, version, facts, local, day, code, venue)
            out.append((policy, version, note))
        return out

    def _scope_note(self, scope: str, region: int | None) -> Words:
        """Which region scope let the holder in, for a granted policy limited by region."""
        home = self.snapshot.region
        if scope == "residents":
            return Words(f"（仅限 {home} 居民：码中为 {region}）",
                         f" (residents of {home} only: the code states {region})")  # fmt: skip
        if scope == "yrd":
            return Words(f"（长三角居民：码中为 {region}）",
                         f" (Yangtze River Delta residents: the code states {region})")  # fmt: skip
        return Words("", "")

    def _note(
        self,
        policy: Policy,
        version: PolicyVersion | None,
        facts: dict[str, Any],
        local: dt.datetime,
        day: dt.date,
        code: VerifiedCode,
        venue: Venue,
    ) -> Words:
        """'granted', or why not, in a few words."""
        if version is None:
            return Words("当日不在有效期内", "not in force on this date")
        if (policy.subject == "enterprise") is not self.profile_of(code).enterprise:
            if policy.subject == "enterprise":
                return Words("仅限企业码", "for enterprises' codes only")
            return Words("仅限个人码", "for persons' codes only")
        if not version.time_rules.allows(local):
            return Words("不在适用的日期或时段", "not at this day or hour")
        scope, home = policy.region_scope, self.snapshot.region
        region = facts.get("residence.region")
        stated = (Words(f"码中为 {region}", f"code: {region}") if region is not None
                  else Words("码中未载明居住地", "the code states no residence"))  # fmt: skip
        if scope == "residents" and region != home:
            return Words(f"仅限 {home} 居民（{stated.zh}）", f"for residents of {home} only ({stated.en})")
        if scope == "yrd" and region not in YRD_REGIONS:
            return Words(f"仅限长三角居民（{stated.zh}）", f"for Yangtze River Delta residents only ({stated.en})")
        if not version.test(facts, day):
            return Words("不符合条件", "not eligible")
        limit = version.uses_per_day_per_venue
        if limit and self.usage is not None:
            used = self.usage.count((code.profile.subject, venue.id, policy.id, day))
            if used >= limit:
                return Words(f"今日已在本场所使用 {used} 次（上限 {limit} 次）",
                             f"already used {used} time(s) today at this venue (limit {limit})")  # fmt: skip
        return GRANTED_WORDS
