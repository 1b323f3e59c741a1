"""Where frames come from: a camera, a video file, or a folder of images (each image one frame)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})


class SourceError(ValueError):
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


def read_image(path: Path) -> np.ndarray:
    """A BGR image; SourceError for a file that is missing or not an image."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise SourceError(f"cannot read image {path}: {exc.strerror or exc}") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None and path.suffix.lower() == ".gif":  # OpenCV reads no GIF; Pillow does
        image = _read_with_pillow(path)
    if image is None:
        raise SourceError(f"cannot read image {path}: not an image OpenCV can decode")
    return image


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
            yield Frame(i, f"{what} frame {i}", image)
            i += 1
    finally:
        capture.release()


def video_frames(path: Path) -> Iterator[Frame]:
    if not path.is_file():
        raise SourceError(f"no video file {path}")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SourceError(f"cannot open video {path}: not a format OpenCV can read")
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
