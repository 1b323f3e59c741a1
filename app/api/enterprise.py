"""Enterprise routes (企业专属网页): sign-in, entitlements explained, confirmations, objections, reminders,
payouts and the enterprise's Suishen code (法人随申码).

The set mirrors the citizen's `/v1/me/...` under `/v1/enterprise/...`, and only an enterprise's token
(role `enterprise`, whose subject is a unified social credit code) may call it; a citizen's token is
refused here with 403 `citizen_account`, and an enterprise's on every citizen route with 403
`enterprise_account` (app.api.deps). As for citizens, no route takes the subject from the request:
it is the token's.

An enterprise code is an online code (60 s, no device key): the staff show it from the page at a
service hall or an enterprise event, and it carries the enterprise's day pseudonym and, of its
profile, only what a published scan-mode policy for enterprises reads (守信: credit_good).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.api.auth import ENTERPRISE
from app.api.citizen import CredentialRequest, admit, device_key
from app.api.deps import ERROR_RESPONSES, ApiError, Enterprise, PolicyId, RowId, ServicesDep, client_ip, limit
from app.api.services import NoActiveKey, Services
from app.credit_code import credit_code_problem
from app.db.schema import payouts
from app.matching.enterprise_profiles import enterprise_profile_of
from app.matching.objections import ObjectionError, file_objection
from app.policy_words import benefit_words, policy_lines
from app.qr import qr_png, qr_svg
from verifier.catalogue import Policy
from verifier.code import online_code
from verifier.decide import LOCAL_TIME

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


class EnterpriseLoginRequest(BaseModel):
    credit_code: str = Field(
        min_length=1, max_length=64, pattern=r"^[0-9A-Za-z]+$", examples=["91310000000000001Y"],
        description="统一社会信用代码: 18 characters, the last a GB 32100-2015 check character",
    )  # fmt: skip


@router.post("/dev/enterprise-login", tags=["enterprise"],
             summary="Demo mode only: an enterprise token for a unified social credit code")  # fmt: skip
def dev_enterprise_login(body: EnterpriseLoginRequest, request: Request, svc: ServicesDep) -> dict[str, Any]:
    if not svc.settings.demo:
        raise ApiError(404, "not_found", "the dev login exists only in demo mode")
    limit(svc, "ip", client_ip(request), svc.settings.requests_per_minute_per_ip)
    code = body.credit_code.upper()  # typed in lower case on a phone: the same code
    problem = credit_code_problem(code)
    if problem is not None:
        raise ApiError(422, "invalid_credit_code", problem)
    token, expires = svc.tokens.issue(code, time.time(), role=ENTERPRISE)
    return {"token": token, "expires_at": expires, "credit_code": code}


def _enterprise_policies(svc: Services) -> list[Policy]:
    return [p for p in svc.catalogued.snapshot.policies if p.subject == "enterprise"]


def _policy(svc: Services, policy_id: str) -> Policy | None:
    return next((p for p in _enterprise_policies(svc) if p.id == policy_id), None)


def _words(policy: Policy | None, policy_id: str) -> dict[str, Any]:
    if policy is None:
        return {"title": {"zh": policy_id, "en": policy_id}, "mode": None, "explanation": []}
    return {
        "title": {"zh": policy.title_zh, "en": policy.title_en},
        "mode": policy.delivery,
        "benefit": benefit_words(policy.version_on(dt.datetime.now(LOCAL_TIME).date())).to_json(),
        "explanation": policy_lines(policy, "贵企业", "your enterprise"),
    }


def _clauses(svc: Services, credit_code: str, policies: list[Policy]) -> dict[str, list[dict[str, str]]]:
    """Clause by clause, why the enterprise is (or is not) entitled: the registries the latest run read.

    Empty when those registries cannot be read here (the server may not hold them): the page then
    shows the policy's words alone.
    """
    from app.matching.explanations import explain_policies
    from keys.errors import SuishenError

    if not policies:
        return {}
    try:
        found = explain_policies(svc.settings.registries_dir, policies, credit_code, dt.datetime.now(LOCAL_TIME).date(),
                                 engine=svc.engine)  # fmt: skip
    except (SuishenError, OSError):
        return {}
    return {policy_id: evaluation.to_json() for policy_id, evaluation in found.items()}


@router.get("/enterprise/entitlements", tags=["enterprise"],
            summary="The enterprise's entitlements, explained clause by clause, and its 守信 standing")  # fmt: skip
def enterprise_entitlements(principal: Enterprise, svc: ServicesDep) -> dict[str, Any]:
    from app.matching.entitlement_store import entitlements_of

    rows = entitlements_of(svc.engine, principal.id)
    by_id = {p.id: p for p in _enterprise_policies(svc)}
    clauses = _clauses(svc, principal.id, [by_id[r.policy_id] for r in rows if r.policy_id in by_id])
    out = []
    for row in rows:
        policy = by_id.get(row.policy_id)
        words = _words(policy, row.policy_id)
        out.append({
            "id": row.policy_id, "policy_id": row.policy_id, "policy_version": row.policy_version,
            "mode": words["mode"] or row.mode, "status": row.status, "title": words["title"],
            "benefit": words.get("benefit", {"zh": "", "en": ""}), "explanation": words["explanation"],
            "clauses": clauses.get(row.policy_id, []),
            "confirmable": row.confirmable,  # a sealed application is waiting for the enterprise's one click
        })  # fmt: skip
    profile = enterprise_profile_of(svc.engine, principal.id, b"")
    standing = None if profile is None else {"credit_good": profile.credit_good, "region": profile.enterprise_region}
    return {"credit_code": principal.id, "standing": standing, "entitlements": out}


@router.get("/enterprise/entitlements/{policy_id}/application", tags=["enterprise"],
            summary="The sealed application to confirm, its seal key, the commitment notice (告知承诺书)")  # fmt: skip
def enterprise_application(policy_id: PolicyId, principal: Enterprise, svc: ServicesDep) -> dict[str, Any]:
    from app.api.confirming import application_view

    return application_view(svc, principal.id, policy_id)


class EnterpriseConfirmRequest(BaseModel):
    channel: Literal["web", "app"] = "web"
    notice_version: int | None = Field(default=None, ge=1, description="the commitment notice shown (unsigned)")
    statement: str | None = Field(default=None, min_length=16, max_length=1400,
                                  description="base64url COSE_Sign1 confirmation statement (docs/api.md)")  # fmt: skip
    public_key: dict[str, str] | None = Field(default=None, description="the device key that signed it (JWK)")


@router.post("/enterprise/entitlements/{policy_id}/confirm", tags=["enterprise"],
             summary="One-click confirmation (一键确认) for the enterprise, with the commitment notice")  # fmt: skip
def enterprise_confirm(
    policy_id: PolicyId, principal: Enterprise, svc: ServicesDep, body: EnterpriseConfirmRequest | None = None
) -> dict[str, Any]:
    from app.api.confirming import ConfirmRequest, confirm_request

    limit(svc, "account", principal.id, svc.settings.codes_per_minute)
    if _policy(svc, policy_id) is None:
        raise ApiError(404, "nothing_to_confirm", f"no published enterprise policy {policy_id!r}")
    request = ConfirmRequest.model_validate(body.model_dump()) if body is not None else None
    return confirm_request(svc, principal.id, policy_id, request)


class EnterpriseObjectionRequest(BaseModel):
    policy_id: str = Field(min_length=3, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]+$")
    kind: Literal["wrong", "missing"]
    statement: str = Field(min_length=1, max_length=2000)


@router.post("/enterprise/objections", tags=["enterprise"],
             summary="Object to an enterprise entitlement, or to a missing one")  # fmt: skip
def enterprise_object(body: EnterpriseObjectionRequest, principal: Enterprise, svc: ServicesDep) -> dict[str, Any]:
    limit(svc, "account", principal.id, svc.settings.codes_per_minute)
    if _policy(svc, body.policy_id) is None:
        raise ApiError(404, "unknown_policy", f"no published enterprise policy {body.policy_id!r}")
    try:
        objection_id = file_objection(svc.engine, principal.id, body.policy_id, body.kind, body.statement)
    except ObjectionError as exc:
        raise ApiError(422, "invalid_objection", str(exc)) from None
    return {"id": objection_id, "status": "open"}


@router.get("/enterprise/notifications", tags=["enterprise"],
            summary="Reminders: privileges newly found for the enterprise")  # fmt: skip
def enterprise_notifications(principal: Enterprise, svc: ServicesDep) -> dict[str, Any]:
    from app.matching.notifications import notifications_of

    by_id = {p.id: p for p in _enterprise_policies(svc)}
    out = [
        {"id": n.id, "kind": "privilege", "policy_id": n.policy_id,
         "title": _words(by_id.get(n.policy_id), n.policy_id)["title"], "created_at": n.created_at.isoformat(),
         "read": bool(n.read)}
        for n in notifications_of(svc.engine, principal.id)
    ]  # fmt: skip
    return {"notifications": out}


@router.post("/enterprise/notifications/{notification_id}/read", tags=["enterprise"], summary="Mark one reminder read")
def enterprise_read(notification_id: RowId, principal: Enterprise, svc: ServicesDep) -> dict[str, Any]:
    from app.matching.notifications import mark_read

    if not mark_read(svc.engine, principal.id, notification_id):
        raise ApiError(404, "no_such_notification", f"your enterprise has no notification #{notification_id}")
    return {"id": notification_id, "read": True}


@router.get("/enterprise/payouts", tags=["enterprise"],
            summary="Payout history: every payment made to the enterprise, newest period first")  # fmt: skip
def enterprise_payouts(principal: Enterprise, svc: ServicesDep) -> dict[str, Any]:
    p = payouts
    query = (
        select(p.c.policy_id, p.c.policy_version, p.c.period, p.c.amount_yuan, p.c.created_at)
        .where(p.c.subject == principal.id)
        .order_by(p.c.period.desc(), p.c.policy_id)
        .limit(500)
    )
    with svc.engine.connect() as db:
        rows = db.execute(query).all()
    by_id = {q.id: q for q in _enterprise_policies(svc)}
    out = [
        {"policy_id": r.policy_id, "policy_version": r.policy_version, "period": r.period,
         "amount_yuan": r.amount_yuan, "paid_at": r.created_at.replace(tzinfo=dt.UTC).isoformat(timespec="seconds"),
         "title": _words(by_id.get(r.policy_id), r.policy_id)["title"]}
        for r in rows
    ]  # fmt: skip
    return {"payouts": out, "total_yuan": sum(r["amount_yuan"] for r in out)}


@router.post("/enterprise/device", tags=["enterprise"],
             summary="Register the page's device key (P-256) that signs the enterprise's confirmations")  # fmt: skip
def enterprise_device(
    body: CredentialRequest, principal: Enterprise, request: Request, svc: ServicesDep
) -> dict[str, Any]:
    """As a phone registers for a person (one per subject: a new one replaces the last, after a fresh sign-in)."""
    limit(svc, "account", principal.id, svc.settings.codes_per_minute)
    limit(svc, "ip", client_ip(request), svc.settings.requests_per_minute_per_ip)
    now = int(time.time())
    device_key(body, now)  # the page proves it holds the private half
    admit(svc, principal, body.public_key, now)
    return {"registered": True, "at": now}


ENTERPRISE_CODE_EXAMPLE = {"text": "SP1:…", "kind": "online", "subject_kind": "enterprise", "expires_at": 1795000060,
                           "refresh_in": 45, "carries": ["credit_good"]}  # fmt: skip


@router.post(
    "/enterprise/codes", tags=["enterprise"],
    summary="The enterprise's Suishen code (法人随申码): an online code (text; PNG or SVG by Accept)",
    responses={200: {"content": {"application/json": {"example": ENTERPRISE_CODE_EXAMPLE}, "image/png": {},
                                 "image/svg+xml": {}}}},
)  # fmt: skip
def enterprise_code(
    principal: Enterprise, request: Request, svc: ServicesDep, accept: Annotated[str, Header()] = ""
) -> Any:
    per_minute = svc.settings.codes_per_minute
    limit(svc, "account", principal.id, per_minute)
    limit(svc, "ip", client_ip(request), svc.settings.requests_per_minute_per_ip)
    now = int(time.time())
    profile = enterprise_profile_of(svc.engine, principal.id, svc.pseudonym(principal.id, now))
    if profile is None:
        raise ApiError(
            404, "no_profile",
            "your enterprise is not in the latest matching results: privileges can still be applied for through the "
            "original channel (原渠道申请)",
        )  # fmt: skip
    try:
        issuer = svc.signing_issuer()
    except NoActiveKey as exc:
        raise ApiError(503, "no_signing_key", str(exc), {"Retry-After": "60"}) from None
    life = svc.settings.online_code_life_s
    credential = issuer.credential(profile, now, lifetime=life)
    text = online_code(credential)
    svc.metrics.issued.labels("enterprise").inc()
    if "image/png" in accept:
        return Response(qr_png(text), media_type="image/png", headers={"Cache-Control": "no-store"})
    if "image/svg+xml" in accept:
        return Response(qr_svg(text), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})
    carried = issuer.carry if issuer.carry is not None else frozenset()
    carries = sorted(a.removeprefix("enterprise.") for a in carried if a.startswith("enterprise."))
    return {"text": text, "kind": "online", "subject_kind": "enterprise", "expires_at": now + life,
            "refresh_in": max(life - 15, 5), "carries": carries}  # fmt: skip
