"""One-click confirmation over HTTP (一键确认), for the citizen routes and any page that confirms the same way.

The routes stay in their own modules (app/api/citizen.py for people); these helpers do the work
from a subject and a policy id, so an enterprise route answers exactly as the citizen one does:

- `application_view`: what the page shows before the confirm button (the sealed application
  itself, the lead department's seal key to check it with in the page, the commitment notice,
  the deadline) and what it signs (the statement format: app/matching/confirmations.py);
- `confirm_request`: the confirmation, signed (a COSE_Sign1 statement and the device key it
  verifies with) or not, or the refusal as an ApiError with the refusal's code (409 for a state
  that forbids it, 422 for a malformed or badly signed statement, 403 for a key that is not the
  caller's phone, 404 when there is nothing to confirm).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import time
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select

from app.api.deps import ApiError
from app.api.services import Services
from app.db.schema import applications, confirmation_statements, confirmations
from app.matching.confirmations import (
    CONTENT_TYPE,
    EXPIRED_WORDS,
    HTTP_STATUS,
    STATEMENT_FORMAT,
    STATEMENT_WINDOW_S,
    VERSION_ENDED,
    ConfirmationError,
    confirm_application,
    confirm_by,
)
from keys import directory
from keys.algorithms import kid_of, spki_der
from keys.signed_json import b64url
from verifier.catalogue import Policy
from verifier.rules.attributes import ATTRIBUTES


class DeviceKey(BaseModel):
    kty: Literal["EC"]
    crv: Literal["P-256"]
    x: str = Field(min_length=43, max_length=43, description="base64url, 32 bytes")
    y: str = Field(min_length=43, max_length=43, description="base64url, 32 bytes")


class ConfirmRequest(BaseModel):
    channel: Literal["web", "app"] = "web"
    notice_version: int | None = Field(default=None, ge=1, description="the commitment notice shown (unsigned)")
    statement: str | None = Field(
        default=None, min_length=16, max_length=1400,
        description="base64url COSE_Sign1 confirmation statement signed with the device key (docs/api.md)",
    )  # fmt: skip
    public_key: DeviceKey | None = Field(default=None, description="the registered device key that signed it")


def published_policy(svc: Services, policy_id: str) -> Policy | None:
    return next((p for p in svc.catalogued.snapshot.policies if p.id == policy_id), None)


def _unb64url(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "bad_statement", f"{what} must be base64url") from None


def application_view(svc: Services, subject: str, policy_id: str) -> dict[str, Any]:
    """The subject's latest application under the policy, with what checks it and what confirming promises."""
    a = applications
    with svc.engine.connect() as db:
        row = db.execute(
            select(a.c.sha256, a.c.policy_version, a.c.document, a.c.created_at)
            .where(a.c.subject == subject, a.c.policy_id == policy_id)
            .order_by(a.c.matching_run.desc())
            .limit(1)
        ).first()
        if row is None:
            raise ApiError(404, "nothing_to_confirm", f"you have no application under {policy_id} to confirm")
        done = db.execute(
            select(confirmations.c.confirmed_at, confirmations.c.channel, confirmation_statements.c.signed)
            .outerjoin(confirmation_statements,
                       confirmation_statements.c.application_sha256 == confirmations.c.application_sha256)
            .join(a, a.c.sha256 == confirmations.c.application_sha256)
            .where(a.c.subject == subject, a.c.policy_id == policy_id, a.c.policy_version == row.policy_version)
        ).first()  # fmt: skip
    policy = published_policy(svc, policy_id)
    department = policy.lead_department if policy is not None else ""
    try:
        seal = directory.seal_public_key(svc.settings.keys_dir, department)
        seal_json: dict[str, Any] | None = {
            "department": department, "alg": "ES256", "kid": kid_of(seal).hex(), "public_key": b64url(spki_der(seal)),
        }  # fmt: skip
    except (OSError, ValueError):
        seal_json = None  # the page then says the seal cannot be checked, and does not offer the button
    by = confirm_by(svc.engine, subject, policy) if policy is not None else None
    expired = by is not None and done is None and dt.datetime.now(dt.UTC).replace(tzinfo=None) > by
    read = {name: {"en": ATTRIBUTES[name].words, "zh": getattr(ATTRIBUTES[name], "words_zh", None)}
            for name in (policy.attributes_read() if policy is not None else ()) if name in ATTRIBUTES}  # fmt: skip
    return {
        "policy_id": policy_id,
        "policy_version": row.policy_version,
        "application_sha256": row.sha256,
        "document": row.document,
        "seal": seal_json,
        "commitment": policy.commitment.to_json() if policy is not None and policy.commitment is not None else None,
        "confirm_by": by.replace(tzinfo=dt.UTC).isoformat(timespec="seconds") if by is not None else None,
        "expired": expired,
        "expired_words": EXPIRED_WORDS if expired else None,
        "confirmed": None if done is None else {
            "at": done.confirmed_at.replace(tzinfo=dt.UTC).isoformat(timespec="seconds"), "channel": done.channel,
            "signed": bool(done.signed),
        },
        "labels": read,
        "statement": {"format": STATEMENT_FORMAT, "content_type": CONTENT_TYPE, "external_aad": STATEMENT_FORMAT,
                      "window_s": STATEMENT_WINDOW_S},
    }  # fmt: skip


def confirm_request(svc: Services, subject: str, policy_id: str, body: ConfirmRequest | None) -> dict[str, Any]:
    """Confirm, signed or not, or raise the refusal as an ApiError (nothing stored then)."""
    body = body or ConfirmRequest()
    policy = published_policy(svc, policy_id)
    statement = device = None
    if body.statement is not None or body.public_key is not None:
        if body.statement is None or body.public_key is None:
            raise ApiError(422, "bad_statement", "a signed confirmation gives both the statement and the public key")
        statement = _unb64url(body.statement, "the statement")
        device = (_unb64url(body.public_key.x, "x"), _unb64url(body.public_key.y, "y"))
    try:
        if policy is None:
            raise ConfirmationError(VERSION_ENDED, f"{policy_id} is no longer published: apply through the original "
                                    "channel")  # fmt: skip
        done = confirm_application(
            svc.engine, subject, policy_id, body.channel, policy=policy, now=time.time(), statement=statement,
            device_xy=device, notice_version=body.notice_version,
        )  # fmt: skip
    except ConfirmationError as exc:
        raise ApiError(HTTP_STATUS.get(exc.code, 409), exc.code, str(exc)) from None
    return {
        "status": "confirmed",
        "confirmed_at": int(done.confirmed_at.replace(tzinfo=dt.UTC).timestamp()),
        "application_sha256": done.application_sha256,
        "channel": done.channel,
        "signed": done.signed,
        "notice_version": done.notice_version,
    }


def deadline_fields(svc: Services, subject: str, policy_id: str) -> dict[str, Any]:
    """For an entitlement waiting for its confirmation: its deadline, and whether it has passed."""
    policy = published_policy(svc, policy_id)
    by = confirm_by(svc.engine, subject, policy) if policy is not None else None
    if by is None:
        return {}
    expired = dt.datetime.now(dt.UTC).replace(tzinfo=None) > by
    return {"confirm_by": by.replace(tzinfo=dt.UTC).isoformat(timespec="seconds"), "expired": expired}
