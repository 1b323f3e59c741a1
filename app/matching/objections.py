"""Objections and corrections: a subject contests a result, an officer corrects facts, one re-evaluation.

A subject objects to an entitlement or to one they believe is missing; an officer resolves it
with corrected facts; that one subject is re-evaluated under the policy with the corrected
facts and the explanation is kept with the resolution. Every step is in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, Engine, Integer, String, Table, Text, select

from app.matching.explain import Evaluation, evaluate, subject_facts
from app.matching.payouts import metadata
from verifier.catalogue import Policy
from verifier.rules.attributes import ATTRIBUTES, BOOL, DATE, INT

KINDS = ("wrong", "missing")

objections = Table(
    "objections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject", String(64), nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("statement", Text, nullable=False),
    Column("filed_at", DateTime, nullable=False),
    Column("status", String(16), nullable=False),  # open, upheld, rejected
    Column("officer", String(64)),
    Column("corrections", Text),  # JSON {attribute: value}
    Column("explanation", Text),  # the re-evaluation, line by line
    Column("resolved_at", DateTime),
)
audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("detail", Text, nullable=False),
)


class ObjectionError(ValueError):
    pass


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


# Corrections a run can apply to the person base until the owning department fixes its file.
_PERSON_COLUMNS = {"birth_date": "birth_date", "residence.region": "residence_region",
                   "hukou.region": "hukou_region", "income.monthly": "income_monthly"}  # fmt: skip


def apply_corrections(con: Any, engine: Engine) -> tuple[int, list[str]]:
    """Apply upheld objections' corrected facts to the loaded person base (temporary tables).

    Returns (applied, not applied): facts held in side registries (disability, students, ...) must be
    corrected by their department and are only reported here.
    """
    with engine.connect() as db:
        upheld = db.execute(
            select(objections.c.id, objections.c.subject, objections.c.corrections)
            .where(objections.c.status == "upheld")
            .order_by(objections.c.resolved_at)
        ).all()
    applied, skipped = 0, []
    for number, subject, text in upheld:
        for name, value in json.loads(text or "{}").items():
            column = _PERSON_COLUMNS.get(name)
            if column is None:
                skipped.append(f"#{number} {subject}: {name} (correct it in its registry)")
                continue
            con.execute(f"UPDATE persons SET {column} = ? WHERE person_id = ?", [value, subject])
            applied += 1
    return applied, skipped


def parse_corrections(pairs: list[str]) -> dict[str, Any]:
    """`attribute=value` pairs typed by the attribute (dates YYYY-MM-DD, true/false, integers)."""
    corrections: dict[str, Any] = {}
    for pair in pairs:
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
    return corrections


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
    facts, rejected = subject_facts(registries, policy, row.subject, day)
    before = evaluate(policy, row.subject, facts, day, rejected=rejected)
    corrected = dict(facts or {}, **corrections)
    if "birth_date" in corrections:
        from verifier.rules.evaluate import years_between

        corrected["age"] = years_between(corrections["birth_date"], day)
    after = evaluate(policy, row.subject, corrected if (facts or corrections) else None, day)
    status = "upheld" if after.entitled != before.entitled else "rejected"
    shown = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in corrections.items()}
    with engine.begin() as db:
        db.execute(objections.update().where(objections.c.id == objection_id).values(
            status=status, officer=officer, corrections=json.dumps(shown, ensure_ascii=False),
            explanation="\n".join(after.lines), resolved_at=_now(),
        ))  # fmt: skip
        _audit(db, officer, "facts corrected", row.subject, policy.id, json.dumps(shown, ensure_ascii=False))
        _audit(db, officer, f"objection {status}", row.subject, policy.id,
               f"#{objection_id}: entitled {before.entitled} -> {after.entitled}")  # fmt: skip
    return after
