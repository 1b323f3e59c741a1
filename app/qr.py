"""QR images for SP1 codes: alphanumeric mode, error correction M, version fixed by length.

Fixing the version (from the capacity table) and the mask skips qrcode's trial fits and mask
scoring, which cost four times the rest of the drawing.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import qrcode
import qrcode.base
import qrcode.image.svg
import qrcode.util
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

FIXED_MASK = 2


@functools.cache
def _alphanumeric_capacity(error_correction: int = ERROR_CORRECT_M) -> tuple[int, ...]:
    capacities = []
    for version in range(1, 41):
        data_bits = sum(b.data_count for b in qrcode.base.rs_blocks(version, error_correction)) * 8
        available = data_bits - 4 - qrcode.util.length_in_bits(qrcode.util.MODE_ALPHA_NUM, version)
        capacities.append((available // 11) * 2 + (1 if available % 11 >= 6 else 0))
    return tuple(capacities)


def qr_version(text: str, error_correction: int = ERROR_CORRECT_M) -> int:
    """Smallest QR version holding `text` in alphanumeric mode at error correction M (or the one given)."""
    for version, capacity in enumerate(_alphanumeric_capacity(error_correction), start=1):
        if len(text) <= capacity:
            return version
    raise ValueError("code too long for any QR version")


def _qr(text: str, box_size: int, border: int) -> qrcode.QRCode:  # type: ignore[type-arg]
    code = qrcode.QRCode(
        version=qr_version(text),
        error_correction=ERROR_CORRECT_M,
        box_size=box_size,
        border=border,
        mask_pattern=FIXED_MASK,
    )
    code.add_data(qrcode.util.QRData(text, mode=qrcode.util.MODE_ALPHA_NUM))
    code.make(fit=False)
    return code


def qr_modules(text: str, error_correction: int) -> list[list[bool]]:
    """The module matrix (no quiet zone) for print: version fixed by length at this error correction,
    the mask chosen by qrcode's scoring (a printed card is drawn once, so the 5 ms are well spent)."""
    code = qrcode.QRCode(version=qr_version(text, error_correction), error_correction=error_correction, border=0)
    code.add_data(qrcode.util.QRData(text, mode=qrcode.util.MODE_ALPHA_NUM))
    code.make(fit=False)
    return [[bool(m) for m in row] for row in code.get_matrix()]


def qr_image(text: str, *, box_size: int = 6, border: int = 4) -> Image.Image:
    return _qr(text, box_size, border).make_image().get_image()


def qr_png(text: str, *, box_size: int = 6) -> bytes:
    out = io.BytesIO()
    qr_image(text, box_size=box_size).save(out, format="PNG")
    return out.getvalue()


def qr_svg(text: str) -> bytes:
    """Vector QR: sharp on any screen size, and 10x smaller than the PNG."""
    return _qr(text, 10, 4).make_image(image_factory=qrcode.image.svg.SvgPathImage).to_string()  # type: ignore[no-any-return]


def write_png(text: str, path: Path) -> None:
    qr_image(text).save(path, format="PNG")
