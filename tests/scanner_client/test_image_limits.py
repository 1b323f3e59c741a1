"""Images are bounded before they are decoded (scanner_client/sources.py): a small file declaring a huge
frame is refused by its header, named with its size, and the folder goes on with the next image.

The crafted PNG is real: 20000x20000 one-bit paletted pixels, all zero, about 50 kB on disk; decoded
by OpenCV it would be a 1.2 GB BGR frame. The commands run as a person would run them, and a small
launcher reports the peak memory of the command alone (ru_maxrss of its only child).
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import qrcode
from PIL import Image

from keys import directory
from scanner_client.sources import SourceError, header_size, image_frames, video_frames

BIN = Path(sys.executable).parent
HUGE = 20000
PEAK_LIMIT_MIB = 400  # the command's own peak; one decoded 20000x20000 frame alone is 1,144 MiB
PASS = b"image limits passphrase"

MEASURED = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(done.stdout)
sys.stderr.write(done.stderr)
print(f"PEAK_KIB {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} EXIT {done.returncode}")
"""


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def huge_png(side: int = HUGE) -> bytes:
    """A valid PNG of side x side one-bit pixels, all index 0, compressed row by row."""
    packer = zlib.compressobj(9)
    row = bytes(1 + (side + 7) // 8)  # filter byte 0, then the packed bits
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 3, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"PLTE", b"\xff\xff\xff\x00\x00\x00")
        + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")
    )  # fmt: skip


def huge_jpeg_header(side: int = HUGE) -> bytes:
    """A JPEG whose frame header (SOF0, after an APP0 segment) declares side x side, three components."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, side, side, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    (images / "a-huge.png").write_bytes(huge_png())
    (images / "b-huge.jpg").write_bytes(huge_jpeg_header())
    qrcode.make("HELLO GATE").save(str(images / "c-fine.png"))
    return images


def _measured(*command: str) -> tuple[str, int, int]:
    done = subprocess.run([sys.executable, "-c", MEASURED, *command], capture_output=True, text=True, timeout=120)
    *lines, last = done.stdout.rstrip("\n").split("\n")
    _, peak, _, code = last.split()
    return "\n".join(lines) + done.stderr, int(peak) // 1024, int(code)


def test_headers_give_the_declared_size_without_decoding() -> None:
    png = huge_png()
    assert len(png) < 200_000
    assert header_size(png) == (HUGE, HUGE)
    assert header_size(huge_jpeg_header()) == (HUGE, HUGE)
    gif = io.BytesIO()
    Image.new("L", (8, 8), 255).save(gif, format="GIF")
    declared = gif.getvalue()[:6] + struct.pack("<HH", HUGE, HUGE + 1) + gif.getvalue()[10:]
    assert header_size(declared) == (HUGE, HUGE + 1)  # read from the GIF header: Pillow would refuse, sizeless
    ok, encoded = cv2.imencode(".webp", np.zeros((30, 40, 3), np.uint8))
    assert ok and header_size(encoded.tobytes()) == (40, 30)  # other formats: Pillow's header read


def test_gate_decode_refuses_huge_images_by_name_and_reads_the_rest_in_little_memory(folder: Path) -> None:
    output, peak_mib, code = _measured(str(BIN / "suishen-gate"), "decode", "--images", str(folder), "--json")
    assert code == 0, output
    records = {r["image"]: r for r in map(json.loads, output.strip().splitlines())}
    assert records["a-huge.png"]["error"] == f"{HUGE}x{HUGE} pixels is over the 8192x8192 limit"
    assert records["b-huge.jpg"]["error"] == f"{HUGE}x{HUGE} pixels is over the 8192x8192 limit"
    assert records["c-fine.png"]["codes"] == ["HELLO GATE"]
    assert peak_mib < PEAK_LIMIT_MIB, f"suishen-gate decode peaked at {peak_mib} MiB"


def test_verify_image_names_the_file_and_its_size_in_one_line(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    directory.init_directory(keys, issuer="CN-SH", region="310000", passphrase=PASS, now=int(time.time()))
    trust_list = tmp_path / "trust-list.json"
    trust_list.write_bytes(directory.export_trust_list(keys, passphrase=PASS, now=int(time.time())))
    image = tmp_path / "huge.png"
    image.write_bytes(huge_png())
    output, peak_mib, code = _measured(
        str(BIN / "suishen"), "verify", "--trust-list", str(trust_list), "--root", str(keys / "root.pub.pem"),
        "--image", str(image),
    )  # fmt: skip
    assert code == 2, output
    assert output.strip() == f"error: huge.png: {HUGE}x{HUGE} pixels is over the 8192x8192 limit"
    assert peak_mib < PEAK_LIMIT_MIB, f"suishen verify peaked at {peak_mib} MiB"


def test_the_gate_loop_skips_a_huge_image_and_goes_on(folder: Path) -> None:
    frames = list(image_frames(folder))
    assert [(f.label, f.problem) for f in frames[:2]] == [
        ("a-huge.png", f"{HUGE}x{HUGE} pixels is over the 8192x8192 limit"),
        ("b-huge.jpg", f"{HUGE}x{HUGE} pixels is over the 8192x8192 limit"),
    ]
    assert frames[2].image is not None and frames[2].problem is None


def test_a_video_whose_frames_are_over_the_limit_is_refused(tmp_path: Path) -> None:
    video = tmp_path / "wide.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 5, (8200, 16))
    assert writer.isOpened()
    for _ in range(2):
        writer.write(np.zeros((16, 8200, 3), np.uint8))
    writer.release()
    with pytest.raises(SourceError, match=r"wide\.avi: its frame size, 8200x16 pixels is over the 8192x8192 limit"):
        video_frames(video)
