"""Fetch a partner's signed trust list from the address registered for it, and from nowhere else.

An admin-given URL fetched by the server is a server-side request forgery waiting to happen, so:

- only the URL stored at registration is fetched (`keys/partners.py` keeps it);
- the host name is resolved here, every address it resolves to must be public (not loopback,
  private, link-local, multicast, reserved, unspecified, shared or IPv4-mapped versions of these),
  and the connection goes to the address that was checked (Host header and TLS SNI keep the
  name), so DNS rebinding between the check and the connect cannot swap it; host names listed in
  `partner_fetch_allow_hosts` skip the address check (a partner inside our own network, tests);
- the answer is streamed with `Accept-Encoding: identity`, an encoded answer is refused, and
  reading stops at `MAX_DOCUMENT_BYTES` (a 400 kB gzip stream once took the process to 1.2 GB);
- one deadline covers resolution, connect, headers and body (a per-read timeout let a slow drip
  run forever);
- every network failure (refused, reset, not HTTP, not 200, encoded, past the deadline) gives the
  same 502 and message, so the error cannot be used to tell a closed port from an open one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from keys.errors import SuishenError
from keys.partners import MAX_DOCUMENT_BYTES

FETCH_FAILED = "the partner's trust list could not be fetched"
DEFAULT_DEADLINE_S = 10.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(SuishenError):
    """A trust list was not fetched. `status` is the HTTP status the API answers with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str  # the name, lower case, without brackets
    port: int
    path: str  # path and query, at least "/"


def parse_url(url: str) -> Target:
    """An http(s) URL with a host and no user info, or FetchError."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError(422, "invalid_url", "the trust-list URL is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(422, "invalid_url", "the trust-list URL must be http(s)://host/...")
    if parts.username is not None or parts.password is not None:
        raise FetchError(422, "invalid_url", "the trust-list URL must not carry user info")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80), path)


def is_public(address: IPAddress) -> bool:
    """True for an address on the public internet; False for loopback, private, link-local and the rest."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and not is_public(embedded):
            return False
    return address.is_global and not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def check_addresses(host: str, addresses: Iterable[IPAddress], allow_hosts: Iterable[str]) -> IPAddress:
    """The address to connect to: the first one, once every address is public (or the host is allowed)."""
    found = list(dict.fromkeys(addresses))
    if not found:
        raise FetchError(502, "partner_unreachable", FETCH_FAILED)
    if host not in {h.lower() for h in allow_hosts}:
        refused = [a for a in found if not is_public(a)]
        if refused:
            raise FetchError(
                422, "address_refused",
                f"the trust-list host {host} resolves to a non-public address ({refused[0]}); "
                "add it to partner_fetch_allow_hosts if that partner really is inside this network",
            )  # fmt: skip
    return found[0]


async def _resolve(target: Target) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(target.host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise FetchError(502, "partner_unreachable", FETCH_FAILED) from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def _get(target: Target, address: IPAddress, limit: int) -> bytes:
    literal = f"[{address}]" if address.version == 6 else str(address)
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    if ":" in target.host:  # an IPv6 literal as the host
        host_header = f"[{target.host}]" + ("" if target.port == default_port else f":{target.port}")
    url = f"{target.scheme}://{literal}:{target.port}{target.path}"
    headers = {"Host": host_header, "Accept-Encoding": "identity", "Accept": "application/json"}
    # trust_env=False: no proxy from the environment may reroute the checked connection.
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=None) as client:
        try:
            async with client.stream("GET", url, headers=headers, extensions={"sni_hostname": target.host}) as answer:
                if answer.status_code != 200:
                    raise FetchError(502, "partner_unreachable", FETCH_FAILED)
                encoding = answer.headers.get("Content-Encoding", "identity").strip().lower()
                if encoding not in ("", "identity"):
                    raise FetchError(502, "partner_unreachable", FETCH_FAILED)  # never decompressed here
                declared = answer.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise FetchError(413, "too_large", f"a trust list must be under {limit} bytes")
                body = bytearray()
                async for chunk in answer.aiter_raw():
                    body += chunk
                    if len(body) > limit:
                        raise FetchError(413, "too_large", f"a trust list must be under {limit} bytes")
                return bytes(body)
        except httpx.HTTPError:
            raise FetchError(502, "partner_unreachable", FETCH_FAILED) from None


async def fetch_trust_list(
    url: str,
    *,
    allow_hosts: Iterable[str] = (),
    deadline_s: float = DEFAULT_DEADLINE_S,
    limit: int = MAX_DOCUMENT_BYTES,
) -> bytes:
    """The document at `url`, at most `limit` bytes, within `deadline_s` overall; FetchError otherwise."""
    target = parse_url(url)
    try:
        async with asyncio.timeout(deadline_s):
            address = check_addresses(target.host, await _resolve(target), allow_hosts)
            document = await _get(target, address, limit)
    except TimeoutError:
        # The same answer as a refused connection: a port that accepts and stalls must not be
        # told apart from a closed one by the message.
        raise FetchError(502, "partner_unreachable", FETCH_FAILED) from None
    if not document:
        raise FetchError(502, "partner_unreachable", FETCH_FAILED)
    return document


__all__ = ["FETCH_FAILED", "FetchError", "check_addresses", "fetch_trust_list", "is_public", "parse_url"]
