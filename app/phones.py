"""One phone per person: the device keys holder-bound credentials are bound to.

A subject has at most `allowed` active phones (`Settings.devices_per_subject`, 1 by default).
A phone key already active is simply renewed. A new key when the subject already has that many
replaces the one registered longest ago, and only with a fresh sign-in: a token issued within
`fresh_s` seconds, and after the phone it replaces was registered (so a token the old phone
still holds cannot take the code back). The replaced phone's row keeps why it ended, so its
page is told "moved to another phone" when it next asks (`phone_status`, or the 409 of a
renewal), and every credential issued to it that is still alive is withdrawn by its own id in
the same transaction (cause `phone_replaced`).

Why by id and not by subject: a subject entry withdraws everything issued before a time,
which would also take the new phone's credential issued in the same second, any card printed
for the holder today or yesterday (a card carries its issue day's pseudonym), and the other
phones when more than one is allowed. The server therefore keeps the credential ids it issued
to each phone (`holder_credentials`, 8 bytes each, dropped when they expire).

A lost phone (`report_lost`) ends every active phone of the subject; the caller withdraws the
subject's codes with `app.revocations.revoke_subject` (cause `phone_lost`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import NamedTuple

from sqlalchemy import Connection, Engine, delete, insert, select, update

from app.db.schema import holder_credentials, holder_devices
from app.revocations import CREDENTIAL, PHONE_REPLACED, Entry, add_entries_in
from keys.errors import SuishenError
from keys.revocation_list import credential_id
from verifier.claims import decode_claims
from verifier.code import online_code, parse_code
from verifier.verify import DEFAULT_CLOCK_SKEW_S

ACTIVE, REPLACED, LOST, UNKNOWN = "active", "replaced", "lost", "unknown"
FRESH_SIGN_IN_REQUIRED = "fresh_sign_in_required"


class PhoneError(SuishenError, ValueError):
    """This phone may not have a credential now; `code` is the API's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def key_sha256(x: bytes, y: bytes) -> str:
    """The name of a phone key in the database: SHA-256 of the P-256 point's coordinates."""
    return hashlib.sha256(x + y).hexdigest()


def _utc(now: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(now, dt.UTC).replace(tzinfo=None)


def _unix(at: dt.datetime) -> int:
    return int(at.replace(tzinfo=dt.UTC).timestamp())


class Admitted(NamedTuple):
    device: int  # holder_devices.id of this phone
    replaced: int  # phones this registration replaced
    version: int | None  # the revocation list version that withdrew their credentials (None: nothing to withdraw)


def phone_status(engine: Engine, subject: str, key: str) -> str:
    """active, replaced, lost, or unknown (never registered for this subject)."""
    d = holder_devices
    with engine.connect() as db:
        row = db.execute(select(d.c.ended).where(d.c.subject == subject, d.c.key_sha256 == key)).first()
    if row is None:
        return UNKNOWN
    return ACTIVE if row.ended is None else str(row.ended)


def key_status(engine: Engine, key: str) -> str:
    """The status of a phone key whoever it belongs to (for a page whose sign-in has expired)."""
    d = holder_devices
    with engine.connect() as db:
        ended = [row.ended for row in db.execute(select(d.c.ended).where(d.c.key_sha256 == key))]
    if not ended:
        return UNKNOWN
    return ACTIVE if None in ended else str(ended[0])


def admit_phone(
    engine: Engine, subject: str, key: str, now: int, *, allowed: int, signed_in_at: int | None, fresh_s: int
) -> Admitted:
    """Let this phone key have a credential now, replacing an older phone if need be; PhoneError if not."""
    d = holder_devices
    with engine.begin() as db:
        _write_lock(db)
        rows = db.execute(
            select(d.c.id, d.c.key_sha256, d.c.registered_at, d.c.ended)
            .where(d.c.subject == subject)
            .order_by(d.c.registered_at, d.c.id)
            .with_for_update()
        ).all()
        mine = next((r for r in rows if r.key_sha256 == key), None)
        if mine is not None and mine.ended is None:
            return Admitted(int(mine.id), 0, None)
        if mine is not None:
            if mine.ended == REPLACED:
                raise PhoneError("phone_replaced", "this code was moved to another phone; sign in again to use it here")
            raise PhoneError("phone_lost", "this phone was reported lost; sign in again to use it with a new key")
        active = [r for r in rows if r.ended is None]
        going = active[: max(0, len(active) - allowed + 1)]
        version = None
        if going:
            newest = max(_unix(r.registered_at) for r in going)
            if signed_in_at is None or now - signed_in_at > fresh_s or signed_in_at < newest:
                raise PhoneError(
                    FRESH_SIGN_IN_REQUIRED,
                    f"moving your code to this phone needs a sign-in in the last {fresh_s // 60} minutes, made on "
                    "this phone: sign in again",
                )  # fmt: skip
            version = _replace(db, [int(r.id) for r in going], now)
        made = db.execute(insert(d).values(subject=subject, key_sha256=key, registered_at=_utc(now)))
        assert made.inserted_primary_key is not None
        return Admitted(int(made.inserted_primary_key[0]), len(going), version)


def _write_lock(db: Connection) -> None:
    """SQLite: take the write lock first (an update that matches nothing), so that two processes
    changing phones at once wait for each other: a WAL read that later writes cannot wait, it fails.
    PostgreSQL locks the subject's rows with FOR UPDATE instead."""
    if db.dialect.name == "sqlite":
        db.execute(update(holder_devices).where(holder_devices.c.id < 0).values(ended=holder_devices.c.ended))


def _replace(db: Connection, devices: list[int], now: int) -> int | None:
    """End these phones and withdraw their live credentials by id; the revocation list version, if any."""
    d, c = holder_devices, holder_credentials
    db.execute(update(d).where(d.c.id.in_(devices)).values(ended=REPLACED, ended_at=_utc(now)))
    alive = db.execute(select(c.c.credential_id, c.c.until).where(c.c.device.in_(devices), c.c.until >= now)).all()
    db.execute(delete(c).where(c.c.device.in_(devices)))
    entries = [Entry(CREDENTIAL, bytes(row.credential_id), None, int(row.until)) for row in alive]
    return add_entries_in(db, entries, PHONE_REPLACED, now, actor="citizen") if entries else None


def record_credential(engine: Engine, device: int, credential: bytes, now: int) -> None:
    """Keep the id of a credential issued to this phone until it expires (and forget expired ones)."""
    cred = parse_code(online_code(credential)).credential
    assert cred.kid is not None
    claims = decode_claims(cred.payload)
    c = holder_credentials
    with engine.begin() as db:
        db.execute(delete(c).where(c.c.device == device, c.c.until < now))
        db.execute(insert(c).values(
            device=device, credential_id=credential_id(cred.kid, claims.cti),
            until=claims.expires_at + DEFAULT_CLOCK_SKEW_S,
        ))  # fmt: skip


def report_lost(engine: Engine, subject: str, now: int) -> int:
    """End every active phone of the subject (their pages are told); how many were ended."""
    d = holder_devices
    with engine.begin() as db:
        _write_lock(db)
        active = [row.id for row in db.execute(select(d.c.id).where(d.c.subject == subject, d.c.ended.is_(None)))]
        if active:
            db.execute(update(d).where(d.c.id.in_(active)).values(ended=LOST, ended_at=_utc(now)))
            db.execute(delete(holder_credentials).where(holder_credentials.c.device.in_(active)))
    return len(active)


__all__ = [
    "ACTIVE",
    "FRESH_SIGN_IN_REQUIRED",
    "LOST",
    "REPLACED",
    "UNKNOWN",
    "Admitted",
    "PhoneError",
    "admit_phone",
    "key_sha256",
    "key_status",
    "phone_status",
    "record_credential",
    "report_lost",
]
