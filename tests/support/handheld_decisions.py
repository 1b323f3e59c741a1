"""Decision parity cases for the handheld: the same catalogue, code, venue and time through Python's
`verifier.decide.Decider` and the page's `decide.js`, and both answers side by side.

A *catalogue* is a signed snapshot document with the root that signed it: the sample catalogue
(data/catalogue with data/value_sets), a partner-region one (Jiangsu's city codes and its own
disability numbering, a Jiangsu snapshot region), and catalogues generated from a seed (random
rules over everything a code carries, dated parameters, time windows, weekdays, region scopes,
daily limits, companions, two or three dated versions, policies by venue id).

A *session* is one or more decisions made one after another on one decider: with a usage ledger
(fresh for the session, optionally holding earlier uses) so that daily limits are reached, or
without one (those sessions share one decider per catalogue, as a gate's memo would). Some
sessions keep the page's ledger in IndexedDB, closed and opened again before every decision, as
a handheld reloaded between two scans. Each step
is a code (as `VerifiedCode`, and as the JSON the page's `verifyCode` gives), a venue and a time.
Times sit at the edges that matter: a version's first and last second, the opening and closing
minute, a weekday's last second and the next day's first, fractions of a second that Python's
`datetime.fromtimestamp` rounds up into the next second, and the snapshot's max age.

`python_answers` runs sessions through Python; `page_answers` runs the same sessions in the page
(`JS_LOAD`, then `JS_DECIDE` in batches). Both give, per session, the list of `Decision.to_json()`
answers.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.catalogue import load_catalogue, publish
from keys.algorithms import ES256, PrivateKey, generate_private_key, spki_der
from keys.signed_json import sign_document
from verifier.catalogue import VENUE_TYPES, Snapshot, build_snapshot, content_hash, load_snapshot, parse_policy
from verifier.claims import AGE_THRESHOLDS, Claims, Profile
from verifier.decide import Decider, InMemoryUsage, Venue
from verifier.local_time import LOCAL_OFFSET_S
from verifier.valuesets import ValueSet, parse_value_set
from verifier.verify import CARD, HOLDER_BOUND, ONLINE, VerifiedCode

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "data" / "catalogue"
DAY = 86400

# The page side: load catalogues once per page, then decide sessions in batches.
JS_LOAD = """async (catalogues) => {
  const cat = await import('/static/js/verifier/catalogue.js');
  window.__snapshots = window.__snapshots || {};
  const problems = {};
  for (const [name, c] of Object.entries(catalogues)) {
    try {
      const root = await cat.importRootKey(c.root);
      window.__snapshots[name] = await cat.loadSnapshot(c.document, root);
    } catch (e) {
      problems[name] = String(e && e.message || e);
    }
  }
  return problems;
}"""

JS_DECIDE = """async (text) => {
  const sessions = JSON.parse(text); // one string each way: Playwright's own serialisation of large values is slow
  const dec = await import('/static/js/verifier/decide.js');
  window.__shared = window.__shared || {};
  const out = [];
  for (const s of sessions) {
    const snapshot = window.__snapshots[s.catalogue];
    let decider;
    const idb = s.usage === "idb"; // the IndexedDB ledger, closed and opened again before every step
    const name = `parity-usage-${Math.random()}`;
    if (idb) {
      decider = new dec.Decider(snapshot, await dec.IndexedDbUsage.open({ name, now: s.steps[0].now }));
    } else if (s.usage) {
      decider = new dec.Decider(snapshot, new dec.InMemoryUsage());
    } else {
      decider = window.__shared[s.catalogue] || (window.__shared[s.catalogue] = new dec.Decider(snapshot));
    }
    for (const [key, n] of s.prior) for (let k = 0; k < n; k++) decider.usage.record(key);
    const answers = [];
    for (const step of s.steps) {
      try {
        if (idb) {
          await decider.usage.flush();
          decider.usage.close();
          decider = new dec.Decider(snapshot, await dec.IndexedDbUsage.open({ name, now: step.now }));
        }
        answers.push(decider.decide(step.code, step.venue, step.now).toJson());
      } catch (e) {
        answers.push({ error: String(e && e.stack || e) });
      }
    }
    if (idb) {
      await decider.usage.flush();
      decider.usage.close();
      await new Promise((resolve) => { const r = indexedDB.deleteDatabase(name); r.onsuccess = r.onerror = resolve; });
    }
    out.push(answers);
  }
  return JSON.stringify(out);
}"""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Catalogue:
    """A signed snapshot document, the root it is signed with, and the venues its cases use."""

    name: str
    document: bytes
    root: PrivateKey
    snapshot: Snapshot
    venues: list[Venue]

    def for_page(self) -> dict[str, str]:
        """What JS_LOAD takes: the document as text and the root as /v1/trust-root gives it."""
        return {"document": self.document.decode(), "root": b64url(spki_der(self.root.public_key()))}


@dataclass
class Step:
    code: VerifiedCode
    venue: Venue
    now: float

    def for_page(self) -> dict[str, Any]:
        return {"code": self.code.to_json(), "venue": self.venue._asdict(), "now": self.now}


@dataclass
class Session:
    catalogue: str
    steps: list[Step]
    usage: bool | str = False  # "idb": the page keeps the ledger in IndexedDB (Python: in memory)
    prior: list[tuple[tuple[str, str, str, str], int]] = field(
        default_factory=list
    )  # (subject hex, venue, policy, day)

    def for_page(self) -> dict[str, Any]:
        return {
            "catalogue": self.catalogue,
            "usage": self.usage,
            "prior": [[list(key), n] for key, n in self.prior],
            "steps": [s.for_page() for s in self.steps],
        }


def python_answers(catalogues: dict[str, Catalogue], sessions: Iterable[Session]) -> list[list[dict[str, Any]]]:
    """Every session through Python's Decider: `Decision.to_json()` per step (sessions without a ledger share one)."""
    shared: dict[str, Decider] = {}
    out = []
    for s in sessions:
        snapshot = catalogues[s.catalogue].snapshot
        if s.usage:
            usage = InMemoryUsage()
            for (subject, venue, policy, day), n in s.prior:
                for _ in range(n):
                    usage.record((bytes.fromhex(subject), venue, policy, dt.date.fromisoformat(day)))
            decider = Decider(snapshot, usage)
        else:
            decider = shared.setdefault(s.catalogue, Decider(snapshot))
        out.append([decider.decide(step.code, step.venue, step.now).to_json() for step in s.steps])
    return out


def page_answers(
    page: Any, catalogues: dict[str, Catalogue], sessions: list[Session], batch: int = 300
) -> list[list[dict[str, Any]]]:
    """Every session through the page's decide.js (the catalogues loaded and checked first)."""
    problems = page.evaluate(JS_LOAD, {name: c.for_page() for name, c in catalogues.items()})
    assert problems == {}, problems
    answers: list[list[dict[str, Any]]] = []
    for i in range(0, len(sessions), batch):
        text = json.dumps([s.for_page() for s in sessions[i : i + batch]], ensure_ascii=False)
        answers += json.loads(page.evaluate(JS_DECIDE, text))
    return answers


# --- catalogues ------------------------------------------------------------------------------


def local_midnight(day: dt.date) -> int:
    """The unix time at which local day `day` (UTC+8) begins."""
    return (day - dt.date(1970, 1, 1)).days * DAY - LOCAL_OFFSET_S


def sample_catalogue(root: PrivateKey | None = None) -> Catalogue:
    """data/catalogue and data/value_sets, signed as a gate holds them (issued 2010, for forty years)."""
    root = root or generate_private_key(ES256)
    catalogue = load_catalogue(CATALOGUE)
    assert not catalogue.problems, catalogue.problems[:3]
    issued = local_midnight(dt.date(2010, 1, 1))
    document = publish(catalogue, root, version=1, now=issued, max_age=40 * 366 * DAY)
    snapshot = load_snapshot(document, root.public_key())
    return Catalogue("sample", document, root, snapshot, _venues(snapshot, random.Random(1)))


def _venues(snapshot: Snapshot, rng: random.Random) -> list[Venue]:
    """A venue of every type, each venue id a policy names (under a type that matches or not), and strangers."""
    operators = ("", "Shanghai Museum", "上海申通地铁集团有限公司")
    venues = [Venue(f"{t}-001", t, rng.choice((310000, 320000)), rng.choice(operators)) for t in VENUE_TYPES]
    for policy in snapshot.policies:
        for venue_id in sorted(policy.venue_ids):
            venues.append(Venue(venue_id, rng.choice(VENUE_TYPES)))
            venues.append(Venue(venue_id, "museum", 310000, "by id"))
    venues += [Venue("nowhere-1", "cinema"), Venue("sh-century-park", "park", 310000, "Pudong Greening Bureau")]
    return venues


PARTNER_VALUE_SETS = [
    {
        "name": "residence.region",
        "version": 3,
        "values": {
            310000: "上海市",
            320000: "江苏省",
            330000: "浙江省",
            340000: "安徽省",
            110000: "北京市",
            440000: "广东省",
        },
        "mappings": {"CN-JS": {320000: 320000, 320100: 320000, 320200: 320000, 320500: 320000}},
    },
    {
        "name": "disability.category",
        "version": 2,
        "values": {
            1: "visual",
            2: "hearing",
            3: "speech",
            4: "physical",
            5: "intellectual",
            6: "mental",
            7: "multiple",
        },
        "mappings": {"CN-JS": {1: 4, 2: 1, 3: 2, 4: 3}, "CN-ZJ": {1: 4, 2: 1, 3: 2, 4: 3, 5: 5, 6: 6, 7: 7}},
    },
    {
        "name": "student.level",
        "version": 1,
        "values": {1: "primary", 2: "junior", 3: "senior", 4: "vocational", 5: "undergraduate", 6: "postgraduate"},
        "mappings": {"CN-AH": {1: 1, 2: 2, 3: 3, 5: 5}},
    },
]


def value_sets(data: list[dict[str, Any]] = PARTNER_VALUE_SETS) -> tuple[ValueSet, ...]:
    out = []
    for raw in data:
        value_set, problems = parse_value_set(copy.deepcopy(raw))
        assert value_set is not None, problems
        out.append(value_set)
    return tuple(out)


def generated_catalogue(
    name: str,
    seed: int,
    *,
    policies: int = 16,
    region: int = 310000,
    issued: dt.date = dt.date(2024, 6, 1),
    max_age_days: int = 1000,
) -> Catalogue:
    """A catalogue of random scan-mode policies (each checked by parse_policy), with the partner value sets."""
    rng = random.Random(seed)
    ids = [f"{name}-venue-{i}" for i in range(4)]
    sources: list[dict[str, Any]] = []
    while len(sources) < policies:
        source = random_policy(rng, f"{name}-p{len(sources):02d}", ids, issued)
        policy, problems = parse_policy(copy.deepcopy(source))
        if policy is not None:
            sources.append(source)
        else:  # the generator should only make valid policies: say so rather than loop
            raise AssertionError(f"generated policy refused: {problems[0]}\n{source}")
    root = generate_private_key(ES256)
    issued_at = local_midnight(issued)
    document = build_snapshot(
        sources, root, version=seed, issued_at=issued_at, region=region, max_age=max_age_days * DAY,
        value_sets=value_sets(),
    )  # fmt: skip
    snapshot = load_snapshot(document, root.public_key())
    return Catalogue(name, document, root, snapshot, _venues(snapshot, rng))


def hand_signed_catalogue(name: str, payload_policies: list[dict[str, Any]], *, region: int = 310000) -> Catalogue:
    """A snapshot signed as it is, drafts and non-scan policies included (build_snapshot would drop drafts)."""
    root = generate_private_key(ES256)
    issued_at = local_midnight(dt.date(2024, 6, 1))
    sets = [_value_set_json(v) for v in value_sets()]
    payload = {
        "format": "suishen-catalogue/1", "version": 1, "issued_at": issued_at, "max_age": 1000 * DAY, "region": region,
        "content_hash": content_hash(payload_policies, sets), "policies": payload_policies, "value_sets": sets,
    }  # fmt: skip
    document = sign_document(payload, root)
    snapshot = load_snapshot(document, root.public_key())
    return Catalogue(name, document, root, snapshot, _venues(snapshot, random.Random(2)))


def _value_set_json(v: ValueSet) -> dict[str, Any]:
    from verifier.valuesets import to_json

    return to_json(v)


# --- random policies -------------------------------------------------------------------------

_AGE_OPS = (">=", ">", "<", "<=", "==", "!=")
_AGE_BETWEEN = ([60, 64], [65, 69], [70, 79], [60, 69], [65, 79], [60, 79])
_REGISTRIES = ("martyr_families", "entitled_groups", "disabled_persons", "students")
_REGIONS = (310000, 320000, 330000, 340000, 110000, 440000)


class _RuleMaker:
    """Random rules over what a code carries; parameters it invents go into `params`."""

    def __init__(self, rng: random.Random, start: dt.date, params: dict[str, Any]) -> None:
        self.rng = rng
        self.start = start
        self.params = params

    def param(self, values: list[Any]) -> dict[str, str]:
        name = f"p{len(self.params)}"
        if self.rng.random() < 0.5:
            self.params[name] = values[0]
        else:  # dated: a value from the version's first day, another from a later day
            later = self.start + dt.timedelta(days=self.rng.randint(1, 120))
            self.params[name] = [
                {"from": self.start.isoformat(), "value": values[0]},
                {"from": later.isoformat(), "value": values[-1]},
            ]
        return {"param": name}

    def leaf(self) -> dict[str, Any]:
        r = self.rng
        kind = r.randrange(11)
        if kind <= 2:
            if r.random() < 0.3:
                return {"age": {"between": list(r.choice(_AGE_BETWEEN))}}
            return {"age": {r.choice(_AGE_OPS): r.choice(AGE_THRESHOLDS)}}
        if kind == 3:
            op = r.choice(("in", "not_in", "==", "between", ">="))
            if op in ("in", "not_in"):
                return {"disability.category": {op: sorted(r.sample(range(1, 8), r.randint(1, 3)))}}
            if op == "between":
                low = r.randint(1, 6)
                return {"disability.category": {op: [low, r.randint(low, 7)]}}
            return {"disability.category": {op: r.randint(1, 7)}}
        if kind == 4:
            op = r.choice(("<=", "in", "between", "<"))
            if op == "in":
                return {"disability.grade": {op: sorted(r.sample(range(1, 5), r.randint(1, 2)))}}
            if op == "between":
                return {"disability.grade": {op: [1, r.randint(1, 4)]}}
            bound: Any = r.randint(1, 4)
            if r.random() < 0.4:
                bound = self.param([r.randint(1, 4), r.randint(1, 4)])
            return {"disability.grade": {op: bound}}
        if kind == 5:
            return {r.choice(("martyr_family", "entitled_group")): {r.choice(("==", "!=")): r.random() < 0.8}}
        if kind == 6:
            return {"member_of": r.choice(_REGISTRIES)}
        if kind == 7:
            op = r.choice(("in", "between", ">=", "<"))
            if op == "in":
                return {"student.level": {op: sorted(r.sample(range(1, 7), r.randint(1, 3)))}}
            if op == "between":
                low = r.randint(1, 5)
                return {"student.level": {op: [low, r.randint(low, 6)]}}
            return {"student.level": {op: r.randint(1, 6)}}
        if kind == 8:
            choice = r.randrange(5)
            if choice == 0:
                return {"student.enrolled_until": {">=": "today"}}
            if choice == 1:
                return {"student.enrolled_until": {r.choice((">=", ">", "<=")): {"today": r.choice((-30, -1, 1, 90))}}}
            if choice == 2:
                return {"student.enrolled_until": {"between": ["today", {"today": r.choice((0, 30, 365))}]}}
            if choice == 3:
                day = self.start + dt.timedelta(days=r.randint(-30, 200))
                return {"student.enrolled_until": {r.choice((">=", "<", "==")): day.isoformat()}}
            later = (self.start + dt.timedelta(days=r.randint(0, 300))).isoformat()
            return {"student.enrolled_until": {">=": self.param([self.start.isoformat(), later])}}
        if kind == 9:
            op = r.choice(("in", "not_in", "==", "!="))
            if op in ("in", "not_in"):
                return {"residence.region": {op: sorted(r.sample(_REGIONS, r.randint(1, 3)))}}
            return {"residence.region": {op: r.choice(_REGIONS)}}
        return {"member_of": "disabled_persons"} if r.random() < 0.5 else {"age": {">=": 65}}

    def rule(self, depth: int = 0) -> dict[str, Any]:
        r = self.rng
        if depth >= 3 or r.random() < 0.45:
            return self.leaf()
        form = r.choice(("all", "all", "any", "not"))
        if form == "not":
            return {"not": self.rule(depth + 1)}
        return {form: [self.rule(depth + 1) for _ in range(r.randint(1, 3))]}


def _enterprise_rule(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    """A random rule over what an enterprise's code carries (守信 credit_good, the registered region)."""
    if depth >= 2 or rng.random() < 0.5:
        if rng.random() < 0.6:
            return {"enterprise.credit_good": {rng.choice(("==", "!=")): rng.random() < 0.8}}
        op = rng.choice(("in", "not_in", "==", "!="))
        if op in ("in", "not_in"):
            return {"enterprise.region": {op: sorted(rng.sample(_REGIONS, rng.randint(1, 3)))}}
        return {"enterprise.region": {op: rng.choice(_REGIONS)}}
    form = rng.choice(("all", "any", "not"))
    if form == "not":
        return {"not": _enterprise_rule(rng, depth + 1)}
    return {form: [_enterprise_rule(rng, depth + 1) for _ in range(rng.randint(1, 3))]}


def random_policy(rng: random.Random, policy_id: str, venue_ids: list[str], around: dt.date) -> dict[str, Any]:
    """One published scan-mode policy with one to three dated versions (some for enterprises' codes)."""
    enterprise = rng.random() < 0.15
    venues: dict[str, Any] = {}
    if rng.random() < 0.85:
        venues["types"] = sorted(rng.sample(VENUE_TYPES, rng.choice((1, 1, 2, 3))))
    if "types" not in venues or rng.random() < 0.3:
        venues["ids"] = sorted(rng.sample(venue_ids, rng.randint(1, min(2, len(venue_ids)))))
    versions = []
    start = around - dt.timedelta(days=rng.randint(-60, 300))
    for number in range(1, rng.choice((1, 2, 2, 3)) + 1):
        params: dict[str, Any] = {}
        rule = _enterprise_rule(rng) if enterprise else _RuleMaker(rng, start, params).rule()
        version: dict[str, Any] = {"version": number, "effective_from": start.isoformat(), "eligibility": rule}
        if params:
            version["parameters"] = params
        kind = rng.choice(("free_entry", "free_entry", "discount", "priority") if enterprise else
                          ("free_entry", "free_entry", "discount"))  # fmt: skip
        benefit: dict[str, Any] = {"kind": kind}
        if kind == "discount":
            benefit["percent"] = rng.choice((10, 30, 50, 50, 80))
        if rng.random() < 0.3:
            benefit["companions"] = rng.randint(1, 2)
        version["benefit"] = benefit
        time_rules: dict[str, Any] = {}
        if rng.random() < 0.35:
            time_rules["weekdays"] = sorted(rng.sample(range(1, 8), rng.randint(1, 6)))
        if rng.random() < 0.4:
            opens = rng.choice(("00:00", "06:30", "09:00", "10:15"))
            closes = rng.choice(("12:00", "16:00", "17:59", "23:59"))
            time_rules["hours"] = [opens, closes]
        if time_rules:
            version["time_rules"] = time_rules
        if rng.random() < 0.3:
            version["limits"] = {"uses_per_day_per_venue": rng.randint(1, 2)}
        versions.append(version)
        length = rng.randint(20, 400)
        end = start + dt.timedelta(days=length)
        if rng.random() < 0.25 and number == 3:
            break
        version["effective_to"] = end.isoformat()
        start = end + dt.timedelta(days=rng.choice((1, 1, 1, 5)))
    if rng.random() < 0.5:
        versions[-1].pop("effective_to", None)
    return {
        "id": policy_id,
        "title": {"zh": f"生成的政策 {policy_id}", "en": f"Generated policy {policy_id}"},
        "lead_department": "测试部门",
        "legal_basis": {"title": "《测试条例》", "reference": "第一条"},
        "delivery": "scan",
        "subject": "enterprise" if enterprise else "person",
        "status": "published",
        "region_scope": "everyone" if enterprise else rng.choice(("residents", "yrd", "everyone", "everyone")),
        "venues": venues,
        "versions": versions,
    }


# --- codes, moments and sessions -------------------------------------------------------------

ISSUERS = ("CN-SH", "CN-SH", "CN-SH", "CN-JS", "CN-ZJ", "CN-AH", "CN-XX")
_RESIDENCES = (None, 310000, 310000, 320000, 330000, 340000, 110000, 440000, 320100, 320500, 321300)


def random_profile(rng: random.Random, day: dt.date) -> Profile:
    """A holder of any kind: age bands, disabilities, flags, students enrolled until about the day, any residence;
    now and then an enterprise (法人随申码: 守信 or not, a registered region or none)."""
    if rng.random() < 0.12:
        return Profile(
            subject=rng.randbytes(rng.choice((8, 16))), version=rng.randint(0, 4), enterprise=True,
            credit_good=rng.random() < 0.6, enterprise_region=rng.choice((None, *_REGIONS)),
        )  # fmt: skip
    student = rng.random() < 0.3
    disabled = rng.random() < 0.3
    return Profile(
        subject=rng.randbytes(rng.choice((8, 16, 32))),
        age_over=rng.choice((None, None, 60, 65, 70, 80)),
        disability_category=rng.randint(1, 7) if disabled else None,
        disability_grade=rng.randint(1, 4) if disabled else None,
        martyr_family=rng.random() < 0.2,
        entitled_group=rng.random() < 0.15,
        student_level=rng.randint(1, 6) if student else None,
        enrolled_until=day + dt.timedelta(days=rng.choice((-400, -31, -1, 0, 0, 1, 30, 365))) if student else None,
        residence=rng.choice(_RESIDENCES),
        version=rng.randint(0, 4),
    )


def make_code(rng: random.Random, profile: Profile, now: float, issuer: str | None = None) -> VerifiedCode:
    """A verified code as the verifier hands it to the decider (the signature is not the decider's business)."""
    issuer = issuer or rng.choice(ISSUERS)
    card = rng.random() < 0.12
    kind = CARD if card else rng.choice((ONLINE, HOLDER_BOUND))
    issued = int(now) - rng.randint(0, 50)
    lifetime = 365 * DAY if card else 60
    claims = Claims(
        issuer, issued, issued + lifetime, rng.randbytes(16), profile,
        card_number=rng.choice((1, 7, 12345, 2**40 - 1, rng.randint(1, 2**40 - 1))) if card else None,
    )  # fmt: skip
    proof = issued // 30 * 30 if kind == HOLDER_BOUND else None
    return VerifiedCode(kind, issuer, "310000", rng.randbytes(8), ES256, claims, proof)


def moments(snapshot: Snapshot, venue: Venue, rng: random.Random) -> list[float]:
    """Times worth deciding at for this venue: version edges, window edges, weekday edges, fractions, max age."""
    out: list[float] = []
    first_day = dt.date(2018, 1, 1)
    decider = Decider(snapshot)
    for policy in decider.candidates(venue) or snapshot.policies[:2]:
        for version in policy.versions:
            start = local_midnight(version.effective_from)
            out += [start - 1, start, start + 0.4, start + 36000]
            if version.effective_to is not None:
                end = local_midnight(version.effective_to) + DAY
                out += [end - 1, end - 0.3, end, end + 43200]
                last = version.effective_to
            else:
                last = version.effective_from + dt.timedelta(days=400)
            span = max((last - version.effective_from).days, 0)
            day = version.effective_from + dt.timedelta(days=rng.randint(0, span))
            rules = version.time_rules
            if rules.opens is not None and rules.closes is not None:
                base = local_midnight(day)
                opens = base + rules.opens.hour * 3600 + rules.opens.minute * 60
                closes = base + rules.closes.hour * 3600 + rules.closes.minute * 60
                out += [opens - 60, opens - 1, opens, opens + 59, closes - 60, closes - 1, closes, closes + 1]
                out += [closes - 2.5e-7, closes - 0.5]  # rounds up into the closing second in fromtimestamp
            if len(rules.weekdays) < 7:
                for k in range(8):
                    d = day + dt.timedelta(days=k)
                    if (d.isoweekday() in rules.weekdays) != (
                        (d + dt.timedelta(days=1)).isoweekday() in rules.weekdays
                    ):
                        edge = local_midnight(d) + DAY
                        out += [edge - 1, edge, edge - 2.5e-7]
                        break
    expires = snapshot.expires_at
    out += [expires - 1, expires, expires + 0.5, expires + 1]
    low = max(snapshot.issued_at, local_midnight(first_day))
    out += [rng.uniform(low, expires) for _ in range(6)]
    return [t for t in out if t > 0]


def _day_of(now: float) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=(int(now) + LOCAL_OFFSET_S) // DAY)


def sessions_for(catalogue: Catalogue, count: int, rng: random.Random) -> list[Session]:
    """`count` sessions over the catalogue: most a single decision, some repeated scans with a ledger."""
    snapshot = catalogue.snapshot
    decider = Decider(snapshot)
    limited = [
        v for v in catalogue.venues
        if any(ver.uses_per_day_per_venue for p in decider.candidates(v) for ver in p.versions)
    ]  # fmt: skip
    times = {v: moments(snapshot, v, rng) for v in catalogue.venues}
    out: list[Session] = []
    while len(out) < count:
        repeat = limited and rng.random() < 0.3
        venue = rng.choice(limited) if repeat else rng.choice(catalogue.venues)
        now = rng.choice(times[venue])
        profile = random_profile(rng, _day_of(now))
        code = make_code(rng, profile, now)
        if not repeat:
            out.append(Session(catalogue.name, [Step(code, venue, now)], usage=rng.random() < 0.5))
            continue
        steps = [Step(code, venue, now)]
        for _ in range(rng.randint(1, 3)):
            later = steps[-1].now + rng.choice((30, 60, 3600, DAY, 0.5))
            where = venue if rng.random() < 0.8 else rng.choice(catalogue.venues)
            again = make_code(rng, profile, later, code.issuer)  # a new code, the same holder pseudonym
            steps.append(Step(again, where, later))
        prior: list[tuple[tuple[str, str, str, str], int]] = []
        if rng.random() < 0.5:
            for policy in decider.candidates(venue):
                prior.append(
                    ((profile.subject.hex(), venue.id, policy.id, _day_of(now).isoformat()), rng.randint(0, 2))
                )
        out.append(Session(catalogue.name, steps, usage="idb" if rng.random() < 0.25 else True, prior=prior))
    return out


# --- the policy test cases (data/catalogue/tests) at a gate ----------------------------------


def policy_case_sessions(folder: Path) -> tuple[Catalogue, list[tuple[Any, Session]]]:
    """Each scan-mode case of data/catalogue/tests as a one-step session on the sample catalogue.

    The profile is the one the case gives, or the one matching builds from its registry rows; the
    code carries only what the catalogue's scan policies read, as the signing service issues it;
    the ledger holds the uses the case says happened today.
    """
    from tests.support.policy_cases import CASES, PolicyCase, load_cases, match_cases, samples
    from verifier.local_time import LOCAL_TIME

    world = samples()
    cases = [c for c in load_cases(CASES, world.policies) if isinstance(c, PolicyCase) and c.at_gate]
    matched = match_cases([c for c in cases if c.registries is not None], world, folder)
    catalogue = sample_catalogue()
    carried = frozenset(catalogue.snapshot.scan_attributes())
    rng = random.Random(14)
    out = []
    for case in cases:
        profile = case.profile
        if profile is None:
            matching = matched.get(case.id)
            profile = getattr(matching, "profile", None)
        if profile is None:
            continue
        assert case.at is not None and case.venue is not None
        now = int(case.at.replace(tzinfo=LOCAL_TIME).timestamp())
        profile = _carrying(profile, carried)
        code = make_code(rng, profile, now, "CN-SH")._replace(kind=ONLINE)
        code = code._replace(claims=code.claims._replace(card_number=None))
        prior = [((profile.subject.hex(), case.venue.id, case.policy_id, case.day.isoformat()), case.used_today)]
        out.append((case, Session(catalogue.name, [Step(code, case.venue, now)], usage=True, prior=prior)))
    return catalogue, out


def _carrying(profile: Profile, carry: frozenset[str]) -> Profile:
    """The profile as app.issuing.Issuer.carrying(carry) puts it in a code."""
    from app.issuing import carried_profile

    return carried_profile(profile, carry)


def random_subject() -> bytes:
    return os.urandom(8)


# --- damaged snapshots -----------------------------------------------------------------------

JS_OPEN = """async ([root, documents]) => {
  const cat = await import('/static/js/verifier/catalogue.js');
  const dec = await import('/static/js/verifier/decide.js');
  const key = await cat.importRootKey(root);
  const out = [];
  for (const b64 of documents) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)); // as fetched: bytes, not text
    try {
      const s = await cat.loadSnapshot(bytes, key);
      new dec.Decider(s); // what loads must be usable: a decider built over it
      out.push(`ok: ${s.policies.map((p) => p.id).join(",")} (${s.valueSets.length} value sets)`);
    } catch (e) {
      out.push(e instanceof cat.CatalogueError ? `CatalogueError: ${e.message}` : `other: ${e.name}`);
    }
  }
  return out;
}"""


def snapshot_outcome(document: bytes, root: PrivateKey) -> str:
    """What load_snapshot says, in the form JS_OPEN gives: ok and the policy ids, or the refusal.

    What loads must also be usable, so a Decider is built over it (an unknown value-set name
    with mappings once loaded and then raised KeyError here). Anything but a CatalogueError is
    a crash, "other: <exception>"; test_handheld_parity expects none.
    """
    from verifier.catalogue import CatalogueError

    try:
        snapshot = load_snapshot(document, root.public_key())
        Decider(snapshot)
    except CatalogueError as exc:
        return f"CatalogueError: {exc}"
    except Exception as exc:  # a crash of the reader itself: the page should throw too, and neither should
        return f"other: {type(exc).__name__}"
    return f"ok: {','.join(p.id for p in snapshot.policies)} ({len(snapshot.value_sets)} value sets)"


def _policy_edits() -> list[tuple[str, Any]]:
    """(what, edit of policy 0) pairs; an edit is a function of the policy's plain data."""

    def at(path: str, value: Any) -> Any:
        def edit(p: dict[str, Any]) -> None:
            *parents, last = path.split(".")
            node: Any = p
            for name in parents:
                node = node[int(name)] if isinstance(node, list) else node[name]
            if value is _DELETE:
                del node[last]
            elif isinstance(node, list):
                node[int(last)] = value
            else:
                node[last] = value

        return edit

    rule = "versions.0.eligibility"
    deep: dict[str, Any] = {"age": {">=": 65}}
    for _ in range(14):
        deep = {"not": deep}
    return [
        ("no id", at("id", _DELETE)),
        ("short id", at("id", "A")),
        ("an id ending in a newline", at("id", "abc\n")),
        ("an id ending in CR LF", at("id", "abc\r\n")),
        ("an id in fullwidth letters", at("id", "ａｂｃ")),
        ("an unknown field", at("colour", "red")),
        ("title as text", at("title", "公园")),
        ("blank lead department", at("lead_department", " \u3000\x1c")),
        ("a BOM is not blank to Python", at("lead_department", "\ufeff")),
        ("an empty data department", at("data_departments", ["ok", ""])),
        ("legal basis without a title", at("legal_basis", {"reference": 5})),
        ("a reference that is a number", at("legal_basis", {"title": "条例", "reference": 5.5})),
        ("a delivery mode misspelled", at("delivery", "scanned")),
        ("a status that is a number", at("status", 3)),
        ("a scope in a list", at("region_scope", ["yrd"])),
        ("no venues", at("venues", _DELETE)),
        ("a venue type unknown", at("venues", {"types": ["cinema"]})),
        ("an empty venue id", at("venues", {"ids": [""]})),
        ("no versions", at("versions", [])),
        ("a version that is text", at("versions.0", "v1")),
        ("version 0", at("versions.0.version", 0)),
        ("a version number as a float", at("versions.0.version", 1.0)),
        ("30 February", at("versions.0.effective_from", "2025-02-30")),
        ("an ISO week date", at("versions.0.effective_from", "2025-W01-1")),
        ("a basic date with two stray characters", at("versions.0.effective_from", "20250101ab")),
        ("a date with spaces", at("versions.0.effective_from", " 2025-01-01")),
        ("a basic date", at("versions.0.effective_from", "20250101")),
        ("a basic ISO week date", at("versions.0.effective_from", "2025W011")),
        ("a date ending in a newline", at("versions.0.effective_from", "2025-01-01\n")),
        ("a date in Arabic-Indic digits", at("versions.0.effective_from", "٢٠٢٥-٠١-٠١")),
        ("year 0", at("versions.0.effective_from", "0000-01-01")),
        ("an end as an ISO week date", at("versions.0.effective_to", "2030-W01-1")),
        ("ends before it starts", at("versions.0.effective_to", "2000-01-01")),
        ("age in a list at a gate", at(rule, {"age": {"in": [65]}})),
        ("an age a code cannot show", at(rule, {"age": {">=": 66}})),
        ("an age as a float", at(rule, {"age": {">=": 65.0}})),
        ("an age from a parameter", at(rule, {"age": {">=": {"param": "x"}}})),
        ("birth date at a gate", at(rule, {"birth_date": {"<": "2000-01-01"}})),
        ("a registry-only attribute", at(rule, {"hukou.region": {"==": 310000}})),
        ("nested too deep", at(rule, deep)),
        ("today a century and more away", at(rule, {"student.enrolled_until": {">=": {"today": 40000}}})),
        ("a rule date as an ISO week date", at(rule, {"student.enrolled_until": {">=": "2030-W01-1"}})),
        ("a rule date in the basic form", at(rule, {"student.enrolled_until": {">=": "20300101"}})),
        ("a flag compared with >", at(rule, {"martyr_family": {">": True}})),
        ("an enterprise registry", at(rule, {"member_of": "small_enterprises"})),
        ("an unknown registry", at(rule, {"member_of": "pets"})),
        ("an unknown attribute", at(rule, {"foo": 1})),
        ("all of nothing", at(rule, {"all": []})),
        ("between the wrong way round", at(rule, {"disability.grade": {"between": [3, 1]}})),
        ("age on a date at a gate", at(rule, {"age_on": {"date": "2026-12-31", ">=": 80}})),
        ("two keys in a rule", at(rule, {"age": {">=": 65}, "not": {"age": {">=": 80}}})),
        ("an operator unknown", at(rule, {"age": {"~": 65}})),
        ("text for a number", at(rule, {"disability.grade": {"<=": "2"}})),
        ("a boolean for a number", at(rule, {"disability.grade": {"<=": True}})),
        ("a huge number", at(rule, {"disability.grade": {"<=": 10**30}})),
        ("a parameter of the wrong kind", at("versions.0.parameters", {"g": "two"})),
        ("a parameter rule", at(rule, {"disability.grade": {"<=": {"param": "g"}}})),
        ("parameters that are a list", at("versions.0.parameters", [1])),
        ("dated values out of order", at("versions.0.parameters", {"g": [
            {"from": "2030-01-01", "value": 1}, {"from": "2020-01-01", "value": 2}]})),
        ("a dated value without from", at("versions.0.parameters", {"g": [{"value": 1}]})),
        ("parameters named by numbers, in order", at("versions.0.parameters", {"2": None, "10": None, "1": None})),
        ("a parameter dated by an ISO week", at("versions.0.parameters", {"g": [{"from": "2020-W01-1", "value": 1}]})),
        ("a date parameter in the basic form", _date_param("20300101")),
        ("a date parameter as an ISO week date", _date_param("2030-W01-1")),
        ("a discount of 100%", at("versions.0.benefit", {"kind": "discount", "percent": 100})),
        ("money at a gate", at("versions.0.benefit", {"kind": "amount", "amount_yuan": 5})),
        ("an unknown benefit field", at("versions.0.benefit", {"kind": "free_entry", "colour": 1, "apple": 2})),
        ("six companions", at("versions.0.benefit", {"kind": "free_entry", "companions": 6})),
        ("closing at 24:00", at("versions.0.time_rules", {"hours": ["09:00", "24:00"]})),
        ("closing before opening", at("versions.0.time_rules", {"hours": ["10:00", "09:00"]})),
        ("weekday 0", at("versions.0.time_rules", {"weekdays": [0, 1]})),
        ("days instead of weekdays", at("versions.0.time_rules", {"days": [1]})),
        ("an hour with a newline", at("versions.0.time_rules", {"hours": ["09:00\n", "10:00"]})),
        ("a closing hour with a newline", at("versions.0.time_rules", {"hours": ["09:00", "10:00\n"]})),
        ("an hour with an Arabic-Indic digit", at("versions.0.time_rules", {"hours": ["1٣:00", "14:00"]})),
        ("an hour in fullwidth digits", at("versions.0.time_rules", {"hours": ["０９:００", "10:00"]})),
        ("minutes in Devanagari digits", at("versions.0.time_rules", {"hours": ["09:००", "10:00"]})),
        ("no uses a day", at("versions.0.limits", {"uses_per_day_per_venue": 0})),
        ("limits in a list", at("versions.0.limits", [1])),
        ("limits that are zero", at("versions.0.limits", 0)),
        ("limits by another name", at("versions.0.limits", {"uses": 1})),
        ("a payment frequency on a gate policy", at("pays", "monthly")),
        ("a commitment notice on a gate policy", at("commitment", {"version": 1, "zh": "真实", "en": "true"})),
        ("a confirmation deadline on a gate policy", at("confirm_within_days", 30)),
        ("a budget on a gate policy", at("budget", {"amount_yuan": 1000, "period": "year"})),
        ("a paid policy with a budget", _paid_with_budget({"amount_yuan": 1_000_000, "period": "year"})),
        ("a budget that is not a number", _paid_with_budget({"amount_yuan": "a lot", "period": "year"})),
        ("a budget in fractions of a yuan", _paid_with_budget({"amount_yuan": 10.5, "period": "month"})),
        ("a budget for a week", _paid_with_budget({"amount_yuan": 100, "period": "week"})),
        ("a budget without its period", _paid_with_budget({"amount_yuan": 100})),
        # household and kin forms (issue 16): refused at a gate, and every mistake in them located
        ("household size at a gate", at(rule, {"household.size": {">=": 2}})),
        ("members aged over at a gate", at(rule, {"household.members_aged_over": {"age": 80, ">=": 1}})),
        ("a martyr relative at a gate", at(rule, {"related_to": {"registry": "martyrs", "relations": ["child"]}})),
        ("a paid policy for families of martyrs", _paid_with_rule(
            {"related_to": {"registry": "martyrs", "relations": ["spouse", "parent", "child"]}})),
        ("a paid carer allowance", _paid_with_rule({"all": [
            {"related_to": {"registry": "disability", "relations": ["child"], "where": {"grade": {"<=": 2}}}},
            {"household.members_aged_over": {"age": {"param": "g"}, ">": 0}},
            {"household.per_capita_income": {"<": 2000}}, {"lives_alone": {"==": False}}]})),
        ("members aged over without a count", _paid_with_rule({"household.members_aged_over": {"age": 80}})),
        ("members aged over of text", _paid_with_rule({"household.members_aged_over": {"age": "old", ">=": 1}})),
        ("a relative in an unknown registry",
         _paid_with_rule({"related_to": {"registry": "pets", "relations": ["child"]}})),
        ("a cousin", _paid_with_rule({"related_to": {"registry": "martyrs", "relations": ["cousin"]}})),
        ("a relation twice",
         _paid_with_rule({"related_to": {"registry": "martyrs", "relations": ["child", "child"]}})),
        ("related to without relations", _paid_with_rule({"related_to": {"registry": "martyrs"}})),
        ("a where on martyrs", _paid_with_rule(
            {"related_to": {"registry": "martyrs", "relations": ["child"], "where": {"age": {">": 1}}}})),
        ("a where on a column not there", _paid_with_rule(
            {"related_to": {"registry": "disability", "relations": ["child"], "where": {"age": {">": 1}}}})),
        ("a where of the wrong type", _paid_with_rule(
            {"related_to": {"registry": "students", "relations": ["child"], "where": {"level": {"<=": "two"}}}})),
        ("a where nesting a relation", _paid_with_rule({"related_to": {"registry": "persons", "relations": ["child"],
            "where": {"any": [{"related_to": {"registry": "martyrs", "relations": ["child"]}}]}}})),
        ("two versions at once", lambda p: p["versions"].append({**p["versions"][0], "version": 9})),
        ("versions out of order", lambda p: p["versions"].insert(0, {**p["versions"][0], "version": 7})),
    ]  # fmt: skip


_DELETE = object()


def _paid_with_budget(budget: Any) -> Any:
    """An edit: the gate policy made a monthly payment with `budget` (the handheld reads paid policies too)."""

    def edit(p: dict[str, Any]) -> None:
        p.update(delivery="direct", pays="monthly", budget=budget)
        p.pop("venues", None)
        for version in p["versions"]:
            version["benefit"] = {"kind": "amount", "amount_yuan": 300}
            version.pop("time_rules", None)
            version.pop("limits", None)

    return edit


def _paid_with_rule(rule: Any) -> Any:
    """An edit: the gate policy made a monthly payment whose rule is `rule` (with parameter g = 60)."""
    paid = _paid_with_budget({"amount_yuan": 1_000_000, "period": "year"})

    def edit(p: dict[str, Any]) -> None:
        paid(p)
        p["versions"][0]["eligibility"] = rule
        p["versions"][0]["parameters"] = {"g": 60}

    return edit


def _date_param(day: str) -> Any:
    """An edit: a date parameter written `day`, compared with the enrolment end."""

    def edit(p: dict[str, Any]) -> None:
        version = p["versions"][0]
        version["parameters"] = {"d": day}
        version["eligibility"] = {"student.enrolled_until": {">=": {"param": "d"}}}

    return edit


def damaged_snapshots() -> tuple[PrivateKey, list[tuple[str, bytes]]]:
    """(root, [(what, document)]): a good snapshot and a hundred ways to spoil one, each signed by `root` or not."""
    root = generate_private_key(ES256)
    good = json.loads(generated_catalogue("damaged", 400, policies=4).document)["payload"]
    good["policies"][0]["versions"] = good["policies"][0]["versions"][:1]
    good["policies"][0]["versions"][0].pop("effective_to", None)

    def signed(payload: dict[str, Any], rehash: bool = True) -> bytes:
        if rehash and isinstance(payload.get("policies"), list):
            payload["content_hash"] = content_hash(payload["policies"], payload.get("value_sets") or [])
        return sign_document(payload, root)

    def edited(change: Any, rehash: bool = True) -> bytes:
        payload = copy.deepcopy(good)
        change(payload)
        return signed(payload, rehash)

    out: list[tuple[str, bytes]] = [("the good one", signed(copy.deepcopy(good)))]
    for what, edit in _policy_edits():
        out.append((f"policy: {what}", edited(lambda p, e=edit: e(p["policies"][0]))))
    sets = "value_sets"

    def mapped(entries: dict[str, Any]) -> bytes:  # added to disability.category's CN-JS table
        return edited(lambda p: p[sets][0]["mappings"]["CN-JS"].update(entries))

    def valued(entries: dict[str, Any]) -> bytes:  # added to disability.category's values
        return edited(lambda p: p[sets][0]["values"].update(entries))

    out += [
        ("format", edited(lambda p: p.update(format="suishen-catalogue/2"))),
        ("version as text", edited(lambda p: p.update(version="1"))),
        ("version as a float", edited(lambda p: p.update(version=1.0))),
        ("no max age", edited(lambda p: p.pop("max_age"))),
        ("region true", edited(lambda p: p.update(region=True))),
        ("a huge region", edited(lambda p: p.update(region=2**70))),
        ("policies as a mapping", edited(lambda p: p.update(policies={}))),
        ("value sets as a mapping", edited(lambda p: p.update(value_sets={}))),
        ("no value sets", edited(lambda p: p.pop(sets))),
        ("content hash of something else", edited(lambda p: p.update(content_hash="0" * 64), rehash=False)),
        ("a tampered policy, hash kept", edited(lambda p: p["policies"][0].update(status="draft"), rehash=False)),
        ("value set mappings as a list", edited(lambda p: p[sets][0].update(mappings=[]))),
        ("a value set without values", edited(lambda p: p[sets][0].pop("values"))),
        ("a value set code with spaces", mapped({" 3 ": 4})),
        ("a value set code with underscores", mapped({"1_0": 4})),
        ("a value set code with a leading zero", valued({"08": "?"})),
        ("a value set code with a plus", valued({"+8": "?"})),
        ("a value set code in Arabic-Indic digits", valued({"٨": "?"})),
        ("a value set code of 21 digits", valued({"1" + "0" * 20: "?"})),
        ("a value set code of 20 digits", valued({"1" + "0" * 19: "?"})),
        ("a negative value set code", valued({"-8": "?"})),
        ("a value set code mapped to text", mapped({"9": "4"})),
        ("a value set code mapped to true", mapped({"9": True})),
        ("a value set code mapped to a code not ours", mapped({"9": 99})),
        ("a value set code mapped to a big code", mapped({"9": 2**60})),
        ("a value set label that is a number", valued({"8": 8})),
        ("a value set mapping table as a list", edited(lambda p: p[sets][0]["mappings"].update({"CN-XX": [1]}))),
        ("a value set without mappings", edited(lambda p: p[sets][0].pop("mappings"))),
        ("a value set with no values", edited(lambda p: p[sets][0].update(values={}))),
        ("value set version 0", edited(lambda p: p[sets][0].update(version=0))),
        ("value set version as text", edited(lambda p: p[sets][0].update(version="2"))),
        ("a value set of an unknown name, with mappings", edited(lambda p: p[sets][0].update(name="shoe.size"))),
        ("a value set of an unknown name, without", edited(lambda p: p[sets][0].update(name="shoe.size", mappings={}))),
        ("a value set without a name", edited(lambda p: p[sets][0].pop("name"))),
        ("a value set named by a list", edited(lambda p: p[sets][0].update(name=["residence.region"]))),
        ("a value set named twice", edited(lambda p: p[sets][2].update(name=p[sets][0]["name"]))),
        ("a value set extra field", edited(lambda p: p[sets][0].update(colour="red"))),
        ("a value set code that is not a number", valued({"x": "?"})),
        ("a value set code as a float", mapped({"321000": 320000.7})),
        ("a value set that is a list", edited(lambda p: p[sets].append([1]))),
    ]  # fmt: skip
    document = signed(copy.deepcopy(good))
    doc = json.loads(document)
    other = generate_private_key(ES256)
    out += [
        ("not re-signed after a change", document.replace(b'"region": 310000', b'"region": 310001')),
        ("signed by another key", sign_document(doc["payload"], other)),
        ("signed, it says, with EdDSA", _with_signature(doc, alg="EdDSA")),
        ("a signature of characters outside base64url", _with_signature(doc, value="!!!!")),
        ("a signature that is not ASCII", _with_signature(doc, value="签名")),
        ("a signature without a kid", _with_signature(doc, kid=None)),
        ("an unpaired surrogate", document.replace(b'"lead_department": "', b'"lead_department": "\\ud800', 1)),
        ("not JSON", b"{"),
        ("a list", b"[]"),
        ("no payload", b'{"signature": {}}'),
        ("a BOM first (Python's utf-8-sig)", b"\xef\xbb\xbf" + document),
    ]
    return root, out


def _with_signature(doc: dict[str, Any], **fields: Any) -> bytes:
    changed = copy.deepcopy(doc)
    for name, value in fields.items():
        if value is None:
            changed["signature"].pop(name)
        else:
            changed["signature"][name] = value
    return json.dumps(changed, ensure_ascii=False, indent=1).encode()


# --- whole codes: text -> verifyCode -> decide ----------------------------------------------

# A step for tests/support/handheld_cases.run_in_page: the page's verifyCode, then decide.js on its code.
E2E_STEP = """async (v, hh, c) => {
  const r = await v.verifyCode(c.text, hh.docs[c.docs], await hh.guard(c.guard), c.now, c.venue);
  if (!r.ok) return r.manual ? {result: "REJECTED", reason: r.reason, manual: true}
                             : {result: "REJECTED", reason: r.reason};
  const dec = await import('/static/js/verifier/decide.js');
  hh.deciders ??= {};
  const decider = hh.deciders[c.catalogue] ??= new dec.Decider(window.__snapshots[c.catalogue]);
  const decision = decider.decide(r.code, c.place, c.now).toJson();
  return {result: "VALID", reason: null, kind: r.code.kind, issuer: r.code.issuer, decision};
}"""

_TYPE_OF = {"sh-century-park": "park", "sh-museum": "museum", "metro-line-2": "metro", "馆-1": "library"}


def place_of(venue_id: str) -> Venue:
    """The venue a verify-level case's venue id stands for (cards count uses per venue id)."""
    return Venue(venue_id, _TYPE_OF.get(venue_id, "park"), 310000, "")


def e2e_cases(cases: Iterable[Any], catalogue: Catalogue) -> list[dict[str, Any]]:
    """handheld_cases' cases with a catalogue and a full venue, for E2E_STEP."""
    return [{**c.to_js(), "catalogue": catalogue.name, "place": place_of(c.venue)._asdict()} for c in cases]


def python_e2e(cases: Iterable[Any], docsets: dict[str, Any], catalogue: Catalogue) -> list[dict[str, Any]]:
    """`app.verifying.result_json` on every case in order (guards shared by name), cut to what the page answers.

    An SM2 issuer's code, which Python checks and the browser cannot, is expected as the page's
    check by hand (handheld_cases.js_expectation).
    """
    from app.verifying import result_json
    from tests.support.handheld_cases import js_expectation
    from verifier.replay import InMemoryReplayGuard
    from verifier.verify import Verifier

    stores = {name: d.store() for name, d in docsets.items()}
    revocations = {name: d.revocations() for name, d in docsets.items()}
    guards: dict[str, InMemoryReplayGuard] = {}
    decider = Decider(catalogue.snapshot)
    out = []
    for case in cases:
        guard = guards.setdefault(case.guard_name, InMemoryReplayGuard())
        verifier = Verifier(stores[case.docs], guard, revocations=revocations[case.docs])
        answer = result_json(verifier, case.text, case.now, decider, place_of(case.venue))
        shaped = {"ok": answer["result"] == "VALID", "reason": answer["reason"]}
        if js_expectation(shaped, case, stores[case.docs]).get("manual"):
            out.append({"result": "REJECTED", "reason": "UNSUPPORTED_ALG", "manual": True})
        elif answer["result"] == "VALID":
            keep = ("result", "reason", "kind", "issuer", "decision")
            out.append({k: answer[k] for k in keep})
        else:
            out.append({"result": "REJECTED", "reason": answer["reason"]})
    return out
