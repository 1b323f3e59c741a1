"""The revocation list on the server: entries in the database, versions, and the signed documents.

Who withdraws what (each entry names its cause, and each writes an audit row that names the cause
and the entry id, never a person):

- one credential (`revoke_credential`, by the short hash of kid and cti): a replaced or lost card,
  a replaced phone's credentials (kept per phone, so no other credential of the holder dies), an
  administrator;
- every credential of a subject issued before now (`revoke_subject`): a lost phone, an
  administrator, and through `request_subject_revocations` the matching run whose new profile
  takes back a fact the earlier codes assert. A subject entry is the subject's day pseudonym
  (`app.issuing.day_pseudonym`) for every local day on which a credential still alive can have
  been issued: a credential lives at most `MAX_CREDENTIAL_LIFE_S` plus the clock skew, so the
  days of today and yesterday (a third when the window crosses two midnights). Printed cards live
  a year and carry the pseudonym of their own issue day: they are revoked by their own id.

Versions: one change set is one version, counted by the single row of `revocation_list_state`
and updated in the change set's own transaction (a row lock on PostgreSQL, the write lock on
SQLite), so two server processes adding entries at once get distinct, increasing versions and a
reader that sees version V in the counter sees every entry up to V. The list's `issued_at` is
the counter's; when it is older than half the list's max age, the next reader re-signs it as a
new version with no entries (`fresh_state`), prunes expired entries, and the gates' next delta
carries the new time.

Documents: `full_document` (the whole list) and `delta_document` (entries added after version
V; the whole list when V is unknown or older than every entry held). `HeldRevocations` is one
process's copy: caught up by version (only new entries are read), verified against by the
process's own `Verifier`, and the source of the documents the process serves.

Costs measured by `benchmarks/revocation.py` (1 M entries): see benchmarks/README.md.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.db.schema import audit, cards, revocation_list_state, revocation_requests, revocations
from app.issuing import CARD_MAX_LIFETIME_S, day_pseudonym
from keys.algorithms import PrivateKey
from keys.errors import SuishenError
from keys.revocation_list import (
    DEFAULT_MAX_AGE_S,
    RevocationList,
    credential_id,
    list_payload,
    sign_revocation_list,
)
from keys.ring import MAX_CREDENTIAL_LIFE_S
from verifier.local_time import LOCAL_OFFSET_S, local_day_number
from verifier.verify import DEFAULT_CLOCK_SKEW_S

CREDENTIAL, SUBJECT = "credential", "subject"
ENTITLEMENT_DROPPED, OBJECTION_UPHELD = "entitlement_dropped", "objection_upheld"
PHONE_REPLACED, PHONE_LOST = "phone_replaced", "phone_lost"
CARD_REPLACED, CARD_LOST = "card_replaced", "card_lost"
ADMIN = "admin"
CAUSES = (ENTITLEMENT_DROPPED, OBJECTION_UPHELD, PHONE_REPLACED, PHONE_LOST, CARD_REPLACED, CARD_LOST, ADMIN)
SUBJECT_ENTRY_LIFE_S = MAX_CREDENTIAL_LIFE_S + DEFAULT_CLOCK_SKEW_S  # the longest a phone credential is accepted
LONGEST_LIFE_S = CARD_MAX_LIFETIME_S + DEFAULT_CLOCK_SKEW_S  # the longest any credential is (a printed card)
AUDIT_ACTION = "revocation added"
_STATE_ROW = 1
_MAX_REQUESTS = 50_000  # subject requests published per change set


class RevocationError(SuishenError, ValueError):
    """An entry cannot be added as asked (an unknown cause, a key of the wrong length)."""


class Entry(NamedTuple):
    kind: str  # credential, subject
    key: bytes
    before: int | None  # subject entries only
    until: int


class State(NamedTuple):
    version: int
    issued_at: int


def _utc(now: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(now, dt.UTC).replace(tzinfo=None)


def subject_entries(pepper: bytes, subject: str, now: float) -> list[Entry]:
    """The entries that withdraw every phone credential or online code of `subject` issued before `now`."""
    before = int(now)
    until = before + SUBJECT_ENTRY_LIFE_S
    first, last = local_day_number(before - SUBJECT_ENTRY_LIFE_S), local_day_number(before)
    noons = [day * 86400 - LOCAL_OFFSET_S + 43200 for day in range(first, last + 1)]
    return [Entry(SUBJECT, day_pseudonym(pepper, subject, noon), before, until) for noon in noons]


# -- adding entries -------------------------------------------------------------------------------


def revoke_credential(
    engine: Engine, kid: bytes, cti: bytes, until: int, cause: str, now: int, *, actor: str = "system"
) -> int:
    """Withdraw one credential until `until` (its exp plus the clock skew); the new list version."""
    return add_entries(engine, [Entry(CREDENTIAL, credential_id(kid, cti), None, int(until))], cause, now, actor=actor)


def revoke_subject(engine: Engine, pepper: bytes, subject: str, cause: str, now: int, *, actor: str = "system") -> int:
    """Withdraw every phone credential and online code of `subject` issued before `now`; the new version.

    A credential issued at `now` or later is not covered (the check is iat < before), so a new
    code issued after this call, in the same second too, stays good.
    """
    return add_entries(engine, subject_entries(pepper, subject, now), cause, now, actor=actor)


def add_entries(
    engine: Engine, entries: Sequence[Entry], cause: str, now: float, *, actor: str = "system"
) -> int:
    """One change set: the entries under a new version, each with an audit row; the new version."""
    return _add(engine, [(entry, cause) for entry in entries], now, actor)


def add_entries_in(db: Connection, entries: Sequence[Entry], cause: str, now: float, *, actor: str = "system") -> int:
    """`add_entries` inside the caller's transaction (so a phone's replacement and its withdrawal commit together)."""
    for entry in entries:
        _check(entry, cause)
    version = _bump(db, now)
    if version is None:
        raise RevocationError("the revocation list counter is missing: the database needs its migrations")
    _insert(db, version, [(entry, cause) for entry in entries], now, actor)
    return version


def _check(entry: Entry, cause: str) -> None:
    if cause not in CAUSES:
        raise RevocationError(f"cause must be one of {list(CAUSES)}, not {cause!r}")
    if entry.kind == CREDENTIAL:
        if len(entry.key) != 8 or entry.before is not None:
            raise RevocationError("a credential entry is an 8-byte credential id with no 'before'")
    elif entry.kind == SUBJECT:
        if not 8 <= len(entry.key) <= 32 or entry.before is None:
            raise RevocationError("a subject entry is a pseudonym of 8 to 32 bytes with a 'before' time")
    else:
        raise RevocationError(f"kind must be {CREDENTIAL!r} or {SUBJECT!r}, not {entry.kind!r}")


def _add(engine: Engine, entries: Sequence[tuple[Entry, str]], now: float, actor: str) -> int:
    for entry, cause in entries:
        _check(entry, cause)
    for _ in range(2):
        with engine.begin() as db:
            version = _bump(db, now)
            if version is not None:
                _insert(db, version, entries, now, actor)
                return version
        _create_state(engine)  # a database made by create_all (no migration row yet): make it, then again
    raise RuntimeError("the revocation list counter could not be made")


def _bump(db: Connection, now: float, *, seen: int | None = None) -> int | None:
    """The next version, taken in this transaction (the row stays locked until it ends); None: no row."""
    s = revocation_list_state
    issued = case((s.c.issued_at > int(now), s.c.issued_at), else_=int(now))  # never back in time
    query = update(s).where(s.c.id == _STATE_ROW)
    if seen is not None:  # compare and set: only if nobody moved the version meanwhile
        query = query.where(s.c.version == seen)
    return db.execute(query.values(version=s.c.version + 1, issued_at=issued).returning(s.c.version)).scalar()


def _create_state(engine: Engine) -> None:
    try:
        with engine.begin() as db:
            db.execute(insert(revocation_list_state).values(id=_STATE_ROW, version=0, issued_at=0))
    except IntegrityError:  # another process made it first
        pass


def _insert(db: Connection, version: int, entries: Sequence[tuple[Entry, str]], now: float, actor: str) -> None:
    at = _utc(now)
    if not entries:
        return
    db.execute(insert(revocations), [
        {"version": version, "kind": e.kind, "key": e.key, "before": e.before, "until": e.until, "cause": cause,
         "created_at": at}
        for e, cause in entries
    ])  # fmt: skip
    added = db.execute(
        select(revocations.c.id, revocations.c.kind, revocations.c.cause)
        .where(revocations.c.version == version)
        .order_by(revocations.c.id)
    ).all()
    db.execute(insert(audit), [
        {"at": at, "actor": actor, "action": AUDIT_ACTION, "subject": "", "policy_id": "",
         "detail": f"entry #{row.id} ({row.kind}) in revocation list version {version}: cause {row.cause}"}
        for row in added
    ])  # fmt: skip


# -- subject revocations asked for by the matching run --------------------------------------------


def request_subject_revocations(db: Connection, subjects: Iterable[tuple[str, str]], now: float) -> int:
    """Ask, inside the caller's transaction, for (subject, cause) revocations; a server publishes them.

    The matching run calls this in the transaction that copies the new profiles, so a subject's
    new profile and the withdrawal of their earlier codes are committed together; it does not hold
    the pepper the day pseudonyms need, the servers do (`publish_requests`, every 2 s).
    """
    rows = [{"subject": s, "cause": c, "requested_at": int(now)} for s, c in subjects]
    for row in rows:
        if row["cause"] not in CAUSES:
            raise RevocationError(f"cause must be one of {list(CAUSES)}, not {row['cause']!r}")
    if rows:
        db.execute(insert(revocation_requests), rows)
    return len(rows)


def pending_requests(engine: Engine) -> int:
    with engine.connect() as db:
        return int(db.execute(select(func.count()).select_from(revocation_requests)).scalar_one())


def publish_requests(engine: Engine, pepper: bytes, now: float, *, actor: str = "matching run") -> int | None:
    """Turn waiting subject requests into entries, in one change set; its version, or None if none waited.

    Each request withdraws the codes issued before its own time (the run's commit), so a code
    issued with the new profile after the copy is not withdrawn. Two processes publishing at once
    take distinct requests (each deletes what it publishes in the same transaction).
    """
    r = revocation_requests
    with engine.connect() as db:
        if db.execute(select(r.c.id).limit(1)).first() is None:
            return None
    for _ in range(2):
        with engine.begin() as db:
            version = _bump(db, now)
            if version is None:
                continue
            batch = select(r.c.id).order_by(r.c.id).limit(_MAX_REQUESTS).scalar_subquery()
            taken = db.execute(delete(r).where(r.c.id.in_(batch)).returning(r.c.subject, r.c.cause, r.c.requested_at))
            requests = taken.all()
            entries = [
                (entry, cause)
                for subject, cause, requested_at in requests
                for entry in subject_entries(pepper, subject, requested_at)
                if entry.until >= now  # a request older than a day withdraws nothing still alive
            ]
            entries += _withdraw_cards(db, requests, now)
            _insert(db, version, entries, now, actor)
            return version
        _create_state(engine)
    return None


def _withdraw_cards(db: Connection, requests: Sequence[Any], now: float) -> list[tuple[Entry, str]]:
    """A printed card carries the pseudonym of the day it was issued, so a subject entry misses a card
    printed before yesterday: the run's withdrawals name each active card issued before the request
    by its own id, and mark the card withdrawn (a counter can then print one with the new profile)."""
    entries: list[tuple[Entry, str]] = []
    for subject, cause, requested_at in requests:
        held = db.execute(
            select(cards.c.number, cards.c.kid, cards.c.cti, cards.c.expires_at).where(
                cards.c.subject == subject, cards.c.status == "active", cards.c.issued_at < int(requested_at)
            )
        ).all()
        for number, kid, cti, expires_at in held:
            until = int(expires_at) + DEFAULT_CLOCK_SKEW_S
            entries.append((Entry(CREDENTIAL, credential_id(kid, cti), None, until), cause))
            db.execute(update(cards).where(cards.c.number == number).values(status="withdrawn", ended_at=int(now)))
    return entries


# -- reading the list -----------------------------------------------------------------------------


def read_state(engine: Engine) -> State:
    """The list's version and issue time as committed; (0, 0) before any list."""
    with engine.connect() as db:
        return read_state_in(db)


def read_state_in(db: Connection) -> State:
    s = revocation_list_state
    row = db.execute(select(s.c.version, s.c.issued_at).where(s.c.id == _STATE_ROW)).first()
    return State(int(row.version), int(row.issued_at)) if row is not None else State(0, 0)


def fresh_state(engine: Engine, now: float, max_age: int = DEFAULT_MAX_AGE_S) -> State:
    """The list's version and issue time, re-signed as a new version when half its max age has gone by.

    Only one process re-signs (compare and set on the version); it also prunes entries no live
    credential can match any more.
    """
    state = read_state(engine)
    if now - state.issued_at < max_age // 2:
        return state
    with engine.begin() as db:
        if _bump(db, now, seen=state.version) is not None:
            db.execute(delete(revocations).where(revocations.c.until < int(now)))
            return read_state_in(db)
    if read_state(engine) == state == State(0, 0):  # no counter row (a database made by create_all)
        _create_state(engine)
        with engine.begin() as db:
            _bump(db, now, seen=0)
    return read_state(engine)  # ours, or the one another process re-signed first


def _rows(engine: Engine, after: int, upto: int, now: float) -> list[Any]:
    r = revocations
    with engine.connect() as db:
        return list(db.execute(
            select(r.c.kind, r.c.key, r.c.before, r.c.until)
            .where(r.c.version > after, r.c.version <= upto, r.c.until >= int(now))
        ).all())  # fmt: skip


def _fill(target: RevocationList, rows: Iterable[Any]) -> None:
    for kind, key, before, until in rows:
        if kind == CREDENTIAL:
            target.add_credential(bytes(key), int(until))
        else:
            target.add_subject(bytes(key), int(before), int(until))


def current_list(engine: Engine, now: float, max_age: int = DEFAULT_MAX_AGE_S) -> RevocationList:
    """The whole list in force, from the database (entries still in force at `now`)."""
    state = fresh_state(engine, now, max_age)
    result = RevocationList(state.version, state.issued_at, max_age)
    _fill(result, _rows(engine, 0, state.version, now))
    return result


def oldest_version(engine: Engine) -> int | None:
    with engine.connect() as db:
        value = db.execute(select(func.min(revocations.c.version))).scalar()
    return int(value) if value is not None else None


def full_document(engine: Engine, root_key: PrivateKey, now: float, max_age: int = DEFAULT_MAX_AGE_S) -> bytes:
    return sign_revocation_list(list_payload(current_list(engine, now, max_age)), root_key)


def delta_document(
    engine: Engine, root_key: PrivateKey, since: int, now: float, max_age: int = DEFAULT_MAX_AGE_S
) -> bytes | None:
    """The entries added after version `since`, signed; None when the whole list is the answer.

    None when `since` is not a version of this list (later than the current one), is the current
    one (nothing to send), or is older than every entry still held (the delta would be the whole
    list anyway, and the full list lets the verifier drop what it held).
    """
    state = fresh_state(engine, now, max_age)
    if not _delta_applies(engine, since, state.version):
        return None
    delta = RevocationList(state.version, state.issued_at, max_age)
    _fill(delta, _rows(engine, since, state.version, now))
    return sign_revocation_list(list_payload(delta, since=since, only=delta), root_key)


def _delta_applies(engine: Engine, since: int, version: int) -> bool:
    if not 0 <= since < version:
        return False
    oldest = oldest_version(engine)
    return oldest is None or since >= oldest - 1


def etag_of_list(version: int, issued_at: int) -> str:
    """One ETag per list state, the same in every process (signatures differ; the list does not)."""
    return f'"rl-{version}-{issued_at}"'


# -- one process's copy ---------------------------------------------------------------------------


class Served(NamedTuple):
    document: bytes
    etag: str


class HeldRevocations:
    """This process's copy of the list, for its own verifier and the documents it serves.

    `catch_up` reads only the entries added since the version held (one indexed query) and
    changes `list` in place, so a `Verifier` built with it sees every later entry without being
    rebuilt. The whole-list document is rebuilt for a new version at most once every
    `REBUILD_FACTOR` times its own build time (a 1 M-entry list takes seconds to sort and sign;
    a small one is rebuilt every time): a gate that gets an older whole list asks for the delta
    next. Deltas are cached per (since, version).
    """

    REBUILD_FACTOR = 20
    DELTA_CACHE = 64

    def __init__(self, engine: Engine, root_key: PrivateKey, max_age: int = DEFAULT_MAX_AGE_S) -> None:
        self.engine = engine
        self.root_key = root_key
        self.max_age = max_age
        self.list = RevocationList(0, 0, max_age)
        self._lock = threading.Lock()
        self._full: Served | None = None
        self._full_version = -1
        self._full_built_at = 0.0
        self._full_cost = 0.0
        self._deltas: dict[tuple[int, int], Served] = {}

    @property
    def etag(self) -> str:
        return etag_of_list(self.list.version, self.list.issued_at)

    def catch_up(self, now: float) -> bool:
        """Bring the held list to the database's version; True when it changed."""
        with self._lock:
            state = fresh_state(self.engine, now, self.max_age)
            held = self.list
            if state == (held.version, held.issued_at):
                return False
            if state.version < held.version:  # a database started afresh: read it whole
                held.credentials, held.subjects = {}, {}
                after = 0
            else:
                after = held.version
            _fill(held, _rows(self.engine, after, state.version, now))
            if state.issued_at != held.issued_at:
                held.prune(now)
            held.version, held.issued_at = state
            return True

    def full(self, now: float) -> Served:
        """The whole list as a signed document (possibly of a slightly earlier version; see above)."""
        with self._lock:
            cached = self._full
            wait = self._full_cost * self.REBUILD_FACTOR
            if cached is not None and (
                self._full_version == self.list.version or time.monotonic() - self._full_built_at < wait
            ) and now <= self.list.expires_at:
                return cached
            snapshot = RevocationList(self.list.version, self.list.issued_at, self.max_age,
                                      dict(self.list.credentials), dict(self.list.subjects))  # fmt: skip
        started = time.perf_counter()
        document = sign_revocation_list(list_payload(snapshot), self.root_key)
        served = Served(document, etag_of_list(snapshot.version, snapshot.issued_at))
        with self._lock:
            if snapshot.version >= self._full_version:
                self._full, self._full_version = served, snapshot.version
                self._full_built_at, self._full_cost = time.monotonic(), time.perf_counter() - started
        return served

    def delta(self, since: int, now: float) -> Served | None:
        """Entries added after `since` up to the version held; None: answer with the whole list."""
        with self._lock:
            version, issued_at = self.list.version, self.list.issued_at
            cached = self._deltas.get((since, version))
        if cached is not None:
            return cached
        if not _delta_applies(self.engine, since, version):
            return None
        delta = RevocationList(version, issued_at, self.max_age)
        _fill(delta, _rows(self.engine, since, version, now))
        served = Served(
            sign_revocation_list(list_payload(delta, since=since, only=delta), self.root_key),
            etag_of_list(version, issued_at),
        )
        with self._lock:
            if len(self._deltas) >= self.DELTA_CACHE:
                self._deltas.clear()
            self._deltas[(since, version)] = served
        return served


__all__ = [
    "CAUSES",
    "CREDENTIAL",
    "SUBJECT",
    "Entry",
    "HeldRevocations",
    "RevocationError",
    "add_entries",
    "add_entries_in",
    "current_list",
    "delta_document",
    "fresh_state",
    "full_document",
    "publish_requests",
    "request_subject_revocations",
    "revoke_credential",
    "revoke_subject",
    "subject_entries",
]
