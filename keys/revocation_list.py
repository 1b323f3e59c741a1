"""Signed revocation lists: single credentials and whole subjects withdrawn before their codes expire.

A holder-bound credential lives a day and a printed card a year, so a lost phone, a reissued
card or a withdrawn entitlement must reach offline verifiers as a document they can check
themselves: signed by the trust-list root exactly as the trust list is (canonical JSON, detached
signature), versioned, with a maximum age, and sent as a delta when the verifier already holds
an earlier version.

Two kinds of entry, each with the time after which it may be dropped (`until`: the last moment
a credential it covers can still be accepted), so the list stays as small as the live codes:

- `credentials`: `[id, until]`, id the hex of `credential_id(kid, cti)` (8 bytes of SHA-256).
- `subjects`: `[subject, before, until]`: every credential whose profile subject (the day
  pseudonym a code carries, in hex) is `subject` and which was issued before `before`.

A document with `since: null` is the whole list; `since: V` holds only what was added after
version V, and applies only on top of version V.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from keys.algorithms import PrivateKey, PublicKey
from keys.signed_json import SignedDocumentError, open_document, sign_document

FORMAT = "suishen-revocation-list/1"
DEFAULT_MAX_AGE_S = 2 * 86400
ISSUED_AT_SKEW_S = 300
MAX_ENTRIES = 2_000_000
MAX_DOCUMENT_BYTES = 128 * 1024 * 1024
CREDENTIAL_ID_LENGTH = 8
_SUBJECT_LENGTHS = range(8, 33)
_MAX_TIME = 1 << 40


class RevocationListError(SignedDocumentError):
    """The revocation list (or a delta of it) cannot be used; the message says exactly why."""


def credential_id(kid: bytes, cti: bytes) -> bytes:
    """The short name of one credential in a revocation list: it reveals neither kid nor cti."""
    return hashlib.sha256(kid + cti).digest()[:CREDENTIAL_ID_LENGTH]


@dataclass(slots=True)
class RevocationList:
    """A verified list: credential ids -> until, subjects -> (before, until)."""

    version: int
    issued_at: int
    max_age: int
    credentials: dict[bytes, int] = field(default_factory=dict)
    subjects: dict[bytes, tuple[int, int]] = field(default_factory=dict)

    @property
    def expires_at(self) -> int:
        return self.issued_at + self.max_age

    def __len__(self) -> int:
        return len(self.credentials) + len(self.subjects)

    def add_credential(self, cred_id: bytes, until: int) -> None:
        self.credentials[cred_id] = max(until, self.credentials.get(cred_id, 0))

    def add_subject(self, subject: bytes, before: int, until: int) -> None:
        """A later `before` covers every earlier one, so one entry per subject is enough."""
        held = self.subjects.get(subject)
        if held is not None:
            before, until = max(before, held[0]), max(until, held[1])
        self.subjects[subject] = (before, until)

    def prune(self, now: float) -> None:
        """Drop entries no live credential can match any more."""
        self.credentials = {k: u for k, u in self.credentials.items() if u >= now}
        self.subjects = {k: bu for k, bu in self.subjects.items() if bu[1] >= now}


def list_payload(
    revocations: RevocationList, *, since: int | None = None, only: RevocationList | None = None
) -> dict[str, Any]:
    """The document payload of a whole list, or (with `since` and `only`) of a delta holding `only`'s entries."""
    entries = only if only is not None else revocations
    return {
        "format": FORMAT,
        "version": revocations.version,
        "issued_at": revocations.issued_at,
        "max_age": revocations.max_age,
        "since": since,
        "credentials": sorted([k.hex(), u] for k, u in entries.credentials.items()),
        "subjects": sorted([k.hex(), b, u] for k, (b, u) in entries.subjects.items()),
    }


def sign_revocation_list(payload: dict[str, Any], root_key: PrivateKey) -> bytes:
    return sign_document(payload, root_key)


def load_revocation_list(
    document: bytes,
    root_public_key: PublicKey,
    now: float,
    *,
    held: RevocationList | None = None,
    allow_stale: bool = False,
) -> RevocationList:
    """Verify a whole list or a delta; a delta is applied on a copy of `held` (never changed).

    `allow_stale` skips the time checks: for reading back a list already verified and kept.
    """
    if len(document) > MAX_DOCUMENT_BYTES:
        raise RevocationListError(f"revocation list larger than {MAX_DOCUMENT_BYTES} bytes")
    payload = open_document(document, root_public_key, "revocation list", RevocationListError)
    if payload.get("format") != FORMAT:
        raise RevocationListError(f"revocation list format must be {FORMAT!r}, found {payload.get('format')!r}")
    version = _int(payload, "version")
    issued_at = _int(payload, "issued_at")
    max_age = _int(payload, "max_age")
    since = payload.get("since")
    if since is not None and (type(since) is not int or since < 0):
        raise RevocationListError(f"revocation list 'since' must be null or a version, found {since!r}")
    if not allow_stale:
        if issued_at > now + ISSUED_AT_SKEW_S:
            raise RevocationListError(f"revocation list version {version} is issued in the future ({issued_at})")
        if now > issued_at + max_age:
            raise RevocationListError(
                f"revocation list version {version} is stale: issued {issued_at}, max age {max_age} s "
                f"ended {int(now - issued_at - max_age)} s ago"
            )
    if since is None:
        result = RevocationList(version, issued_at, max_age)
    else:
        if held is None:
            raise RevocationListError(f"revocation list delta since version {since}, but no list is held")
        if held.version != since:
            raise RevocationListError(
                f"revocation list delta since version {since} does not apply to the held version {held.version}"
            )
        if version <= since:
            raise RevocationListError(f"revocation list delta to version {version} is not after {since}")
        result = RevocationList(version, issued_at, max_age, dict(held.credentials), dict(held.subjects))
    credentials = _list(payload, "credentials")
    subjects = _list(payload, "subjects")
    if len(credentials) + len(subjects) + len(result) > MAX_ENTRIES:
        raise RevocationListError(f"revocation list holds more than {MAX_ENTRIES} entries")
    id_length = range(CREDENTIAL_ID_LENGTH, CREDENTIAL_ID_LENGTH + 1)
    for i, entry in enumerate(credentials):
        where = f"revocation list credentials[{i}]"
        if not (isinstance(entry, list) and len(entry) == 2):
            raise RevocationListError(f"{where} must be [id, until]")
        result.add_credential(_hex(entry[0], f"{where} id", id_length), _time(entry[1], f"{where} until"))
    for i, entry in enumerate(subjects):
        where = f"revocation list subjects[{i}]"
        if not (isinstance(entry, list) and len(entry) == 3):
            raise RevocationListError(f"{where} must be [subject, before, until]")
        subject = _hex(entry[0], f"{where} subject", _SUBJECT_LENGTHS)
        result.add_subject(subject, _time(entry[1], f"{where} before"), _time(entry[2], f"{where} until"))
    if not allow_stale:
        result.prune(now)
    return result


def _int(payload: dict[str, Any], name: str) -> int:
    value = payload.get(name)
    if type(value) is not int or value < 0:
        raise RevocationListError(f"revocation list '{name}' must be a non-negative integer, found {value!r}")
    return value


def _list(payload: dict[str, Any], name: str) -> list[Any]:
    value = payload.get(name)
    if not isinstance(value, list):
        raise RevocationListError(f"revocation list '{name}' must be a list")
    return value


def _time(value: Any, where: str) -> int:
    if type(value) is not int or not 0 <= value < _MAX_TIME:
        raise RevocationListError(f"{where} must be a time in unix seconds, found {value!r}")
    return value


def _hex(value: Any, where: str, lengths: range) -> bytes:
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None or len(raw) not in lengths or raw.hex() != value:
        raise RevocationListError(f"{where} must be lower-case hex of {lengths.start} to {lengths.stop - 1} bytes")
    return raw


__all__ = [
    "DEFAULT_MAX_AGE_S",
    "FORMAT",
    "RevocationList",
    "RevocationListError",
    "credential_id",
    "list_payload",
    "load_revocation_list",
    "sign_revocation_list",
]
