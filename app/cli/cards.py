"""`suishen card`: printed cards for people without a phone (长者卡), at a service counter or in batches.

    suishen card issue --subject P00000001 --initial 王 [--years 1|2] --out card.pdf
    suishen card print-batch --out sheets.pdf [--initials initials.csv]
    suishen card lost --card "SC 3482 9911 0457"

They use the server's keys, services database and subject pepper (its settings: SUISHEN_KEYS_DIR,
DATABASE_URL, SUISHEN_DATA_DIR), so a card issued here is the card the server would issue, and the
catalogue the server published decides what a card carries. A refused request stores nothing and
prints one line.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from app.cli.common import fail, now
from keys.errors import SuishenError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.issuing import Issuer

cards_app = typer.Typer(no_args_is_help=True, help="Printed cards for people without a phone (长者卡 / 纸质随申码).")
KeysOption = Annotated[
    Optional[Path], typer.Option("--keys", help="Keys directory; default: the server's (SUISHEN_KEYS_DIR, var/keys).")
]
DatabaseOption = Annotated[
    Optional[str],
    typer.Option("--database", help="The services database (file or SQLAlchemy URL); default: the server's."),
]
YearsOption = Annotated[int, typer.Option("--years", help="How long the card is valid: 1 or 2 years.")]


class Desk:
    """What a counter needs to issue cards: the services database, the signing issuer and the pepper."""

    def __init__(self, keys: Path | None, database: str | None) -> None:
        from app.db.engine import open_database
        from app.issuing import day_pseudonym
        from app.settings import Settings

        settings = Settings()
        self.keys_dir = keys or settings.keys_dir
        self.engine: Engine = open_database(database or settings.sqlalchemy_url)
        pepper = settings.secret("subject-pepper", settings.subject_pepper)
        self.pseudonym: Callable[[str, float], bytes] = lambda subject, at: day_pseudonym(pepper, subject, at)
        self._catalogue_dir = settings.catalogue_dir

    def issuer(self, at: int) -> Issuer:
        """The ring's active key, carrying what the published catalogue's scan-mode policies read."""
        from app.catalogue import publish
        from app.catalogue_admin import latest_snapshot
        from app.cli.common import load_policies
        from app.issuing import Issuer
        from keys import directory
        from keys.storage import passphrase_from_environment, read_private_key
        from verifier.catalogue import load_snapshot

        passphrase = passphrase_from_environment()
        entry, private_key = directory.signing_key(self.keys_dir, passphrase)
        root_public = directory.root_public_key(self.keys_dir)
        held = latest_snapshot(self.engine)
        if held is not None:
            document = held[1]
        else:  # no server has published yet: the catalogue it would publish first
            root_key = read_private_key(self.keys_dir / directory.ROOT_KEY_FILE, passphrase)
            document = publish(load_policies(self._catalogue_dir), root_key, version=1, now=at, max_age=3600)
        carry = frozenset(load_snapshot(document, root_public).scan_attributes())
        return Issuer(directory.load_ring(self.keys_dir).issuer, entry, private_key, carry)

    def close(self) -> None:
        self.engine.dispose()


def _closing(desk: Desk) -> contextlib.closing[Desk]:
    return contextlib.closing(desk)


@cards_app.command("issue")
def card_issue(
    subject: Annotated[str, typer.Option("--subject", help="The person's registry subject (after checking their ID).")],
    initial: Annotated[str, typer.Option("--initial", help="The printed name initial: one letter or character.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the A6 card (PDF).")],
    years: YearsOption = 1,
    keys: KeysOption = None,
    database: DatabaseOption = None,
) -> None:
    """Issue a card at a service counter: an A6 PDF; the person's earlier card stops working."""
    from app.card_print import CardFace, card_pdf, find_font
    from app.cards import YEAR_S, issue_card, printed_initial, years_of

    try:
        years_of(years)
        printed_initial(initial)
        find_font()  # before anything is stored: a card that cannot be printed is not issued
        with out.open("wb") as pdf, _closing(Desk(keys, database)) as desk:  # the file opened first, likewise
            at = now()
            issued = issue_card(desk.engine, desk.issuer(at), subject, desk.pseudonym, now=at, initial=initial,
                                years=years, actor="cli")  # fmt: skip
            card = issued.card
            pdf.write(card_pdf(CardFace(issued.text, card.label, card.initial, card.expiry_date())))
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"card {card.label} valid until {card.expiry_date().isoformat()}: wrote {out}")
    if card.expires_at - card.issued_at < years * YEAR_S:
        typer.echo(f"(shorter than {years} year(s): a card never outlives the key that signs it)")
    for old in issued.replaced:
        typer.echo(f"card {old.label} replaced: gates refuse it once they hold the next revocation list")


@cards_app.command("print-batch")
def card_print_batch(
    out: Annotated[Path, typer.Option("--out", help="Where to write the A4 sheets of eight cards (PDF).")],
    initials: Annotated[
        Optional[Path],
        typer.Option("--initials", help="CSV of subject,initial; without it each card has a box to fill in by hand."),
    ] = None,
    years: YearsOption = 1,
    keys: KeysOption = None,
    database: DatabaseOption = None,
) -> None:
    """Cards for everyone aged 80+ with a scan-mode privilege, no registered phone and no card."""
    from app.card_print import CardFace, find_font, sheets_pdf
    from app.cards import batch_subjects, issue_card, printed_initial, years_of

    try:
        years_of(years)
        find_font()
        given = _initials(initials, printed_initial) if initials is not None else {}
        with _closing(Desk(keys, database)) as desk:
            at = now()
            subjects = batch_subjects(desk.engine, at)
            if not subjects:
                typer.echo("nobody to print for: everyone aged 80+ with a privilege has a phone or a card")
                return
            issuer = desk.issuer(at)
            with out.open("wb") as pdf:  # opened before any card is stored
                faces = []
                for subject in subjects:
                    issued = issue_card(desk.engine, issuer, subject, desk.pseudonym, now=at,
                                        initial=given.get(subject), years=years, actor="cli batch")  # fmt: skip
                    card = issued.card
                    faces.append(CardFace(issued.text, card.label, card.initial, card.expiry_date()))
                pdf.write(sheets_pdf(faces))
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    sheets = -(-len(faces) // 8)
    typer.echo(f"{len(faces)} cards on {sheets} A4 sheet(s): wrote {out}")


def _initials(path: Path, check: Callable[[str], str]) -> dict[str, str]:
    """subject,initial rows (a header row is skipped); a bad initial names its line."""
    out: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            if not row or (line == 1 and row[0].strip().lower() == "subject"):
                continue
            if len(row) != 2:
                raise fail(f"{path}:{line}: expected subject,initial")
            try:
                out[row[0].strip()] = check(row[1])
            except SuishenError as exc:
                raise fail(f"{path}:{line}: {exc}") from None
    return out


@cards_app.command("lost")
def card_lost(
    card: Annotated[str, typer.Option("--card", help="The card number, as printed (SC 3482 9911 0457).")],
    database: DatabaseOption = None,
) -> None:
    """Report a card lost: it stops working at every gate that holds the next revocation list."""
    from app.cards import parse_card_number, report_lost

    try:
        number = parse_card_number(card)
        with _closing(Desk(None, database)) as desk:
            ended = report_lost(desk.engine, number=number, now=now(), actor="cli").card
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"card {ended.label} reported lost: gates refuse it once they hold the next revocation list")


def card_keep_until(database: str | None, kid: bytes) -> int | None:
    """The latest expiry of the active cards `kid` signed, from the services database when there is one."""
    from app.cards import latest_card_expiry
    from app.db.engine import database_url, open_database
    from app.private_files import sqlite_file

    url = database_url(database) if database else None
    if url is None:
        from app.settings import Settings

        url = Settings().sqlalchemy_url
    path = sqlite_file(url) if url.startswith("sqlite") else None
    if path is not None and not path.exists():
        return None  # no services database here: no cards were issued from it
    engine = open_database(url)
    try:
        return latest_card_expiry(engine, kid)
    finally:
        engine.dispose()
