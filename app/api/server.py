"""The FastAPI application: routers, JSON errors, request logs and metrics. `create_app(settings)`."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api import admin, cards, citizen, gate, ops, partners, public
from app.api.changes import router as changes_router
from app.api.deps import ApiError
from app.api.enterprise import router as enterprise_router
from app.api.evaluation import router as evaluation_router
from app.api.guard import RequestGuard
from app.api.revocations import router as revocations_router
from app.api.services import Services
from app.settings import Settings

log = logging.getLogger("suishen.http")


class JsonLogFormatter(logging.Formatter):
    """One JSON object a line; callers never pass personal data (subjects appear as keyed hashes)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"at": round(record.created, 3), "level": record.levelname, "logger": record.name}
        entry["message"] = record.getMessage()
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger("suishen")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class Observe:
    """Per-request metrics and one JSON log line (pure ASGI: no per-request task like BaseHTTPMiddleware)."""

    def __init__(self, app: Any, log_requests: bool = True, log_answered_verifies: bool = False) -> None:
        self.app = app
        self.log_requests = log_requests
        self.log_answered_verifies = log_answered_verifies
        self._children: dict[tuple[int, str, int], Any] = {}

    def _histogram(self, metrics: Any, route: str, status: int) -> Any:
        """The (route, status) child of the request histogram, looked up once (labels() is slow per call)."""
        key = (id(metrics), route, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metrics.requests.labels(route, str(status))
        return child

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            svc = scope["app"].state.services
            if svc is not None:
                self._histogram(svc.metrics, route, status).observe(elapsed)
            quiet = route == gate.VERIFY_PATH and status < 400 and not self.log_answered_verifies
            if self.log_requests and not quiet:  # answered verifies are counted in /metrics, not one line each
                fields = {"method": scope["method"], "route": route, "status": status, "ms": round(elapsed * 1000, 2)}
                log.info("request", extra={"fields": fields})


def _error(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "services", None) is None:
            app.state.services = Services(settings)
        yield
        app.state.services.close()

    app = FastAPI(
        title="Suishen Pass",
        version="1.0",
        description="Policies find people (免申即享): signing service, gate verification, catalogue and trust "
        "distribution, events and administration. The contract is docs/api.md.",
        lifespan=lifespan,
        docs_url=None,  # /docs is app/api/web's page, with Swagger UI from this server, not FastAPI's CDN page
        redoc_url=None,
    )
    app.state.services = services

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.error, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10]]
        return _error(422, "invalid_request", "; ".join(problems) or "the request is not valid")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "not_found" if exc.status_code == 404 else "http_error", str(exc.detail))

    @app.exception_handler(OperationalError)
    async def database_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unreachable", extra={"fields": {"route": request.url.path, "error": type(exc).__name__}})
        return _error(503, "database_unavailable", "the database cannot be reached; try again shortly",
                      {"Retry-After": "5"})  # fmt: skip

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error", extra={"fields": {"route": request.url.path, "error": type(exc).__name__}})
        return _error(500, "internal_error", "something went wrong on our side; the request was not applied")

    app.add_middleware(gate.VerifyFastPath)  # inside Observe: its requests are counted and logged like the rest
    app.add_middleware(RequestGuard)  # body limits and authentication before any body is read
    app.add_middleware(
        Observe, log_requests=settings.log_requests, log_answered_verifies=settings.log_answered_verifies
    )
    for router in (ops.router, citizen.router, cards.router, gate.router, admin.router, partners.router, public.router):
        app.include_router(router)
    app.include_router(revocations_router)  # admin and citizen withdrawals (app/api/revocations.py)
    app.include_router(enterprise_router)  # the enterprise side: /v1/enterprise/... (app/api/enterprise.py)
    app.include_router(evaluation_router)  # 绩效评估: /v1/admin/evaluation[.csv] (app/api/evaluation.py)
    app.include_router(changes_router)  # the change feed: /v1/registry/changes (app/api/changes.py)
    try:
        from app.api.web.pages import router as pages
    except ImportError:
        pass
    else:
        app.include_router(pages)
    return app
