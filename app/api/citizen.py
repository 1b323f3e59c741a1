"""Citizen routes (the signing service): codes, holder-bound credentials, entitlements, objections."""

from __future__ import annotations

import base64
import time
from typing import Annotated, Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, Field

from app.api.auth import Principal
from app.api.confirming import ConfirmRequest, application_view, confirm_request, deadline_fields
from app.api.deps import ERROR_RESPONSES, ApiError, Citizen, PolicyId, RowId, ServicesDep, client_ip, limit
from app.api.services import NoActiveKey, Services
from app.credit_code import is_credit_code
from app.issuing import HOLDER_BOUND_LIFETIME_S, Issuer
from app.matching.objections import ObjectionError, file_objection
from app.matching.profile_store import profile_of
from app.phones import FRESH_SIGN_IN_REQUIRED, PhoneError, admit_phone, key_sha256, record_credential
from app.policy_words import policy_lines
from app.qr import qr_png, qr_svg
from verifier.claims import Profile
from verifier.code import TIME_STEP_S, online_code
from verifier.decide import profile_facts

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
POP_WINDOW_S = 60


class LoginRequest(BaseModel):
    subject: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$", examples=["P00000001"])


@router.post("/dev/login", tags=["citizen"], summary="Demo mode only: a citizen token for a registry subject")
def dev_login(body: LoginRequest, request: Request, svc: ServicesDep) -> dict[str, Any]:
    if not svc.settings.demo:
        raise ApiError(404, "not_found", "the dev login exists only in demo mode")
    limit(svc, "ip", client_ip(request), svc.settings.requests_per_minute_per_ip)
    if is_credit_code(body.subject):  # an enterprise signs in as one (app/api/enterprise.py), never as a citizen
        raise ApiError(422, "enterprise_subject",
                       "this is a unified social credit code: an enterprise signs in at /v1/dev/enterprise-login")
    token, expires = svc.tokens.issue(body.subject, time.time())
    return {"token": token, "expires_at": expires}


def _profile(svc: Services, subject: str, now: int) -> Profile:
    """The profile a code issued `now` carries: with the pseudonym of that local day."""
    profile = profile_of(svc.engine, subject, svc.pseudonym(subject, now))
    if profile is None:
        raise ApiError(
            404, "no_profile",
            "you are not in the latest matching results: privileges can still be applied for through the original "
            "channel (原渠道申请)",
        )  # fmt: skip
    return profile


def _signer(svc: Services) -> Issuer:
    try:
        return svc.signing_issuer()
    except NoActiveKey as exc:
        raise ApiError(503, "no_signing_key", str(exc), {"Retry-After": "60"}) from None


def _issuance_limits(svc: Services, subject: str, request: Request, device: str | None = None) -> None:
    per_minute = svc.settings.codes_per_minute
    limit(svc, "account", subject, per_minute)
    if device is not None:
        limit(svc, "device", device, per_minute)
    limit(svc, "ip", client_ip(request), svc.settings.requests_per_minute_per_ip)


CODE_EXAMPLE = {"text": "SP1:…", "kind": "online", "expires_at": 1795000060, "refresh_in": 45}


@router.post(
    "/codes", tags=["citizen"], summary="An online code for the caller (text; PNG or SVG by Accept)",
    responses={200: {"content": {"application/json": {"example": CODE_EXAMPLE}, "image/png": {}, "image/svg+xml": {}}}},
)  # fmt: skip
def codes(principal: Citizen, request: Request, svc: ServicesDep, accept: Annotated[str, Header()] = "") -> Any:
    _issuance_limits(svc, principal.id, request)
    now = int(time.time())
    profile = _profile(svc, principal.id, now)
    life = svc.settings.online_code_life_s
    text = online_code(_signer(svc).credential(profile, now, lifetime=life))
    svc.metrics.issued.labels("online").inc()
    if "image/png" in accept:
        return Response(qr_png(text), media_type="image/png", headers={"Cache-Control": "no-store"})
    if "image/svg+xml" in accept:
        return Response(qr_svg(text), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})
    return {"text": text, "kind": "online", "expires_at": now + life, "refresh_in": max(life - 15, 5)}


class DevicePublicKey(BaseModel):
    kty: Literal["EC"]
    crv: Literal["P-256"]
    x: str = Field(min_length=43, max_length=43, description="base64url, 32 bytes")
    y: str = Field(min_length=43, max_length=43, description="base64url, 32 bytes")


class PossessionProof(BaseModel):
    t: int = Field(description="Unix time the phone signed at")
    signature: str = Field(min_length=86, max_length=86, description="base64url raw r||s over suishen-pop:{t}:{x}:{y}")


class CredentialRequest(BaseModel):
    public_key: DevicePublicKey
    pop: PossessionProof


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise ApiError(422, "invalid_key", "x, y and signature must be base64url") from None


def device_key(body: CredentialRequest, now: float) -> ec.EllipticCurvePublicKey:
    """The phone's P-256 key, after it proved it holds the private half (a recent signature)."""
    x, y, sig = _unb64(body.public_key.x), _unb64(body.public_key.y), _unb64(body.pop.signature)
    if len(x) != 32 or len(y) != 32 or len(sig) != 64:
        raise ApiError(422, "invalid_key", "x and y must be 32 bytes and the signature 64 (raw r||s)")
    try:
        key = ec.EllipticCurvePublicNumbers(int.from_bytes(x), int.from_bytes(y), ec.SECP256R1()).public_key()
    except ValueError:
        raise ApiError(422, "invalid_key", "the public key is not a point on P-256") from None
    if abs(now - body.pop.t) > POP_WINDOW_S:
        raise ApiError(422, "stale_proof", f"the proof of possession must be signed within {POP_WINDOW_S} s of now")
    message = f"suishen-pop:{body.pop.t}:{body.public_key.x}:{body.public_key.y}".encode()
    der = encode_dss_signature(int.from_bytes(sig[:32]), int.from_bytes(sig[32:]))
    try:
        key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ApiError(422, "bad_proof", "the proof of possession does not verify with this public key") from None
    return key


@router.post("/credentials", tags=["citizen"], summary="A holder-bound credential for the caller's phone key (≤ 24 h)")
def credentials(body: CredentialRequest, principal: Citizen, request: Request, svc: ServicesDep) -> dict[str, Any]:
    _issuance_limits(svc, principal.id, request, device=body.public_key.x)
    now = int(time.time())
    key = device_key(body, now)
    profile = _profile(svc, principal.id, now)
    signer = _signer(svc)
    phone = admit(svc, principal, body.public_key, now)  # one phone per person: may replace (and withdraw) another
    credential = signer.credential(profile, now, device_key=key)
    record_credential(svc.engine, phone, credential, now)
    svc.metrics.issued.labels("holder_bound").inc()
    return {
        "credential": base64.urlsafe_b64encode(credential).rstrip(b"=").decode(),
        "expires_at": now + HOLDER_BOUND_LIFETIME_S,
        "time_step": TIME_STEP_S,
    }


def admit(svc: Services, principal: Principal, public_key: DevicePublicKey, now: int) -> int:
    """The phone's row (app.phones): 409 for a phone replaced or reported lost, 401 without a fresh sign-in."""
    key = key_sha256(_unb64(public_key.x), _unb64(public_key.y))
    try:
        admitted = admit_phone(svc.engine, principal.id, key, now, allowed=svc.settings.devices_per_subject,
                               signed_in_at=principal.signed_in_at, fresh_s=svc.settings.fresh_sign_in_s)  # fmt: skip
    except PhoneError as exc:
        raise ApiError(401 if exc.code == FRESH_SIGN_IN_REQUIRED else 409, exc.code, str(exc)) from None
    if admitted.version is not None:
        svc.revoked(admitted.version)
    return admitted.device


def _policy_words(svc: Services, policy_id: str) -> dict[str, Any]:
    for policy in svc.catalogued.snapshot.policies:
        if policy.id == policy_id:
            return {"title": {"zh": policy.title_zh, "en": policy.title_en}, "mode": policy.delivery,
                    "explanation": policy_lines(policy, "你", "you")}  # fmt: skip
    return {"title": {"zh": policy_id, "en": policy_id}, "mode": None, "explanation": []}


@router.get("/me/entitlements", tags=["citizen"], summary="The caller's groups and entitlements, explained")
def my_entitlements(principal: Citizen, svc: ServicesDep) -> dict[str, Any]:
    from app.matching.entitlement_store import entitlements_of

    profile = profile_of(svc.engine, principal.id, svc.pseudonym(principal.id, time.time()))
    groups = profile_facts(profile) if profile is not None else {}
    out = []
    for row in entitlements_of(svc.engine, principal.id):
        words = _policy_words(svc, row.policy_id)
        mode = words["mode"] or row.mode
        deadline = deadline_fields(svc, principal.id, row.policy_id) if row.confirmable else {}
        expired = deadline.get("expired", False)  # past confirm_within_days: apply through the original channel
        out.append({
            "id": row.policy_id, "policy_id": row.policy_id, "policy_version": row.policy_version, "mode": mode,
            "status": "expired" if expired else row.status, "title": words["title"],
            "explanation": words["explanation"],
            "confirmable": row.confirmable and not expired,  # a sealed application is waiting for the one click
            **({"confirm_by": deadline["confirm_by"]} if deadline else {}),
        })  # fmt: skip
    return {"subject_groups": {k: v for k, v in groups.items() if k != "subject"}, "entitlements": out}


@router.get("/me/entitlements/{policy_id}/application", tags=["citizen"],
            summary="The sealed application to confirm, its seal key, the commitment notice (告知承诺书)")  # fmt: skip
def my_application(policy_id: PolicyId, principal: Citizen, svc: ServicesDep) -> dict[str, Any]:
    return application_view(svc, principal.id, policy_id)


@router.post("/me/entitlements/{policy_id}/confirm", tags=["citizen"],
             summary="One-click confirmation (一键确认), signed with the phone's device key")  # fmt: skip
def confirm_entitlement(
    policy_id: PolicyId, principal: Citizen, svc: ServicesDep, body: ConfirmRequest | None = None
) -> dict[str, Any]:
    limit(svc, "account", principal.id, svc.settings.codes_per_minute)
    return confirm_request(svc, principal.id, policy_id, body)


class ObjectionRequest(BaseModel):
    policy_id: str = Field(min_length=3, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]+$")
    kind: Literal["wrong", "missing"]
    statement: str = Field(min_length=1, max_length=2000)


@router.post("/me/objections", tags=["citizen"], summary="Object to an entitlement, or to a missing one")
def object_to(body: ObjectionRequest, principal: Citizen, request: Request, svc: ServicesDep) -> dict[str, Any]:
    limit(svc, "account", principal.id, svc.settings.codes_per_minute)
    if not any(p.id == body.policy_id for p in svc.catalogued.snapshot.policies):
        raise ApiError(404, "unknown_policy", f"no published policy {body.policy_id!r}")
    try:
        objection_id = file_objection(svc.engine, principal.id, body.policy_id, body.kind, body.statement)
    except ObjectionError as exc:
        raise ApiError(422, "invalid_objection", str(exc)) from None
    return {"id": objection_id, "status": "open"}


@router.get("/me/notifications", tags=["citizen"],
            summary="Reminders: privileges newly found for the caller, and facts to renew before they end")  # fmt: skip
def my_notifications(principal: Citizen, svc: ServicesDep) -> dict[str, Any]:
    from app.matching.notifications import notifications_of, reminders_of

    out = []
    for n in notifications_of(svc.engine, principal.id):
        words = _policy_words(svc, n.policy_id)
        out.append({
            "id": n.id, "kind": "privilege", "policy_id": n.policy_id, "title": words["title"],
            "created_at": n.created_at.isoformat(), "read": bool(n.read),
        })  # fmt: skip
    for r in reminders_of(svc.engine, principal.id):  # their ids are "renewal-N": the read route below takes them
        out.append({
            "id": f"{RENEWAL_PREFIX}{r.id}", "kind": "renewal", "fact": r.fact, "ends_on": r.ends_on.isoformat(),
            "title": r.title(), "created_at": r.created_at.isoformat(), "read": bool(r.read),
        })  # fmt: skip
    out.sort(key=lambda item: item["created_at"], reverse=True)  # newest first, both kinds together
    return {"notifications": out}


RENEWAL_PREFIX = "renewal-"


@router.post("/me/notifications/renewal-{reminder_id}/read", tags=["citizen"], summary="Mark a renewal reminder read")
def read_reminder(reminder_id: RowId, principal: Citizen, svc: ServicesDep) -> dict[str, Any]:
    from app.matching.notifications import mark_reminder_read

    if not mark_reminder_read(svc.engine, principal.id, reminder_id):
        raise ApiError(404, "no_such_notification", f"you have no notification {RENEWAL_PREFIX}{reminder_id}")
    return {"id": f"{RENEWAL_PREFIX}{reminder_id}", "read": True}


@router.post("/me/notifications/{notification_id}/read", tags=["citizen"], summary="Mark one reminder read")
def read_notification(notification_id: RowId, principal: Citizen, svc: ServicesDep) -> dict[str, Any]:
    from app.matching.notifications import mark_read

    if not mark_read(svc.engine, principal.id, notification_id):
        raise ApiError(404, "no_such_notification", f"you have no notification #{notification_id}")
    return {"id": notification_id, "read": True}
