"""Refreshing the cached trust list and catalogue snapshot from the server, by ETag."""

from __future__ import annotations

from typing import NamedTuple

from scanner_client.documents import KINDS, DocumentCache, DocumentError
from scanner_client.server import Refused, ServerClient, Unreachable


class Refreshed(NamedTuple):
    changed: bool  # a new document was installed: reload the verifier and decider
    messages: list[str]


def refresh(cache: DocumentCache, client: ServerClient) -> Refreshed:
    """One round over both documents; every failure is a message, the cached documents stay."""
    changed = False
    messages: list[str] = []
    for kind in KINDS:
        try:
            fetched = client.fetch(kind.route, cache.etag(kind))
        except (Unreachable, Refused) as exc:
            messages.append(f"{kind.label} not refreshed: {exc}")
            continue
        if not fetched.changed:
            continue
        try:
            version = cache.install(kind, fetched.body, fetched.etag)
        except DocumentError as exc:
            messages.append(f"{kind.label} from the server refused: {exc}")
            continue
        changed = True
        messages.append(f"{kind.label} version {version} installed")
    return Refreshed(changed, messages)
