"""Printed cards under test: a card PDF rendered to page images (pdftoppm, from Debian's poppler-utils,
installed by `make system-deps`), paper damage (blur, a photocopy's contrast loss and speckle), and the
gate's own decoders reading the QR back; the services database filled with the profiles a test needs."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import Engine, insert

from app.db.schema import holder_devices, profiles, stored_entitlements
from scanner_client.decoders import PyzbarDecoder, ZxingDecoder

GATE_DECODERS = (ZxingDecoder(), PyzbarDecoder())


def render_pages(pdf: bytes, dpi: int = 200) -> list[np.ndarray]:
    """Each page of the PDF as a grayscale image, as a printer at `dpi` would lay it down."""
    assert shutil.which("pdftoppm"), "pdftoppm is missing: run `make system-deps` (poppler-utils)"
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "card.pdf"
        source.write_bytes(pdf)
        subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", str(source), str(Path(folder) / "page")],
                       check=True, capture_output=True)  # fmt: skip
        pages = sorted(Path(folder).glob("page-*.png"))
        return [cv2.imread(str(page), cv2.IMREAD_GRAYSCALE) for page in pages]


def pdf_text(pdf: bytes) -> str:
    """The text a PDF carries (pdftotext, poppler-utils): what anyone holding the file can read off it."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "card.pdf"
        source.write_bytes(pdf)
        done = subprocess.run(["pdftotext", "-layout", str(source), "-"], check=True, capture_output=True)
        return done.stdout.decode("utf-8")


def blurred(gray: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(gray, (0, 0), sigma)


def photocopied(gray: np.ndarray, seed: int = 7) -> np.ndarray:
    """A worn photocopy: black turned grey and white turned grey (contrast loss), toner speckle, slight blur."""
    rng = np.random.default_rng(seed)
    faded = 70 + gray.astype(np.float32) * (150 / 255)  # black -> 70, white -> 220
    noise = rng.normal(0, 18, gray.shape)
    speckle = rng.random(gray.shape)
    faded = faded + noise
    faded[speckle < 0.01] = 30  # toner dots
    faded[speckle > 0.99] = 250  # dropouts
    return blurred(np.clip(faded, 0, 255).astype(np.uint8), 1.0)


def decoded_by_each(gray: np.ndarray) -> dict[str, set[str]]:
    """{decoder name: texts it read} for each of the gate's decoders, on their own."""
    return {d.name: {f.text for f in d.decode(gray) if not f.hint} for d in GATE_DECODERS}


def add_person(
    engine: Engine,
    subject: str,
    *,
    age_over: int | None = 80,
    scan_policies: tuple[str, ...] = ("sh-museum-senior-free",),
    residence: int = 310000,
    phone: str | None = None,  # None, "active" or "ended"
) -> None:
    """A person in the latest matching results: a profile, scan-mode entitlements, maybe a registered phone."""
    with engine.begin() as db:
        db.execute(insert(profiles).values(
            subject=subject, age_over=age_over, disability_category=None, disability_grade=None, martyr_family=False,
            entitled_group=False, student_level=None, enrolled_until=None, residence=residence, version=1,
        ))  # fmt: skip
        for policy in scan_policies:
            db.execute(insert(stored_entitlements).values(
                subject=subject, policy_id=policy, generation=1, policy_version=1, mode="scan", run=1,
                evidence="test", revoked_in=None,
            ))  # fmt: skip
        if phone is not None:
            import datetime as dt

            at = dt.datetime(2027, 1, 1)
            db.execute(insert(holder_devices).values(
                subject=subject, key_sha256=subject.encode().hex().ljust(64, "0")[:64], registered_at=at,
                ended=None if phone == "active" else "lost", ended_at=None if phone == "active" else at,
            ))  # fmt: skip
