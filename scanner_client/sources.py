"""Where frames come from: a camera, a video file, or a folder of images (each image one frame).

Every image is bounded before it is decoded: a 440 kB PNG declaring 20000x20000 pixels once became
a 5 GB frame. The size is read from the file's header (PNG IHDR and JPEG SOF parsed here, other
formats through Pillow, which reads only the header on open), and a file over `MAX_FILE_BYTES`,
a side over `MAX_SIDE` or more than `MAX_PIXELS` pixels is refused with its size in the message;
the folder goes on with the next file. A QR code needs nothing near these limits (a phone photo
is 12 megapixels). Video and camera frames over the limit are refused too: a video whose declared
frame size is over it does not open, and any frame that comes out larger is skipped.
"""

from __future__ import annotations

import io
import struct
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from keys.errors import SuishenError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
MAX_SIDE = 8192
MAX_PIXELS = 40_000_000
MAX_FILE_BYTES = 32 << 20
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


class SourceError(SuishenError, ValueError):
    """The camera, video or folder cannot be opened or read."""


class Frame(NamedTuple):
    number: int
    label: str  # the image's name, or "frame N"
    image: np.ndarray | None  # None: this image could not be read (see `problem`)
    problem: str | None = None


def image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise SourceError(f"{folder} is not a folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def size_problem(width: int, height: int) -> str | None:
    """Why a frame of this size is refused, or None when it is within the limits."""
    if width > MAX_SIDE or height > MAX_SIDE:
        return f"{width}x{height} pixels is over the {MAX_SIDE}x{MAX_SIDE} limit"
    if width * height > MAX_PIXELS:
        return f"{width}x{height} pixels is over the {MAX_PIXELS // 1_000_000}-megapixel limit"
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first SOF segment, walking the segments before it."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD9)):  # no length: TEM, RSTn, SOI
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker in _JPEG_SOF and at + 9 <= len(data):
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        if marker == 0xDA or length < 2:  # scan data before any frame header: not a usable JPEG
            return None
        at += 2 + length
    return None


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) declared by an image's header, without decoding it; None when unknown."""
    if data.startswith(_PNG) and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:  # the logical screen; frames lie within it
        width, height = struct.unpack("<HH", data[6:10])
        return width, height
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:  # reads the header only
                return img.size
    except Image.DecompressionBombError:
        return (MAX_SIDE + 1, MAX_SIDE + 1)  # over the limit; Pillow gives no size for a format not parsed above
    except (OSError, ValueError, SyntaxError, struct.error):
        return None


def read_image(path: Path) -> np.ndarray:
    """A BGR image; SourceError for a file that is missing, not an image, or over the size limits.

    The size messages leave the file's name to the caller, which prints it first ("x.png: 20000x20000
    pixels is over the 8192x8192 limit").
    """
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SourceError(f"{size >> 20} MiB is over the {MAX_FILE_BYTES >> 20} MiB file limit")
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise SourceError(f"cannot read image {path}: {exc.strerror or exc}") from None
    declared = header_size(data.tobytes()) if data.size else None
    if declared is not None and (problem := size_problem(*declared)) is not None:
        raise SourceError(problem)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None and path.suffix.lower() == ".gif":  # OpenCV reads no GIF; Pillow does
        image = _read_with_pillow(path)
    if image is None:
        raise SourceError(f"cannot read image {path}: not an image OpenCV can decode")
    if (problem := frame_problem(image)) is not None:  # a header that said less than the pixels held
        raise SourceError(problem)
    return image


def frame_problem(image: np.ndarray) -> str | None:
    height, width = image.shape[:2]
    return size_problem(int(width), int(height))


def _read_with_pillow(path: Path) -> np.ndarray | None:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return cv2.cvtColor(np.array(img.convert("RGB")), cv2.COLOR_RGB2BGR)
    except OSError:
        return None


def image_frames(folder: Path) -> Iterator[Frame]:
    for i, path in enumerate(image_files(folder)):
        try:
            yield Frame(i, path.name, read_image(path))
        except SourceError as exc:
            yield Frame(i, path.name, None, str(exc))


def _capture_frames(capture: cv2.VideoCapture, what: str) -> Iterator[Frame]:
    try:
        i = 0
        while True:
            ok, image = capture.read()
            if not ok or image is None:
                return
            problem = frame_problem(image)
            yield Frame(i, f"{what} frame {i}", None if problem else image, problem)
            i += 1
    finally:
        capture.release()


def video_frames(path: Path) -> Iterator[Frame]:
    if not path.is_file():
        raise SourceError(f"no video file {path}")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SourceError(f"cannot open video {path}: not a format OpenCV can read")
    declared = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    if (problem := size_problem(*declared)) is not None:
        capture.release()
        raise SourceError(f"{path.name}: its frame size, {problem}")
    return _capture_frames(capture, path.name)


def camera_frames(index: int, *, width: int = 1280, height: int = 720) -> Iterator[Frame]:
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise SourceError(f"cannot open camera {index}: no such camera, or it is in use")
    capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
    capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # decide on the newest frame, not on a queue of old ones
    return _capture_frames(capture, f"camera {index}")


def open_source(camera: int | None, video: Path | None, images: Path | None) -> Iterator[Frame]:
    chosen = [s for s in (camera, video, images) if s is not None]
    if len(chosen) != 1:
        raise SourceError("choose exactly one source: --camera N, --video FILE or --images DIR")
    if camera is not None:
        return camera_frames(camera)
    if video is not None:
        return video_frames(video)
    assert images is not None
    return image_frames(images)


def paced(frames: Iterator[Frame], fps: float | None) -> Iterator[Frame]:
    """Frames no faster than `fps` (to replay a recording at camera speed); unpaced when None."""
    if not fps:
        yield from frames
        return
    period = 1.0 / fps
    due = time.monotonic()
    for frame in frames:
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        due += period
        yield frame
