"""QR decoders behind one small interface, each call wrapped so that a decoder's failure is "no code".

A decoder takes a grayscale frame (uint8, 2-D) and returns what it read. Decoders differ a lot
in speed and reach (DESIGN.md: zxing-cpp reads most at a tenth of pyzbar's cost), so the chain in
`scanner_client.chain` decides which run when; this module only adapts the libraries.
"""

from __future__ import annotations

import logging
from typing import NamedTuple, Protocol

import numpy as np

from keys.errors import SuishenError

log = logging.getLogger(__name__)


class Found(NamedTuple):
    """One code read from a frame; `hint` is True for a symbol seen but not decoded (no text)."""

    text: str
    decoder: str
    hint: bool = False


class Decoder(Protocol):
    name: str

    def decode(self, gray: np.ndarray) -> list[Found]:
        """Codes in a grayscale frame; may raise anything (callers use `safe_decode`)."""
        ...


class ZxingDecoder:
    """zxing-cpp restricted to QR; also reports symbols it located but could not read (hints).

    The plain pass uses the local-average binariser without inversion (the cheapest pass that
    reads printed and well-lit codes); `for_screens()` gives the global-histogram binariser with
    inversion, which reads far more phone screens (moiré, dark mode) in our test frames.
    """

    name = "zxing"

    def __init__(self, *, screens: bool = False, hints: bool = True) -> None:
        import zxingcpp

        self._zx = zxingcpp
        self._format = zxingcpp.BarcodeFormat.QRCode
        self._try_invert = screens
        self._binarizer = zxingcpp.Binarizer.GlobalHistogram if screens else zxingcpp.Binarizer.LocalAverage
        self._hints = hints
        self.name = "zxing-screen" if screens else "zxing"

    def for_screens(self) -> ZxingDecoder:
        return ZxingDecoder(screens=True, hints=False)

    def decode(self, gray: np.ndarray) -> list[Found]:
        zx = self._zx
        barcodes = zx.read_barcodes(
            gray,
            formats=self._format,
            try_invert=self._try_invert,
            binarizer=self._binarizer,
            text_mode=zx.TextMode.Plain,
            return_errors=self._hints,
        )
        out = []
        for b in barcodes:
            if b.valid:
                out.append(Found(b.text, self.name))
            else:
                out.append(Found("", self.name, hint=True))
        return out


class PyzbarDecoder:
    """zbar restricted to QR (the other symbologies cost time and read nothing we issue)."""

    name = "pyzbar"

    def __init__(self) -> None:
        from pyzbar import pyzbar

        self._pyzbar = pyzbar
        self._symbols = [pyzbar.ZBarSymbol.QRCODE]

    def decode(self, gray: np.ndarray) -> list[Found]:
        height, width = gray.shape[:2]
        image = (np.ascontiguousarray(gray).tobytes(), width, height)
        return [Found(r.data.decode("utf-8"), self.name) for r in self._pyzbar.decode(image, symbols=self._symbols)]


class OpenCVDecoder:
    """OpenCV's QRCodeDetector (several codes per frame); the slowest and least reaching here."""

    name = "opencv"

    def __init__(self) -> None:
        import cv2

        self._detector = cv2.QRCodeDetector()

    def decode(self, gray: np.ndarray) -> list[Found]:
        ok, texts, _points, _ = self._detector.detectAndDecodeMulti(gray)
        if not ok:
            return []
        out = []
        for text in texts:
            out.append(Found(text, self.name) if text else Found("", self.name, hint=True))
        return out


DECODERS: dict[str, type[ZxingDecoder] | type[PyzbarDecoder] | type[OpenCVDecoder]] = {
    "zxing": ZxingDecoder,
    "pyzbar": PyzbarDecoder,
    "opencv": OpenCVDecoder,
}


class DecoderNameError(SuishenError, ValueError):
    """A decoder name that is not one of DECODERS."""


def make_decoders(names: str | list[str]) -> list[Decoder]:
    """Decoders from names ("zxing,pyzbar"), in order; a clear error for an unknown or unusable one."""
    parts = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    parts = [n for n in parts if n]
    if not parts:
        raise DecoderNameError(f"name at least one decoder from {sorted(DECODERS)}")
    decoders: list[Decoder] = []
    for name in parts:
        factory = DECODERS.get(name)
        if factory is None:
            raise DecoderNameError(f"unknown decoder {name!r}; choose from {sorted(DECODERS)}")
        try:
            decoders.append(factory())
        except (ImportError, OSError) as exc:
            raise DecoderNameError(f"decoder {name} is not usable here: {exc}") from None
    return decoders


def safe_decode(decoder: Decoder, gray: np.ndarray) -> list[Found]:
    """The decoder's result, or no code when it raises (e.g. UnicodeDecodeError on non-UTF-8 data)."""
    try:
        return decoder.decode(gray)
    except Exception as exc:  # a decoder's own failure must never stop the gate
        log.debug("decoder %s failed: %s: %s", decoder.name, type(exc).__name__, exc)
        return []
