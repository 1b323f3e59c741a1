"""Operations: liveness, readiness (database and Redis), Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.api.deps import ServicesDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz", summary="Database and Redis reachable (degraded: Redis down, in-process fallback in use)",
    responses={503: {"description": "The database is unreachable."}},
)  # fmt: skip
def readyz(svc: ServicesDep, response: Response) -> dict[str, Any]:
    checks: dict[str, str] = {}
    try:
        with svc.engine.connect() as db:
            db.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means "not ready", said plainly
        checks["database"] = f"unreachable: {type(exc).__name__}"
    if svc.link is None:
        checks["redis"] = "not configured: in-process replay cache and rate limits, this process alone on the database"
    else:
        checks["redis"] = "ok" if svc.link.ping() else "unreachable: using the in-process fallback"
    status = "ok"
    if checks["redis"].startswith("unreachable"):
        status = "degraded"
    if checks["database"] != "ok":
        status = "unavailable"
        response.status_code = 503
    return {
        "status": status, "checks": checks,
        "catalogue_version": svc.catalogued.version, "trust_list_version": svc.trusted.store.version,
    }  # fmt: skip


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(svc: ServicesDep) -> Response:
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)
