"""Withdrawing codes by hand: an administrator's revocations, a citizen's lost phone, a phone's status.

Each route adds its entries through `app.revocations` (one change set, an audit row per entry
naming the cause and entry id, never the person) and hands the new version to this process's
verifier at once and to the others through the updates channel (`Services.revoked`).
"""

from __future__ import annotations

import base64
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from app.api.deps import ERROR_RESPONSES, Admin, ApiError, Citizen, ServicesDep, client_ip, limit
from app.db.schema import revocations as revocation_rows
from app.phones import key_sha256, phone_status, report_lost
from app.revocations import ADMIN, LONGEST_LIFE_S, PHONE_LOST, pending_requests, revoke_credential, revoke_subject

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
HEX_KID, HEX_CTI = r"^[0-9a-f]{16}$", r"^[0-9a-f]{32}$"


class RevokeCredential(BaseModel):
    kind: Literal["credential"]
    kid: str = Field(pattern=HEX_KID, description="The issuer key id, 8 bytes in lower-case hex.")
    cti: str = Field(pattern=HEX_CTI, description="The credential's cti, 16 bytes in lower-case hex.")
    until: int | None = Field(
        None, ge=0, lt=1 << 40,
        description="When the entry may be dropped (the credential's exp + 60 s); default: a card's longest life.",
    )  # fmt: skip


class RevokeSubject(BaseModel):
    kind: Literal["subject"]
    subject: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$", examples=["P00000001"])


RevokeRequest = Annotated[RevokeCredential | RevokeSubject, Field(discriminator="kind")]


@router.post("/admin/revocations", tags=["admin"], summary="Withdraw one credential, or every code of a subject")
def admin_revoke(body: Annotated[RevokeRequest, Body()], principal: Admin, svc: ServicesDep) -> dict[str, Any]:
    """`credential`: by kid and cti (a printed card's are on the card's record). `subject`: every phone
    code and online code issued before now (cards are withdrawn by their own id). Cause `admin`."""
    now = int(time.time())
    if isinstance(body, RevokeCredential):
        until = body.until if body.until is not None else now + LONGEST_LIFE_S
        version = revoke_credential(svc.engine, bytes.fromhex(body.kid), bytes.fromhex(body.cti), until, ADMIN, now,
                                    actor=principal.id)  # fmt: skip
    else:
        version = revoke_subject(svc.engine, svc.pepper, body.subject, ADMIN, now, actor=principal.id)
    svc.revoked(version)
    return {"version": version, "kind": body.kind}


@router.get("/admin/revocations", tags=["admin"], summary="The revocation list in force: version, entries by cause")
def admin_revocations(_: Admin, svc: ServicesDep) -> dict[str, Any]:
    held = svc.revocations.list
    r = revocation_rows
    with svc.engine.connect() as db:
        rows = db.execute(select(r.c.kind, r.c.cause, func.count()).group_by(r.c.kind, r.c.cause)).all()
    by_cause: dict[str, dict[str, int]] = {}
    for kind, cause, count in rows:
        by_cause.setdefault(cause, {})[kind] = int(count)
    return {
        "version": held.version, "issued_at": held.issued_at, "expires_at": held.expires_at,
        "credentials": len(held.credentials), "subjects": len(held.subjects), "by_cause": by_cause,
        "waiting_requests": pending_requests(svc.engine),
    }  # fmt: skip


@router.post("/me/phone/lost", tags=["citizen"], summary="Report the phone lost: its codes stop working everywhere")
def phone_lost(principal: Citizen, request: Request, svc: ServicesDep) -> dict[str, Any]:
    """Every active phone of the caller ends, and every phone code and online code issued to them before
    now is withdrawn (cause `phone_lost`): gates refuse them once their revocation list is refreshed."""
    limit(svc, "account", principal.id, svc.settings.codes_per_minute)
    limit(svc, "ip", client_ip(request), svc.settings.requests_per_minute_per_ip)
    now = int(time.time())
    ended = report_lost(svc.engine, principal.id, now)
    version = svc.revoked(revoke_subject(svc.engine, svc.pepper, principal.id, PHONE_LOST, now, actor="citizen"))
    return {"status": "reported", "phones_ended": ended, "revocation_list_version": version}


B64Coordinate = Annotated[str, Query(min_length=43, max_length=43, pattern=r"^[A-Za-z0-9_-]{43}$")]


@router.get("/me/phone", tags=["citizen"], summary="Whether this phone still holds the caller's code")
def my_phone(x: B64Coordinate, y: B64Coordinate, principal: Citizen, svc: ServicesDep) -> dict[str, str]:
    """`x`, `y`: the phone key's coordinates (base64url) as sent to `POST /v1/credentials`.

    `active`; `replaced` (the code was moved to another phone); `lost` (reported lost); `unknown`.
    """
    try:
        raw_x, raw_y = (base64.urlsafe_b64decode(v + "=") for v in (x, y))
    except ValueError:
        raise ApiError(422, "invalid_key", "x and y must be base64url") from None
    return {"status": phone_status(svc.engine, principal.id, key_sha256(raw_x, raw_y))}
