"""The decoder chain: the fast decoder on every frame, everything else only when it can add codes.

On a frame where the first decoder reads everything it located, nothing else runs. When it
located a symbol it could not read (a "hint"), the preprocessing variants and the other
decoders run at once. On an empty frame (nothing located) they do not, except one step in
rotation every `deep_every` empty frames, taken from the cheap steps that read most screens in
our benchmark (sharpen, and zxing's screen binariser alone) and the other decoders: dark-mode
and moiré-ridden screens are still read within a few frames, while an empty frame costs about
one plain decode. (CLAHE and upscaling cost 4-5 plain decodes and rarely add a code.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from scanner_client.decoders import Decoder, Found, ZxingDecoder, make_decoders, safe_decode
from scanner_client.preprocess import VARIANTS, to_gray

DEFAULT_DECODERS = "zxing"
DEFAULT_VARIANTS = ("sharpen", "plain", "equalise", "upscale", "invert")
DEFAULT_ROTATING = ("sharpen", "plain", "invert")  # invert: for a chain led by a decoder other than zxing
DEFAULT_DEEP_EVERY = 4


class Read(NamedTuple):
    """A code read from a frame, with the step that read it (e.g. "zxing", "zxing+invert", "pyzbar")."""

    text: str
    step: str


class FrameRead(NamedTuple):
    reads: list[Read]
    steps: list[str]  # every step that ran, in order
    located: bool  # a symbol was located but not read by the first pass
    ms: float


class _Step(NamedTuple):
    name: str
    run: Callable[[np.ndarray], list[Found]]


class DecoderChain:
    """Decoders in order (the first is the fast one), with preprocessing variants for the first."""

    def __init__(
        self,
        decoders: list[Decoder] | None = None,
        *,
        variants: tuple[str, ...] = DEFAULT_VARIANTS,
        deep_every: int = DEFAULT_DEEP_EVERY,
        rotating: tuple[str, ...] = DEFAULT_ROTATING,
    ) -> None:
        self.decoders = decoders if decoders is not None else make_decoders(DEFAULT_DECODERS)
        if not self.decoders:
            raise ValueError("a decoder chain needs at least one decoder")
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown:
            raise ValueError(f"unknown preprocessing {unknown}; choose from {sorted(VARIANTS)}")
        self.deep_every = max(0, deep_every)
        first = self.decoders[0]
        screens: Decoder = first.for_screens() if isinstance(first, ZxingDecoder) else first
        inverts = isinstance(screens, ZxingDecoder)  # it tries inverted codes itself
        kept = [v for v in variants if not (inverts and v == "invert") and not (screens is first and v == "plain")]
        steps = [_Step(f"{screens.name}+{v}", _variant_step(screens, VARIANTS[v])) for v in kept]
        others = [_Step(d.name, _plain_step(d)) for d in self.decoders[1:]]
        self._extra = (*steps, *others)
        self._rotation = (*(s for s, v in zip(steps, kept, strict=True) if v in rotating), *others)
        self._empty_frames = 0
        self._next_extra = 0

    def read(self, frame: np.ndarray) -> FrameRead:
        """Every distinct code in the frame (any content, not only SP1)."""
        started = time.perf_counter()
        gray = to_gray(frame)
        first = self.decoders[0]
        found = safe_decode(first, gray)
        reads = _unique([Read(f.text, first.name) for f in found if not f.hint])
        located = any(f.hint for f in found)
        steps = [first.name]
        if located:
            for step in self._extra:
                steps.append(step.name)
                reads = _unique(reads + [Read(f.text, step.name) for f in step.run(gray) if not f.hint])
                if len(reads) >= len(found):
                    break
        elif not reads and self._rotation and self.deep_every:
            self._empty_frames += 1
            if self._empty_frames % self.deep_every == 0:
                step = self._rotation[self._next_extra % len(self._rotation)]
                self._next_extra += 1
                steps.append(step.name)
                reads = _unique([Read(f.text, step.name) for f in step.run(gray) if not f.hint])
        if reads:
            self._empty_frames = 0
        return FrameRead(reads, steps, located, (time.perf_counter() - started) * 1000)

    def read_all(self, frame: np.ndarray) -> FrameRead:
        """Every step on the frame (for `decode --images`, where an operator tests a camera, not speed)."""
        started = time.perf_counter()
        gray = to_gray(frame)
        first = self.decoders[0]
        found = safe_decode(first, gray)
        reads = _unique([Read(f.text, first.name) for f in found if not f.hint])
        steps = [first.name]
        if not reads or any(f.hint for f in found):
            for step in self._extra:
                steps.append(step.name)
                reads = _unique(reads + [Read(f.text, step.name) for f in step.run(gray) if not f.hint])
        return FrameRead(reads, steps, any(f.hint for f in found), (time.perf_counter() - started) * 1000)


def _unique(reads: list[Read]) -> list[Read]:
    seen: set[str] = set()
    out = []
    for r in reads:
        if r.text and r.text not in seen:
            seen.add(r.text)
            out.append(r)
    return out


def _variant_step(decoder: Decoder, variant: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], list[Found]]:
    def run(gray: np.ndarray) -> list[Found]:
        try:
            image = variant(gray)
        except Exception:  # preprocessing on an odd frame (tiny, empty) is "no code" too
            return []
        return safe_decode(decoder, image)

    return run


def _plain_step(decoder: Decoder) -> Callable[[np.ndarray], list[Found]]:
    return lambda gray: safe_decode(decoder, gray)
