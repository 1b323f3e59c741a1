"""`suishen-gate`: read codes from images and decide offline.

Camera and video capture, zxing-cpp and the outbox arrive with the gate-client work; the
image-folder mode here already runs the real offline verifier.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from keys.storage import KeyStorageError, read_public_key
from keys.trust_list import TrustListError
from scanner_client.decode import ImageDecodeError, decode_image, image_files
from verifier.errors import VerificationError
from verifier.trust import TrustStore
from verifier.verify import Verifier

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Suishen gate: offline code checks.")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


@app.command("decode")
def decode(
    images: Annotated[Path, typer.Option("--images", help="Folder of images.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per image.")] = False,
) -> None:
    """Decode every image in a folder (to test cameras and lighting); no verification."""
    try:
        files = image_files(images)
    except ImageDecodeError as exc:
        raise _fail(str(exc)) from None
    for path in files:
        started = time.perf_counter_ns()
        try:
            texts, error = decode_image(path), None
        except ImageDecodeError as exc:
            texts, error = [], str(exc)
        elapsed = (time.perf_counter_ns() - started) / 1e6
        record = {"image": path.name, "codes": texts, "error": error, "decode_ms": round(elapsed, 2)}
        typer.echo(json.dumps(record) if as_json else f"{path.name}: {len(texts)} code(s) in {elapsed:.1f} ms")


@app.command("scan")
def scan(
    images: Annotated[Path, typer.Option("--images", help="Folder of images to treat as frames.")],
    trust_list: Annotated[Path, typer.Option("--trust-list", help="Signed trust list.")],
    root: Annotated[Optional[Path], typer.Option("--root", help="Root public key (PEM).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Decode and verify every image offline, one decision per code."""
    try:
        store = TrustStore.from_document(
            trust_list.read_bytes(), read_public_key(root or trust_list.parent / "root.pub.pem"), time.time()
        )
        files = image_files(images)
    except (OSError, TrustListError, KeyStorageError, ImageDecodeError) as exc:
        raise _fail(str(exc)) from None
    verifier = Verifier(store)
    for path in files:
        try:
            texts = decode_image(path)
        except ImageDecodeError as exc:
            texts = []
            typer.echo(json.dumps({"image": path.name, "error": str(exc)}) if as_json else f"{path.name}: {exc}")
        for text in texts:
            try:
                verified = verifier.verify(text, time.time())
                record = {"image": path.name, "result": "VALID", **verified.to_json()}
            except VerificationError as exc:
                record = {"image": path.name, "result": "REJECTED", "reason": exc.reason.value, "detail": exc.detail}
            typer.echo(
                json.dumps(record, ensure_ascii=False)
                if as_json
                else f"{path.name}: {record['result']} {record.get('reason') or record.get('kind')}"
            )


def main() -> None:
    app()
