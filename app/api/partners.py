"""Partner regions (cross-region mutual recognition): register, import their lists, export ours.

An imported list is verified against the partner's registered root and merged into the trust
list our gates load; a refused list leaves the one held in force and says why.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from app.api.deps import ERROR_RESPONSES, Admin, ApiError, ServicesDep
from keys.partners import (
    MAX_DOCUMENT_BYTES,
    PartnerError,
    TrustListError,
    export_own_trust_list,
    import_partner_trust_list,
    partner_summaries,
    register_partner,
)
from keys.ring import ALL_PRIVILEGES

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
FETCH_TIMEOUT_S = 5.0


class PartnerRequest(BaseModel):
    region: str = Field(pattern=r"^[1-9][0-9]{5}$", examples=["320000"])
    name: str = Field("", max_length=128, examples=["Jiangsu"])
    root_public_pem: str = Field(max_length=4096, description="The partner's trust-list root public key (PEM).")
    issuers: list[str] = Field(min_length=1, max_length=16, examples=[["CN-JS"]])
    privileges: list[str] = Field(default_factory=lambda: list(ALL_PRIVILEGES), max_length=len(ALL_PRIVILEGES))
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
        )  # fmt: skip
    except TrustListError as exc:
        raise ApiError(409 if "already registered" in str(exc) else 422, "invalid_partner", str(exc)) from None
    return partner.to_json()  # type: ignore[no-any-return]


async def _document(request: Request, url: str | None) -> bytes:
    if url is None:
        document = await request.body()
    else:
        if not url.startswith(("https://", "http://")):
            raise ApiError(422, "invalid_url", "the trust list URL must be http(s)")
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_S, follow_redirects=False) as client:
                answer = await client.get(url)
        except httpx.HTTPError as exc:
            raise ApiError(502, "partner_unreachable", f"cannot fetch {url}: {type(exc).__name__}") from None
        if answer.status_code != 200:
            raise ApiError(502, "partner_unreachable", f"{url} answered {answer.status_code}")
        document = answer.content
    if not document:
        raise ApiError(422, "empty_document", "send the partner's signed trust list as the body, or ?url=")
    if len(document) > MAX_DOCUMENT_BYTES:
        raise ApiError(413, "too_large", f"a trust list must be under {MAX_DOCUMENT_BYTES} bytes")
    return document


@router.post(
    "/admin/partners/{region}/trust-list", tags=["admin"],
    summary="Import a partner's signed trust list (body, or fetched from ?url=) and merge it for our gates",
    openapi_extra={"requestBody": {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}},
)  # fmt: skip
async def import_list(
    region: str, request: Request, _: Admin, svc: ServicesDep,
    url: Annotated[str | None, Query(max_length=2048)] = None,
) -> dict[str, Any]:  # fmt: skip
    document = await _document(request, url)
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
