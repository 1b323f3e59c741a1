"""Shared request plumbing: errors as JSON, the caller's identity and role, rate limits."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.auth import ADMIN, CITIZEN, COUNTER, ENTERPRISE, GATE, HANDHELD, REGISTRY_FEED, Principal
from app.api.guard import PRINCIPAL_SCOPE_KEY
from app.api.services import Services
from keys.errors import SuishenError

bearer = HTTPBearer(auto_error=False, description="A citizen or enterprise token (st1.…) or a device API key (sk_…).")


class ApiError(SuishenError):
    """An answer with a status, a short code and plain words; never a stack trace."""

    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, malformed, expired or forged credentials.", "content": {"application/json": {
        "example": {"error": "unauthenticated", "detail": "a bearer token is required"}}}},
    403: {"description": "The caller's role may not use this route.", "content": {"application/json": {
        "example": {"error": "forbidden", "detail": "this route is for: admin"}}}},
    429: {"description": "Over a rate limit; see Retry-After.", "content": {"application/json": {
        "example": {"error": "rate_limited", "detail": "too many codes for this account; retry in 12 s"}}}},
}  # fmt: skip


RowId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A row number (runs, objections, notifications).")]
"""Ids the database numbers: bounded so that a huge number is a 422, not a driver overflow."""
PolicyId = Annotated[str, Path(min_length=1, max_length=64, examples=["sh-museum-senior-free"])]
Period = Annotated[
    str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-11"], description="A month, YYYY-MM.")
]
"""A payout month: 2026-13 is a malformed request (422), not a month that happens to have no payouts (404)."""


# The dependencies below are `async def` on purpose: they do not block (an HMAC, a dict lookup; a device
# key's first use reads one indexed row), and a plain `def` dependency costs a trip through the thread
# pool on every request, which was most of the time of a verify.


async def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(services)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _principal(svc: Services, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise ApiError(401, "unauthenticated", "a bearer token is required", {"WWW-Authenticate": "Bearer"})
    principal = svc.auth.authenticate(credentials.credentials, time.time())
    if principal is None:
        raise ApiError(401, "unauthenticated", "the token is invalid or expired", {"WWW-Authenticate": "Bearer"})
    return principal


def require(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """One dependency per role set: who is calling (401), and may they (403). Kept to one level, because
    every nested dependency costs FastAPI a solve on each request."""

    async def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Principal:
        principal = request.scope.get(PRINCIPAL_SCOPE_KEY) or _principal(request.app.state.services, credentials)
        if principal.role not in roles:
            raise _refusal(principal.role, roles)
        return principal

    return check


def _refusal(role: str, roles: tuple[str, ...]) -> ApiError:
    """403: a person's and an enterprise's tokens are told which routes are theirs (a code of their own)."""
    if role == ENTERPRISE and CITIZEN in roles:
        return ApiError(403, "enterprise_account",
                        "this route is for citizens: an enterprise account uses /v1/enterprise/")
    if role == CITIZEN and ENTERPRISE in roles:
        return ApiError(403, "citizen_account", "this route is for enterprise accounts: a citizen uses /v1/me/")
    return ApiError(403, "forbidden", f"this route is for: {', '.join(roles)}")


Citizen = Annotated[Principal, Depends(require(CITIZEN))]
DEVICE_CALLERS = (GATE, HANDHELD, ADMIN)  # who may verify and upload events
Device = Annotated[Principal, Depends(require(*DEVICE_CALLERS))]
Admin = Annotated[Principal, Depends(require(ADMIN))]
Counter = Annotated[Principal, Depends(require(COUNTER, ADMIN))]  # printed cards: a service counter (or an admin)
RegistryFeed = Annotated[Principal, Depends(require(REGISTRY_FEED))]  # a department's system: the change feed only
Enterprise = Annotated[Principal, Depends(require(ENTERPRISE))]  # an enterprise account: /v1/enterprise/... only


def limit(svc: Services, scope: str, ident: str, per_minute: int, *, leased: bool = False) -> None:
    """429 with Retry-After over the limit. `leased`: for high-volume device traffic (see RateLimiter)."""
    wait = svc.limiter.check(scope, ident, per_minute, time.time(), leased=leased)
    if wait:
        svc.metrics.rate_limited.labels(scope).inc()
        raise ApiError(
            429, "rate_limited", f"too many requests for this {scope}; retry in {wait} s", {"Retry-After": str(wait)}
        )
