"""A .y4m video of a QR code, for Chromium's fake camera (--use-file-for-fake-video-capture)."""

from __future__ import annotations

from pathlib import Path

import qrcode
from qrcode.constants import ERROR_CORRECT_M


def image_y4m(png: bytes, path: Path, *, width: int = 640, height: int = 480, frames: int = 10) -> Path:
    """A picture (a screenshot of the phone's code) on a white frame, as the camera would see the phone."""
    import io

    from PIL import Image

    picture = Image.open(io.BytesIO(png)).convert("L")
    picture.thumbnail((width * 9 // 10, height * 9 // 10))
    frame = Image.new("L", (width, height), 255)
    frame.paste(picture, ((width - picture.width) // 2, (height - picture.height) // 2))
    return _write(path, frame.tobytes(), width, height, frames)


def _write(path: Path, luma: bytes, width: int, height: int, frames: int) -> Path:
    chroma = b"\x80" * ((width // 2) * (height // 2) * 2)
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + (b"FRAME\n" + luma + chroma) * frames)
    return path


def qr_y4m(text: str, path: Path, *, width: int = 640, height: int = 480, frames: int = 10) -> Path:
    """Black modules on white, centred, four-module quiet zone; 4:2:0 with flat chroma."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4, box_size=1)
    qr.add_data(text)
    qr.make(fit=True)
    matrix = qr.get_matrix()  # includes the border
    n = len(matrix)
    scale = max(1, min(width, height) * 9 // 10 // n)
    side = n * scale
    left, top = (width - side) // 2, (height - side) // 2
    luma = bytearray(b"\xff" * (width * height))
    for y in range(side):
        row = matrix[y // scale]
        base = (top + y) * width + left
        for x in range(side):
            if row[x // scale]:
                luma[base + x] = 0x10
    return _write(path, bytes(luma), width, height, frames)
