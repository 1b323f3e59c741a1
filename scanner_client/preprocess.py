"""Frame variants for codes on phone screens: dark mode, low contrast, glare, moiré, blur, small codes.

Each variant costs about one plain decode, so the chain runs them only when the plain pass
found nothing (and then only when a symbol was located, or on every Nth empty frame).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Variant = Callable[[np.ndarray], np.ndarray]

_CLAHE = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))


def to_gray(frame: np.ndarray) -> np.ndarray:
    """A 2-D uint8 view of a BGR, BGRA or already-gray frame."""
    if frame.ndim == 2:
        return frame
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def invert(gray: np.ndarray) -> np.ndarray:
    """Dark-mode screens show light modules on a dark ground."""
    return cv2.bitwise_not(gray)


def equalise(gray: np.ndarray) -> np.ndarray:
    """Local contrast (CLAHE): dim screens, and codes half washed out by a reflection."""
    return _CLAHE.apply(gray)


def smooth(gray: np.ndarray) -> np.ndarray:
    """A light blur that removes the moiré of a screen's pixel grid before binarising."""
    return cv2.GaussianBlur(gray, (0, 0), 1.2)


def sharpen(gray: np.ndarray) -> np.ndarray:
    """Unsharp mask for a code slightly out of focus or moving."""
    blurred = cv2.GaussianBlur(gray, (0, 0), 2.0)
    return cv2.addWeighted(gray, 2.0, blurred, -1.0, 0)


def upscale(gray: np.ndarray) -> np.ndarray:
    """Twice the size, for codes held far away (modules of one or two pixels)."""
    return cv2.resize(gray, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)


def identity(gray: np.ndarray) -> np.ndarray:
    """The frame as it is (for a decoder set up differently for screens)."""
    return gray


VARIANTS: dict[str, Variant] = {
    "plain": identity,
    "invert": invert,
    "equalise": equalise,
    "sharpen": sharpen,
    "smooth": smooth,
    "upscale": upscale,
}
