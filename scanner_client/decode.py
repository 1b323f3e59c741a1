"""Reading QR codes from image files with pyzbar (zxing-cpp and camera frames come with the gate loop)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from pyzbar import pyzbar

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})


class ImageDecodeError(ValueError):
    """The file could not be read as an image."""


def decode_image(path: Path) -> list[str]:
    """Texts of the QR codes found in an image file (an empty list when there is none)."""
    try:
        with Image.open(path) as image:
            image.load()
            results = pyzbar.decode(image, symbols=[pyzbar.ZBarSymbol.QRCODE])
    except OSError as exc:
        raise ImageDecodeError(f"cannot read image {path}: {exc}") from None
    return [r.data.decode("latin-1") for r in results]


def image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ImageDecodeError(f"{folder} is not a folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
