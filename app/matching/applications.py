"""One-click confirmation (一键确认): applications written from registry data, sealed, then confirmed.

For a confirm-mode policy the engine writes the application the legal basis asks for, from the
facts the policy's rule reads, and its commitment notice (告知承诺书), and seals it with the lead
department's key (电子印章) so anyone can check later that it was not altered. The subject only
confirms; the confirmation is kept with its time and channel, and signed with the holder's device
key when a page holds one (app.matching.confirmations).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import duckdb
from sqlalchemy import Engine, select

from app.db.schema import applications
from app.matching.facts_rows import facts_from_row
from keys.algorithms import PrivateKey, PublicKey
from keys.errors import SuishenError
from keys.signed_json import SignedDocumentError, open_document, sign_document
from verifier.catalogue import Policy

FORMAT = "suishen-application/1"
CHANNELS = ("app", "web", "counter", "phone")


class ApplicationError(SuishenError, ValueError):
    pass


class Written(NamedTuple):
    policy_id: str
    entitled: int
    new: int


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def application_payload(policy: Policy, facts: dict[str, Any], subject: str, day: dt.date, run: int) -> dict[str, Any]:
    version = policy.version_on(day)
    assert version is not None
    read = sorted(a for a in policy.attributes_read() if a in facts)
    return {
        "format": FORMAT,
        "policy": {
            "id": policy.id,
            "version": version.version,
            "title": {"zh": policy.title_zh, "en": policy.title_en},
        },
        "lead_department": policy.lead_department,
        "legal_basis": policy.legal_basis,
        "subject": subject,
        "facts": {name: _json_value(facts[name]) for name in read},
        "benefit": version.benefit.words(),
        **({"commitment": policy.commitment.to_json()} if policy.commitment is not None else {}),
        "matching_run": run,
        "generated_on": day.isoformat(),
    }


def write_applications(
    con: duckdb.DuckDBPyConnection,
    engine: Engine,
    policies: Sequence[Policy],
    day: dt.date,
    run: int,
    seal_for: Any,  # department name -> seal private key
) -> list[Written]:
    """Sealed applications for every confirm-mode entitlement of the run (existing ones are kept)."""
    written = []
    for policy in policies:
        if policy.delivery != "confirm" or policy.status != "published" or policy.version_on(day) is None:
            continue
        key: PrivateKey = seal_for(policy.lead_department)
        view = "person_facts" if policy.subject == "person" else "enterprise_facts"
        cursor = con.execute(
            f"SELECT f.* FROM {view} AS f JOIN entitlements AS e USING (subject) WHERE e.policy_id = ?", [policy.id]
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        version = policy.version_on(day).version  # type: ignore[union-attr]
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        new = 0
        with engine.begin() as db:
            have = {s for (s,) in db.execute(
                select(applications.c.subject).where(
                    applications.c.policy_id == policy.id, applications.c.matching_run == run
                )
            )}  # fmt: skip
            values = []
            for row in rows:
                if row["subject"] in have:
                    continue
                document = sign_document(
                    application_payload(policy, facts_from_row(row, day), row["subject"], day, run), key
                )
                values.append({
                    "subject": row["subject"], "policy_id": policy.id, "policy_version": version,
                    "matching_run": run, "sha256": hashlib.sha256(document).hexdigest(),
                    "document": document.decode(), "created_at": now,
                })  # fmt: skip
            if values:
                db.execute(applications.insert(), values)
            new = len(values)
        written.append(Written(policy.id, len(rows), new))
    return written


def check_application(document: bytes, seal_public_key: PublicKey) -> dict[str, Any]:
    """The application's content if the seal holds; ApplicationError naming the problem otherwise."""
    try:
        payload = open_document(document, seal_public_key, "application")
    except SignedDocumentError as exc:
        raise ApplicationError(str(exc)) from None
    if payload.get("format") != FORMAT:
        raise ApplicationError(f"not a {FORMAT} document")
    return payload
