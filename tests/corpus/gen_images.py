"""Bad images for the gate's decoder (generator part of the corpus): broken files, huge headers, wrong codes.

An expectation is one of: `error` (a substring of the message the gate gives for a file it refuses),
`reasons` (the reason codes of the codes found, sorted; [] = no code in the picture). Files whose
header declares a huge picture sit in `huge/`, each read by a run of its own under a memory limit:
the gate refuses them from the header's size before decoding (a 48 kB PNG declaring 20000x20000
once took 59 s and 4.9 GB), and the limit keeps a regression from taking the machine with it.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from typing import Any

import numpy as np
import qrcode
from PIL import Image

from app.qr import qr_image
from tests.corpus.gen_codes import Maker
from tests.corpus.world import STRANGER_KEY
from verifier.code import online_code

Case = dict[str, Any]
NOT_AN_IMAGE = "not an image OpenCV can decode"
OVER = "pixels is over the 8192x8192 limit"  # after the size the header declares, e.g. "20000x20000 "


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=90)
    return out.getvalue()


def _any_qr(text: str, box: int = 6) -> Image.Image:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box, border=4, mask_pattern=2)
    code.add_data(text)
    code.make(fit=True)
    return code.make_image().get_image().convert("L")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int, rows: int = 1) -> bytes:
    """A PNG whose header declares width x height but whose data holds `rows` white rows (8-bit gray)."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    raw = (b"\x00" + b"\xff" * width) * rows
    return b"\x89PNG\r\n\x1a\n" + header + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) is rewritten to declare width x height."""
    data = bytearray(_jpeg(Image.new("L", (16, 16), 255)))
    i = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, i + 5, height, width)
    return bytes(data)


def gif_declaring(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (8, 8), 255).save(out, format="GIF")
    data = bytearray(out.getvalue())
    struct.pack_into("<HH", data, 6, width, height)
    return bytes(data)


def side_by_side(*images: Image.Image) -> Image.Image:
    width = sum(i.width for i in images) + 40 * (len(images) + 1)
    height = max(i.height for i in images) + 80
    canvas = Image.new("L", (width, height), 255)
    x = 40
    for image in images:
        canvas.paste(image.convert("L"), (x, 40))
        x += image.width + 40
    return canvas


def image_cases() -> tuple[dict[str, bytes], list[Case]]:
    """(file name -> bytes, cases). Names under huge/ are decoded in their own run."""
    m = Maker(seed=34)
    rng = random.Random(56)
    files: dict[str, bytes] = {}
    cases: list[Case] = []

    def add(name: str, data: bytes, **expect: Any) -> None:
        files[name] = data
        cases.append({"file": name, **expect})

    expired = qr_image(m.online(at=1_800_000_000 - 3600))
    good_text = m.online()
    bad_sig = good_text[:-6] + ("000000" if not good_text.endswith("000000") else "111111")
    qr_png = _png(qr_image(good_text))
    qr_jpg = _jpeg(qr_image(good_text))

    # files the gate cannot read as pictures
    add("zero-bytes.png", b"", error=NOT_AN_IMAGE)
    add("text-named-png.png", b"SP1:this is text, not a picture\n", error=NOT_AN_IMAGE)
    add("random-bytes.jpg", rng.randbytes(4096), error=NOT_AN_IMAGE)
    add("png-signature-only.png", b"\x89PNG\r\n\x1a\n", error=NOT_AN_IMAGE)
    add("png-header-no-data.png", png_declaring(64, 64)[:33], error=NOT_AN_IMAGE)
    add("png-cut-after-12-bytes.png", qr_png[:12], error=NOT_AN_IMAGE)
    add("jpeg-start-marker-only.jpg", b"\xff\xd8\xff\xe0", error=NOT_AN_IMAGE)
    add("jpeg-header-only.jpg", qr_jpg[:300], error=NOT_AN_IMAGE)
    add(
        "bmp-header-only.bmp",
        b"BM" + struct.pack("<IHHI", 70, 0, 0, 54) + struct.pack("<IiiHH", 40, 4, 4, 1, 24),
        error=NOT_AN_IMAGE,
    )
    add("gif-that-is-html.gif", b"<html><body>not a gif</body></html>", error=NOT_AN_IMAGE)
    add("webp-riff-garbage.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 " + rng.randbytes(8), error=NOT_AN_IMAGE)

    # pictures with no SP1 code, other codes, several codes
    add("blank-white.png", _png(Image.new("L", (400, 400), 255)), reasons=[])
    add("one-pixel.png", _png(Image.new("L", (1, 1), 0)), reasons=[])
    noise = np.frombuffer(rng.randbytes(320 * 240), dtype=np.uint8).reshape(240, 320)
    add("noise.png", _png(Image.fromarray(noise)), reasons=[])
    add("half-covered-code.png", _png(_cover(qr_image(good_text))), reasons=[])
    add("url-qr.png", _png(_any_qr("https://pass.example.org/verify?code=1")), reasons=["MALFORMED_PREFIX"])
    add("wifi-qr.png", _png(_any_qr("WIFI:T:WPA;S:venue-guest;P:secret;;")), reasons=["MALFORMED_PREFIX"])
    add("eu-dcc-qr.png", _png(_any_qr("HC1:" + good_text[4:])), reasons=["MALFORMED_PREFIX"])
    add("lowercase-sp1-qr.png", _png(_any_qr("sp1:" + good_text[4:])), reasons=["MALFORMED_PREFIX"])
    add("sp1-non-canonical-base45.png", _png(_any_qr("SP1:GGW")), reasons=["MALFORMED_BASE45"])
    add("sp1-too-large.png", _png(_any_qr("SP1:" + ("0123456789ABCDEF" * 70)[:1100], box=3)), reasons=["TOO_LARGE"])
    add("sp1-bad-signature.png", _png(qr_image(bad_sig)), reasons=["BAD_SIGNATURE"])
    add("sp1-expired.jpg", _jpeg(expired), reasons=["EXPIRED"])
    add(
        "sp1-unknown-kid-uppercase-suffix.PNG",
        _png(qr_image(online_code(m.credential(m.claims(), STRANGER_KEY)))),
        reasons=["UNKNOWN_KID"],
    )
    add(
        "two-codes-expired-and-url.png",
        _png(side_by_side(expired, _any_qr("https://pass.example.org/"))),
        reasons=["EXPIRED", "MALFORMED_PREFIX"],
    )
    add("two-sp1-codes.png", _png(side_by_side(qr_image(bad_sig), expired)), reasons=["BAD_SIGNATURE", "EXPIRED"])

    # headers declaring pictures far too large to decode: refused with a message, never decoded
    add("huge/png-declares-20000x20000.png", png_declaring(20000, 20000), error=f"20000x20000 {OVER}")
    add("huge/png-declares-100000x100000.png", png_declaring(100000, 100000), error=f"100000x100000 {OVER}")
    add("huge/png-declares-1x400000000.png", png_declaring(1, 400_000_000), error=f"1x400000000 {OVER}")
    add("huge/jpeg-declares-30000x30000.jpg", jpeg_declaring(30000, 30000), error=f"30000x30000 {OVER}")
    add("huge/jpeg-declares-65500x65500.jpg", jpeg_declaring(65500, 65500), error=f"65500x65500 {OVER}")
    add("huge/gif-declares-20000x20000.gif", gif_declaring(20000, 20000), error=f"20000x20000 {OVER}")
    return files, cases


def _cover(image: Image.Image) -> Image.Image:
    """The code with its left half painted white: finder patterns gone, nothing to read."""
    covered = image.convert("L").copy()
    covered.paste(255, (0, 0, covered.width // 2 + 20, covered.height))
    return covered
