"""The door of every request: a body-size limit, a deadline for the body, and authentication before the body.

FastAPI reads and parses a JSON body before it runs any dependency, in the event loop, so the
authentication dependency alone let one unauthenticated 53 MiB body stall every other request for
six seconds. This ASGI middleware runs first:

1. a body over its route's limit is a 413, from `Content-Length` before a byte is read, or from
   the bytes as they stream (chunked requests are read up to the limit, then refused);
2. a request to an authenticated route whose bearer credential does not authenticate is a 401
   before its body is read (the principal found is handed on in the scope, so the route does not
   authenticate twice);
3. a body that does not arrive within its deadline (10 s, `request_body_deadline_s`) is a 408.

Limits are small by default and larger only for the routes that need them (an event batch, a
partner's trust list, a policy draft).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from app.api.auth import Principal

PRINCIPAL_SCOPE_KEY = "suishen.principal"
DEFAULT_LIMIT = 16 * 1024
BODY_DEADLINE_S = 10.0
# (method, path prefix, limit in bytes): the first match wins.
LIMITS: tuple[tuple[str, str, int], ...] = (
    ("POST", "/v1/verify", 4 * 1024),
    ("POST", "/v1/events", 512 * 1024),  # up to 1,000 events of about 250 bytes
    ("POST", "/v1/admin/partners/", 1024 * 1024 + 4096),  # a partner's trust list: 1 MiB
    ("PUT", "/v1/admin/policies/", 64 * 1024 + 4096),  # a policy draft: 64 KiB
    ("POST", "/v1/registry/changes", 8 * 1024 * 1024),  # a batch of change records: 8 MiB, some 20 k records
)
# Routes that take a body without a bearer credential.
PUBLIC_WITH_BODY = ("/v1/dev/login", "/v1/dev/enterprise-login")
WITH_BODY = (b"POST", b"PUT", b"PATCH", b"DELETE")
_UNKNOWN = Principal("unknown", "unknown")


def body_limit(method: str, path: str) -> int:
    for wanted, prefix, size in LIMITS:
        if method == wanted and path.startswith(prefix):
            return size
    return DEFAULT_LIMIT


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


async def _answer(send: Any, status: int, error: str, detail: str, extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close"), *extra]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """Pure ASGI middleware (see the module docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        limit = body_limit(method, path)
        length = _header(headers, b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _answer(send, 400, "invalid_request", "Content-Length is not a number")
                return
            if declared > limit:
                await _answer(send, 413, "too_large", f"the body is over the {limit} bytes this route takes")
                return
        has_body = method.encode() in WITH_BODY
        if has_body and path.startswith("/v1/") and path not in PUBLIC_WITH_BODY:
            try:
                principal = self._principal(scope, headers)
            except SQLAlchemyError:
                principal = _UNKNOWN  # a key not seen yet and no database: the route answers 503
            if principal is None:
                given = (_header(headers, b"authorization") or b"").strip()
                detail = "the token is invalid or expired" if given else "a bearer token is required"
                await _answer(send, 401, "unauthenticated", detail, ((b"www-authenticate", b"Bearer"),))
                return
            if principal is not _UNKNOWN:
                scope[PRINCIPAL_SCOPE_KEY] = principal
        if not has_body and length is None:
            await self.app(scope, receive, send)
            return
        svc = scope["app"].state.services
        deadline_s = svc.settings.request_body_deadline_s if svc is not None else BODY_DEADLINE_S
        body = await self._read(receive, limit, deadline_s)
        if isinstance(body, int):
            if body == 413:
                await _answer(send, 413, "too_large", f"the body is over the {limit} bytes this route takes")
            elif body == 408:
                await _answer(send, 408, "body_timeout", f"the body did not arrive within {deadline_s:g} s")
            return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    def _principal(scope: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> Principal | None:
        svc = scope["app"].state.services
        authorization = _header(headers, b"authorization") or b""
        scheme, _, token = authorization.partition(b" ")
        if svc is None or scheme.lower() != b"bearer" or not token.strip():
            return None
        return svc.auth.authenticate(token.strip().decode("latin-1"), time.time())  # type: ignore[no-any-return]

    @staticmethod
    async def _read(receive: Any, limit: int, deadline_s: float) -> bytes | int:
        """The whole body (at most `limit` bytes, by the deadline), or 413 / 408, or 0 if the client left.

        Bodies here are small (the largest limit is 1 MiB), so reading them whole costs nothing the
        route would not spend anyway, and a slow drip meets one deadline, not one per read."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(deadline_s):  # one deadline for the whole body (no task per read)
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return 0
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        return 413
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        except TimeoutError:
            return 408


def _replay(body: bytes, receive: Any) -> Any:
    """A `receive` that hands on the body already read, then the client's later messages (a disconnect)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # type: ignore[no-any-return]

    return replay
