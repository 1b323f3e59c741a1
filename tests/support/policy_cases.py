"""Policy test cases as data (data/catalogue/tests/*.yaml): strict loading, and the evaluators that run them.

The format is described in data/catalogue/tests/README.md. A case file names one policy and
lists cases; each case gives registry rows (or, for a gate-only case, what a code states), a
local date or time, a venue for scan-mode policies, and what is expected. `load_case_file`
refuses anything it does not know, naming the file and the case. Each case then runs through
every evaluator that applies, and `mismatches` compares all of them with the expectation at once:

- matching, SQL (`match_cases`): every case's rows, one subject per case, written as CSV
  registry files and loaded with the registries' own checks; then per case date one
  `run_matching` over the whole sample catalogue (DuckDB, the compiled SQL);
- matching, explanation: the same facts view row through `facts_from_row` and `evaluate`, the
  per-subject evaluator `suishen match explain` uses;
- gate, rule (`run_case`): the profile a code carries (built by `build_profiles` from the rows,
  or given), issued as a real signed code and verified, and the policy's compiled rule run on
  its facts with the region scope;
- gate, decision: the `Decider` over a signed snapshot of the sample catalogue, at the venue and
  time, with the grants already counted today (`used_today`).

Matching all cases together costs one registry load and one run per distinct date (about 0.12 s
each, 46 dates for 142 cases); a case alone cost 0.17 s.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from app.catalogue import Catalogue, load_catalogue, publish
from app.matching.engine import attach_registries, connect, run_matching
from app.matching.enterprise_profiles import build_enterprise_profiles
from app.matching.explain import evaluate
from app.matching.facts_rows import facts_from_row
from app.matching.profiles import build_profiles
from app.matching.registries import BY_NAME, Registry
from app.matching.relations import index_of, reads_relations
from app.policy_text import PolicyTextError, load_yaml
from app.profiles import ProfileError, profile_from_json
from keys.algorithms import ES256, generate_private_key
from tests.support.world import make_world
from verifier.catalogue import VENUE_TYPES, YRD_REGIONS, Policy, Snapshot, load_snapshot
from verifier.claims import Profile
from verifier.code import online_code
from verifier.decide import GRANTED, LOCAL_TIME, REJECTED, Decider, InMemoryUsage, Venue, profile_facts
from verifier.errors import Reason

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "data" / "catalogue"
CASES = CATALOGUE / "tests"

MAX_FILE_BYTES = 64 * 1024
MAX_CASES = 100
MAX_NAME = 120
MAX_USED_TODAY = 10


_FILE_KEYS = frozenset({"policy", "cases"})
_CASE_KEYS = frozenset(
    {"name", "date", "venue", "registries", "relatives", "profile", "used_today", "expect", "known_issue"}
)
_RELATIVE_NAME = re.compile(r"[a-z][a-z0-9_]{0,19}")
# Columns that name a relative of the case (by its name under `relatives`), and columns whose value is
# local to the case (a household or an address of the case's own people).
_NAMES_A_RELATIVE = {("kinship", "relative_id"), ("marriages", "spouse_id")}
_LOCAL_TO_THE_CASE = {("households", "household_id"), ("addresses", "address_id")}
_VENUE_KEYS = frozenset({"id", "type"})
_EXPECT_KEYS = frozenset({"eligible", "version", "result", "privilege", "reason"})
_PROFILE_KEYS = frozenset(
    {"age_over", "disability_category", "disability_grade", "martyr_family", "entitled_group", "student_level",
     "enrolled_until", "residence", "credit_good", "enterprise_region"}
)  # fmt: skip
SQL_RUN, EXPLANATION, GATE_RULE = "matching SQL run", "matching explanation", "gate rule on the code"
_INTEGER_TYPES = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT"})
_MISSING = object()


class CaseError(ValueError):
    """A case file that cannot be read as written; the message names the file and the case."""


class Expect(NamedTuple):
    eligible: bool
    version: object  # a version number, None (none in force), or _MISSING when the case does not say
    result: str | None  # scan-mode policies only
    privilege: str | None
    reason: str | None


class PolicyCase(NamedTuple):
    file: str
    name: str
    policy_id: str
    subject: str  # "person" or "enterprise", the policy's
    day: dt.date
    at: dt.datetime | None  # local wall-clock time (UTC+8), scan-mode policies only
    venue: Venue | None
    registries: dict[str, dict[str, Any]] | None
    profile: Profile | None
    used_today: int
    expect: Expect
    known_issue: str | None
    relatives: dict[str, dict[str, Any]] | None = None  # name -> that person's registries, as `registries`

    @property
    def id(self) -> str:
        return f"{self.file}:{self.name}"

    @property
    def at_gate(self) -> bool:
        return self.venue is not None


class _Reader:
    """Reads one case at a time, each error prefixed with the file and the case."""

    def __init__(self, file: str, case: str = "") -> None:
        self.file = file
        self.case = case

    def fail(self, problem: str) -> CaseError:
        where = f"{self.file}: case {self.case!r}" if self.case else self.file
        return CaseError(f"{where}: {problem}")

    def keys(self, data: Any, allowed: frozenset[str], what: str, required: frozenset[str] = frozenset()) -> None:
        if not isinstance(data, dict):
            raise self.fail(f"{what} must be a mapping, found {data!r}")
        unknown = sorted(str(k) for k in set(data) - allowed)
        if unknown:
            raise self.fail(f"unknown key(s) {', '.join(unknown)} in {what} (allowed: {', '.join(sorted(allowed))})")
        missing = sorted(required - set(data))
        if missing:
            raise self.fail(f"{what} needs {', '.join(missing)}")


def load_case_file(path: Path, policies: Mapping[str, Policy]) -> list[PolicyCase]:
    """Every case in one file, or CaseError naming the file (and the case) and what is wrong."""
    reader = _Reader(path.name)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise reader.fail(f"cannot read: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise reader.fail(f"{len(raw):,} bytes: a case file holds at most {MAX_FILE_BYTES:,} (split it)")
    try:
        data = load_yaml(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise reader.fail("not UTF-8 text") from None
    except PolicyTextError as exc:
        raise reader.fail(str(exc)) from None
    reader.keys(data, _FILE_KEYS, "the file", _FILE_KEYS)
    policy_id = data["policy"]
    if policy_id not in policies:
        raise reader.fail(f"policy {policy_id!r} is not in the catalogue")
    if path.stem != policy_id:
        raise reader.fail(f"the file for policy {policy_id} must be named {policy_id}.yaml")
    cases = data["cases"]
    if not isinstance(cases, list) or not 1 <= len(cases) <= MAX_CASES:
        raise reader.fail(f"cases must be a list of 1 to {MAX_CASES} cases")
    out: list[PolicyCase] = []
    seen: set[str] = set()
    for i, item in enumerate(cases):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or "\n" in name:
            raise reader.fail(f"case {i + 1} needs a name: one line of text, at most {MAX_NAME} characters")
        if name in seen:
            raise reader.fail(f"two cases are named {name!r}: names must differ")
        seen.add(name)
        out.append(_case(_Reader(path.name, name), item, policies[policy_id], policies))
    return out


def _case(reader: _Reader, data: dict[str, Any], policy: Policy, policies: Mapping[str, Policy]) -> PolicyCase:
    reader.keys(data, _CASE_KEYS, "the case", frozenset({"name", "date", "expect"}))
    scan = policy.delivery == "scan"
    day, at = _moment(reader, data["date"], scan)
    venue = None
    if scan:
        if "venue" not in data:
            raise reader.fail("a scan-mode policy's case needs a venue: {id: ..., type: ...}")
        venue_data = data["venue"]
        reader.keys(venue_data, _VENUE_KEYS, "venue", _VENUE_KEYS)
        if not isinstance(venue_data["id"], str) or not venue_data["id"]:
            raise reader.fail("venue id must be text")
        if venue_data["type"] not in VENUE_TYPES:
            raise reader.fail(f"venue type must be one of {', '.join(VENUE_TYPES)}, found {venue_data['type']!r}")
        venue = Venue(venue_data["id"], venue_data["type"])
    elif "venue" in data or "used_today" in data:
        raise reader.fail(f"{policy.id} is a {policy.delivery} policy: no venue and no used_today (gates only)")
    if ("registries" in data) == ("profile" in data):
        raise reader.fail("give either registries (rows of the registries) or profile (what a code states)")
    registries = profile = None
    relatives: dict[str, dict[str, Any]] = {}
    if "registries" in data:
        registries = _registries(reader, data["registries"], policy.subject)
        raw = data.get("relatives", {})
        reader.keys(raw, frozenset(raw) if isinstance(raw, dict) else frozenset(), "relatives")
        for name, rows in raw.items():
            if not isinstance(name, str) or not _RELATIVE_NAME.fullmatch(name):
                raise reader.fail(f"a relative's name is 1-20 of a-z, 0-9 and _, starting with a letter: {name!r}")
            relatives[name] = _registries(reader, rows, policy.subject, what=f"relatives.{name}", base_required=False)
    else:
        if "relatives" in data:
            raise reader.fail("relatives go with registries (matching), not with a profile")
        if not scan:
            raise reader.fail("a profile is what a gate reads: matching policies need registries")
        profile = _profile(reader, data["profile"], policy.subject)
    used = data.get("used_today", 0)
    if type(used) is not int or not 0 <= used <= MAX_USED_TODAY:
        raise reader.fail(f"used_today must be a whole number from 0 to {MAX_USED_TODAY}")
    known = data.get("known_issue")
    if known is not None and (not isinstance(known, str) or not known.strip()):
        raise reader.fail("known_issue must be text saying what is wrong and where it was reported")
    return PolicyCase(
        reader.file, reader.case, policy.id, policy.subject, day, at, venue, registries, profile, used,
        _expect(reader, data["expect"], scan, policies), known, relatives or None,
    )  # fmt: skip


def _moment(reader: _Reader, value: Any, scan: bool) -> tuple[dt.date, dt.datetime | None]:
    """(day, local time): a scan case needs a time (2025-01-01 10:00), a matching case a date only."""
    at: dt.datetime | None = None
    if isinstance(value, dt.datetime):
        at = value
    elif isinstance(value, str) and len(value.strip()) > len("YYYY-MM-DD"):
        try:
            at = dt.datetime.fromisoformat(value)
        except ValueError:
            raise reader.fail(f"date {value!r}: expected YYYY-MM-DD or YYYY-MM-DD HH:MM (local time)") from None
    elif type(value) is dt.date:
        if scan:
            raise reader.fail("a scan-mode policy's case needs a local time too: date: 2025-01-01 10:00")
        return value, None
    else:
        raise reader.fail(f"date must be an unquoted date YYYY-MM-DD or a local time YYYY-MM-DD HH:MM, found {value!r}")
    if at.tzinfo is not None:
        raise reader.fail("give the date as local time (Asia/Shanghai, UTC+8) without an offset")
    if not scan:
        raise reader.fail("a matching policy decides per day: give the date without a time")
    return at.date(), at


def _registries(
    reader: _Reader, data: Any, subject: str, *, what: str = "registries", base_required: bool = True
) -> dict[str, Any]:
    """One row a registry; a relation registry (households, kinship, marriages, addresses) takes a list of rows."""
    key_of_subject = "person_id" if subject == "person" else "credit_code"
    base = "persons" if subject == "person" else "enterprises"
    ours = frozenset(r.name for r in BY_NAME.values() if r.key == key_of_subject)
    reader.keys(data, ours, f"{what} (of a {subject})", frozenset({base}) if base_required else frozenset())
    out: dict[str, Any] = {}
    for name, given in data.items():
        registry = BY_NAME[name]
        declared = {c.name: c for c in registry.columns if c.name != registry.key}
        required = frozenset(c.name for c in declared.values() if c.required)
        many = bool(registry.unique)
        rows = given if many and isinstance(given, list) else [given]
        for row in rows:
            reader.keys(row, frozenset(declared), f"{what}.{name}", required)  # {} to list the subject only
            for column, value in row.items():
                _check_value(reader, registry, column, declared[column].sql_type, value)
        out[name] = [dict(r) for r in rows] if many else dict(rows[0])
    return out


def _check_value(reader: _Reader, registry: Registry, column: str, sql_type: str, value: Any) -> None:
    if sql_type in _INTEGER_TYPES:
        ok, wanted = type(value) is int, "a whole number"
    elif sql_type == "DATE":
        ok, wanted = type(value) is dt.date, "a date YYYY-MM-DD (unquoted)"
    else:
        ok, wanted = isinstance(value, str), "text"
    if not ok:
        raise reader.fail(f"registries.{registry.name}.{column} must be {wanted}, found {value!r}")


def _profile(reader: _Reader, data: Any, subject: str = "person") -> Profile:
    reader.keys(data, _PROFILE_KEYS, "profile")
    try:  # an enterprise policy's case: what an enterprise's code (法人随申码) states
        enterprise = {"enterprise": True} if subject == "enterprise" else {}
        return profile_from_json({**data, **enterprise, "subject": os.urandom(8).hex(), "version": 1})
    except ProfileError as exc:
        raise reader.fail(f"profile: {exc}") from None


def _expect(reader: _Reader, data: Any, scan: bool, policies: Mapping[str, Policy]) -> Expect:
    reader.keys(data, _EXPECT_KEYS, "expect", frozenset({"eligible"}))
    eligible = data["eligible"]
    if type(eligible) is not bool:
        raise reader.fail("expect.eligible must be true or false")
    version = data.get("version", _MISSING)
    if version is not _MISSING and version is not None and type(version) is not int:
        raise reader.fail("expect.version must be a version number, or null for none in force")
    result, privilege, reason = data.get("result"), data.get("privilege"), data.get("reason")
    if not scan:
        if {"result", "privilege", "reason"} & set(data):
            raise reader.fail("result, privilege and reason are a gate's answer: scan-mode policies only")
        return Expect(eligible, version, None, None, None)
    if result not in (GRANTED, REJECTED):
        raise reader.fail(f"expect.result must be {GRANTED} or {REJECTED} for a scan-mode policy")
    if result == GRANTED:
        if "reason" in data:
            raise reader.fail("a GRANTED decision has no reason code")
        granting = policies.get(privilege) if isinstance(privilege, str) else None
        if granting is None or granting.delivery != "scan":
            raise reader.fail(f"a GRANTED decision names its best privilege, a scan policy's id, found {privilege!r}")
    if result == REJECTED:
        if "privilege" in data:
            raise reader.fail("a REJECTED decision grants no privilege")
        if reason not in {r.value for r in Reason}:
            raise reader.fail(f"a REJECTED decision names its reason code (e.g. NOT_ELIGIBLE), found {reason!r}")
    return Expect(eligible, version, result, privilege, reason)


def load_cases(folder: Path, policies: Mapping[str, Policy]) -> list[PolicyCase | CaseError]:
    """Every case in the folder's *.yaml files, in file order; a file that cannot be read is its CaseError."""
    out: list[PolicyCase | CaseError] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            out.extend(load_case_file(path, policies))
        except CaseError as exc:
            out.append(exc)
    return out


# --- running a case ----------------------------------------------------------------------------


class Said(NamedTuple):
    """What one evaluator said about the case's policy on the case's day."""

    evaluator: str
    eligible: bool
    version: object  # the version in force as it sees it (a number or None); _MISSING: not its to say


class Matching(NamedTuple):
    """What matching said about one case: the SQL run, the explanation, and the profile it built."""

    said: tuple[Said, ...]
    profile: Profile | None  # what this person's (or enterprise's) codes carry on the day
    explanation: list[str]


class Outcome(NamedTuple):
    said: tuple[Said, ...]
    decision: tuple[str, str | None, str | None] | None  # (result, best privilege, reason) at the gate
    granted_version: int | None  # the version of the best privilege, when that is the case's policy
    explanation: list[str]


class Samples(NamedTuple):
    """The sample catalogue as departments write it, and as a gate holds it (signed, then verified)."""

    catalogue: Catalogue
    policies: dict[str, Policy]
    snapshot: Snapshot


def samples(folder: Path = CATALOGUE) -> Samples:
    catalogue = load_catalogue(folder)
    if catalogue.problems:
        raise CaseError(f"{folder}: {len(catalogue.problems)} problem(s), first {catalogue.problems[0]}")
    key = generate_private_key(ES256)
    issued = int(dt.datetime(2010, 1, 1, tzinfo=LOCAL_TIME).timestamp())
    document = publish(catalogue, key, version=1, now=issued, max_age=40 * 366 * 86400)
    return Samples(catalogue, {p.id: p for p in catalogue.policies}, load_snapshot(document, key.public_key()))


def subject_id(case_number: int, subject: str) -> str:
    """A registry id per case: P-000001, ... for persons, an 18-character credit code for enterprises."""
    return f"P-{case_number:06d}" if subject == "person" else f"91310000CASE{case_number:06d}"


def write_registries(cases: list[PolicyCase], folder: Path) -> dict[tuple[str, int], str]:
    """Every case's rows as CSV registry files in `folder`, one subject per case, as departments deliver them.

    Returns (registry, row number) -> case id, to name the case whose row a registry rejects.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[list[str]]] = {r.name: [] for r in BY_NAME.values()}
    where: dict[tuple[str, int], str] = {}
    for number, case in enumerate(cases, 1):
        assert case.registries is not None
        me = subject_id(number, case.subject)
        people = {"": case.registries, **{n: r for n, r in (case.relatives or {}).items()}}
        ids = {"me": me, **{n: f"{me}-{n}" for n in people if n}}  # `me`: the case's own subject
        for who, registries in people.items():
            for name, given in registries.items():
                registry = BY_NAME[name]
                for row in given if isinstance(given, list) else [given]:
                    values = {**row, registry.key: ids.get(who, me)}
                    for table, column in _NAMES_A_RELATIVE:
                        if table == name and column in values:
                            values[column] = ids.get(values[column], values[column])
                    for table, column in _LOCAL_TO_THE_CASE:
                        if table == name and column in values:
                            values[column] = f"{me}-{values[column]}"
                    rows[name].append([_csv(values.get(c.name)) for c in registry.columns])
                    where[(name, len(rows[name]))] = case.id
    for name, lines in rows.items():
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow([c.name for c in BY_NAME[name].columns])
            writer.writerows(lines)
    return where


def _csv(value: Any) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def match_cases(cases: list[PolicyCase], world: Samples, folder: Path) -> dict[str, Matching | CaseError]:
    """Matching for every case with registry rows: one load, then one run over the catalogue per case date.

    Each case is its own subject in one set of registries; for each date, `run_matching` (the
    compiled SQL) fills the entitlements, `build_profiles` the profiles codes carry, and the
    explanation evaluator (`facts_from_row` + `evaluate`, as `suishen match explain`) reads the
    same facts view.
    """
    with_rows = [c for c in cases if c.registries is not None]
    where = write_registries(with_rows, folder)
    out: dict[str, Matching | CaseError] = {}
    con = connect(threads=1)
    try:
        report = attach_registries(con, folder)
        if sum(report.rejected.values()):
            for registry, row, reason in con.execute("SELECT registry, row, reason FROM rejects").fetchall():
                case_id = where[(registry, row)]
                out[case_id] = CaseError(f"{case_id}: the {registry} registry rejects its row: {reason}")
        by_day: dict[dt.date, list[tuple[int, PolicyCase]]] = {}
        for number, case in enumerate(with_rows, 1):
            if case.id not in out:
                by_day.setdefault(case.day, []).append((number, case))
        for day, todays in sorted(by_day.items()):
            run_matching(con, world.catalogue.policies, day)
            entitled = {(s, p): v for s, p, v in con.execute("SELECT * FROM entitlements").fetchall()}
            build_profiles(con, day, version=1)
            build_enterprise_profiles(con, day, version=1)
            profiles = _rows(con, "profiles")
            enterprises = _rows(con, "enterprise_profiles")
            facts = {**_rows(con, "person_facts"), **_rows(con, "enterprise_facts")}
            relations = index_of(con, day)
            for number, case in todays:
                subject = subject_id(number, case.subject)
                policy = world.policies[case.policy_id]
                version = entitled.get((subject, policy.id), _MISSING)
                sql = Said(SQL_RUN, version is not _MISSING, version)
                row = facts.get(subject)
                known = facts_from_row(row, day) if row else None
                in_force = policy.version_on(day)
                if known is not None and in_force is not None and reads_relations(in_force.rule):
                    known.update(relations.facts_for(subject, day))  # as `suishen match explain` adds them
                evaluation = evaluate(policy, subject, known, day)
                python = Said(EXPLANATION, evaluation.entitled, _MISSING)
                profile = _profile_of(profiles[subject]) if subject in profiles else None
                if subject in enterprises:  # what the enterprise's code carries
                    row_e = enterprises[subject]
                    profile = Profile(
                        os.urandom(8), version=row_e["version"], enterprise=True,
                        credit_good=bool(row_e["credit_good"]), enterprise_region=row_e["region"],
                    )  # fmt: skip
                out[case.id] = Matching((sql, python), profile, ["matching, explained:", *evaluation.lines])
    finally:
        con.close()
    return out


def _rows(con: Any, relation: str) -> dict[str, dict[str, Any]]:
    cursor = con.execute(f"SELECT * FROM {relation}")
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def _profile_of(row: dict[str, Any]) -> Profile:
    """A row of table `profiles` as the profile the signing service puts in this person's codes."""
    return Profile(
        subject=os.urandom(8), age_over=row["age_over"], disability_category=row["disability_category"],
        disability_grade=row["disability_grade"], martyr_family=bool(row["martyr_family"]),
        entitled_group=bool(row["entitled_group"]), student_level=row["student_level"],
        enrolled_until=row["enrolled_until"], residence=row["residence"], version=row["version"],
    )  # fmt: skip


def _in_scope(scope: str, region: int | None, home: int) -> bool:
    if scope == "residents":
        return region == home
    if scope == "yrd":
        return region in YRD_REGIONS
    return True


def run_case(case: PolicyCase, world: Samples, matching: Matching | None) -> Outcome:
    """The case through the gate (when it has a venue), after what matching said (when it has rows)."""
    said: list[Said] = list(matching.said) if matching else []
    explanation = list(matching.explanation) if matching else []
    decision = granted = None
    if case.at_gate:
        profile = case.profile or (matching.profile if matching else None)
        if profile is None:
            raise CaseError(f"{case.id}: the registries hold no living person for this case: no code to show")
        rule, decision, granted, lines = _gate(case, world.snapshot, profile)
        said.append(rule)
        explanation.extend(lines)
    return Outcome(tuple(said), decision, granted, explanation)


def _gate(
    case: PolicyCase, snapshot: Snapshot, profile: Profile
) -> tuple[Said, tuple[str, str | None, str | None], int | None, list[str]]:
    """The code a gate reads (issued and verified for real), the rule on its facts, and the decision."""
    assert case.at is not None and case.venue is not None
    now = int(case.at.replace(tzinfo=LOCAL_TIME).timestamp())
    code_world = make_world(now=now)
    issuer = code_world.issuer.carrying(frozenset(snapshot.scan_attributes()))
    code = code_world.verifier().verify(online_code(issuer.credential(profile, now)), now)
    usage = InMemoryUsage()
    for _ in range(case.used_today):
        usage.record((code.profile.subject, case.venue.id, case.policy_id, case.day))
    decider = Decider(snapshot, usage)
    policy = next((p for p in snapshot.policies if p.id == case.policy_id), None)
    version = policy.version_on(case.day) if policy is not None else None
    seen = decider.profile_of(code)
    held = (
        policy is not None
        and version is not None
        and _in_scope(policy.region_scope, seen.residence, snapshot.region)
        and version.test(profile_facts(seen), case.day)
    )
    in_force = _MISSING if policy is None else (version.version if version is not None else None)
    rule = Said(GATE_RULE, held, in_force)  # an unpublished policy is not in the snapshot
    decision = decider.decide(code, case.venue, now)
    best = decision.best
    granted = best.version if best is not None and best.policy_id == case.policy_id else None
    answer = (decision.result, best.policy_id if best else None, decision.reason.value if decision.reason else None)
    return rule, answer, granted, ["gate, the decision explained:", *decision.explain()]


def evaluators(case: PolicyCase) -> tuple[str, ...]:
    """The evaluators a case runs through: both matching ones with registry rows, the gate's with a venue."""
    ran = (SQL_RUN, EXPLANATION) if case.registries is not None else ()
    return (*ran, GATE_RULE) if case.at_gate else ran


def mismatches(case: PolicyCase, outcome: Outcome, in_force: int | None) -> list[str]:
    """Every way the outcome differs from the case's expectation, one line each (empty: it passed).

    `in_force` is the version the catalogue file has in force on the case's day.
    """
    want = case.expect
    out = []
    ran = tuple(said.evaluator for said in outcome.said)
    if ran != evaluators(case):
        out.append(f"evaluators that ran: {ran}, expected {evaluators(case)}")
    if want.version is not _MISSING and want.version != in_force:
        out.append(f"the catalogue has version {in_force} in force on {case.day}, expected {want.version}")
    for said in outcome.said:
        if said.eligible != want.eligible:
            out.append(f"{said.evaluator}: eligible {said.eligible}, expected {want.eligible}")
        if said.version is not _MISSING and said.version != in_force:
            out.append(f"{said.evaluator}: version {said.version} in force, the catalogue has {in_force}")
    if case.at_gate:
        expected = (want.result, want.privilege, want.reason)
        if outcome.decision != expected:
            out.append(f"gate decision (result, best privilege, reason): {outcome.decision}, expected {expected}")
        if outcome.granted_version is not None and outcome.granted_version != in_force:
            out.append(f"gate decision: granted version {outcome.granted_version}, the catalogue has {in_force}")
    return out
