"""Printed cards (长者卡 / 纸质随申码) for people without a phone: numbers, issuing, reissue, loss.

A card is a credential like a phone's code, with a card number in it (`verifier.claims.CARD_CLAIM`),
no device key and a long life (one or two years, never past the signing key's window); a gate
accepts it once per venue per local day and always asks staff to check the holder's photo ID.
It is issued at a service counter (`suishen card issue`, `POST /v1/counter/cards`) or printed in
batches for everyone aged 80+ with no registered phone and no card (`suishen card print-batch`),
and drawn by `app.card_print`.

- Numbers: eleven random digits and a Luhn check digit (`SC 3482 9911 0457`), unique by the
  table's primary key (a clash, one in tens of millions, is drawn again). Random rather than
  counted, so a number says nothing about how many cards exist or who got one when; the check
  digit catches a mistyped number at the counter before anything is looked up.
- The card carries what the holder's phone code would: the profile of the latest matching run,
  restricted to the attributes the published scan-mode policies read (`Issuer.carrying`), with the
  day pseudonym of its issue day as subject. A person with no scan-mode privilege gets no card.
- One active card a person: issuing another replaces the earlier one, and a loss report ends
  it; both withdraw the old credential through the revocation list (`app.revocations`, causes
  `card_replaced` and `card_lost`), which every gate and handheld downloads.
- The table keeps the registry subject, kid and cti (never the credential), the times, the
  status and the printed initial: one letter or character, never a name or an ID number.
"""

from __future__ import annotations

import datetime as dt
import secrets
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Row, and_, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.db.schema import audit, cards, holder_devices, profiles, stored_entitlements
from app.issuing import IssueError, Issuer
from app.matching.profile_store import profile_of
from keys.errors import SuishenError
from keys.revocation_list import credential_id
from verifier.claims import Profile, decode_claims
from verifier.code import online_code, parse_code
from verifier.decide import card_label
from verifier.verify import DEFAULT_CLOCK_SKEW_S

ACTIVE, REPLACED, LOST = "active", "replaced", "lost"
STATUSES = (ACTIVE, REPLACED, LOST)
CARD_YEARS = (1, 2)
YEAR_S = 365 * 86400
BATCH_MIN_AGE = 80  # the batch prints for everyone whose profile says aged 80+ (age_over == 80)
CAUSE_REPLACED, CAUSE_LOST = "card_replaced", "card_lost"
_SERIALS = range(10**10, 10**11)  # eleven digits, then the check digit: twelve printed digits
_ATTEMPTS = 5
# The group attributes that can make a gate grant something; residence alone grants nothing.
_GROUP_FIELDS = ("age_over", "disability_category", "martyr_family", "entitled_group", "student_level")

Pseudonym = Callable[[str, float], bytes]  # (subject, at) -> the day pseudonym a code carries


class CardError(SuishenError, ValueError):
    """A card cannot be issued, found or ended as asked; the message is one line for the counter."""


class NoCardForPerson(CardError):
    """The person is not in the latest matching results, or has no privilege a gate checks."""


class UnknownCard(CardError):
    """No such card on record (or, on the citizen page, none of the caller's)."""


class Card(NamedTuple):
    number: int
    subject: str  # the registry subject (never printed, never in the code)
    kid: bytes
    cti: bytes
    issued_at: int
    expires_at: int
    status: str  # active, replaced, lost
    initial: str | None  # the printed name initial; None for a batch card whose initial is written by hand

    @property
    def label(self) -> str:
        return card_label(self.number)

    def expiry_date(self) -> dt.date:
        """The last local day the card is valid on (as printed)."""
        from verifier.local_time import LOCAL_TIME

        return dt.datetime.fromtimestamp(self.expires_at, LOCAL_TIME).date()


class IssuedCard(NamedTuple):
    card: Card
    text: str  # the SP1 code text printed as the QR
    replaced: tuple[Card, ...]  # the person's earlier cards this one replaced (now revoked)
    revocation_version: int | None  # the revocation list version that withdrew them (None: nothing replaced)


class EndedCard(NamedTuple):
    card: Card
    revocation_version: int | None  # None: it was already reported lost, or had expired


# -- numbers ---------------------------------------------------------------------------------------


def luhn_digit(serial: int) -> int:
    """The check digit that makes `serial` followed by it pass the Luhn test."""
    total = 0
    for i, ch in enumerate(reversed(str(serial))):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return (10 - total % 10) % 10


def new_card_number() -> int:
    serial = _SERIALS.start + secrets.randbelow(len(_SERIALS))
    return serial * 10 + luhn_digit(serial)


def parse_card_number(text: str | int) -> int:
    """A card number as typed: `SC 3482 9911 0457`, `SC348299110457` or `348299110457`; checked."""
    if isinstance(text, int):
        digits = str(text)
    else:
        cleaned = text.strip().upper().removeprefix("SC").replace(" ", "").replace("-", "")
        if not cleaned.isascii() or not cleaned.isdigit() or not 1 <= len(cleaned) <= 12:
            raise CardError(f"{text!r} is not a card number: it is SC and twelve digits, e.g. SC 3482 9911 0457")
        digits = cleaned
    number = int(digits)
    if number < 10 or luhn_digit(number // 10) != number % 10:
        raise CardError(f"{card_label(number) if number < 10**12 else text} is not a card number: check the digits")
    return number


def printed_initial(text: str) -> str:
    """The one letter or character printed on the card; anything longer, or a digit, is refused.

    A card never shows a name or an ID number: one character can be neither, and digits (with
    which an ID number begins) are refused outright, so an ID typed into the field by mistake is
    caught rather than printed.
    """
    initial = unicodedata.normalize("NFC", text.strip())
    if len(initial) != 1:
        raise CardError("the printed initial is one letter or character (e.g. W or 王), never a name or an ID number")
    if not initial.isalpha():
        raise CardError(f"the printed initial must be a letter or character, not {initial!r}")
    return initial.upper()


def years_of(years: int) -> int:
    if years not in CARD_YEARS:
        raise CardError(f"a card is issued for 1 or 2 years, not {years}")
    return years


# -- rows ------------------------------------------------------------------------------------------


def _card(r: Row[Any]) -> Card:
    return Card(
        int(r.number), r.subject, bytes(r.kid), bytes(r.cti), int(r.issued_at), int(r.expires_at), r.status, r.initial
    )


def card_by_number(engine: Engine, number: int) -> Card | None:
    with engine.connect() as db:
        row = db.execute(select(cards).where(cards.c.number == number)).first()
    return _card(row) if row is not None else None


def cards_of(engine: Engine, subject: str) -> list[Card]:
    """The subject's cards, newest first."""
    with engine.connect() as db:
        rows = db.execute(select(cards).where(cards.c.subject == subject).order_by(cards.c.issued_at.desc())).all()
    return [_card(r) for r in rows]


def latest_card_expiry(engine: Engine, kid: bytes) -> int | None:
    """When the last active card signed by `kid` expires: a rotation keeps that key verifiable until then."""
    with engine.connect() as db:
        query = select(cards.c.expires_at).where(cards.c.kid == kid, cards.c.status == ACTIVE)
        latest = db.execute(query.order_by(cards.c.expires_at.desc()).limit(1)).scalar()
    return int(latest) if latest is not None else None


def _audit(db: Connection, actor: str, action: str, subject: str, detail: str) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    db.execute(insert(audit).values(at=now, actor=actor, action=action, subject=subject, policy_id="", detail=detail))


# -- issuing ---------------------------------------------------------------------------------------


def has_scan_privilege(engine: Engine, subject: str) -> bool:
    """The latest matching run found a scan-mode entitlement for the subject (one a gate grants)."""
    e = stored_entitlements
    with engine.connect() as db:
        query = select(e.c.policy_id).where(e.c.subject == subject, e.c.mode == "scan", e.c.revoked_in.is_(None))
        return db.execute(query.limit(1)).first() is not None


def card_profile(engine: Engine, issuer: Issuer, subject: str, pseudonym: bytes) -> Profile:
    """The profile a card for `subject` carries, or a one-line CardError when no card would help."""
    from app.issuing import carried_profile

    profile = profile_of(engine, subject, pseudonym)
    if profile is None:
        raise NoCardForPerson("this person is not in the latest matching results: no card can be issued")
    carried = carried_profile(profile, issuer.carry) if issuer.carry is not None else profile
    if not any(getattr(carried, f) for f in _GROUP_FIELDS) or not has_scan_privilege(engine, subject):
        raise NoCardForPerson("this person has no privilege a gate checks (no scan-mode entitlement): no card")
    return carried


def issue_card(
    engine: Engine,
    issuer: Issuer,
    subject: str,
    pseudonym: Pseudonym,
    *,
    now: int,
    initial: str | None,
    years: int = 1,
    actor: str = "counter",
) -> IssuedCard:
    """Sign and record a card; the subject's earlier active card is replaced and revoked with it.

    Nothing is stored when the request is refused (an unknown person, no scan-mode privilege, a bad
    initial or term): every check runs before the one transaction that records the new card, marks
    the old one replaced and adds its revocation entry, so none of the three happens without the others.
    """
    years_of(years)
    shown = printed_initial(initial) if initial is not None else None
    profile = card_profile(engine, issuer, subject, pseudonym(subject, now))
    for _ in range(_ATTEMPTS):
        number = new_card_number()
        try:
            credential = issuer.credential(profile, now, card_number=number, lifetime=years * YEAR_S)
        except IssueError as exc:
            raise CardError(str(exc)) from None
        cred = parse_code(online_code(credential)).credential
        claims = decode_claims(cred.payload)
        assert cred.kid is not None
        card = Card(number, subject, cred.kid, claims.cti, claims.issued_at, claims.expires_at, ACTIVE, shown)
        try:
            with engine.begin() as db:
                earlier = [_card(r) for r in db.execute(
                    select(cards).where(cards.c.subject == subject, cards.c.status == ACTIVE)
                )]  # fmt: skip
                if earlier:
                    db.execute(
                        update(cards)
                        .where(cards.c.number.in_([c.number for c in earlier]))
                        .values(status=REPLACED, ended_at=now)
                    )
                db.execute(insert(cards).values(card._asdict()))
                _audit(db, actor, "card issued", subject, card.label)
                for old in earlier:
                    _audit(db, actor, "card replaced", subject, f"{old.label} by {card.label}")
                replaced = tuple(c._replace(status=REPLACED) for c in earlier)
                version = _withdraw(db, replaced, CAUSE_REPLACED, now, actor)
        except IntegrityError:
            continue  # the number was drawn before, or another counter issued a card at this moment: again
        return IssuedCard(card, online_code(credential), replaced, version)
    raise CardError(f"no card could be recorded after {_ATTEMPTS} tries")  # never expected: 10^11 numbers


def report_lost(
    engine: Engine, *, now: int, number: int | None = None, subject: str | None = None, actor: str = "counter"
) -> EndedCard:
    """End a card reported lost (by its number at a counter, or the caller's own on the citizen page).

    With `subject` alone it is the subject's active card. The card's status and its revocation
    entry are written in one transaction; a card already reported lost is answered as it is.
    """
    query = select(cards)
    if number is not None:
        query = query.where(cards.c.number == number)
    if subject is not None:
        query = query.where(cards.c.subject == subject)
    if number is None:
        query = query.where(cards.c.status == ACTIVE)
    with engine.begin() as db:
        row = db.execute(query.order_by(cards.c.issued_at.desc()).limit(1)).first()
        if row is None:
            if number is None:
                raise UnknownCard("there is no active card to report lost")
            raise UnknownCard(f"no card {card_label(number)} is on record")
        card = _card(row)
        if card.status == REPLACED:
            raise CardError(f"card {card.label} was already replaced by a newer card: it no longer works")
        if card.status == LOST:
            return EndedCard(card, None)
        db.execute(update(cards).where(cards.c.number == card.number).values(status=LOST, ended_at=now))
        _audit(db, actor, "card lost", card.subject, card.label)
        lost = card._replace(status=LOST)
        version = _withdraw(db, (lost,), CAUSE_LOST, now, actor)
    return EndedCard(lost, version)


def _withdraw(db: Connection, ended: Iterable[Card], cause: str, now: int, actor: str) -> int | None:
    """Revocation entries for the cards still alive, in the caller's transaction; the list version, if any."""
    from app.revocations import CREDENTIAL, Entry, add_entries_in

    entries = [
        Entry(CREDENTIAL, credential_id(c.kid, c.cti), None, c.expires_at + DEFAULT_CLOCK_SKEW_S)
        for c in ended
        if c.expires_at + DEFAULT_CLOCK_SKEW_S >= now
    ]
    return add_entries_in(db, entries, cause, now, actor=actor) if entries else None


# -- the batch -------------------------------------------------------------------------------------


def batch_subjects(engine: Engine, now: int) -> list[str]:
    """Everyone aged 80+ by the profile, with a scan-mode privilege, no registered phone and no live card.

    A registered phone is an active holder-bound device (`holder_devices` with no end), the one
    `POST /v1/credentials` records; a person with one makes codes on it and needs no card.
    """
    p, e, c, h = profiles, stored_entitlements, cards, holder_devices
    live_card = exists().where(c.c.subject == p.c.subject, c.c.status == ACTIVE, c.c.expires_at > now)
    scan = exists().where(and_(e.c.subject == p.c.subject, e.c.mode == "scan", e.c.revoked_in.is_(None)))
    phone = exists().where(h.c.subject == p.c.subject, h.c.ended.is_(None))
    query = select(p.c.subject).where(p.c.age_over >= BATCH_MIN_AGE, scan, ~live_card, ~phone)
    with engine.connect() as db:
        return list(db.execute(query.order_by(p.c.subject)).scalars())
