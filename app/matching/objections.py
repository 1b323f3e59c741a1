"""Objections and corrections: a subject contests a result, an officer corrects facts, one re-evaluation.

A subject objects to an entitlement or to one they believe is missing; an officer resolves it
with corrected facts; that one subject is re-evaluated under the policy with the corrected
facts and the explanation is kept with the resolution. Every step is in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Engine, select

from app.db.schema import audit, objections
from app.matching.explain import Evaluation, evaluate, subject_facts
from app.matching.registries import BY_NAME, SMALL_ENTERPRISE_EMPLOYEES
from app.matching.relation_fixes import (
    MAX_FIXES,
    RELATIONS,
    RelationFix,
    apply_fixes,
    fixes_from_json,
    parse_relation_fix,
)
from keys.errors import SuishenError
from verifier.catalogue import Policy
from verifier.rules.attributes import ATTRIBUTES, BOOL, DATE, INT

KINDS = ("wrong", "missing")


class ObjectionError(SuishenError, ValueError):
    pass


class ObjectionRecord(NamedTuple):
    id: int
    subject: str
    policy_id: str
    kind: str
    statement: str
    filed_at: dt.datetime
    status: str  # open, upheld, rejected
    officer: str | None
    corrections: dict[str, Any]
    explanation: list[dict[str, str] | str]  # lines {zh, en}; plain text for a resolution kept before they were
    resolved_at: dt.datetime | None


def objections_list(
    engine: Engine, *, status: str | None = "open", subject: str | None = None, limit: int = 500
) -> list[ObjectionRecord]:
    """The objections queue (oldest first), or one subject's objections; `status=None` for all."""
    query = select(objections).order_by(objections.c.filed_at, objections.c.id).limit(limit)
    if status is not None:
        query = query.where(objections.c.status == status)
    if subject is not None:
        query = query.where(objections.c.subject == subject)
    with engine.connect() as db:
        rows = db.execute(query).all()
    return [
        ObjectionRecord(
            r.id,
            r.subject,
            r.policy_id,
            r.kind,
            r.statement,
            r.filed_at,
            r.status,
            r.officer,
            json.loads(r.corrections or "{}"),
            _explanation(r.explanation),
            r.resolved_at,
        )
        for r in rows
    ]


def _explanation(stored: str | None) -> list[dict[str, str] | str]:
    """The stored re-evaluation: a JSON list of {zh, en} lines, or (kept before both languages) plain lines."""
    if stored and stored.startswith("["):
        try:
            lines = json.loads(stored)
        except ValueError:
            lines = None
        if isinstance(lines, list):
            return lines
    return list((stored or "").splitlines())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _audit(db: Any, actor: str, action: str, subject: str, policy_id: str, detail: str) -> None:
    db.execute(audit.insert().values(at=_now(), actor=actor, action=action, subject=subject, policy_id=policy_id,
                                     detail=detail))  # fmt: skip


def file_objection(engine: Engine, subject: str, policy_id: str, kind: str, statement: str) -> int:
    if kind not in KINDS:
        raise ObjectionError(f"kind must be one of {list(KINDS)}")
    if not statement.strip():
        raise ObjectionError("an objection needs a statement")
    with engine.begin() as db:
        result = db.execute(objections.insert().values(
            subject=subject, policy_id=policy_id, kind=kind, statement=statement, filed_at=_now(), status="open"
        ))  # fmt: skip
        key = result.inserted_primary_key
        assert key is not None
        objection_id = int(key[0])
        _audit(db, subject, "objection filed", subject, policy_id, f"#{objection_id} ({kind})")
    return objection_id


# Where a corrected fact lives in the loaded registries: (table, column). The person base and the
# side registries (disability, students, enterprises) alike; a run applies them until the owning
# department has fixed its file.
_COLUMNS = {
    "birth_date": ("persons", "birth_date"),
    "residence.region": ("persons", "residence_region"),
    "hukou.region": ("persons", "hukou_region"),
    "income.monthly": ("persons", "income_monthly"),
    "disability.category": ("disability", "category"),
    "disability.grade": ("disability", "grade"),
    "disability.certificate_valid_until": ("disability", "certificate_valid_until"),
    "student.level": ("students", "level"),
    "student.enrolled_until": ("students", "enrolled_until"),
    **{f"enterprise.{c}": ("enterprises", c) for c in (
        "employees", "insured_employees", "layoff_rate_pct", "annual_revenue", "industry", "registered_on", "region",
    )},
}  # fmt: skip
# Facts that are membership of a list: true adds the subject to it, false takes it off.
_MEMBERSHIPS = {
    "martyr_family": "martyr_families",
    "entitled_group": "entitled_groups",
    "credit.blacklisted": "person_blacklist",
    "enterprise.credit.blacklisted": "enterprise_blacklist",
}


def _exists(con: Any, table: str, subject: str) -> bool:
    key = BY_NAME[table].key
    return con.execute(f"SELECT count(*) FROM {table} WHERE {key} = ?", [subject]).fetchone()[0] > 0  # type: ignore[no-any-return]


def _apply_one(con: Any, subject: str, corrections: dict[str, Any]) -> tuple[int, list[str]]:
    """Apply one objection's corrected facts to the loaded tables; (applied, [attribute (why not)])."""
    applied, skipped = 0, list[str]()
    by_table: dict[str, dict[str, Any]] = {}
    if RELATIONS in corrections:
        done, not_done = apply_fixes(con, subject, fixes_from_json(corrections[RELATIONS]))
        applied, skipped = applied + done, skipped + not_done
    for name, value in corrections.items():
        if name == RELATIONS:
            continue
        if name in _MEMBERSHIPS:
            table = _MEMBERSHIPS[name]
            registry = BY_NAME[table]
            if not _exists(con, registry.refers_to or table, subject):
                skipped.append(f"{name} (not in {registry.refers_to})")
                continue
            con.execute(f"DELETE FROM {table} WHERE {registry.key} = ?", [subject])
            if value:
                con.execute(f"INSERT INTO {table} ({registry.key}) VALUES (?)", [subject])
            applied += 1
        elif name in _COLUMNS:
            table, column = _COLUMNS[name]
            by_table.setdefault(table, {})[column] = value
        else:
            skipped.append(f"{name} (not a registry fact: correct the facts it comes from)")
    names = {place: name for name, place in _COLUMNS.items()}  # (table, column) -> attribute
    for table, values in by_table.items():
        registry = BY_NAME[table]
        if _exists(con, table, subject):
            assignments = ", ".join(f"{column} = ?" for column in values)
            con.execute(f"UPDATE {table} SET {assignments} WHERE {registry.key} = ?", [*values.values(), subject])
            applied += len(values)
            continue
        needed = [c.name for c in registry.columns if c.required and c.name != registry.key and c.name not in values]
        if registry.refers_to is None or not _exists(con, registry.refers_to, subject):
            skipped += [f"{names[table, c]} (not in {registry.refers_to or table})" for c in values]
        elif needed:
            skipped += [f"{names[table, c]} (no {table} row: a new one needs {', '.join(needed)})" for c in values]
        else:
            columns = ", ".join([registry.key, *values])
            marks = ", ".join("?" for _ in range(len(values) + 1))
            con.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", [subject, *values.values()])
            applied += len(values)
    return applied, skipped


def apply_corrections(con: Any, engine: Engine) -> tuple[int, list[str]]:
    """Apply upheld objections' corrected facts to the loaded registries (temporary tables), oldest first.

    Person-base and side-registry facts alike (a disability row is added when the correction gives
    what a row needs). Returns (facts applied, the ones that could not be, with the reason).
    """
    with engine.connect() as db:
        upheld = db.execute(
            select(objections.c.id, objections.c.subject, objections.c.corrections)
            .where(objections.c.status == "upheld")
            .order_by(objections.c.resolved_at, objections.c.id)
        ).all()
    applied, skipped = 0, []
    for number, subject, text in upheld:
        done, not_done = _apply_one(con, subject, json.loads(text or "{}"))
        applied += done
        skipped += [f"#{number} {subject}: {line}" for line in not_done]
    return applied, skipped


def memberships_implied(corrections: dict[str, Any]) -> dict[str, bool]:
    """The registry memberships (`member_of` facts) that corrected facts imply, as the facts views derive them."""
    implied = {}
    for name, registry in (("martyr_family", "martyr_families"), ("entitled_group", "entitled_groups")):
        if name in corrections:
            implied[f"registry:{registry}"] = bool(corrections[name])
    if corrections.get("disability.category") is not None:
        implied["registry:disabled_persons"] = True
    if corrections.get("student.level") is not None:
        implied["registry:students"] = True
    if corrections.get("enterprise.employees") is not None:
        implied["registry:small_enterprises"] = corrections["enterprise.employees"] <= SMALL_ENTERPRISE_EMPLOYEES
    return implied


def parse_corrections(pairs: list[str]) -> dict[str, Any]:
    """`attribute=value` pairs typed by the attribute (dates YYYY-MM-DD, true/false, integers), and
    relation corrections `REGISTRY+=column:value,...` / `REGISTRY-=...` (relation_fixes)."""
    corrections: dict[str, Any] = {}
    fixes: list[RelationFix] = []
    for pair in pairs:
        if "+=" in pair or "-=" in pair:
            fixes.append(parse_relation_fix(pair))
            continue
        name, _, text = pair.partition("=")
        attribute = ATTRIBUTES.get(name)
        if attribute is None or not text:
            raise ObjectionError(f"{pair!r}: expected ATTRIBUTE=VALUE with an attribute of the rule language")
        try:
            if attribute.kind == INT:
                corrections[name] = int(text)
            elif attribute.kind == BOOL:
                corrections[name] = {"true": True, "false": False}[text.lower()]
            elif attribute.kind == DATE:
                corrections[name] = dt.date.fromisoformat(text)
            else:
                corrections[name] = text
        except (ValueError, KeyError):
            raise ObjectionError(f"{pair!r}: {name} takes a {attribute.kind} value") from None
    if len(fixes) > MAX_FIXES:
        raise ObjectionError(f"at most {MAX_FIXES} relation corrections in one resolution")
    if fixes:
        corrections[RELATIONS] = fixes
    return corrections


def upheld_corrections(engine: Engine, subject: str) -> dict[str, Any]:
    """The subject's corrected facts from upheld objections, later ones over earlier ones, typed."""
    with engine.connect() as db:
        texts = db.execute(
            select(objections.c.corrections)
            .where(objections.c.subject == subject, objections.c.status == "upheld")
            .order_by(objections.c.resolved_at, objections.c.id)
        ).scalars()
        merged: dict[str, Any] = {}
        fixes: list[RelationFix] = []
        for text in texts:
            given = json.loads(text or "{}")
            fixes += fixes_from_json(given.pop(RELATIONS, []))  # relation corrections add up, oldest first
            merged.update(given)
    typed = {k: dt.date.fromisoformat(v) if ATTRIBUTES[k].kind == DATE else v for k, v in merged.items()}
    return {**typed, RELATIONS: fixes} if fixes else typed


def relation_fixes_of(corrections: dict[str, Any]) -> list[RelationFix]:
    return list(corrections.get(RELATIONS, []))


def with_corrections(facts: dict[str, Any] | None, corrections: dict[str, Any], day: dt.date) -> dict[str, Any] | None:
    """Facts with corrections applied (and what they imply); None stays None when nothing is corrected."""
    corrections = {k: v for k, v in corrections.items() if k != RELATIONS}  # those change the rows: subject_facts
    if facts is None and not corrections:
        return None
    corrected = dict(facts or {}, **corrections, **memberships_implied(corrections))
    if "birth_date" in corrections:
        from verifier.rules.evaluate import years_between

        corrected["age"] = years_between(corrections["birth_date"], day)
    return corrected


def resolve(
    engine: Engine,
    objection_id: int,
    officer: str,
    corrections: dict[str, Any],
    registries: Path,
    policy: Policy,
    day: dt.date,
) -> Evaluation:
    """Re-evaluate the objection's subject with the corrected facts; uphold it when the result changes."""
    with engine.begin() as db:
        row = db.execute(select(objections).where(objections.c.id == objection_id)).first()
        if row is None:
            raise ObjectionError(f"no objection #{objection_id}")
        if row.status != "open":
            raise ObjectionError(f"objection #{objection_id} is already {row.status}")
        if row.policy_id != policy.id:
            raise ObjectionError(f"objection #{objection_id} is about {row.policy_id}, not {policy.id}")
    # The facts a run uses: the registries' with the subject's earlier upheld corrections applied.
    earlier = upheld_corrections(engine, row.subject)
    fixes_before = relation_fixes_of(earlier)
    facts, rejected = subject_facts(registries, policy, row.subject, day, fixes_before)
    facts = with_corrections(facts, earlier, day)
    before = evaluate(policy, row.subject, facts, day, rejected=rejected)
    if relation_fixes_of(corrections):  # relation facts come from rows: load the corrected neighbourhood
        fixes = fixes_before + relation_fixes_of(corrections)
        corrected, _ = subject_facts(registries, policy, row.subject, day, fixes)
        facts = with_corrections(corrected, earlier, day)
    after = evaluate(policy, row.subject, with_corrections(facts, corrections, day), day)
    status = "upheld" if after.entitled != before.entitled else "rejected"
    shown: dict[str, Any] = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in corrections.items()}
    if RELATIONS in shown:
        shown[RELATIONS] = [fix.to_json() for fix in shown[RELATIONS]]
    with engine.begin() as db:
        db.execute(objections.update().where(objections.c.id == objection_id).values(
            status=status, officer=officer, corrections=json.dumps(shown, ensure_ascii=False),
            explanation=json.dumps(after.to_json(), ensure_ascii=False), resolved_at=_now(),
        ))  # fmt: skip
        _audit(db, officer, "facts corrected", row.subject, policy.id, json.dumps(shown, ensure_ascii=False))
        _audit(db, officer, f"objection {status}", row.subject, policy.id,
               f"#{objection_id}: entitled {before.entitled} -> {after.entitled}")  # fmt: skip
    return after
