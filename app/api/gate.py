"""Gate and handheld routes: verify online, fetch the trust list and catalogue, upload events."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Response
from pydantic import BaseModel, Field

from app.api.deps import ERROR_RESPONSES, ApiError, Device, ServicesDep, limit
from app.events_store import store_events
from app.verifying import result_json

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
MAX_EVENTS = 1000


class VerifyRequest(BaseModel):
    code: str = Field(max_length=2048, examples=["SP1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDEMWK4MI6UOS03CR8"])
    venue: str = Field(max_length=64, examples=["sh-century-park"])


class GateEvent(BaseModel):
    id: str = Field(pattern=r"^[0-9a-f]{32}$", description="Made by the gate; the same id is stored once.")
    venue: str = Field(max_length=64)
    at: float = Field(ge=1_500_000_000, le=4_000_000_000, description="Unix time of the decision.")
    result: Literal["GRANTED", "REJECTED", "MANUAL_CHECK"]
    reason: str | None = Field(None, max_length=32)
    policy_id: str | None = Field(None, max_length=64)
    kind: str | None = Field(None, max_length=16)
    issuer: str | None = Field(None, max_length=64)
    degraded: bool = False
    repeat: bool = False


class EventBatch(BaseModel):
    events: list[GateEvent] = Field(max_length=MAX_EVENTS)


@router.get("/venues", tags=["gate"], summary="Venues a gate or handheld can be set to")
def venues(svc: ServicesDep) -> dict[str, Any]:
    return {
        "venues": [
            {"id": v.venue.id, "type": v.venue.type, "region": v.venue.region, "name": v.name}
            for v in svc.venues.values()
        ]
    }


@router.post("/verify", tags=["gate"], summary="Verify a code and decide the privilege at a venue")
async def verify(request: VerifyRequest, principal: Device, svc: ServicesDep) -> dict[str, Any]:
    """CPU-bound and short: run in the event loop, not the thread pool (see DESIGN.md)."""
    limit(svc, "device", principal.id, svc.settings.device_requests_per_minute)
    info = svc.venues.get(request.venue)
    if info is None:
        raise ApiError(404, "unknown_venue", f"no venue {request.venue!r}; see GET /v1/venues")
    svc.refresh()
    started = time.perf_counter()
    catalogued = svc.catalogued
    decider: Any = catalogued.decider  # result_json only calls decide() and the decision's to_json()
    result = result_json(svc.verifier, request.code.strip(), time.time(), decider, info.venue)
    svc.metrics.verify_seconds.observe(time.perf_counter() - started)
    decision = result.get("decision")
    outcome = decision["result"] if decision else result["result"]
    reason = (decision or {}).get("reason") or result["reason"] or ""
    svc.metrics.decisions.labels(outcome, reason).inc()
    result["catalogue_version"] = catalogued.version
    return result


def _conditional(document: bytes, etag: str, if_none_match: str | None, media: str) -> Response:
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match is not None and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(document, media_type=media, headers=headers)


IfNoneMatch = Annotated[str | None, Header()]


@router.get("/trust-list", tags=["distribution"], summary="The signed trust list gates load (ETag)")
def trust_list(svc: ServicesDep, if_none_match: IfNoneMatch = None) -> Response:
    svc.refresh()
    t = svc.trusted
    return _conditional(t.document, t.etag, if_none_match, "application/json")


@router.get("/catalogue/snapshot", tags=["distribution"], summary="The signed catalogue snapshot in force (ETag)")
def catalogue_snapshot(svc: ServicesDep, if_none_match: IfNoneMatch = None) -> Response:
    svc.refresh()
    c = svc.catalogued
    return _conditional(c.document, c.etag, if_none_match, "application/json")


@router.get("/revocations", tags=["distribution"], summary="Revoked issuer keys (ETag)")
def revocations(svc: ServicesDep, if_none_match: IfNoneMatch = None) -> Response:
    svc.refresh()
    t = svc.trusted
    return _conditional(t.revocations, t.revocations_etag, if_none_match, "application/json")


@router.post("/events", tags=["gate"], summary="Upload a batch of gate decisions (idempotent by event id)")
def events(principal: Device, svc: ServicesDep, batch: Annotated[EventBatch, Body()]) -> dict[str, int]:
    limit(svc, "device", principal.id, svc.settings.device_requests_per_minute)
    rows = [e.model_dump() for e in batch.events]
    unique = {r["id"]: r for r in rows}
    stored = store_events(svc.engine, principal.id, list(unique.values()), svc.now_utc())
    svc.metrics.events.labels("stored").inc(stored)
    svc.metrics.events.labels("duplicate").inc(len(rows) - stored)
    return {"stored": stored, "duplicates": len(rows) - stored}
