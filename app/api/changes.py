"""The change feed for departments' systems (role registry_feed): registry changes in, entitlements out.

`POST /v1/registry/changes` takes a batch of change records as JSON Lines (app.matching.changes has
the format and the rules: exactly once per source sequence, a gap or a bad row refuses the whole
batch) and applies it to this deployment's results database, re-evaluating only the affected
subjects, on the day of the latest run, then publishes it to the services database (entitlements,
notices, profiles, code withdrawals: app.matching.change_effects) in the same request; a batch the
services database could not take is published with the next. One batch at a time in this process;
a results database held by another process (a run, another replica's batch) answers 503 with
Retry-After, and the department sends the same batch again: records already applied are skipped.
"""

from __future__ import annotations

import threading
from typing import Any

import duckdb
from fastapi import APIRouter, Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from app.api.deps import ERROR_RESPONSES, ApiError, RegistryFeed, ServicesDep
from app.api.services import Services
from app.matching.change_effects import NOTHING, publish_pending
from app.matching.changes import ChangeError, apply_changes, parse_changes
from app.matching.engine import connect, latest_run

router = APIRouter(prefix="/v1/registry", tags=["registry"], responses=ERROR_RESPONSES)
_ONE_BATCH = threading.Lock()
RETRY_AFTER_S = 5


def _apply(svc: Services, body: bytes, source: str) -> dict[str, Any]:
    changes = parse_changes(body, source)  # before the lock: a malformed batch waits for nobody
    with _ONE_BATCH:
        if not svc.settings.matching_db.exists():
            raise ChangeError("no matching results yet: a full run (suishen match run) comes first")
        try:
            con = connect(svc.settings.matching_db)
        except duckdb.IOException:
            raise ApiError(503, "results_busy", "the results database is in use by another process: send the batch "
                           "again shortly (records already applied are skipped)",
                           headers={"Retry-After": str(RETRY_AFTER_S)}) from None  # fmt: skip
        try:
            _, day = latest_run(con)
            policies = svc.catalogued.snapshot.policies
            result = apply_changes(con, svc.settings.registries_dir, changes, policies, day)
            try:
                published, waiting = publish_pending(con, svc.engine, policies), None
            except ChangeError as exc:  # applied; published with the run's copy
                published, waiting = NOTHING, str(exc)
            except SQLAlchemyError as exc:  # applied; published with the next batch
                published, waiting = NOTHING, f"the services database did not answer ({type(exc).__name__}): " \
                    "the batch is applied and is published with the next one"
            return result._asdict() | {"published": published._asdict(), "publication_waits": waiting}
        finally:
            con.close()


@router.post("/changes", summary="Apply a batch of registry change records (JSON Lines) to the latest run")
async def registry_changes(request: Request, principal: RegistryFeed, svc: ServicesDep) -> dict[str, Any]:
    body = await request.body()  # bounded by the guard (8 MiB)
    try:
        result = await run_in_threadpool(_apply, svc, body, f"from {principal.id}")
    except (ChangeError, ValueError) as exc:
        raise ApiError(422, "changes_refused", str(exc)) from None
    return result
