"""Decoding image files: `suishen-gate decode` and the `suishen demo` read-back use this.

Unlike the gate loop, which keeps empty frames cheap, an image here gets every decoder and
preprocessing step when the fast pass finds nothing: an operator testing a camera wants to
know whether anything at all can read the picture, and which decoder did.
"""

from __future__ import annotations

import functools
from pathlib import Path

from keys.errors import SuishenError
from scanner_client.chain import DecoderChain, FrameRead
from scanner_client.decoders import make_decoders
from scanner_client.sources import SourceError, image_files, read_image

DEFAULT_IMAGE_DECODERS = "zxing,pyzbar,opencv"


class ImageDecodeError(SuishenError, ValueError):
    """The file or folder could not be read as images."""


@functools.cache
def chain_for(decoders: str) -> DecoderChain:
    return DecoderChain(make_decoders(decoders))


def read_file(path: Path, decoders: str = DEFAULT_IMAGE_DECODERS) -> FrameRead:
    try:
        image = read_image(path)
    except SourceError as exc:
        raise ImageDecodeError(str(exc)) from None
    return chain_for(decoders).read_all(image)


def decode_image(path: Path) -> list[str]:
    """Texts of the QR codes found in an image file (an empty list when there is none).

    ImageDecodeError names the file ("x.png: 20000x20000 pixels is over the 8192x8192 limit").
    """
    try:
        return [r.text for r in read_file(path).reads]
    except ImageDecodeError as exc:
        message = str(exc)
        raise ImageDecodeError(message if str(path) in message else f"{path.name}: {message}") from None


def list_images(folder: Path) -> list[Path]:
    try:
        return image_files(folder)
    except SourceError as exc:
        raise ImageDecodeError(str(exc)) from None


__all__ = ["ImageDecodeError", "chain_for", "decode_image", "list_images", "read_file"]
