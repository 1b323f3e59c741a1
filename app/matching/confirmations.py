"""Confirmations (一键确认) made, checked and kept: the signed statement, the refusals, the deadline, the export.

A confirm-mode entitlement is paid once its subject confirms the sealed application written for
them (app.matching.applications). The confirmation is refused, with a code the API answers 409
with and one line on the command line, when the policy's version it was written under has ended,
when a later run no longer found the entitlement, when the policy's `confirm_within_days` after
the notice have passed (the entitlement is then "expired, apply through the original channel" and
is listed for the department: `expired`), or when it was already confirmed.

The signed statement
--------------------
A page that holds the holder's device key (the P-256 key its holder-bound code is bound to,
non-extractable in IndexedDB) signs what was confirmed: a tagged COSE_Sign1 (RFC 9052) with

- protected header `{1: -7, 3: "application/suishen-confirmation+cbor"}` (ES256, content type),
  empty unprotected header;
- payload, deterministic CBOR: `{"application": SHA-256 of the sealed application's bytes (32
  bytes), "channel": "web" | "app", "format": "suishen-confirmation/1", "notice": the commitment
  notice's version, "policy": policy id, "t": unix seconds}`;
- external AAD `b"suishen-confirmation/1"`.

It can never pass as a device proof, nor a device proof as a statement, three times over: a
device proof is untagged, its protected header is `{1: -7}` alone (the gate's strict reader
refuses any other label) and its external AAD is the credential's bytes, so the Sig_structure
either one signs differs in the protected bytes and in the AAD; and the payloads differ in shape
(a proof is `[time step, 8-byte nonce]`, a statement a map), each reader taking only its own.

The server takes a statement only with the public key it verifies with, which must be an active
phone of the caller (`holder_devices`, by the SHA-256 of the point), only for the application the
caller would confirm, the notice version the policy now shows and a time within
`STATEMENT_WINDOW_S` of its clock; the same statement is never taken twice (its bytes' SHA-256 is
unique, and its signed fields, application and time, are checked as well, since an ECDSA
signature can be re-encoded). Phone, counter and web confirmations without a device key are kept
as such: channel and `signed` false. Every confirmation gets a `confirmation_statements` row.

`export_confirmations` writes them for the finance department as JSON lines, and
`verify_export_line` checks one from its stored bytes alone (the application, the COSE bytes, the
device key), with no server and no database.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, and_, func, select
from sqlalchemy.exc import IntegrityError

from app.db.schema import (
    applications,
    confirmation_statements,
    confirmations,
    holder_devices,
    notifications,
    stored_entitlements,
)
from app.matching.applications import CHANNELS, ApplicationError, check_application
from keys.algorithms import ES256, PublicKey, p256_verifier, sign
from verifier import cbor_strict
from verifier.catalogue import Policy
from verifier.cose import encode_sign1, sig_structure
from verifier.decide import LOCAL_TIME

STATEMENT_FORMAT = "suishen-confirmation/1"
CONTENT_TYPE = "application/suishen-confirmation+cbor"
EXTERNAL_AAD = STATEMENT_FORMAT.encode()
PROTECTED = cbor_strict.dumps({1: -7, 3: CONTENT_TYPE})  # ES256 and the content type: never a device proof's
SIGNED_CHANNELS = ("web", "app")  # where a page or app holds the device key
STATEMENT_WINDOW_S = 300  # a statement older or newer than this (by the server's clock) is refused
MAX_STATEMENT = 1024
EXPORT_FORMAT = "suishen-confirmation-export/1"
_PAYLOAD_KEYS = {"application", "channel", "format", "notice", "policy", "t"}

# The API's answer for each refusal (the code is the error field).
NOTHING_TO_CONFIRM, ALREADY_CONFIRMED, VERSION_ENDED, REVOKED, EXPIRED, NO_NOTICE, NOTICE_CHANGED = (
    "nothing_to_confirm", "already_confirmed", "policy_version_ended", "entitlement_revoked", "confirmation_expired",
    "no_commitment_notice", "notice_changed",
)  # fmt: skip
BAD_STATEMENT, BAD_SIGNATURE, WRONG_APPLICATION, STALE, IN_FUTURE, REPLAYED, NOT_YOUR_DEVICE, UNSIGNED_CHANNEL = (
    "bad_statement", "bad_statement_signature", "statement_mismatch", "stale_statement", "statement_in_future",
    "replayed_statement", "device_not_registered", "channel_not_signed",
)  # fmt: skip
HTTP_STATUS = {NOTHING_TO_CONFIRM: 404, BAD_STATEMENT: 422, BAD_SIGNATURE: 422, NOT_YOUR_DEVICE: 403,
               UNSIGNED_CHANNEL: 422}  # fmt: skip  # every other refusal: 409
EXPIRED_WORDS = {
    "zh": "已过确认期限，请通过原渠道申请",
    "en": "expired, apply through the original channel",
}


class ConfirmationError(ApplicationError):
    """A confirmation refused; `code` names why (the API's error code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Statement(NamedTuple):
    application_sha256: str  # hex
    policy_id: str
    notice_version: int
    t: int
    channel: str


class Confirmed(NamedTuple):
    application_sha256: str
    confirmed_at: dt.datetime  # UTC, naive as stored
    channel: str
    signed: bool
    notice_version: int | None


# ---------- the statement ----------


def statement_payload(application_sha256: str, policy_id: str, notice_version: int, t: int, channel: str) -> bytes:
    return cbor_strict.dumps({
        "application": bytes.fromhex(application_sha256), "channel": channel, "format": STATEMENT_FORMAT,
        "notice": notice_version, "policy": policy_id, "t": t,
    })  # fmt: skip


def make_statement(
    device_key: ec.EllipticCurvePrivateKey,
    application_sha256: str,
    policy_id: str,
    notice_version: int,
    t: int,
    channel: str = "web",
) -> bytes:
    """The statement as a page makes it (app/api/web/static/js/confirm.js), for tools and tests."""
    payload = statement_payload(application_sha256, policy_id, notice_version, t, channel)
    signature = sign(device_key, ES256, sig_structure(PROTECTED, EXTERNAL_AAD, payload))
    return encode_sign1(PROTECTED, payload, signature, tagged=True)  # d2 84 ...: tag 18


def device_public_key(x: bytes, y: bytes) -> ec.EllipticCurvePublicKey:
    """The P-256 point (x, y); ConfirmationError when it is not one."""
    if len(x) != 32 or len(y) != 32:
        raise ConfirmationError(BAD_STATEMENT, "the device key's x and y must be 32 bytes each")
    try:
        return ec.EllipticCurvePublicNumbers(int.from_bytes(x), int.from_bytes(y), ec.SECP256R1()).public_key()
    except ValueError:
        raise ConfirmationError(BAD_STATEMENT, "the device key is not a point on P-256") from None


def read_statement(statement: bytes, x: bytes, y: bytes) -> Statement:
    """The statement's fields once its form and its signature by the key (x, y) hold; ConfirmationError otherwise.

    A pure function: the export's verifier uses it with the stored bytes alone.
    """
    key = device_public_key(x, y)
    if len(statement) > MAX_STATEMENT:
        raise ConfirmationError(BAD_STATEMENT, f"a confirmation statement is at most {MAX_STATEMENT} bytes")
    try:
        item = cbor_strict.loads(statement)
    except cbor_strict.CborError as exc:
        raise ConfirmationError(BAD_STATEMENT, f"the statement is not deterministic CBOR: {exc}") from None
    if getattr(item, "tag", None) != 18 or type(item.value) is not list or len(item.value) != 4:
        raise ConfirmationError(BAD_STATEMENT, "the statement must be a tagged COSE_Sign1 (tag 18, four fields)")
    protected, unprotected, payload, signature = item.value
    if protected != PROTECTED:
        raise ConfirmationError(BAD_STATEMENT, "the statement's protected header must be ES256 with the "
                                f"content type {CONTENT_TYPE} (a device proof is not a statement)")  # fmt: skip
    if unprotected != {} or type(payload) is not bytes or type(signature) is not bytes:
        raise ConfirmationError(BAD_STATEMENT, "the statement needs an empty unprotected header and byte strings")
    if not p256_verifier(key)(signature, sig_structure(PROTECTED, EXTERNAL_AAD, payload)):
        raise ConfirmationError(BAD_SIGNATURE, "the statement's signature does not verify with this device key")
    try:
        fields = cbor_strict.loads(payload)
    except cbor_strict.CborError as exc:
        raise ConfirmationError(BAD_STATEMENT, f"the statement's payload is not deterministic CBOR: {exc}") from None
    if type(fields) is not dict or set(fields) != _PAYLOAD_KEYS or fields["format"] != STATEMENT_FORMAT:
        raise ConfirmationError(
            BAD_STATEMENT, f"the payload must be a {STATEMENT_FORMAT} map of {sorted(_PAYLOAD_KEYS)}"
        )
    application, policy, notice, t, channel = (fields[k] for k in ("application", "policy", "notice", "t", "channel"))
    if type(application) is not bytes or len(application) != 32:
        raise ConfirmationError(BAD_STATEMENT, "the statement's application must be a SHA-256 (32 bytes)")
    if type(policy) is not str or type(notice) is not int or type(t) is not int or not 0 <= t < 2**40:
        raise ConfirmationError(BAD_STATEMENT, "the statement's policy must be text, its notice and time integers")
    if channel not in SIGNED_CHANNELS:
        raise ConfirmationError(BAD_STATEMENT, f"the statement's channel must be one of {list(SIGNED_CHANNELS)}")
    return Statement(application.hex(), policy, notice, t, channel)


def key_sha256(x: bytes, y: bytes) -> str:
    """The name holder_devices gives a phone key (app.phones.key_sha256)."""
    return hashlib.sha256(x + y).hexdigest()


# ---------- confirming ----------


def _utc(now: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(now, dt.UTC).replace(tzinfo=None)


def confirm_application(
    engine: Engine,
    subject: str,
    policy_id: str,
    channel: str,
    *,
    policy: Policy | None,
    now: float,
    statement: bytes | None = None,
    device_xy: tuple[bytes, bytes] | None = None,
    notice_version: int | None = None,
) -> Confirmed:
    """Record the subject's confirmation of their latest application under the policy, or refuse it.

    `policy` is the published policy (None: the version, deadline and notice are not checked, as for
    a ledger without a catalogue). A signed confirmation gives the statement and the device key's
    point; an unsigned one may name the notice version it showed. Nothing is stored when it is refused.
    """
    if channel not in CHANNELS:
        raise ConfirmationError(BAD_STATEMENT, f"channel must be one of {list(CHANNELS)}")
    signed = None
    if statement is not None:
        if device_xy is None:
            raise ConfirmationError(BAD_STATEMENT, "a signed confirmation needs the device's public key")
        if channel not in SIGNED_CHANNELS:
            raise ConfirmationError(UNSIGNED_CHANNEL, f"a {channel} confirmation is not signed on a device")
        signed = read_statement(statement, *device_xy)
        if signed.channel != channel:
            raise ConfirmationError(WRONG_APPLICATION, f"the statement was signed for the {signed.channel} channel")
    at = _utc(now)
    with engine.begin() as db:
        a = applications
        row = db.execute(
            select(a.c.sha256, a.c.policy_version, a.c.created_at)
            .where(a.c.subject == subject, a.c.policy_id == policy_id)
            .order_by(a.c.matching_run.desc())
            .limit(1)
        ).first()
        if row is None:
            raise ConfirmationError(NOTHING_TO_CONFIRM, f"no application of {subject} under {policy_id} to confirm")
        if signed is not None:
            _check_signed(db, subject, policy_id, row.sha256, signed, device_xy, now)  # type: ignore[arg-type]
        done = db.execute(
            select(confirmations.c.confirmed_at)
            .join(a, a.c.sha256 == confirmations.c.application_sha256)
            .where(a.c.subject == subject, a.c.policy_id == policy_id, a.c.policy_version == row.policy_version)
        ).first()
        if done is not None:
            raise ConfirmationError(ALREADY_CONFIRMED, f"{subject} has already confirmed {policy_id}")
        e = stored_entitlements
        held = db.execute(
            select(e.c.revoked_in).where(e.c.subject == subject, e.c.policy_id == policy_id)
            .order_by(e.c.generation.desc()).limit(1)
        ).first()  # fmt: skip
        if held is not None and held.revoked_in is not None:
            raise ConfirmationError(REVOKED, f"run {held.revoked_in} no longer found {subject} entitled under "
                                    f"{policy_id}: nothing to confirm; an objection can be raised")  # fmt: skip
        shown = signed.notice_version if signed is not None else notice_version
        if policy is not None:
            _check_policy(db, policy, subject, row, at, shown)
            shown = policy.commitment.version if policy.commitment is not None else None
        device = _device(db, subject, device_xy) if signed is not None else None
        try:
            db.execute(confirmations.insert().values(application_sha256=row.sha256, confirmed_at=at, channel=channel))
            db.execute(confirmation_statements.insert().values(
                application_sha256=row.sha256, channel=channel, signed=signed is not None, notice_version=shown,
                statement=statement if signed is not None else None,
                statement_sha256=hashlib.sha256(statement).hexdigest() if signed is not None and statement else None,
                signed_at=signed.t if signed is not None else None,
                device_key=b"".join(device_xy) if signed is not None and device_xy else None,
                device=device, received_at=at,
            ))  # fmt: skip
        except IntegrityError:  # confirmed at the same moment through another request, or the same statement
            raise ConfirmationError(ALREADY_CONFIRMED, f"{subject} has already confirmed {policy_id}") from None
    return Confirmed(str(row.sha256), at, channel, signed is not None, shown)


def _check_signed(
    db: Any, subject: str, policy_id: str, sha256: str, signed: Statement, device_xy: tuple[bytes, bytes], now: float
) -> None:
    s = confirmation_statements
    again = db.execute(select(s.c.application_sha256).where(
        s.c.application_sha256 == signed.application_sha256, s.c.signed_at == signed.t
    )).first()  # fmt: skip
    if again is not None:
        raise ConfirmationError(REPLAYED, "this confirmation statement was already received: it is not taken twice")
    if signed.application_sha256 != sha256 or signed.policy_id != policy_id:
        raise ConfirmationError(WRONG_APPLICATION, f"the statement confirms another application than {subject}'s "
                                f"latest under {policy_id} ({sha256[:16]})")  # fmt: skip
    if signed.t < now - STATEMENT_WINDOW_S:
        raise ConfirmationError(STALE, f"the statement was signed more than {STATEMENT_WINDOW_S} s ago: sign again")
    if signed.t > now + STATEMENT_WINDOW_S:
        raise ConfirmationError(IN_FUTURE, "the statement is dated in the future: check the phone's clock")
    if _device(db, subject, device_xy) is None:
        raise ConfirmationError(NOT_YOUR_DEVICE, "the statement is signed by a device key that is not your "
                                "registered phone: sign in on your phone again")  # fmt: skip


def _device(db: Any, subject: str, device_xy: tuple[bytes, bytes] | None) -> int | None:
    if device_xy is None:
        return None
    d = holder_devices
    found = db.execute(select(d.c.id).where(
        d.c.subject == subject, d.c.key_sha256 == key_sha256(*device_xy), d.c.ended.is_(None)
    )).first()  # fmt: skip
    return None if found is None else int(found.id)


def _check_policy(db: Any, policy: Policy, subject: str, row: Any, at: dt.datetime, shown: int | None) -> None:
    today = at.replace(tzinfo=dt.UTC).astimezone(LOCAL_TIME).date()
    version = next((v for v in policy.versions if v.version == row.policy_version), None)
    if policy.status != "published" or version is None or (version.effective_to is not None
                                                              and version.effective_to < today):  # fmt: skip
        ended = f" on {version.effective_to}" if version is not None and version.effective_to else ""
        message = f"version {row.policy_version} of {policy.id} ended{ended}: this application can no longer be "
        raise ConfirmationError(VERSION_ENDED, message + "confirmed; apply through the original channel")
    if policy.confirm_within_days is not None:
        start = _noticed_at(db, subject, policy.id, row.policy_version) or row.created_at
        by = start + dt.timedelta(days=policy.confirm_within_days)
        if at > by:
            raise ConfirmationError(EXPIRED, f"the {policy.confirm_within_days} days to confirm {policy.id} ended on "
                                    f"{by.date()}: {EXPIRED_WORDS['en']} ({EXPIRED_WORDS['zh']})")  # fmt: skip
    if policy.commitment is None:
        raise ConfirmationError(NO_NOTICE, f"{policy.id} has no commitment notice (告知承诺书) published yet: "
                                "it cannot be confirmed until the department publishes one")  # fmt: skip
    if shown is not None and shown != policy.commitment.version:
        raise ConfirmationError(NOTICE_CHANGED, f"the commitment notice of {policy.id} is now version "
                                f"{policy.commitment.version}, not {shown}: read it again and confirm")  # fmt: skip


def _noticed_at(db: Any, subject: str, policy_id: str, version: int) -> dt.datetime | None:
    n = notifications
    return db.execute(select(func.min(n.c.queued_at)).where(
        n.c.subject == subject, n.c.policy_id == policy_id, n.c.policy_version == version
    )).scalar()  # fmt: skip


# ---------- deadlines: expired, apply through the original channel ----------


class Expired(NamedTuple):
    subject: str
    policy_id: str
    policy_version: int
    noticed_at: dt.datetime  # UTC: the notice (or, without one, the application)
    deadline: dt.datetime  # UTC


def expired(engine: Engine, policies: Sequence[Policy], now: float, subject: str | None = None) -> list[Expired]:
    """Unconfirmed applications past their policy's `confirm_within_days` (their latest, of entitlements a later
    run did not revoke): the department's list of people to reach through the original channel."""
    at = _utc(now)
    out: list[Expired] = []
    a, c, n, e = applications, confirmations, notifications, stored_entitlements
    for policy in policies:
        if policy.delivery != "confirm" or policy.confirm_within_days is None:
            continue
        latest = (
            select(a.c.subject, func.max(a.c.matching_run).label("run"))
            .where(a.c.policy_id == policy.id, *([a.c.subject == subject] if subject is not None else []))
            .group_by(a.c.subject)
            .subquery()
        )
        done = (
            select(c.c.application_sha256)
            .join(a, a.c.sha256 == c.c.application_sha256)
            .where(a.c.policy_id == policy.id)
        )
        noticed = (
            select(n.c.subject, n.c.policy_version, func.min(n.c.queued_at).label("at"))
            .where(n.c.policy_id == policy.id)
            .group_by(n.c.subject, n.c.policy_version)
            .subquery()
        )
        later = e.alias("later")  # a newer generation of the same entitlement
        newer = select(later.c.subject).where(
            later.c.subject == e.c.subject, later.c.policy_id == e.c.policy_id, later.c.generation > e.c.generation
        )
        revoked = select(e.c.subject).where(
            e.c.subject == a.c.subject, e.c.policy_id == policy.id, e.c.revoked_in.is_not(None), ~newer.exists()
        )
        query = (
            select(a.c.subject, a.c.policy_version, a.c.created_at, noticed.c.at)
            .join(latest, and_(latest.c.subject == a.c.subject, latest.c.run == a.c.matching_run))
            .outerjoin(noticed, and_(noticed.c.subject == a.c.subject, noticed.c.policy_version == a.c.policy_version))
            .where(a.c.policy_id == policy.id, a.c.sha256.not_in(done), ~revoked.exists())
            .order_by(a.c.subject)
        )
        days = dt.timedelta(days=policy.confirm_within_days)
        with engine.connect() as db:
            for row in db.execute(query):
                start = row.at or row.created_at
                if at > start + days:
                    out.append(Expired(row.subject, policy.id, row.policy_version, start, start + days))
    return out


def confirm_by(engine: Engine, subject: str, policy: Policy) -> dt.datetime | None:
    """When the subject's latest application under the policy must be confirmed by (UTC), if it has a deadline."""
    if policy.confirm_within_days is None:
        return None
    a = applications
    with engine.connect() as db:
        row = db.execute(
            select(a.c.policy_version, a.c.created_at).where(a.c.subject == subject, a.c.policy_id == policy.id)
            .order_by(a.c.matching_run.desc()).limit(1)
        ).first()  # fmt: skip
        if row is None:
            return None
        start = _noticed_at(db, subject, policy.id, row.policy_version) or row.created_at
    return start + dt.timedelta(days=policy.confirm_within_days)


# ---------- the finance department's file ----------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def export_confirmations(engine: Engine, out: Path) -> tuple[int, int]:
    """One JSON line per confirmation: the sealed application, how it was confirmed and, when signed, the
    COSE bytes (base64) and the device's public key (JWK). Returns (lines, signed)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    a, c, s = applications, confirmations, confirmation_statements
    query = (
        select(a.c.sha256, a.c.subject, a.c.policy_id, a.c.policy_version, a.c.document, c.c.confirmed_at,
               c.c.channel, s.c.signed, s.c.notice_version, s.c.statement, s.c.device_key)
        .join(c, c.c.application_sha256 == a.c.sha256)
        .outerjoin(s, s.c.application_sha256 == a.c.sha256)
        .order_by(c.c.confirmed_at, a.c.sha256)
    )  # fmt: skip
    lines = signed = 0
    with engine.connect() as db, out.open("w", encoding="utf-8") as handle:
        for row in db.execute(query):
            is_signed = bool(row.signed) and row.statement is not None and row.device_key is not None
            key = bytes(row.device_key) if is_signed else b""
            line = {
                "format": EXPORT_FORMAT, "application_sha256": row.sha256, "subject": row.subject,
                "policy_id": row.policy_id, "policy_version": row.policy_version, "channel": row.channel,
                "confirmed_at": row.confirmed_at.replace(tzinfo=dt.UTC).isoformat(timespec="seconds"),
                "signed": is_signed, "notice_version": row.notice_version, "application": row.document,
                "statement": base64.b64encode(bytes(row.statement)).decode() if is_signed else None,
                "device_public_key": (
                    {"kty": "EC", "crv": "P-256", "x": _b64url(key[:32]), "y": _b64url(key[32:])} if is_signed else None
                ),
            }  # fmt: skip
            handle.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
            lines += 1
            signed += is_signed
    return lines, signed


class VerifiedLine(NamedTuple):
    application_sha256: str
    subject: str
    policy_id: str
    channel: str
    signed: bool
    signed_at: int | None  # the statement's time
    device_key_sha256: str | None  # holder_devices' name of the key
    seal_checked: bool


def verify_export_line(text: str, seal_key: PublicKey | None = None) -> VerifiedLine:
    """Check one exported confirmation from its own bytes: the application's hash, and for a signed one the
    statement's form, its signature by the device key in the line and its fields against the line; with the
    lead department's seal key, the application's seal too. ConfirmationError naming the problem otherwise."""
    try:
        line = json.loads(text)
    except ValueError as exc:
        raise ConfirmationError(BAD_STATEMENT, f"not a JSON line: {exc}") from None
    if not isinstance(line, dict) or line.get("format") != EXPORT_FORMAT:
        raise ConfirmationError(BAD_STATEMENT, f"not a {EXPORT_FORMAT} line")
    fields = ("application_sha256", "subject", "policy_id", "channel", "application")
    if not all(isinstance(line.get(f), str) for f in fields) or type(line.get("signed")) is not bool:
        raise ConfirmationError(BAD_STATEMENT, f"a line needs the text fields {list(fields)} and signed true or false")
    document = line["application"].encode()
    if hashlib.sha256(document).hexdigest() != line["application_sha256"]:
        raise ConfirmationError(WRONG_APPLICATION, "the application's bytes do not hash to its application_sha256")
    try:
        payload = json.loads(document).get("payload", {})
    except (ValueError, AttributeError):
        payload = None
    policy = payload.get("policy") if isinstance(payload, dict) else None
    if (
        not isinstance(policy, dict)
        or payload.get("subject") != line["subject"]
        or policy.get("id") != line["policy_id"]
    ):
        raise ConfirmationError(WRONG_APPLICATION, "the application is not the line's subject's under its policy")
    if seal_key is not None:
        check_application(document, seal_key)
    if not line["signed"]:
        return VerifiedLine(line["application_sha256"], line["subject"], line["policy_id"], line["channel"], False,
                            None, None, seal_key is not None)  # fmt: skip
    jwk = line.get("device_public_key")
    if not isinstance(jwk, dict) or not isinstance(jwk.get("x"), str) or not isinstance(jwk.get("y"), str):
        raise ConfirmationError(BAD_STATEMENT, "a signed line needs device_public_key {kty, crv, x, y}")
    try:
        x, y = _unb64url(jwk["x"]), _unb64url(jwk["y"])
        statement = base64.b64decode(str(line.get("statement")), validate=True)
    except (binascii.Error, ValueError):
        raise ConfirmationError(BAD_STATEMENT, "the statement must be base64 and the key's x and y base64url") from None
    read = read_statement(statement, x, y)
    if read.application_sha256 != line["application_sha256"] or read.policy_id != line["policy_id"]:
        raise ConfirmationError(WRONG_APPLICATION, "the statement confirms another application than the line's")
    if read.channel != line["channel"] or read.notice_version != line.get("notice_version"):
        raise ConfirmationError(WRONG_APPLICATION, "the statement's channel or notice version is not the line's")
    return VerifiedLine(line["application_sha256"], line["subject"], line["policy_id"], read.channel, True, read.t,
                        key_sha256(x, y), seal_key is not None)  # fmt: skip


def confirm(
    engine: Engine,
    subject: str,
    policy_id: str,
    channel: str,
    at: dt.datetime | None = None,
    *,
    policy: Policy | None = None,
) -> str:
    """Record the subject's (unsigned) confirmation of their latest application; returns its sha256.

    With the published `policy`, a confirmation after its version ended, past its deadline or of an
    entitlement a later run revoked is refused (app.matching.confirmations, which also takes signed ones).
    """
    now = (at.replace(tzinfo=dt.UTC) if at is not None else dt.datetime.now(dt.UTC)).timestamp()
    return confirm_application(engine, subject, policy_id, channel, policy=policy, now=now).application_sha256
