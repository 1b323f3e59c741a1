"""Camera-like frames made from our own codes: a QR drawn by the qrcode library, placed in a scene with OpenCV.

Each condition is one thing a gate camera meets (rotation, perspective, blur, noise, glare,
scale, a phone screen photographed); the tests assert a decode-rate floor per condition and
benchmarks/frames.py reports the rates and timings.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import cv2
import numpy as np

from app.qr import qr_image

Frame = np.ndarray  # BGR uint8


def qr_gray(text: str, module_px: int = 4) -> np.ndarray:
    """The code as a grayscale array with its quiet zone, `module_px` pixels per module."""
    return np.array(qr_image(text, box_size=module_px, border=4).convert("L"), dtype=np.uint8)


def background(width: int, height: int, rng: random.Random) -> Frame:
    """A plain scene: a lit gradient, some shapes and sensor noise (no code in it)."""
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    base = 90 + 70 * x + 40 * y
    img = np.repeat(base[:, :, None], 3, axis=2)
    gen = np.random.default_rng(rng.randrange(2**32))
    for _ in range(6):
        colour = [rng.randrange(40, 220) for _ in range(3)]
        cx, cy = rng.randrange(width), rng.randrange(height)
        corner = (cx + rng.randrange(20, width // 3), cy + rng.randrange(20, height // 3))
        cv2.rectangle(img, (cx, cy), corner, colour, -1)
    img += np.asarray(gen.normal(0, 4, img.shape), dtype=np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def paste(scene: Frame, code: np.ndarray, centre: tuple[int, int], matrix: np.ndarray | None = None) -> Frame:
    """Warp the code (an optional 3x3 homography about its own frame) into the scene at `centre`."""
    h, w = code.shape
    cx, cy = centre
    shift = np.array([[1, 0, cx - w / 2], [0, 1, cy - h / 2], [0, 0, 1]], dtype=np.float64)
    full = shift @ (matrix if matrix is not None else np.eye(3))
    size = (scene.shape[1], scene.shape[0])
    warped = cv2.warpPerspective(code, full, size, flags=cv2.INTER_LINEAR, borderValue=0)
    mask = cv2.warpPerspective(np.full_like(code, 255), full, size, flags=cv2.INTER_NEAREST, borderValue=0)
    out = scene.copy()
    out[mask > 0] = cv2.cvtColor(warped, cv2.COLOR_GRAY2BGR)[mask > 0]
    return out


def _rotation(w: int, h: int, degrees: float) -> np.ndarray:
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return np.vstack([m, [0, 0, 1]])


def _perspective(w: int, h: int, rng: random.Random, amount: float) -> np.ndarray:
    corners = [(0, 0), (w, 0), (w, h), (0, h)]
    src = np.array(corners, dtype=np.float32)
    moved = [(px + rng.uniform(-amount, amount) * w, py + rng.uniform(-amount, amount) * h) for px, py in corners]
    return np.asarray(cv2.getPerspectiveTransform(src, np.array(moved, dtype=np.float32)))


def _phone_screen(code: np.ndarray, rng: random.Random, *, dark: bool = False) -> np.ndarray:
    """A code on a lit phone screen photographed: pixel grid (moiré), low contrast, gamma, a bezel."""
    if dark:  # dark mode: light modules on a dark ground
        code = 255 - code
    h, w = code.shape
    up = cv2.resize(code, (w * 3, h * 3), interpolation=cv2.INTER_NEAREST).astype(np.float32)
    grid = np.ones_like(up)
    grid[::3, :] = 0.55
    grid[:, ::3] *= 0.55
    screen = up * grid
    screen = 70 + screen * (rng.uniform(0.45, 0.6))  # a backlit screen: black is grey, white is not white
    screen = 255 * (screen / 255) ** rng.uniform(0.8, 1.3)
    pad = 20
    phone = np.full((h * 3 + 2 * pad, w * 3 + 2 * pad), 25, dtype=np.float32)
    phone[pad:-pad, pad:-pad] = screen
    factor = rng.uniform(2.9, 3.3)  # not a whole number of screen pixels per camera pixel: moiré
    size = (int(phone.shape[1] / factor), int(phone.shape[0] / factor))
    small = cv2.resize(phone, size, interpolation=cv2.INTER_LINEAR)
    return np.clip(small, 0, 255).astype(np.uint8)


def _finish(frame: Frame, rng: random.Random, *, blur: float = 0.0, noise: float = 0.0, jpeg: int = 0) -> Frame:
    if blur:
        frame = cv2.GaussianBlur(frame, (0, 0), blur)
    if noise:
        gen = np.random.default_rng(rng.randrange(2**32))
        frame = np.clip(frame.astype(np.float32) + gen.normal(0, noise, frame.shape), 0, 255).astype(np.uint8)
    if jpeg:
        _, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, jpeg])
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
        assert decoded is not None
        frame = np.asarray(decoded)
    return frame


def _glare(frame: Frame, centre: tuple[int, int], radius: int, rng: random.Random) -> Frame:
    """A bright reflection over part of the code, saturating the middle of the spot."""
    h, w = frame.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gx = centre[0] + rng.uniform(-0.4, 0.4) * radius
    gy = centre[1] + rng.uniform(-0.4, 0.4) * radius
    spot = np.exp(-(((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * (radius * 0.35) ** 2)))
    lifted = frame.astype(np.float32) + (rng.uniform(150, 200) * spot)[:, :, None]
    return np.clip(lifted, 0, 255).astype(np.uint8)


Condition = Callable[[str, int, int, random.Random], Frame]


def make_frame(text: str, width: int, height: int, rng: random.Random, condition: str) -> Frame:
    """One frame of `condition` showing `text` (or nothing for "empty")."""
    scene = background(width, height, rng)
    if condition == "empty":
        return _finish(scene, rng, noise=3)
    module = {"scale_small": 2, "scale_large": 8}.get(condition, max(3, height // 160))
    code = qr_gray(text, module)
    h, w = code.shape
    dx, dy = rng.randrange(-width // 8, width // 8), rng.randrange(-height // 10, height // 10)
    centre = (width // 2 + dx, height // 2 + dy)
    if condition == "scale_large":  # close to the lens: the code fills most of the frame
        factor = 0.9 * height / h
        code = cv2.resize(code, (int(w * factor), int(h * factor)), interpolation=cv2.INTER_NEAREST)
        centre = (width // 2, height // 2)
    matrix = None
    if condition == "rotation":
        matrix = _rotation(w, h, rng.uniform(0, 360))
    elif condition == "perspective":
        matrix = _perspective(w, h, rng, 0.12) @ _rotation(w, h, rng.uniform(-20, 20))
    elif condition in ("phone_screen", "phone_dark"):
        code = _phone_screen(code, rng, dark=condition == "phone_dark")
        h, w = code.shape
        matrix = _perspective(w, h, rng, 0.05) @ _rotation(w, h, rng.uniform(-15, 15))
    frame = paste(scene, code, centre, matrix)
    if condition == "blur":
        return _finish(frame, rng, blur=rng.uniform(1.0, 1.4))
    if condition == "noise":
        return _finish(frame, rng, noise=rng.uniform(18, 28))
    if condition == "glare":
        return _finish(_glare(frame, centre, max(code.shape) // 2, rng), rng, noise=3)
    if condition in ("phone_screen", "phone_dark"):
        return _finish(frame, rng, blur=0.6, noise=4, jpeg=80)
    return _finish(frame, rng, noise=3)


CONDITIONS = (
    "plain", "rotation", "perspective", "blur", "noise", "glare", "scale_small", "scale_large", "phone_screen",
    "phone_dark",
)  # fmt: skip


def multi_frame(texts: list[str], width: int, height: int, rng: random.Random) -> Frame:
    """Several codes side by side in one frame (a family at the gate, phones held up together)."""
    frame = background(width, height, rng)
    step = width // (len(texts) + 1)
    for i, text in enumerate(texts):
        frame = paste(frame, qr_gray(text, 3), (step * (i + 1), height // 2))
    return _finish(frame, rng, noise=3)
