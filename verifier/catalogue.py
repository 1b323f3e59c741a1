"""The policy catalogue as gates and the matching engine see it: policies, dated versions, snapshots.

A policy is plain data (one YAML file each in the repository, JSON inside a snapshot), parsed
here with every problem located. A snapshot is the published policies plus a content hash,
signed with the trust-list root key; gates refuse a bad signature and answer CATALOGUE_STALE
once it is past its max age.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import re
from typing import Any, NamedTuple

from keys.algorithms import PrivateKey, PublicKey
from keys.signed_json import SignedDocumentError, canonical_json, open_document, sign_document
from verifier.claims import AGE_THRESHOLDS
from verifier.rules.ast import (
    AgeOn,
    Between,
    Compare,
    In,
    MembersAged,
    Param,
    Rule,
    Value,
    attributes_read,
    params_read,
)
from verifier.rules.attributes import ATTRIBUTES, BOOL, DATE, INT, TEXT
from verifier.rules.evaluate import ParamValues, Test, compile_rule
from verifier.rules.parse import RuleProblem, iso_date, parse_rule
from verifier.valuesets import ValueSet, value_set_from_json
from verifier.valuesets import to_json as value_set_json

DELIVERY_MODES = ("direct", "confirm", "scan")
SUBJECTS = ("person", "enterprise")
STATUSES = ("draft", "published", "retired")
REGION_SCOPES = ("residents", "yrd", "everyone")
BENEFIT_KINDS = ("free_entry", "discount", "amount", "priority")  # priority: 绿色通道, served first (守信优先)
PAYS = ("monthly", "quarterly", "yearly", "once")  # how often a direct or confirm policy pays (payouts.pay)
BUDGET_PERIODS = ("year", "month")  # what a policy's budget covers (app.matching.evaluation)
VENUE_TYPES = (
    "park", "museum", "scenic_area", "metro", "bus", "ferry", "library",
    "sports_venue", "gallery", "zoo", "botanical_garden", "theatre",
    "service_hall",  # 政务服务中心: enterprise codes (法人随申码) shown at a government service hall
)  # fmt: skip
YRD_REGIONS = frozenset({310000, 320000, 330000, 340000})  # 长三角: Shanghai, Jiangsu, Zhejiang, Anhui
SNAPSHOT_FORMAT = "suishen-catalogue/1"
DEFAULT_SNAPSHOT_MAX_AGE_S = 3 * 86400
# Matched whole (fullmatch) and in ASCII: with "$" an id or an hour could end in a newline ("abc\n",
# "09:00\n"), and a Unicode \d let "1٣:00" through to dt.time.fromisoformat, which raised.
_ID = re.compile(r"[a-z0-9][a-z0-9-]{2,63}", re.ASCII)
_HOURS = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]", re.ASCII)


class CatalogueError(SignedDocumentError):
    """A snapshot cannot be used (bad signature, wrong format, bad content)."""


class Benefit(NamedTuple):
    kind: str
    percent: int = 0  # discount: percent off
    amount_yuan: int = 0  # amount: paid out
    companions: int = 0

    def rank(self) -> tuple[int, int, int]:
        """Larger is better: free entry beats any discount, a deeper discount beats a shallower."""
        order = {"free_entry": 2, "discount": 1, "amount": 0, "priority": 0}[self.kind]
        return (order, self.percent + self.amount_yuan, self.companions)

    def words(self) -> str:
        base = {"free_entry": "free entry", "discount": f"{self.percent}% off", "amount": f"¥{self.amount_yuan}",
                "priority": "priority service (green channel)"}  # fmt: skip
        companions = f", with {self.companions} companion(s)" if self.companions else ""
        return base[self.kind] + companions

    def words_zh(self) -> str:
        base = {"free_entry": "免费", "discount": f"优惠 {self.percent}%", "amount": f"{self.amount_yuan} 元",
                "priority": "优先办理（绿色通道）"}  # fmt: skip
        companions = f"，可带 {self.companions} 名同行人" if self.companions else ""
        return base[self.kind] + companions


class Budget(NamedTuple):
    """What a paid policy may spend in a year or a month, in whole yuan: the evaluation alerts past 90 %."""

    amount_yuan: int
    period: str  # one of BUDGET_PERIODS


class Commitment(NamedTuple):
    """告知承诺书: what a confirm-mode applicant promises, shown before the confirm button and signed.

    Versioned with the policy: a department that changes the words gives them a new version, and a
    confirmation names the version the person saw (app.matching.confirmations).
    """

    version: int
    zh: str
    en: str

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "zh": self.zh, "en": self.en}


class TimeRules(NamedTuple):
    weekdays: frozenset[int] = frozenset(range(1, 8))  # ISO: 1 = Monday
    opens: dt.time | None = None
    closes: dt.time | None = None  # exclusive

    def allows(self, local: dt.datetime) -> bool:
        if local.isoweekday() not in self.weekdays:
            return False
        if self.opens is None or self.closes is None:
            return True
        return self.opens <= local.time() < self.closes


class PolicyVersion(NamedTuple):
    version: int
    effective_from: dt.date
    effective_to: dt.date | None  # inclusive
    rule: Rule
    params: dict[str, ParamValues]
    benefit: Benefit
    time_rules: TimeRules
    uses_per_day_per_venue: int | None
    test: Test  # the rule compiled with its parameters

    def in_force(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


class Policy(NamedTuple):
    id: str
    title_zh: str
    title_en: str
    lead_department: str
    data_departments: tuple[str, ...]
    legal_basis: str
    delivery: str
    subject: str
    status: str
    region_scope: str
    venue_types: frozenset[str]
    venue_ids: frozenset[str]
    versions: tuple[PolicyVersion, ...]
    source: dict[str, Any]  # the plain data, as published
    pays: str | None = None  # direct and confirm: one of PAYS (None for scan)
    confirm_within_days: int | None = None  # confirm: days after the notice to confirm in (None: no deadline)
    commitment: Commitment | None = None  # confirm: the commitment notice the applicant signs
    budget: Budget | None = None  # direct and confirm: what it may spend (None: no budget declared)

    def version_on(self, day: dt.date) -> PolicyVersion | None:
        for version in self.versions:
            if version.in_force(day):
                return version
        return None

    def attributes_read(self) -> set[str]:
        out: set[str] = set()
        for v in self.versions:
            out |= attributes_read(v.rule)
        if self.region_scope != "everyone":
            out.add("residence.region")
        return out


class _Checker:
    """Collects every problem of one policy, each with its field path."""

    def __init__(self) -> None:
        self.problems: list[RuleProblem] = []

    def fail(self, path: str, expected: str, found: Any) -> None:
        text = repr(found)
        self.problems.append(RuleProblem(path, expected, text if len(text) <= 60 else text[:57] + "..."))

    def text(self, data: dict[str, Any], key: str, path: str = "") -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{path}{key}", "non-empty text", value)
            return ""
        return value

    def choice(self, data: dict[str, Any], key: str, options: tuple[str, ...]) -> str:
        value = data.get(key)
        if value not in options:
            self.fail(key, f"one of {list(options)}", value)
            return options[0]
        return str(value)

    def date(self, value: Any, path: str, *, optional: bool = False) -> dt.date | None:
        if value is None and optional:
            return None
        if type(value) is dt.date:
            return value
        if isinstance(value, str):
            try:
                return iso_date(value)
            except ValueError:
                pass
        self.fail(path, "a date YYYY-MM-DD" + (" or null" if optional else ""), value)
        return None

    def natural(self, data: dict[str, Any], key: str, path: str, *, low: int = 0, high: int = 10**9) -> int:
        value = data.get(key, 0)
        if type(value) is not int or not low <= value <= high:
            self.fail(f"{path}{key}", f"a whole number from {low} to {high}", value)
            return low
        return value


def parse_policy(data: Any) -> tuple[Policy | None, list[RuleProblem]]:
    """A policy from plain data, or None with every problem found (not just the first)."""
    c = _Checker()
    if not isinstance(data, dict):
        c.fail("(file)", "a mapping of policy fields", data)
        return None, c.problems
    known = {
        "id", "title", "lead_department", "data_departments", "legal_basis", "delivery", "subject",
        "status", "region_scope", "venues", "versions", "pays", "confirm_within_days", "commitment", "budget",
    }  # fmt: skip
    for extra in sorted(set(data) - known, key=str):
        c.fail(str(extra), f"only the fields {sorted(known)}", extra)
    policy_id = data.get("id")
    if not isinstance(policy_id, str) or not _ID.fullmatch(policy_id):
        c.fail("id", "3-64 characters of a-z, 0-9 and -", policy_id)
        policy_id = ""
    title = data.get("title")
    if not isinstance(title, dict) or not isinstance(title.get("zh"), str) or not isinstance(title.get("en"), str):
        c.fail("title", "a mapping with zh and en texts", title)
        title = {"zh": "", "en": ""}
    lead = c.text(data, "lead_department")
    departments = data.get("data_departments", [])
    if not isinstance(departments, list) or not all(isinstance(d, str) and d for d in departments):
        c.fail("data_departments", "a list of department names", departments)
        departments = []
    basis = data.get("legal_basis")
    if not isinstance(basis, dict) or not isinstance(basis.get("title"), str):
        c.fail("legal_basis", "a mapping with title and reference", basis)
        basis_text = ""
    else:
        basis_text = f"{basis['title']} {basis.get('reference', '')}".strip()
    delivery = c.choice(data, "delivery", DELIVERY_MODES)
    subject = c.choice(data, "subject", SUBJECTS)
    status = c.choice(data, "status", STATUSES)
    scope = c.choice(data, "region_scope", REGION_SCOPES)
    venue_types, venue_ids = _venues(c, data.get("venues"), delivery)
    if subject == "enterprise" and scope != "everyone":
        c.fail("region_scope", "everyone for an enterprise policy (write an enterprise.region rule)", scope)
    raw_versions = data.get("versions")
    versions: list[PolicyVersion] = []
    if not isinstance(raw_versions, list) or not raw_versions:
        c.fail("versions", "a non-empty list of dated versions", raw_versions)
    else:
        for i, raw in enumerate(raw_versions):
            version = _version(c, raw, f"versions[{i}]", delivery, subject)
            if version is not None:
                versions.append(version)
        _check_sequence(c, versions)
    pays, within, commitment = _payment_terms(c, data, delivery)
    budget = _budget(c, data.get("budget"), delivery)
    if c.problems:
        return None, c.problems
    policy = Policy(
        id=policy_id,
        title_zh=title["zh"],
        title_en=title["en"],
        lead_department=lead,
        data_departments=tuple(departments),
        legal_basis=basis_text,
        delivery=delivery,
        subject=subject,
        status=status,
        region_scope=scope,
        venue_types=venue_types,
        venue_ids=venue_ids,
        versions=tuple(versions),
        source=data,
        pays=pays,
        confirm_within_days=within,
        commitment=commitment,
        budget=budget,
    )
    return policy, []


BUDGET_FORM = "a budget in whole yuan for a year or a month: {amount_yuan: N, period: year|month}"


def _budget(c: _Checker, raw: Any, delivery: str) -> Budget | None:
    """A paid policy's optional budget; a budget that is not a whole number of yuan is named, not guessed."""
    if raw is None:
        return None
    if delivery == "scan":
        c.fail("budget", "no budget for a scan-mode policy (nothing is paid)", raw)
        return None
    if not isinstance(raw, dict) or set(raw) != {"amount_yuan", "period"}:
        c.fail("budget", BUDGET_FORM, raw)
        return None
    before = len(c.problems)
    amount = c.natural(raw, "amount_yuan", "budget.", low=1, high=10**13)
    if raw["period"] not in BUDGET_PERIODS:
        c.fail("budget.period", f"one of {list(BUDGET_PERIODS)}", raw["period"])
    return Budget(amount, str(raw["period"])) if len(c.problems) == before else None


def _payment_terms(
    c: _Checker, data: dict[str, Any], delivery: str
) -> tuple[str | None, int | None, Commitment | None]:
    """How often a paid policy pays, a confirm policy's deadline and its commitment notice (告知承诺书).

    Checked here when present; `missing_terms` (the catalogue validator's) requires them, so that a
    snapshot published before these fields existed still loads.
    """
    pays = data.get("pays")
    if pays is not None:
        if delivery == "scan":
            c.fail("pays", "no pays for a scan-mode policy (nothing is paid)", pays)
            pays = None
        elif pays not in PAYS:
            c.fail("pays", f"how often the policy pays, one of {list(PAYS)}", pays)
            pays = None
    within = data.get("confirm_within_days")
    if within is not None:
        if delivery != "confirm":
            c.fail("confirm_within_days", "no confirm_within_days for a direct or scan policy", within)
            within = None
        elif type(within) is not int or not 1 <= within <= 3650:
            c.fail("confirm_within_days", "a whole number of days from 1 to 3650", within)
            within = None
    raw = data.get("commitment")
    if raw is None:
        return pays, within, None
    if delivery != "confirm":
        c.fail("commitment", "no commitment notice for a direct or scan policy", raw)
        return pays, within, None
    if not isinstance(raw, dict) or set(raw) != {"version", "zh", "en"}:
        c.fail("commitment", COMMITMENT_FORM, raw)
        return pays, within, None
    before = len(c.problems)
    version = c.natural(raw, "version", "commitment.", low=1, high=10**6)
    zh, en = c.text(raw, "zh", "commitment."), c.text(raw, "en", "commitment.")
    return pays, within, (Commitment(version, zh, en) if len(c.problems) == before else None)


COMMITMENT_FORM = (
    "the commitment notice (告知承诺书) a confirm-mode policy shows before the confirm button: "
    "{version: N, zh: ..., en: ...}"
)


def missing_terms(policy: Policy) -> list[RuleProblem]:
    """What the catalogue validator requires beyond the form: every paid policy says how often it pays,
    and every confirm-mode policy has its commitment notice. (A snapshot published before these fields
    loads without them: its paid policies pay monthly, its confirm policies take no confirmation.)"""
    problems = []
    if policy.delivery in ("direct", "confirm") and policy.pays is None:
        problems.append(RuleProblem("pays", f"how often the policy pays, one of {list(PAYS)}", "None"))
    if policy.delivery == "confirm" and policy.commitment is None:
        problems.append(RuleProblem("commitment", COMMITMENT_FORM, "None"))
    return problems


def _venues(c: _Checker, raw: Any, delivery: str) -> tuple[frozenset[str], frozenset[str]]:
    if delivery != "scan":
        if raw is not None:
            c.fail("venues", "no venues for a direct or confirm policy", raw)
        return frozenset(), frozenset()
    if not isinstance(raw, dict) or not (raw.get("types") or raw.get("ids")):
        c.fail("venues", "a mapping with venue types and/or venue ids for a scan-mode policy", raw)
        return frozenset(), frozenset()
    types, ids = raw.get("types", []), raw.get("ids", [])
    if not isinstance(types, list) or not all(t in VENUE_TYPES for t in types):
        c.fail("venues.types", f"a list of venue types from {list(VENUE_TYPES)}", types)
        types = []
    if not isinstance(ids, list) or not all(isinstance(v, str) and v for v in ids):
        c.fail("venues.ids", "a list of venue ids", ids)
        ids = []
    return frozenset(types), frozenset(ids)


def _version(c: _Checker, raw: Any, path: str, delivery: str, subject: str) -> PolicyVersion | None:
    if not isinstance(raw, dict):
        c.fail(path, "a mapping with version, effective_from, eligibility and benefit", raw)
        return None
    before = len(c.problems)
    number = c.natural(raw, "version", f"{path}.", low=1, high=10**6)
    start = c.date(raw.get("effective_from"), f"{path}.effective_from")
    end = c.date(raw.get("effective_to"), f"{path}.effective_to", optional=True)
    if start and end and end < start:
        c.fail(f"{path}.effective_to", "a date on or after effective_from", str(end))
    params = _params(c, raw.get("parameters", {}), f"{path}.parameters")
    rule, problems = parse_rule(raw.get("eligibility"), f"{path}.eligibility", subject=subject)
    c.problems.extend(problems)
    if rule is not None:
        for name in sorted(params_read(rule) - set(params)):
            c.fail(f"{path}.eligibility", f"a parameter named in {path}.parameters", name)
        if delivery == "scan":
            _check_gate_rule(c, rule, f"{path}.eligibility")
    if rule is not None:
        params = _typed_params(c, params, _param_kinds(rule), f"{path}.parameters")
    for name, dated in params.items():
        if start is not None and dated.starts[0] > start:
            c.fail(f"{path}.parameters.{name}", f"a value from {start} (effective_from) on", str(dated.starts[0]))
    benefit = _benefit(c, raw.get("benefit"), f"{path}.benefit", delivery)
    time_rules = _time_rules(c, raw.get("time_rules"), f"{path}.time_rules")
    limits = raw.get("limits") or {}
    uses = None
    if limits:
        if not isinstance(limits, dict) or set(limits) != {"uses_per_day_per_venue"}:
            c.fail(f"{path}.limits", "a mapping with uses_per_day_per_venue", limits)
        else:
            uses = c.natural(limits, "uses_per_day_per_venue", f"{path}.limits.", low=1, high=100)
    if len(c.problems) > before or rule is None or start is None or benefit is None:
        return None
    try:
        test = compile_rule(rule, params)
    except (KeyError, LookupError) as exc:
        c.fail(f"{path}.eligibility", "parameters with a value on every date", str(exc))
        return None
    return PolicyVersion(number, start, end, rule, params, benefit, time_rules, uses, test)


def _params(c: _Checker, raw: Any, path: str) -> dict[str, ParamValues]:
    if not isinstance(raw, dict):
        c.fail(path, "a mapping of parameter names to values", raw)
        return {}
    params: dict[str, ParamValues] = {}
    for name, value in raw.items():
        where = f"{path}.{name}"
        if isinstance(value, list):
            dated: list[tuple[dt.date, Any]] = []
            for i, item in enumerate(value):
                if not isinstance(item, dict) or set(item) != {"from", "value"}:
                    c.fail(f"{where}[{i}]", "a mapping {from: DATE, value: VALUE}", item)
                    continue
                day = c.date(item["from"], f"{where}[{i}].from")
                if day is not None:
                    dated.append((day, item["value"]))
            if [d for d, _ in dated] != sorted({d for d, _ in dated}):
                c.fail(where, "dated values in increasing date order, each date once", value)
            elif dated:
                params[str(name)] = ParamValues(dated)
        elif isinstance(value, (int, str, bool)) or type(value) is dt.date:
            params[str(name)] = ParamValues([(dt.date.min, value)])
        else:
            c.fail(where, "a value or a list of dated values", value)
    return params


def _param_kinds(rule: Rule) -> dict[str, str]:
    """Each parameter the rule reads, with the kind of the attribute it is compared with."""
    kinds: dict[str, str] = {}
    for node in _walk(rule):
        values: tuple[Value, ...] = ()
        if isinstance(node, AgeOn):
            kinds.update({v.name: k for v, k in ((node.on, DATE), (node.bound, INT)) if isinstance(v, Param)})
            continue
        if isinstance(node, MembersAged):
            kinds.update({v.name: INT for v in (node.age, node.number) if isinstance(v, Param)})
            continue
        if isinstance(node, Compare):
            values = (node.value,)
        elif isinstance(node, In):
            values = node.values
        elif isinstance(node, Between):
            values = (node.low, node.high)
        for value in values:
            if isinstance(value, Param):
                kinds[value.name] = ATTRIBUTES[node.attr].kind  # type: ignore[union-attr]
    return kinds


def _typed_params(
    c: _Checker, params: dict[str, ParamValues], kinds: dict[str, str], path: str
) -> dict[str, ParamValues]:
    """Parameters converted to the kind of attribute they are compared with (dates from text)."""
    typed = dict(params)
    for name, kind in kinds.items():
        dated = params.get(name)
        if dated is None:
            continue
        converted = []
        for start, value in zip(dated.starts, dated.values, strict=True):
            if kind == DATE and isinstance(value, str):
                with contextlib.suppress(ValueError):  # text that is not a date is reported just below
                    value = iso_date(value)
            ok = {INT: type(value) is int, BOOL: type(value) is bool, TEXT: isinstance(value, str)}.get(
                kind, type(value) is dt.date
            )
            if not ok:
                c.fail(f"{path}.{name}", f"a {kind} value (it is compared with a {kind} attribute)", value)
            converted.append((start, value))
        typed[name] = ParamValues(converted)
    return typed


def _check_gate_rule(c: _Checker, rule: Rule, path: str) -> None:
    """A scan-mode rule may read only what a code carries, and age only at code thresholds."""
    for attr in sorted(attributes_read(rule)):
        attribute = ATTRIBUTES.get(attr)
        if attribute is None or not attribute.at_gate:
            c.fail(path, "attributes a code carries (scan-mode policy)", attr)
    for node in _walk(rule):
        if isinstance(node, In) and node.attr == "age":
            c.fail(path, "age compared with <, <=, >, >= or between at a gate (a code shows an age band)", "in")
            continue
        if isinstance(node, (Compare, Between)) and node.attr == "age":
            bounds = [node.value] if isinstance(node, Compare) else []
            if isinstance(node, Between):
                bounds = [node.low, node.high + 1 if isinstance(node.high, int) else node.high]
            for bound in bounds:
                if isinstance(bound, Param) or bound not in AGE_THRESHOLDS:
                    c.fail(path, f"age bounds a code can show: {list(AGE_THRESHOLDS)}", bound)


def _walk(rule: Rule) -> list[Rule]:
    out = [rule]
    for child in getattr(rule, "rules", ()):
        out.extend(_walk(child))
    for inner in (getattr(rule, "rule", None), getattr(rule, "where", None)):  # not, and a related_to's where
        if inner is not None:
            out.extend(_walk(inner))
    return out


def _benefit(c: _Checker, raw: Any, path: str, delivery: str) -> Benefit | None:
    if not isinstance(raw, dict) or raw.get("kind") not in BENEFIT_KINDS:
        c.fail(path, f"a mapping with kind one of {list(BENEFIT_KINDS)}", raw)
        return None
    kind = raw["kind"]
    extra = set(raw) - {"kind", "percent", "amount_yuan", "companions"}
    if extra:
        c.fail(path, "only kind, percent, amount_yuan and companions", sorted(extra))
    before = len(c.problems)
    percent = c.natural(raw, "percent", f"{path}.", high=100)
    amount = c.natural(raw, "amount_yuan", f"{path}.", high=10**8)
    companions = c.natural(raw, "companions", f"{path}.", high=5)
    if len(c.problems) == before:  # the kind checks below only make sense on well-formed numbers
        if kind == "discount" and not 0 < percent < 100:
            c.fail(f"{path}.percent", "1 to 99 for a discount", percent)
        if kind == "amount" and amount <= 0:
            c.fail(f"{path}.amount_yuan", "a positive amount for a payout", amount)
    if (kind == "amount") == (delivery == "scan"):
        c.fail(f"{path}.kind", "free_entry or discount on site; amount for direct or confirm", kind)
    return Benefit(kind, percent, amount, companions)


def _time_rules(c: _Checker, raw: Any, path: str) -> TimeRules:
    if raw is None:
        return TimeRules()
    if not isinstance(raw, dict) or not set(raw) <= {"weekdays", "hours"}:
        c.fail(path, "a mapping with weekdays and/or hours", raw)
        return TimeRules()
    weekdays = raw.get("weekdays", list(range(1, 8)))
    if not isinstance(weekdays, list) or not weekdays or not all(type(d) is int and 1 <= d <= 7 for d in weekdays):
        c.fail(f"{path}.weekdays", "a list of ISO weekdays 1 (Monday) to 7 (Sunday)", weekdays)
        weekdays = list(range(1, 8))
    hours = raw.get("hours")
    opens = closes = None
    if hours is not None:
        well_formed = isinstance(hours, list) and len(hours) == 2
        if not well_formed or not all(isinstance(h, str) and _HOURS.fullmatch(h) for h in hours):
            c.fail(f"{path}.hours", 'two times ["HH:MM", "HH:MM"]', hours)
        else:  # exactly "HH:MM" in ASCII digits, which dt.time.fromisoformat always reads
            opens, closes = dt.time.fromisoformat(hours[0]), dt.time.fromisoformat(hours[1])
            if closes <= opens:
                c.fail(f"{path}.hours", "a closing time after the opening time", hours)
    return TimeRules(frozenset(weekdays), opens, closes)


def _check_sequence(c: _Checker, versions: list[PolicyVersion]) -> None:
    numbers = [v.version for v in versions]
    if numbers != sorted(set(numbers)):
        c.fail("versions", "version numbers increasing, each once", numbers)
    ordered = sorted(versions, key=lambda v: v.effective_from)
    for earlier, later in itertools.pairwise(ordered):
        if earlier.effective_to is None or earlier.effective_to >= later.effective_from:
            c.fail(
                "versions",
                "date ranges that do not overlap (end the earlier version before the later starts)",
                f"version {earlier.version} and version {later.version}",
            )


class Snapshot(NamedTuple):
    version: int
    issued_at: int
    max_age: int
    region: int
    content_hash: str
    policies: tuple[Policy, ...]
    value_sets: tuple[ValueSet, ...] = ()

    @property
    def expires_at(self) -> int:
        return self.issued_at + self.max_age

    def scan_attributes(self) -> set[str]:
        """What codes need to carry: the attributes some published scan-mode policy reads."""
        out: set[str] = set()
        for p in self.policies:
            if p.delivery == "scan":
                out |= p.attributes_read()
        return out


def content_hash(policies: list[dict[str, Any]], value_sets: list[dict[str, Any]] | None = None) -> str:
    """SHA-256 over the canonical JSON of the policies (and value sets, when there are any)."""
    content: Any = {"policies": policies, "value_sets": value_sets} if value_sets else policies
    return hashlib.sha256(canonical_json(content)).hexdigest()


def build_snapshot(
    sources: list[dict[str, Any]],
    key: PrivateKey,
    *,
    version: int,
    issued_at: int,
    region: int = 310000,
    max_age: int = DEFAULT_SNAPSHOT_MAX_AGE_S,
    value_sets: tuple[ValueSet, ...] = (),
) -> bytes:
    """Sign published policies (plain data, dates as text) and value sets into a snapshot document."""
    published = sorted((s for s in sources if s.get("status") == "published"), key=lambda s: str(s.get("id")))
    sets = [value_set_json(v) for v in sorted(value_sets, key=lambda v: v.name)]
    payload: dict[str, Any] = {
        "format": SNAPSHOT_FORMAT,
        "version": version,
        "issued_at": issued_at,
        "max_age": max_age,
        "region": region,
        "content_hash": content_hash(published, sets),
        "policies": published,
    }
    if sets:
        payload["value_sets"] = sets
    return sign_document(payload, key)


def load_snapshot(document: bytes, root_public_key: PublicKey) -> Snapshot:
    """Verify and parse a snapshot. Staleness is not an error here: decisions report it."""
    payload = open_document(document, root_public_key, "catalogue snapshot", CatalogueError)
    if payload.get("format") != SNAPSHOT_FORMAT:
        raise CatalogueError(f"catalogue snapshot format must be {SNAPSHOT_FORMAT!r}")
    fields = {name: payload.get(name) for name in ("version", "issued_at", "max_age", "region")}
    for name, value in fields.items():
        if type(value) is not int:
            raise CatalogueError(f"catalogue snapshot {name} must be an integer, found {value!r}")
    sources = payload.get("policies")
    if not isinstance(sources, list):
        raise CatalogueError("catalogue snapshot policies must be a list")
    raw_sets = payload.get("value_sets", [])
    if not isinstance(raw_sets, list):
        raise CatalogueError("catalogue snapshot value_sets must be a list")
    if payload.get("content_hash") != content_hash(sources, raw_sets):
        raise CatalogueError("catalogue snapshot content hash does not match its policies")
    value_sets: list[ValueSet] = []
    for i, raw in enumerate(raw_sets):
        value_set, set_problems = value_set_from_json(raw)
        if value_set is None:
            raise CatalogueError(f"catalogue snapshot value set {i}: {set_problems[0]}")
        earlier = next((k for k, v in enumerate(value_sets) if v.name == value_set.name), None)
        if earlier is not None:
            raise CatalogueError(
                f"catalogue snapshot value set {i}: name {value_set.name!r} is also value set {earlier}"
            )
        value_sets.append(value_set)
    policies = []
    for i, source in enumerate(sources):
        policy, problems = parse_policy(source)
        if policy is None:
            raise CatalogueError(f"catalogue snapshot policy {i}: {problems[0]}")
        policies.append(policy)
    numbers: dict[str, int] = {name: value for name, value in fields.items() if type(value) is int}
    return Snapshot(
        numbers["version"],
        numbers["issued_at"],
        numbers["max_age"],
        numbers["region"],
        payload["content_hash"],
        tuple(policies),
        tuple(value_sets),
    )
