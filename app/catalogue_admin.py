"""Catalogue administration online: drafts saved and validated, then published as a signed snapshot.

A draft is one policy as its department wrote it (YAML). Publishing takes the policies of the
snapshot in force, replaces or adds the drafts, validates the whole, and signs a new version:
a catalogue with any problem is never published, and the snapshot in force stays.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, NamedTuple

from sqlalchemy import Engine, delete, func, insert, select

from app.catalogue import Catalogue, PublishError, json_ready, load_catalogue
from app.db.schema import drafts, snapshots
from app.policy_text import PolicyTextError, load_json, load_yaml
from keys.algorithms import PrivateKey
from verifier.catalogue import build_snapshot, missing_terms, parse_policy

MAX_DRAFT_BYTES = 64 * 1024


class DraftCheck(NamedTuple):
    policy_id: str | None
    source: dict[str, Any] | None
    errors: list[str]


def check_draft(text: str) -> DraftCheck:
    """Parse and validate one policy; every problem is a line a department officer can act on."""
    if len(text.encode()) > MAX_DRAFT_BYTES:
        return DraftCheck(None, None, [f"a policy must be under {MAX_DRAFT_BYTES // 1024} KiB"])
    try:
        data = _load(text)
    except PolicyTextError as exc:  # aliases, deep nesting, bad syntax: one located line, never a traceback
        return DraftCheck(None, None, [str(exc)])
    if not _valid_text(data):
        return DraftCheck(None, None, ["the policy holds text that is not valid Unicode (an unpaired surrogate)"])
    source = json_ready(data)
    policy, problems = parse_policy(source)
    problems += missing_terms(policy) if policy is not None else []  # pays, and a confirm policy's notice
    errors = [f"{p.path}: expected {p.expected}, found {p.found}" for p in problems]
    policy_id = policy.id if policy is not None else (source.get("id") if isinstance(source, dict) else None)
    return DraftCheck(policy_id if isinstance(policy_id, str) else None, source if not errors else None, errors)


def _load(text: str) -> Any:
    """JSON as JSON (YAML would read an escaped surrogate pair as two broken characters), anything else as YAML.

    Both through app/policy_text.py: no aliases, nesting bounded, PolicyTextError for every problem.
    """
    if text.lstrip().startswith("{"):
        try:
            return load_json(text)
        except PolicyTextError as exc:
            if not exc.problem.startswith("not valid JSON"):
                raise  # too deep: YAML would say the same
            # YAML flow style also starts with "{"; YAML says where the problem is
    return load_yaml(text)


def _valid_text(data: Any) -> bool:
    """True when every string (keys too) encodes as UTF-8: it will be stored, signed and shown in JSON answers."""
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(data, dict):
        return all(_valid_text(k) and _valid_text(v) for k, v in data.items())
    if isinstance(data, list):
        return all(_valid_text(v) for v in data)
    return True


def save_draft(engine: Engine, text: str, expected_id: str, by: str, now: dt.datetime) -> DraftCheck:
    check = check_draft(text)
    if check.policy_id is not None and check.policy_id != expected_id:
        mismatch = f"id: expected {expected_id} (the address), found {check.policy_id}"
        return check._replace(errors=[*check.errors, mismatch])
    if check.errors:
        return check
    with engine.begin() as db:
        db.execute(delete(drafts).where(drafts.c.policy_id == expected_id))
        db.execute(insert(drafts).values(policy_id=expected_id, source=text, saved_at=now, saved_by=by))
    return check


def list_drafts(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as db:
        rows = db.execute(select(drafts).order_by(drafts.c.policy_id)).all()
    return [{"policy_id": r.policy_id, "saved_at": r.saved_at.isoformat(), "saved_by": r.saved_by} for r in rows]


def latest_snapshot(engine: Engine) -> tuple[int, bytes] | None:
    with engine.connect() as db:
        row = db.execute(select(snapshots.c.version, snapshots.c.document).order_by(snapshots.c.version.desc())).first()
    return (row.version, bytes(row.document)) if row is not None else None


def latest_version(engine: Engine) -> int:
    with engine.connect() as db:
        return int(db.execute(select(func.coalesce(func.max(snapshots.c.version), 0))).scalar_one())


def publish(
    engine: Engine, base: Catalogue, root_key: PrivateKey, by: str, now: int, max_age: int
) -> tuple[int, bytes]:
    """Sign the snapshot in force plus the drafts as the next version; the drafts are then cleared."""
    held = latest_snapshot(engine)
    sources: dict[str, dict[str, Any]] = {}
    if held is not None:
        for source in json.loads(held[1])["payload"]["policies"]:
            sources[source["id"]] = source
    else:
        sources = {s["id"]: s for s in base.sources if s.get("status") == "published"}
    with engine.connect() as db:
        pending = db.execute(select(drafts)).all()
    errors: list[str] = []
    for row in pending:
        check = check_draft(row.source)
        if check.errors or check.source is None:
            errors.extend(f"{row.policy_id}: {e}" for e in check.errors)
            continue
        sources[row.policy_id] = check.source
    if errors:
        raise PublishError("; ".join(errors))
    version = (held[0] if held is not None else 0) + 1
    document = build_snapshot(
        list(sources.values()), root_key, version=version, issued_at=now, max_age=max_age, value_sets=base.value_sets
    )
    with engine.begin() as db:  # the primary key makes two racing publishers publish one version
        db.execute(
            insert(snapshots).values(
                version=version, document=document, published_at=dt.datetime.fromtimestamp(now, dt.UTC), published_by=by
            )
        )
        db.execute(delete(drafts).where(drafts.c.policy_id.in_([r.policy_id for r in pending])))
    return version, document


def base_catalogue(folder: Any) -> Catalogue:
    catalogue = load_catalogue(folder)
    if catalogue.problems:
        raise PublishError(f"the catalogue folder {folder} has problems: {catalogue.problems[:3]}")
    return catalogue
