"""The gate's side of the HTTP contract (docs/api.md): signed documents by ETag, and event batches.

Failures come in two kinds that the callers treat differently: `Unreachable` (network down,
timeouts, 5xx, 429: try again later) and `Refused` (any other 4xx: retrying will not help).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import httpx

from keys.errors import SuishenError

DEFAULT_TIMEOUT_S = 5.0


class Unreachable(SuishenError):
    """The server did not answer usefully; `retry_after` is the server's own hint, when it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Refused(SuishenError):
    """The server answered 4xx (other than 429): the request itself is wrong (key, body)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class Fetched(NamedTuple):
    changed: bool
    body: bytes
    etag: str | None


class ServerClient:
    """One HTTP client per gate (connections are reused); the device key goes in every request."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s, transport=transport
        )

    def fetch(self, route: str, etag: str | None) -> Fetched:
        """GET a signed document; unchanged (304) when the server still has the ETag we hold."""
        headers = {"If-None-Match": etag} if etag else {}
        response = self._send("GET", route, headers=headers)
        if response.status_code == 304:
            return Fetched(False, b"", etag)
        return Fetched(True, response.content, response.headers.get("ETag"))

    def post_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        response = self._send("POST", "/v1/events", json={"events": events})
        try:
            body = response.json()
        except ValueError:
            body = {}
        return body if isinstance(body, dict) else {}

    def _send(self, method: str, route: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, route, **kwargs)
        except httpx.HTTPError as exc:
            raise Unreachable(f"{method} {route}: {type(exc).__name__}: {exc}") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise Unreachable(f"{method} {route}: HTTP {status}", _retry_after(response))
        if status >= 400 and status != 304:
            raise Refused(status, _error_text(response))
        return response

    def close(self) -> None:
        self._http.close()


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        return f"{body.get('error')}: {body.get('detail')}"
    except (ValueError, AttributeError):
        return response.text[:200]
