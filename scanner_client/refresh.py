"""Refreshing the cached trust list, catalogue snapshot and revocation list from the server, by ETag.

The revocation list is asked for as a delta since the version held (`?since=V`: 304 when it is
current, else the entries added since, or the whole list when the server says so), and as the
whole list when none is held or after `MAX_DELTAS` deltas.
"""

from __future__ import annotations

from typing import NamedTuple

from scanner_client.documents import KINDS, MAX_DELTAS, REVOCATIONS, DocumentCache, DocumentError, Kind
from scanner_client.server import Refused, ServerClient, Unreachable


class Refreshed(NamedTuple):
    changed: bool  # a new document was installed: reload the verifier and decider
    messages: list[str]


def refresh(cache: DocumentCache, client: ServerClient) -> Refreshed:
    """One round over the documents; every failure is a one-line message, the cached documents stay."""
    changed = False
    messages: list[str] = []
    for kind in (*KINDS, REVOCATIONS):
        route = _route(cache, kind)
        try:
            fetched = client.fetch(route, cache.etag(kind))
        except (Unreachable, Refused) as exc:
            messages.append(f"{kind.label} not refreshed: {exc}")
            continue
        if not fetched.changed:
            continue
        try:
            version = cache.install(kind, fetched.body, fetched.etag)
        except DocumentError as exc:
            messages.append(f"{kind.label} from the server refused, the one held is kept: {exc}")
            continue
        changed = True
        messages.append(f"{kind.label} version {version} installed")
    return Refreshed(changed, messages)


def _route(cache: DocumentCache, kind: Kind) -> str:
    if kind is not REVOCATIONS:
        return kind.route
    chain = cache.held_chain()
    if chain is None or chain.version < 0 or len(chain.files) > MAX_DELTAS:
        return kind.route
    return f"{kind.route}?since={chain.version}"
