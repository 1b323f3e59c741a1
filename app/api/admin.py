"""Admin routes (role admin): catalogue drafts and publication, matching runs, objections, stats, devices."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import duckdb
from fastapi import APIRouter, Body, Query, Request
from fastapi import Path as FastApiPath
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from app.api.deps import ERROR_RESPONSES, Admin, ApiError, Period, PolicyId, RowId, ServicesDep
from app.api.services import Services
from app.catalogue_admin import PublishError, list_drafts, save_draft
from app.db.schema import objections
from app.events_store import usage_stats
from app.matching.disclosure import disclosure, published
from app.matching.engine import diff_runs
from app.matching.objections import ObjectionError, resolve
from app.matching.relation_fixes import MAX_FIXES, RELATIONS, relation_fix
from keys import directory
from keys.ring import KeyRingError
from verifier.decide import LOCAL_TIME

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=ERROR_RESPONSES)
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
POLICY_EXAMPLE = "id: free-parks-seniors\ntitle: {zh: 老年人免费游园, en: Free park entry for seniors}\n..."


@router.get("/policies", summary="Published policies and pending drafts")
def policies(_: Admin, svc: ServicesDep) -> dict[str, Any]:
    c = svc.catalogued
    published = [
        {"id": p.id, "title": {"zh": p.title_zh, "en": p.title_en}, "delivery": p.delivery, "status": p.status,
         "region_scope": p.region_scope, "versions": [v.version for v in p.versions], "source": p.source}
        for p in c.snapshot.policies
    ]  # fmt: skip
    return {"catalogue_version": c.version, "published": published, "drafts": list_drafts(svc.engine)}


@router.put(
    "/policies/{policy_id}", summary="Save a policy draft (YAML or JSON body) and validate it",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/yaml": {"schema": {"type": "string"}, "example": POLICY_EXAMPLE},
        "application/json": {"schema": {"type": "object"}}}}},
)  # fmt: skip
async def save_policy(policy_id: PolicyId, request: Request, principal: Admin, svc: ServicesDep) -> dict[str, Any]:
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(422, "invalid_policy", "the policy must be UTF-8 text") from None
    check = await run_in_threadpool(save_draft, svc.engine, text, policy_id, principal.id, svc.now_utc())
    return {"policy_id": policy_id, "valid": not check.errors, "errors": check.errors}


@router.post("/catalogue/publish", summary="Publish the drafts as a new signed catalogue snapshot")
def publish(principal: Admin, svc: ServicesDep) -> dict[str, Any]:
    try:
        version = svc.publish_catalogue(principal.id)
    except PublishError as exc:
        raise ApiError(422, "invalid_catalogue", str(exc)) from None
    return {"version": version}


@contextlib.contextmanager
def _results(svc: Services) -> Iterator[duckdb.DuckDBPyConnection]:
    path = svc.settings.matching_db
    if not path.exists():
        raise ApiError(404, "no_runs", "no matching run has written results yet (suishen match run)")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        raise ApiError(503, "results_busy", "a matching run is writing the results; try again shortly") from None
    try:
        yield con
    finally:
        con.close()


@router.get("/runs", summary="Matching runs, newest first")
def runs(_: Admin, svc: ServicesDep) -> dict[str, Any]:
    with _results(svc) as con:
        columns = [c[0] for c in con.execute("DESCRIBE runs").fetchall()]
        rows = con.execute("SELECT * FROM runs ORDER BY version DESC").fetchall()
    return {"runs": [{k: _plain(v) for k, v in zip(columns, r, strict=True)} for r in rows]}


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


@router.get("/runs/{old}/diff/{new}", summary="Per policy: newly eligible, no longer eligible, version changed")
def run_diff(old: RowId, new: RowId, _: Admin, svc: ServicesDep) -> dict[str, Any]:
    with _results(svc) as con:
        try:
            diffs = diff_runs(con, old, new)
        except ValueError as exc:
            raise ApiError(404, "no_such_run", str(exc)) from None
    return {"old": old, "new": new, "policies": [d._asdict() for d in diffs]}


@router.get("/objections", summary="The objections queue")
def objection_queue(
    _: Admin, svc: ServicesDep, status: Literal["open", "upheld", "rejected", "all"] = "open"
) -> dict[str, Any]:
    query = select(objections).order_by(objections.c.filed_at)
    if status != "all":
        query = query.where(objections.c.status == status)
    with svc.engine.connect() as db:
        rows = db.execute(query.limit(500)).all()
    return {"objections": [
        {"id": r.id, "subject": svc.log_id(r.subject), "policy_id": r.policy_id, "kind": r.kind,
         "statement": r.statement, "filed_at": r.filed_at.isoformat(), "status": r.status, "officer": r.officer,
         "explanation": r.explanation}
        for r in rows
    ]}  # fmt: skip


class RelationCorrection(BaseModel):
    registry: str = Field(examples=["kinship"], description="households, kinship, marriages or addresses")
    op: str = Field(examples=["add"], description="add (or replace) a row of the subject's, or remove one")
    row: dict[str, str | int | None] = Field(
        examples=[{"relative_id": "P0000000123", "relation": "spouse"}],
        description="The row's columns without person_id (the subject's); dates as YYYY-MM-DD. A remove names "
                    "the columns that are unique together.",
    )  # fmt: skip


class Resolution(BaseModel):
    corrections: dict[str, str | int | bool | None] = Field(
        default_factory=dict, examples=[{"birth_date": "1950-03-01"}],
        description="Corrected registry facts; dates as YYYY-MM-DD.",
    )  # fmt: skip
    relations: list[RelationCorrection] = Field(
        default_factory=list, max_length=MAX_FIXES,
        description="Corrected relation facts (a missing spouse, a wrong household), applied to the next runs.",
    )  # fmt: skip


def _facts(corrections: dict[str, str | int | bool | None]) -> dict[str, Any]:
    """JSON has no dates: YYYY-MM-DD text becomes a date, as the registries hold it (a rule compares dates)."""
    facts: dict[str, Any] = {}
    for name, given in corrections.items():
        value: Any = given
        if isinstance(value, str) and ISO_DAY.fullmatch(value):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                raise ApiError(422, "cannot_resolve", f"{name}: {value!r} is not a calendar date") from None
        facts[name] = value
    return facts


@router.post("/objections/{objection_id}/resolve", summary="Re-evaluate one subject with corrected facts")
def resolve_objection(
    objection_id: RowId, principal: Admin, svc: ServicesDep, body: Annotated[Resolution, Body()]
) -> dict[str, Any]:
    with svc.engine.connect() as db:
        row = db.execute(select(objections.c.policy_id).where(objections.c.id == objection_id)).first()
    if row is None:
        raise ApiError(404, "no_such_objection", f"no objection #{objection_id}")
    policy = next((p for p in svc.catalogued.snapshot.policies if p.id == row.policy_id), None)
    if policy is None:
        raise ApiError(409, "policy_withdrawn", f"policy {row.policy_id} is no longer published")
    corrections = _facts(body.corrections)
    try:
        if body.relations:
            corrections[RELATIONS] = [relation_fix(r.registry, r.op, r.row) for r in body.relations]
        evaluation = resolve(
            svc.engine, objection_id, principal.id, corrections, svc.settings.registries_dir, policy,
            dt.datetime.now(LOCAL_TIME).date(),
        )  # fmt: skip
    except (ObjectionError, ValueError) as exc:
        raise ApiError(422, "cannot_resolve", str(exc)) from None
    return {"id": objection_id, "entitled": evaluation.entitled, "explanation": evaluation.to_json()}


@router.get("/confirmations/expired",
            summary="Confirm-mode entitlements past their confirmation deadline: to apply through the original channel")
def expired_confirmations(_: Admin, svc: ServicesDep) -> dict[str, Any]:
    from app.matching.confirmations import EXPIRED_WORDS, expired

    rows = expired(svc.engine, svc.catalogued.snapshot.policies, time.time())
    return {"words": EXPIRED_WORDS, "expired": [
        {"subject": r.subject, "policy_id": r.policy_id, "policy_version": r.policy_version,
         "noticed_at": r.noticed_at.isoformat(timespec="seconds") + "Z",
         "deadline": r.deadline.isoformat(timespec="seconds") + "Z"}
        for r in rows
    ]}  # fmt: skip


@router.get("/stats", summary="Usage per policy, venue or day from gate events (绩效评估)")
def stats(
    _: Admin, svc: ServicesDep, by: Literal["policy", "venue", "day"] = "policy",
    since: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")] = None,
) -> dict[str, Any]:  # fmt: skip
    return {"by": by, "rows": usage_stats(svc.engine, by, since)}


@router.get("/disclosure", summary="Counts per policy and region, small counts hidden (信息公示)")
def disclosure_export(_: Admin, svc: ServicesDep, period: Period = None) -> dict[str, Any]:
    with _results(svc) as con:
        rows = published(disclosure(con, svc.engine, period))
    return {"period": period, "rows": [
        {"policy_id": r.policy_id, "region": r.region, "matched": r.matched, "paid": r.paid} for r in rows
    ]}  # fmt: skip


class DeviceRequest(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    role: Literal["gate", "handheld", "admin", "counter", "registry_feed"]
    venue: str | None = Field(None, max_length=64)


@router.post("/devices", summary="Register a gate, handheld, counter or admin device; its API key is shown once")
def register_device(body: DeviceRequest, _: Admin, svc: ServicesDep) -> dict[str, Any]:
    if body.venue is not None and body.venue not in svc.venues:
        raise ApiError(404, "unknown_venue", f"no venue {body.venue!r}; see GET /v1/venues")
    if body.role == "gate" and body.venue is None:
        raise ApiError(422, "venue_required", "a gate is registered for one venue: give its venue")
    device_id, api_key = svc.devices.register(body.name, body.role, body.venue, svc.now_utc())
    return {"id": device_id, "api_key": api_key, "role": body.role}


@router.get("/devices", summary="Registered devices (no keys: only their hashes are stored)")
def device_list(_: Admin, svc: ServicesDep) -> dict[str, Any]:
    return {"devices": svc.devices.listing()}


@router.post("/devices/{device_id}/revoke", summary="Revoke a device key; every process refuses it within seconds")
def revoke_device(
    device_id: Annotated[str, FastApiPath(pattern=r"^[0-9a-f]{16}$")], _: Admin, svc: ServicesDep
) -> dict[str, Any]:
    if not svc.devices.revoke(device_id):
        raise ApiError(404, "no_such_device", f"no device {device_id}")
    svc.updates.publish(f"device:{device_id}")
    return {"id": device_id, "revoked": True}


@router.get("/keys", summary="The issuer key ring: kids, algorithms, windows and statuses")
def key_ring(_: Admin, svc: ServicesDep) -> dict[str, Any]:
    ring = directory.load_ring(svc.settings.keys_dir)
    return {"issuer": ring.issuer, "generation": ring.generation, "keys": [
        {"kid": e.kid.hex(), "alg": e.alg_name, "not_before": e.not_before, "not_after": e.not_after,
         "status": e.status}
        for e in ring.keys
    ]}  # fmt: skip


@router.post("/keys/{kid}/revoke", summary="Revoke an issuer key: no process signs with or accepts it any more")
def revoke_key(
    kid: Annotated[str, FastApiPath(pattern=r"^[0-9a-f]{16}$")], _: Admin, svc: ServicesDep
) -> dict[str, Any]:
    try:
        generation = svc.revoke_issuer_key(bytes.fromhex(kid))
    except KeyRingError as exc:
        raise ApiError(404, "no_such_key", str(exc)) from None
    return {"kid": kid, "status": "revoked", "generation": generation,
            "signing": svc.issuer.entry.kid.hex() if svc.issuer is not None else None}  # fmt: skip


@router.post("/keys/rotate", summary="Make a new active issuer key; the old one stays valid for one credential life")
def rotate_key(_: Admin, svc: ServicesDep) -> dict[str, Any]:
    generation = svc.rotate_issuer_key()
    assert svc.issuer is not None
    return {"generation": generation, "signing": svc.issuer.entry.kid.hex()}
