"""Partner regions (cross-region mutual recognition): register, import their lists, export ours.

An imported list is verified against the partner's registered root and merged into the trust
list our gates load; a refused list leaves the one held in force and says why. The server fetches
a list only from the URL registered for that partner (`app/api/partner_fetch.py` says how it guards
the fetch); it never fetches an address given with the import request.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from app.api.deps import ERROR_RESPONSES, Admin, ApiError, ServicesDep
from app.api.partner_fetch import FetchError, fetch_trust_list
from keys.partners import (
    MAX_DOCUMENT_BYTES,
    MAX_URL_CHARS,
    PartnerError,
    TrustListError,
    export_own_trust_list,
    import_partner_trust_list,
    load_partner,
    partner_summaries,
    register_partner,
)
from keys.ring import ALL_PRIVILEGES

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


class PartnerRequest(BaseModel):
    region: str = Field(pattern=r"^[1-9][0-9]{5}$", examples=["320000"])
    name: str = Field("", max_length=128, examples=["Jiangsu"])
    root_public_pem: str = Field(max_length=4096, description="The partner's trust-list root public key (PEM).")
    issuers: list[str] = Field(min_length=1, max_length=16, examples=[["CN-JS"]])
    privileges: list[str] = Field(default_factory=lambda: list(ALL_PRIVILEGES), max_length=len(ALL_PRIVILEGES))
    trust_list_url: str | None = Field(
        None, max_length=MAX_URL_CHARS, examples=["https://trust.example.js.gov.cn/trust-list.json"],
        description="Where the partner publishes its signed list: the only address `?fetch=true` reads.",
    )  # fmt: skip
    replace: bool = False


@router.get("/admin/partners", tags=["admin"], summary="Partner regions and the trust lists held from them")
def partners(_: Admin, svc: ServicesDep) -> dict[str, Any]:
    now = time.time()
    return {
        "partners": partner_summaries(svc.settings.keys_dir, now),
        "trust_list": {"version": svc.trusted.store.version, "expires_at": svc.trusted.store.expires_at},
    }


@router.post("/admin/partners", tags=["admin"], summary="Register a partner region's trust-list root")
def register(body: PartnerRequest, _: Admin, svc: ServicesDep) -> dict[str, Any]:
    unknown = sorted(set(body.privileges) - set(ALL_PRIVILEGES))
    if unknown:
        raise ApiError(422, "invalid_partner", f"unknown privileges {unknown}; choose from {list(ALL_PRIVILEGES)}")
    try:
        partner = register_partner(
            svc.settings.keys_dir, body.region, body.root_public_pem.encode(), issuers=body.issuers,
            now=int(time.time()), name=body.name, privileges=body.privileges, replace=body.replace,
            trust_list_url=body.trust_list_url,
        )  # fmt: skip
    except TrustListError as exc:
        raise ApiError(409 if "already registered" in str(exc) else 422, "invalid_partner", str(exc)) from None
    return partner.to_json()  # type: ignore[no-any-return]


async def _fetch(svc: ServicesDep, region: str) -> bytes:
    """The partner's list from its registered URL, under the fetch guards."""
    try:
        url = load_partner(svc.settings.keys_dir, region).trust_list_url
    except PartnerError as exc:
        raise ApiError(404 if "no partner registered" in str(exc) else 422, "partner_refused", str(exc)) from None
    if not url:
        raise ApiError(
            422, "no_trust_list_url",
            f"partner {region} has no trust_list_url: register it (POST /v1/admin/partners with replace) "
            "or send the signed list as the body",
        )  # fmt: skip
    try:
        return await fetch_trust_list(
            url,
            allow_hosts=svc.settings.partner_fetch_allow_hosts,
            deadline_s=svc.settings.partner_fetch_deadline_s,
            limit=MAX_DOCUMENT_BYTES,
        )
    except FetchError as exc:
        raise ApiError(exc.status, exc.code, str(exc)) from None


async def _document(request: Request, svc: ServicesDep, region: str, fetch: bool) -> bytes:
    if "url" in request.query_params:
        raise ApiError(
            422, "url_not_accepted",
            "the server fetches only the trust_list_url registered for the partner: use ?fetch=true",
        )  # fmt: skip
    document = await _fetch(svc, region) if fetch else await request.body()
    if not document:
        raise ApiError(422, "empty_document", "send the partner's signed trust list as the body, or use ?fetch=true")
    if len(document) > MAX_DOCUMENT_BYTES:
        raise ApiError(413, "too_large", f"a trust list must be under {MAX_DOCUMENT_BYTES} bytes")
    return document


@router.post(
    "/admin/partners/{region}/trust-list", tags=["admin"],
    summary="Import a partner's signed trust list (the body, or ?fetch=true from its registered URL) and merge it",
    openapi_extra={"requestBody": {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}},
)  # fmt: skip
async def import_list(
    region: str, request: Request, _: Admin, svc: ServicesDep,
    fetch: Annotated[bool, Query(description="Fetch the list from the partner's registered trust_list_url.")] = False,
) -> dict[str, Any]:  # fmt: skip
    document = await _document(request, svc, region, fetch)
    try:
        held = import_partner_trust_list(svc.settings.keys_dir, region, document, time.time())
    except PartnerError as exc:
        raise ApiError(404 if "no partner registered" in str(exc) else 422, "partner_refused", str(exc)) from None
    except TrustListError as exc:
        raise ApiError(422, "partner_refused", str(exc)) from None
    svc.reload_trust()
    svc.updates.publish(f"trust:{svc.trusted.store.version}")
    return {
        "region": region, "partner_version": held.version, "keys": len(held.keys),
        "trust_list_version": svc.trusted.store.version,
    }  # fmt: skip


@router.get("/trust-list/own", tags=["distribution"], summary="Our issuers alone, signed by our root, for partners")
def own_trust_list(svc: ServicesDep) -> Response:
    document = export_own_trust_list(
        svc.settings.keys_dir, int(time.time()), passphrase=svc.passphrase, max_age=svc.settings.trust_list_max_age_s
    )
    return Response(document, media_type="application/json", headers={"Cache-Control": "max-age=300"})
