"""Print-ready PDFs of printed cards: one A6 card, or A4 sheets of eight with cut marks (fpdf2).

What a card shows: a large QR (error correction H, since paper wears and creases; the version is
the smallest that holds the code at H, so the cards of a batch look alike), the holder's printed
initial (one character; an empty box to be filled in by hand when the batch had none), the card
number as gates print it (`SC 3482 9911 0457`), the last day it is valid, and one line in both
languages: 出示时请携带身份证件 / Show with photo ID. Never a name, never an ID number.

The QR is drawn as vector paths (one filled path of module runs, so no hairline seams between
rows in any rasteriser) with a quiet zone of at least four modules. The Chinese line needs a CJK
TrueType font: `SUISHEN_CARD_FONT` names one, else the Debian fonts installed by `make
system-deps` (fonts-wqy-zenhei) are used; without one the PDF is refused in one line.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from qrcode.constants import ERROR_CORRECT_H

from app.qr import qr_modules
from keys.errors import SuishenError

if TYPE_CHECKING:
    from fpdf import FPDF

FONT_ENV = "SUISHEN_CARD_FONT"
FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),  # Debian fonts-wqy-zenhei (make system-deps)
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),  # Debian fonts-wqy-microhei
)
ERROR_CORRECTION = ERROR_CORRECT_H
QUIET_MODULES = 4
ID_LINE_ZH, ID_LINE_EN = "出示时请携带身份证件", "Show with photo ID"
A6 = (105.0, 148.0)
A4 = (210.0, 297.0)
SHEET_CARD = (94.0, 66.0)  # eight a sheet, two across and four down, with room for cut marks around them
SHEET_COLUMNS, SHEET_ROWS = 2, 4
CARDS_PER_SHEET = SHEET_COLUMNS * SHEET_ROWS


class CardPrintError(SuishenError, RuntimeError):
    """A card PDF cannot be made here (no CJK font); the message says what to install."""


class CardFace(NamedTuple):
    """What is printed on one card."""

    text: str  # the SP1 code text, drawn as the QR
    label: str  # the card number as printed, SC dddd dddd dddd
    initial: str | None  # one character, or None: an empty box, filled in by hand
    valid_until: dt.date


def find_font() -> Path:
    """The CJK font the cards are set in, or a one-line CardPrintError naming what to install."""
    configured = os.environ.get(FONT_ENV)
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise CardPrintError(f"{FONT_ENV}={configured} is not a font file")
        return path
    for path in FONT_CANDIDATES:
        if path.is_file():
            return path
    raise CardPrintError(
        "no CJK font for the card's Chinese line: install fonts-wqy-zenhei (`make system-deps`, or "
        f"apt-get install fonts-wqy-zenhei), or set {FONT_ENV} to a TrueType font with Chinese glyphs"
    )


def card_pdf(face: CardFace) -> bytes:
    """One A6 card (105 x 148 mm, portrait) for a counter's card printer."""
    pdf = _document(A6)
    pdf.add_page()
    _portrait(pdf, face, 0.0, 0.0)
    return bytes(pdf.output())


def sheets_pdf(faces: Sequence[CardFace]) -> bytes:
    """A4 sheets of eight cards (94 x 66 mm each) with cut marks in the margins, for a batch."""
    if not faces:
        raise CardPrintError("no cards to print")
    pdf = _document(A4)
    width, height = SHEET_CARD
    left, top = (A4[0] - SHEET_COLUMNS * width) / 2, (A4[1] - SHEET_ROWS * height) / 2
    for start in range(0, len(faces), CARDS_PER_SHEET):
        pdf.add_page()
        _cut_marks(pdf, left, top, width, height)
        for i, face in enumerate(faces[start : start + CARDS_PER_SHEET]):
            row, column = divmod(i, SHEET_COLUMNS)
            _landscape(pdf, face, left + column * width, top + row * height)
    return bytes(pdf.output())


# -- drawing ---------------------------------------------------------------------------------------

_FONT = "cjk"


def _document(page: tuple[float, float]) -> FPDF:
    from fpdf import FPDF

    font = find_font()
    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)  # "BDF NOT subset": bitmaps not needed
    pdf = FPDF(unit="mm", format=page)
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.set_creator("Suishen Pass")
    pdf.set_title("Suishen Pass card")
    pdf.add_font(_FONT, fname=str(font), collection_font_number=0)  # the first face of a .ttc collection
    pdf.set_text_color(0, 0, 0)
    pdf.set_draw_color(0, 0, 0)
    return pdf


def _qr(pdf: FPDF, text: str, x: float, y: float, size: float) -> None:
    """The QR's modules in a `size` mm square at (x, y); the caller leaves the quiet zone around it."""
    from fpdf.enums import PathPaintRule

    modules = qr_modules(text, ERROR_CORRECTION)
    n = len(modules)
    step = size / n
    with pdf.new_path(x, y, paint_rule=PathPaintRule.FILL_NONZERO) as path:
        path.style.fill_color = "#000000"
        for r, row in enumerate(modules):
            c = 0
            while c < n:
                if not row[c]:
                    c += 1
                    continue
                start = c
                while c < n and row[c]:
                    c += 1
                path.rectangle(x + start * step, y + r * step, (c - start) * step, step)


def _text(pdf: FPDF, x: float, y: float, width: float, text: str, size: float, align: str = "L") -> None:
    """One line at (x, y), shrunk until it fits `width`."""
    while size > 4:
        pdf.set_font(_FONT, size=size)
        if pdf.get_string_width(text) <= width:
            break
        size -= 0.25
    pdf.set_xy(x, y)
    pdf.cell(width, size * 0.45, text=text, align=align)


def _initial_box(pdf: FPDF, face: CardFace, x: float, y: float, side: float) -> None:
    pdf.set_line_width(0.3)
    pdf.rect(x, y, side, side)
    if face.initial:
        _text(pdf, x, y + side * 0.18, side, face.initial, side * 1.9, align="C")
    else:
        _text(pdf, x, y + side - 4.0, side, "姓 / Initial", side * 0.45, align="C")


def _portrait(pdf: FPDF, face: CardFace, x: float, y: float) -> None:
    width = A6[0]
    _text(pdf, x + 10, y + 7, width - 20, "随申码 · 长者卡  Suishen Pass card", 12, align="C")
    size = 82.0
    _qr(pdf, face.text, x + (width - size) / 2, y + 20, size)  # quiet zone: 11 mm beside, 6 above, 6 below
    _initial_box(pdf, face, x + 11.5, y + 109, 22)
    _text(pdf, x + 38, y + 110, width - 49.5, face.label, 15)
    _text(pdf, x + 38, y + 119, width - 49.5, f"有效期至 Valid until {face.valid_until.isoformat()}", 10)
    _text(pdf, x + 38, y + 125.5, width - 49.5, "本人使用 · 每馆每日一次", 8)
    _text(pdf, x + 8, y + 137, width - 16, f"{ID_LINE_ZH} / {ID_LINE_EN}", 11.5, align="C")


def _landscape(pdf: FPDF, face: CardFace, x: float, y: float) -> None:
    width, height = SHEET_CARD
    size = 54.0
    _qr(pdf, face.text, x + 6, y + (height - size) / 2, size)  # quiet zone: 6 mm in from the cut
    column, column_width = x + 64, width - 64 - 4
    _text(pdf, column, y + 6, column_width, "随申码 · 长者卡", 9)
    _initial_box(pdf, face, column, y + 11, 14)
    _text(pdf, column, y + 29, column_width, face.label, 8)
    _text(pdf, column, y + 35, column_width, f"有效期至 {face.valid_until.isoformat()}", 7)
    _text(pdf, column, y + 39.5, column_width, f"Valid until {face.valid_until.isoformat()}", 7)
    _text(pdf, column, y + 48, column_width, ID_LINE_ZH, 7)
    _text(pdf, column, y + 52.5, column_width, ID_LINE_EN, 7)


def _cut_marks(pdf: FPDF, left: float, top: float, width: float, height: float) -> None:
    """Short lines in the margins on every cut line: nothing is printed where the knife goes through a card."""
    pdf.set_line_width(0.2)
    page_w, page_h = A4
    right, bottom = left + SHEET_COLUMNS * width, top + SHEET_ROWS * height
    gap, edge = 2.0, 4.0  # marks stop 2 mm short of the cards, and 4 mm in from the paper's edge
    for i in range(SHEET_COLUMNS + 1):
        cx = left + i * width
        pdf.line(cx, edge, cx, top - gap)
        pdf.line(cx, bottom + gap, cx, page_h - edge)
    for j in range(SHEET_ROWS + 1):
        cy = top + j * height
        pdf.line(edge, cy, left - gap, cy)
        pdf.line(right + gap, cy, page_w - edge, cy)
