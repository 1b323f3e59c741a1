"""Printed cards (app.cards, app.card_print): numbers, issuing, reissue and loss through the revocation list,
the batch, and the PDF read back by the gate's decoders (zxing-cpp and pyzbar) from a page rendered by
pdftoppm, clean, blurred and photocopied, then verified and decided at real venues of the sample catalogue."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from app.card_print import (
    A4,
    CARDS_PER_SHEET,
    SHEET_CARD,
    SHEET_COLUMNS,
    SHEET_ROWS,
    CardFace,
    CardPrintError,
    card_pdf,
    find_font,
    sheets_pdf,
)
from app.cards import (
    ACTIVE,
    LOST,
    REPLACED,
    CardError,
    NoCardForPerson,
    UnknownCard,
    batch_subjects,
    card_by_number,
    cards_of,
    issue_card,
    latest_card_expiry,
    luhn_digit,
    new_card_number,
    parse_card_number,
    printed_initial,
    report_lost,
)
from app.catalogue import load_catalogue, publish
from app.cli.common import SAMPLE_CATALOGUE
from app.db.engine import open_database
from app.db.schema import audit, cards, revocations
from app.issuing import day_pseudonym
from app.revocations import current_list
from tests.support.cards import add_person, blurred, decoded_by_each, pdf_text, photocopied, render_pages
from tests.support.world import World, make_world
from verifier.catalogue import load_snapshot
from verifier.decide import GRANTED, Decider, Decision, Venue, card_label
from verifier.errors import Reason, VerificationError
from verifier.verify import Verifier

PEPPER = b"card tests pepper"
MUSEUM, PARK = Venue("sh-museum", "museum"), Venue("sh-century-park", "park")
DAY = 86400


def pseudonym(subject: str, at: float) -> bytes:
    return day_pseudonym(PEPPER, subject, at)


class Desk:
    """A counter: the services database, an issuer carrying what the sample catalogue's scan policies read."""

    def __init__(self, engine: Engine, world: World) -> None:
        self.engine = engine
        self.world = world
        self.now = world.now
        document = publish(load_catalogue(SAMPLE_CATALOGUE), world.root_key, version=1, now=world.now,
                           max_age=30 * DAY)  # fmt: skip
        snapshot = load_snapshot(document, world.root_key.public_key())  # type: ignore[arg-type]
        self.issuer = world.issuer.carrying(frozenset(snapshot.scan_attributes()))
        self.decider = Decider(snapshot)

    def issue(self, subject: str, initial: str | None = "W", years: int = 1, at: int | None = None):  # type: ignore[no-untyped-def]
        return issue_card(self.engine, self.issuer, subject, pseudonym, now=at or self.now, initial=initial,
                          years=years)  # fmt: skip

    def verifier(self, at: float) -> Verifier:
        """A gate's verifier holding the revocation list as the database has it at `at`."""
        return Verifier(self.world.store, revocations=current_list(self.engine, at))

    def decide(self, verifier: Verifier, text: str, venue: Venue, at: float) -> Decision:
        return self.decider.decide(verifier.verify(text, at, venue.id), venue, at)


@pytest.fixture
def desk(services_url: str) -> Desk:
    """On a new SQLite file, and on PostgreSQL when CI names one (tests/app/conftest.py)."""
    engine = open_database(services_url)
    for subject in ("P1", "P2", "P3"):
        add_person(engine, subject, age_over=80)
    return Desk(engine, make_world())


def reason(verifier: Verifier, text: str, at: float, venue: Venue) -> Reason:
    with pytest.raises(VerificationError) as info:
        verifier.verify(text, at, venue.id)
    return info.value.reason


def face(issued) -> CardFace:  # type: ignore[no-untyped-def]
    card = issued.card
    return CardFace(issued.text, card.label, card.initial, card.expiry_date())


# -- numbers and initials -------------------------------------------------------------------------------


def test_card_numbers_are_twelve_digits_with_a_luhn_check_digit() -> None:
    numbers = {new_card_number() for _ in range(200)}
    assert len(numbers) == 200
    for number in numbers:
        assert 10**11 <= number < 10**12 and luhn_digit(number // 10) == number % 10
        assert parse_card_number(card_label(number)) == number
        assert parse_card_number(f"sc{number}") == number == parse_card_number(str(number))
    assert luhn_digit(7992739871) == 3  # the textbook example
    number = 34829911045 * 10 + luhn_digit(34829911045)  # SC 3482 9911 045x, typed at a counter
    one_digit_off = number + 10  # 34829911055x
    two_swapped = int(str(number)[:3] + str(number)[4] + str(number)[3] + str(number)[5:])  # 3482 9 -> 3489 2
    for typo in (one_digit_off, two_swapped):
        with pytest.raises(CardError, match="is not a card number: check the digits"):
            parse_card_number(typo)
    for junk in ("SC", "SC 1234 5678 9012 3", "card one", "３４８２"):
        with pytest.raises(CardError, match="is not a card number"):
            parse_card_number(junk)


@pytest.mark.parametrize("text", ["王小明", "WX", "310101194501011234", "3", "X1", " ", "-", ""])
def test_an_initial_is_one_letter_or_character_never_a_name_or_id(text: str) -> None:
    with pytest.raises(CardError) as info:
        printed_initial(text)
    assert "\n" not in str(info.value)


def test_initials_are_kept_as_one_printed_character() -> None:
    assert [printed_initial(x) for x in ("王", " w ", "Z", "é")] == ["王", "W", "Z", "É"]


# -- issuing, reading back, deciding --------------------------------------------------------------------


def test_a_printed_card_is_read_by_the_gates_decoders_and_granted_once_per_venue_per_day(desk: Desk) -> None:
    issued = desk.issue("P1", initial="王")
    pdf = card_pdf(face(issued))
    assert pdf.startswith(b"%PDF-")
    (page,) = render_pages(pdf, dpi=200)
    assert page.shape[1] == pytest.approx(105 / 25.4 * 200, abs=2)  # A6 wide
    for name, texts in decoded_by_each(page).items():
        assert texts == {issued.text}, name

    now = desk.now
    gate = desk.verifier(now)
    first = desk.decide(gate, issued.text, MUSEUM, now)
    assert first.result == GRANTED and first.check_id
    assert first.explain()[0] == f"card {issued.card.label}: check the holder's photo ID"
    assert first.to_json()["check_id"] is True
    assert reason(gate, issued.text, now + 3 * 3600, MUSEUM) is Reason.REPLAYED  # the same venue, the same day
    assert desk.decide(gate, issued.text, PARK, now + 3 * 3600).result == GRANTED  # another venue that day
    tomorrow = now + DAY
    assert desk.decide(gate, issued.text, MUSEUM, tomorrow).result == GRANTED  # the next local day
    assert reason(gate, issued.text, tomorrow + 60, MUSEUM) is Reason.REPLAYED


def test_the_qr_still_reads_blurred_and_photocopied(desk: Desk) -> None:
    issued = desk.issue("P1")
    (page,) = render_pages(card_pdf(face(issued)), dpi=150)
    for damage, image in {"blur": blurred(page, 2.0), "photocopy": photocopied(page)}.items():
        for name, texts in decoded_by_each(image).items():
            assert texts == {issued.text}, (damage, name)
    gate = desk.verifier(desk.now)
    assert desk.decide(gate, issued.text, MUSEUM, desk.now).result == GRANTED


def test_the_card_shows_number_initial_expiry_and_the_id_line_and_never_the_subject(desk: Desk) -> None:
    issued = desk.issue("P1", initial="王", years=2)
    text = pdf_text(card_pdf(face(issued)))
    assert issued.card.label in text and "王" in text
    assert "出示时请携带身份证件 / Show with photo ID" in text
    valid_until = issued.card.expiry_date().isoformat()
    assert valid_until in text
    assert issued.card.expires_at == issued.card.issued_at + 730 * DAY  # a key's window outlasts the cards it signs
    assert "P1" not in text and "SP1:" not in text  # no subject, and the code only as the QR


def test_a_reissue_withdraws_the_old_card_through_the_revocation_list(desk: Desk) -> None:
    old = desk.issue("P1")
    later = desk.now + 3600
    new = desk.issue("P1", at=later)
    assert [c.number for c in new.replaced] == [old.card.number]
    assert new.revocation_version is not None
    assert card_by_number(desk.engine, old.card.number).status == REPLACED  # type: ignore[union-attr]
    assert [c.status for c in cards_of(desk.engine, "P1")] == [ACTIVE, REPLACED]
    gate = desk.verifier(later + 60)
    assert reason(gate, old.text, later + 60, MUSEUM) is Reason.CREDENTIAL_REVOKED
    assert desk.decide(gate, new.text, MUSEUM, later + 60).result == GRANTED
    with desk.engine.connect() as db:
        causes = db.execute(select(revocations.c.cause)).scalars().all()
        actions = db.execute(select(audit.c.action).order_by(audit.c.id)).scalars().all()
    assert causes == ["card_replaced"]
    assert actions.count("card issued") == 2 and "card replaced" in actions and "revocation added" in actions


def test_a_lost_report_withdraws_the_card_and_a_second_report_changes_nothing(desk: Desk) -> None:
    issued = desk.issue("P2")
    gate = desk.verifier(desk.now)
    assert desk.decide(gate, issued.text, MUSEUM, desk.now).result == GRANTED
    ended = report_lost(desk.engine, number=issued.card.number, now=desk.now + 60)
    assert ended.card.status == LOST and ended.revocation_version is not None
    gate = desk.verifier(desk.now + 120)
    assert reason(gate, issued.text, desk.now + 120, PARK) is Reason.CREDENTIAL_REVOKED
    again = report_lost(desk.engine, number=issued.card.number, now=desk.now + 180)
    assert again.revocation_version is None
    with pytest.raises(UnknownCard, match="no active card"):
        report_lost(desk.engine, subject="P2", now=desk.now + 240)
    with desk.engine.connect() as db:
        assert db.execute(select(revocations.c.cause)).scalars().all() == ["card_lost"]
    replacement = desk.issue("P2", at=desk.now + 300)
    assert replacement.replaced == ()  # the lost card was already withdrawn
    assert desk.decide(desk.verifier(desk.now + 360), replacement.text, PARK, desk.now + 360).result == GRANTED


def test_the_citizens_own_report_finds_their_active_card(desk: Desk) -> None:
    issued = desk.issue("P3")
    desk.issue("P1")
    ended = report_lost(desk.engine, subject="P3", now=desk.now + 5)
    assert ended.card.number == issued.card.number
    assert [c.status for c in cards_of(desk.engine, "P1")] == [ACTIVE]
    with pytest.raises(UnknownCard, match="no card SC"):
        report_lost(desk.engine, number=new_card_number(), now=desk.now)


def _stored(engine: Engine) -> tuple[int, int]:
    with engine.connect() as db:
        return (db.execute(select(func.count()).select_from(cards)).scalar_one(),
                db.execute(select(func.count()).select_from(revocations)).scalar_one())  # fmt: skip


def test_bad_requests_are_one_line_and_store_nothing(desk: Desk) -> None:
    add_person(desk.engine, "Y1", age_over=None, scan_policies=())  # in the registry, nothing a gate checks
    add_person(desk.engine, "Y2", age_over=None, scan_policies=("sh-park-martyr-family-free",))  # profile says none
    before = _stored(desk.engine)
    cases: list[tuple[dict[str, object], type[CardError], str]] = [
        ({"subject": "NOBODY"}, NoCardForPerson, "not in the latest matching results"),
        ({"subject": "Y1"}, NoCardForPerson, "no privilege a gate checks"),
        ({"subject": "Y2"}, NoCardForPerson, "no privilege a gate checks"),
        ({"subject": "P1", "initial": "王小明"}, CardError, "one letter or character"),
        ({"subject": "P1", "initial": "310101194501011234"}, CardError, "one letter or character"),
        ({"subject": "P1", "initial": "7"}, CardError, "must be a letter"),
        ({"subject": "P1", "years": 3}, CardError, "1 or 2 years, not 3"),
    ]
    for kwargs, error, words in cases:
        with pytest.raises(error, match=words) as info:
            desk.issue(**kwargs)  # type: ignore[arg-type]
        assert "\n" not in str(info.value)
    assert _stored(desk.engine) == before == (0, 0)


def test_a_card_never_outlives_its_signing_key(desk: Desk) -> None:
    late = desk.world.issuer.entry.not_after - 30 * DAY
    issued = desk.issue("P1", years=2, at=late)
    assert issued.card.expires_at == desk.world.issuer.entry.not_after
    assert latest_card_expiry(desk.engine, desk.world.issuer.entry.kid) == issued.card.expires_at
    assert latest_card_expiry(desk.engine, b"\x00" * 8) is None


# -- the batch and the A4 sheets ------------------------------------------------------------------------


def test_the_batch_picks_exactly_the_80_plus_with_no_phone_and_no_card(services_url: str) -> None:
    engine = open_database(services_url)
    desk = Desk(engine, make_world())
    add_person(engine, "A-no-phone", age_over=80)
    add_person(engine, "B-phone", age_over=80, phone="active")
    add_person(engine, "C-phone-lost", age_over=80, phone="ended")  # the phone was reported lost: a card helps
    add_person(engine, "D-has-card", age_over=80)
    add_person(engine, "E-card-lost", age_over=80)
    add_person(engine, "F-seventy", age_over=70)
    add_person(engine, "G-no-scan", age_over=80, scan_policies=())
    add_person(engine, "H-card-expired", age_over=80)
    desk.issue("D-has-card")
    lost = desk.issue("E-card-lost")
    report_lost(engine, number=lost.card.number, now=desk.now)
    desk.issue("H-card-expired", at=desk.now - 400 * DAY)  # active, but expired 35 days ago
    assert batch_subjects(engine, desk.now) == ["A-no-phone", "C-phone-lost", "E-card-lost", "H-card-expired"]
    assert batch_subjects(engine, desk.now + 366 * DAY) == [
        "A-no-phone", "C-phone-lost", "D-has-card", "E-card-lost", "H-card-expired"  # D's card has expired then
    ]


def test_an_a4_sheet_holds_eight_cards_that_each_decode(desk: Desk) -> None:
    for i in range(9):
        add_person(desk.engine, f"S{i}", age_over=80)
    issued = [desk.issue(f"S{i}", initial=None if i % 3 == 0 else "李") for i in range(9)]
    pdf = sheets_pdf([face(x) for x in issued])
    pages = render_pages(pdf, dpi=150)
    assert len(pages) == 2 and CARDS_PER_SHEET == 8
    page = pages[0]
    scale = page.shape[1] / A4[0]  # pixels per mm
    width, height = SHEET_CARD
    left, top = (A4[0] - SHEET_COLUMNS * width) / 2, (A4[1] - SHEET_ROWS * height) / 2
    read = []
    for i in range(CARDS_PER_SHEET):
        row, column = divmod(i, SHEET_COLUMNS)
        x, y = left + column * width, top + row * height
        cell = page[int(y * scale) : int((y + height) * scale), int(x * scale) : int((x + width) * scale)]
        by_each = decoded_by_each(cell)
        assert by_each["zxing"] == by_each["pyzbar"] == {issued[i].text}, i
        read.append(issued[i].text)
    assert decoded_by_each(pages[1])["zxing"] == {issued[8].text}
    gate = desk.verifier(desk.now)
    assert all(desk.decide(gate, text, PARK, desk.now).check_id for text in read)
    assert "姓 / Initial" in pdf_text(pdf)  # a batch card without an initial has a box to fill in by hand


# -- the font -------------------------------------------------------------------------------------------


def test_without_a_cjk_font_the_pdf_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import app.card_print as card_print

    monkeypatch.delenv(card_print.FONT_ENV, raising=False)
    monkeypatch.setattr(card_print, "FONT_CANDIDATES", (tmp_path / "none.ttc",))
    with pytest.raises(CardPrintError, match="install fonts-wqy-zenhei") as info:
        card_pdf(CardFace("SP1:X", "SC 0000 0000 0000", "W", dt.date(2027, 1, 1)))
    assert "\n" not in str(info.value)
    monkeypatch.setenv(card_print.FONT_ENV, str(tmp_path / "missing.ttf"))
    with pytest.raises(CardPrintError, match="is not a font file"):
        find_font()
