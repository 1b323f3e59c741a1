"""Gate and handheld routes: verify online, fetch the trust list and catalogue, upload events."""

from __future__ import annotations

import contextlib
import time
from typing import Annotated, Any, Literal, NamedTuple

from fastapi import APIRouter, Body, Header, Query, Response
from pydantic import BaseModel, Field, ValidationError

from app.api.auth import ADMIN, Principal
from app.api.deps import DEVICE_CALLERS, ERROR_RESPONSES, ApiError, Device, ServicesDep, limit
from app.api.guard import PRINCIPAL_SCOPE_KEY
from app.api.services import JSON_TEXT, Services
from app.events_store import store_events
from app.verifying import result_json
from keys.algorithms import ALG_NAMES, alg_of, kid_of, spki_der
from keys.signed_json import b64url

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
MAX_EVENTS = 1000
VERIFY_PATH = "/v1/verify"


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
    return {"venues": [{**v.venue._asdict(), "name": v.name} for v in svc.venues.values()]}


@router.post("/verify", tags=["gate"], summary="Verify a code and decide the privilege at a venue")
async def verify(request: VerifyRequest, principal: Device, svc: ServicesDep) -> dict[str, Any]:
    """CPU-bound and short: run in the event loop, not the thread pool (see DESIGN.md).

    Well-formed requests from a device normally arrive through `VerifyFastPath`, which does the same work.
    """
    return verify_at_venue(svc, principal, request)


def verify_at_venue(svc: Services, principal: Principal, request: VerifyRequest) -> dict[str, Any]:
    """The verify itself, shared by the route and its fast path: limit, venue, verify, decide, count."""
    limit(svc, "device", principal.id, svc.settings.device_requests_per_minute, leased=True)
    info = svc.venues.get(request.venue)
    if info is None:
        raise ApiError(404, "unknown_venue", f"no venue {request.venue!r}; see GET /v1/venues")
    check_venue(principal, request.venue)
    svc.refresh()
    started = time.perf_counter()
    catalogued = svc.catalogued
    link = svc.link
    away = link is not None and link.degraded  # the circuit open before the replay check, or opened by it
    result = result_json(svc.verifier, request.code.strip(), time.time(), catalogued.decider, info.venue)
    away = away or (link is not None and link.degraded)
    svc.metrics.verify_seconds.observe(time.perf_counter() - started)
    # Decided from this process's memory alone: another process may have accepted the same code meanwhile.
    result["degraded"] = away and (result["result"] == "VALID" or result["reason"] == "REPLAYED")
    decision = result.get("decision")
    outcome = decision["result"] if decision else result["result"]
    reason = (decision or {}).get("reason") or result["reason"] or ""
    svc.decision_counter(outcome, reason).inc()
    result["catalogue_version"] = catalogued.version
    return result


def check_venue(principal: Principal, venue: str) -> None:
    """A device registered for a venue decides and reports for that venue only (admins for any)."""
    if principal.venue is not None and principal.role != ADMIN and venue != principal.venue:
        raise ApiError(403, "wrong_venue", f"this device is registered for venue {principal.venue!r}, not {venue!r}")


class _Route(NamedTuple):
    path: str


class VerifyFastPath:
    """POST /v1/verify without FastAPI's routing, dependency solving and response serialising (ASGI middleware).

    A gate's verify is the busiest request and its own work is small (one signature check, a
    remembered decision), so the framework's per-request machinery was most of its cost. Only a
    request that is certain to succeed at the door takes this path: a device key whose role may
    verify, a JSON body that is a valid `VerifyRequest`. Anything else (no, bad or expired
    credentials, a citizen token, another content type, an invalid or large body) goes on, body
    and all, to the FastAPI route, which answers it exactly as documented. The work and its
    errors (404 unknown venue, 429 over the limit) are `verify_at_venue`'s in both paths.
    """

    MAX_BODY = 4096
    ROUTE = _Route(VERIFY_PATH)

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != VERIFY_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        svc: Services | None = scope["app"].state.services
        principal = scope.get(PRINCIPAL_SCOPE_KEY)
        if principal is None or principal.role not in DEVICE_CALLERS or not _is_json(scope["headers"]):
            principal = None
        if principal is None:
            await self.app(scope, receive, send)
            return
        body, complete = b"", False
        while not complete and len(body) <= self.MAX_BODY:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            complete = not message.get("more_body", False)
        parsed = None
        if complete and len(body) <= self.MAX_BODY:
            with contextlib.suppress(ValidationError):
                parsed = VerifyRequest.model_validate_json(body)
        if parsed is None or svc is None:
            await self.app(scope, _replaying(body, complete, receive), send)
            return
        headers: dict[str, str] = {}
        try:
            status, answer = 200, verify_at_venue(svc, principal, parsed)
        except ApiError as exc:
            status, answer, headers = exc.status, {"error": exc.error, "detail": exc.detail}, exc.headers or {}
        scope["route"] = self.ROUTE  # for the request metrics and log, as the router would set it
        content = _encode(svc, answer)
        raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
        raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": content})


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/json"
    return False


def _encode(svc: Services, answer: dict[str, Any]) -> bytes:
    """JSON text of an answer; a remembered decision's text is reused, not written again."""
    decision = answer.get("decision")
    encoded = svc.catalogued.decider.encoded(decision) if decision is not None else None
    if encoded is None:
        return JSON_TEXT.encode(answer).encode()
    rest = JSON_TEXT.encode({k: v for k, v in answer.items() if k != "decision"}).encode()
    return rest[:-1] + b',"decision":' + encoded + b"}"


def _replaying(body: bytes, complete: bool, receive: Any) -> Any:
    """A `receive` that hands the body already read to the next app first, then reads on."""
    pending = [{"type": "http.request", "body": body, "more_body": not complete}]

    async def replay() -> dict[str, Any]:
        return pending.pop() if pending else await receive()  # type: ignore[no-any-return]

    return replay


def _conditional(document: bytes, etag: str, if_none_match: str | None, media: str) -> Response:
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match is not None and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(document, media_type=media, headers=headers)


IfNoneMatch = Annotated[str | None, Header()]
Since = Annotated[
    int | None, Query(ge=0, le=2**31 - 1, description="The version the caller holds: answer only what came after.")
]


@router.get("/trust-list", tags=["distribution"], summary="The signed trust list gates load (ETag)")
def trust_list(svc: ServicesDep, if_none_match: IfNoneMatch = None) -> Response:
    svc.refresh()
    t = svc.trusted
    return _conditional(t.document, t.etag, if_none_match, "application/json")


@router.get("/trust-root", tags=["distribution"], summary="The trust-list root public key that signs every document")
def trust_root(svc: ServicesDep) -> dict[str, str]:
    """A handheld pins this at set-up and checks every later document against it (staff compare the kid)."""
    root = svc.root_public
    return {"alg": ALG_NAMES[alg_of(root)], "kid": kid_of(root).hex(), "public_key": b64url(spki_der(root))}


@router.get("/catalogue/snapshot", tags=["distribution"], summary="The signed catalogue snapshot in force (ETag)")
def catalogue_snapshot(svc: ServicesDep, if_none_match: IfNoneMatch = None) -> Response:
    svc.refresh()
    c = svc.catalogued
    return _conditional(c.document, c.etag, if_none_match, "application/json")


@router.get(
    "/revocations", tags=["distribution"],
    summary="The signed revocation list (ETag); with ?since=V the entries added after version V",
)  # fmt: skip
def revocations(svc: ServicesDep, if_none_match: IfNoneMatch = None, since: Since = None) -> Response:
    """Withdrawn credentials and subjects (revoked issuer keys are in the trust list, with status `revoked`).

    `since=V`: 304 when V is the version in force, a signed delta (`since: V`) from V to it, or
    the whole list (`since: null`) when V is unknown or older than every entry still held. Every
    answer's ETag names the list's version and issue time, the same in every server process.
    """
    held = svc.revocations
    now = time.time()
    if now > held.list.expires_at - svc.settings.revocation_list_max_age_s / 2:
        svc.catch_up_revocations()  # the background refresh is late (the database was away): try now
    if since is not None:
        if since == held.list.version:
            return Response(status_code=304, headers={"ETag": held.etag, "Cache-Control": "no-cache"})
        delta = held.delta(since, now)
        if delta is not None:
            return _conditional(delta.document, delta.etag, if_none_match, "application/json")
    full = held.full(now)
    return _conditional(full.document, full.etag, if_none_match, "application/json")



@router.post("/events", tags=["gate"], summary="Upload a batch of gate decisions (idempotent by event id)")
def events(principal: Device, svc: ServicesDep, batch: Annotated[EventBatch, Body()]) -> dict[str, int]:
    limit(svc, "device", principal.id, svc.settings.device_requests_per_minute, leased=True)
    known_policies = {p.id for p in svc.catalogued.snapshot.policies}
    for event in batch.events:
        if event.venue not in svc.venues:
            raise ApiError(422, "unknown_venue", f"event {event.id}: no venue {event.venue!r}; see GET /v1/venues")
        check_venue(principal, event.venue)
        if event.policy_id is not None and event.policy_id not in known_policies:
            raise ApiError(422, "unknown_policy", f"event {event.id}: no published policy {event.policy_id!r}")
    rows = [e.model_dump() for e in batch.events]
    unique = {r["id"]: r for r in rows}
    stored = store_events(svc.engine, principal.id, list(unique.values()), svc.now_utc())
    svc.metrics.events.labels("stored").inc(stored)
    arrived = time.time()
    for row in unique.values():
        svc.metrics.event_lag.observe(max(0.0, arrived - row["at"]))
    svc.metrics.events.labels("duplicate").inc(len(rows) - stored)
    return {"stored": stored, "duplicates": len(rows) - stored}
