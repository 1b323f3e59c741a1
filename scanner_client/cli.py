"""`suishen-gate`: the venue gate. Offline by default; syncs with the server when one is configured.

    suishen-gate --venue ID (--camera N | --video FILE | --images DIR) [--root PEM] [--state DIR]
                 [--trust-list FILE] [--catalogue FILE] [--revocations FILE] [--server URL] [--redis URL]
                 [--json | --window]
    suishen-gate decode --images DIR [--json]
    suishen-gate scan --images DIR --trust-list FILE [--root PEM] [--json]     (verify only: no venue)

Secrets never come from the command line: the device API key is read from SUISHEN_GATE_API_KEY
or --api-key-file.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from keys.errors import SuishenError
from keys.storage import read_public_key
from scanner_client.chain import DEFAULT_DEEP_EVERY
from scanner_client.decode import DEFAULT_IMAGE_DECODERS, ImageDecodeError, chain_for, list_images, read_file
from scanner_client.display import Display, JsonDisplay, TerminalDisplay, WindowDisplay
from scanner_client.documents import CATALOGUE, REVOCATIONS, TRUST_LIST
from scanner_client.runner import DEFAULT_REFRESH_S, Settings, build, run
from scanner_client.sources import open_source, paced
from scanner_client.venues import DEFAULT_VENUES, resolve_venue
from verifier.errors import VerificationError
from verifier.trust import TrustStore
from verifier.verify import Verifier

app = typer.Typer(add_completion=False, help="Suishen gate: read codes, decide offline, sync when online.")

SERVER_ENV = "SUISHEN_SERVER_URL"
API_KEY_ENV = "SUISHEN_GATE_API_KEY"
REDIS_ENV = "SUISHEN_REDIS_URL"
ROOT_ENV = "SUISHEN_GATE_ROOT"
DEFAULT_STATE = Path("var/gate")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _api_key(path: Path | None) -> str | None:
    if path is None:
        return os.environ.get(API_KEY_ENV) or None
    try:
        key = path.read_text().strip()
    except OSError as exc:
        raise _fail(f"cannot read API key file {path}: {exc.strerror}") from None
    if not key:
        raise _fail(f"API key file {path} is empty")
    return key


@app.callback(invoke_without_command=True)
def gate(
    ctx: typer.Context,
    venue: Annotated[Optional[str], typer.Option("--venue", help="Venue id, from the venue list.")] = None,
    camera: Annotated[Optional[int], typer.Option("--camera", help="Camera number (0 is the first).")] = None,
    video: Annotated[Optional[Path], typer.Option("--video", help="A video file to read frames from.")] = None,
    images: Annotated[Optional[Path], typer.Option("--images", help="A folder of images, one frame each.")] = None,
    venues: Annotated[Path, typer.Option("--venues", help="Venue list (JSON).")] = DEFAULT_VENUES,
    state: Annotated[Path, typer.Option("--state", help="Folder for caches and the outbox.")] = DEFAULT_STATE,
    root: Annotated[
        Optional[Path], typer.Option("--root", help=f"Trust-list root public key (PEM); or ${ROOT_ENV}.")
    ] = None,
    trust_list: Annotated[Optional[Path], typer.Option("--trust-list", help="Install this signed trust list.")] = None,
    catalogue: Annotated[
        Optional[Path], typer.Option("--catalogue", help="Install this signed catalogue snapshot.")
    ] = None,
    revocations: Annotated[
        Optional[Path], typer.Option("--revocations", help="Install this signed revocation list (the whole list).")
    ] = None,
    server: Annotated[Optional[str], typer.Option("--server", help=f"Server URL; or ${SERVER_ENV}.")] = None,
    api_key_file: Annotated[
        Optional[Path], typer.Option("--api-key-file", help=f"Device API key file; or ${API_KEY_ENV}.")
    ] = None,
    redis: Annotated[Optional[str], typer.Option("--redis", help=f"Shared replay cache URL; or ${REDIS_ENV}.")] = None,
    decoders: Annotated[str, typer.Option("--decoders", help="Decoder chain, fastest first.")] = "zxing",
    deep_every: Annotated[
        int, typer.Option("--deep-every", help="Try one screen step every N empty frames (0: only on a located code).")
    ] = DEFAULT_DEEP_EVERY,
    fps: Annotated[Optional[float], typer.Option("--fps", help="Replay images or video at this rate.")] = None,
    refresh_s: Annotated[float, typer.Option("--refresh", help="Seconds between document refreshes.")] = (
        DEFAULT_REFRESH_S
    ),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per decision.")] = False,
    window: Annotated[bool, typer.Option("--window", help="Show an OpenCV window (needs a GUI OpenCV).")] = False,
    power_safe: Annotated[
        bool, typer.Option("--power-safe", help="fsync every decision into the outbox (survives a power cut; ~3 ms).")
    ] = False,
) -> None:
    """Run the gate: every code seen gets a decision, recorded in the outbox before it is shown."""
    if ctx.invoked_subcommand is not None:
        return
    if venue is None:
        raise _fail("--venue ID is required (and one of --camera, --video, --images)")
    try:
        the_venue = resolve_venue(venue, venues)
        seeds = ((TRUST_LIST, trust_list), (CATALOGUE, catalogue), (REVOCATIONS, revocations))
        root_path = root or (Path(os.environ[ROOT_ENV]) if os.environ.get(ROOT_ENV) else state / "root.pub.pem")
        if not root_path.exists():
            raise _fail(f"no trust-list root key at {root_path}: pass --root FILE (PEM)")
        settings = Settings(
            venue=the_venue,
            state=state,
            root=read_public_key(root_path),
            server=server or os.environ.get(SERVER_ENV) or None,
            api_key=_api_key(api_key_file),
            redis=redis or os.environ.get(REDIS_ENV) or None,
            decoders=decoders,
            deep_every=deep_every,
            power_safe=power_safe,
            seed={k.label: p for k, p in seeds if p is not None},
        )
        frames = paced(open_source(camera, video, images), fps)
        parts = build(settings)
        display: Display = JsonDisplay() if as_json else TerminalDisplay()
        if window:
            display = WindowDisplay(display)
    except SuishenError as exc:
        raise _fail(str(exc)) from None
    except ValueError as exc:  # e.g. a --redis or --server URL that cannot be used
        raise _fail(f"bad setting: {exc}") from None
    except sqlite3.Error as exc:
        raise _fail(f"cannot use the gate's state folder {state}: {exc}") from None
    except OSError as exc:
        raise _fail(f"{exc.filename or ''}: {exc.strerror or exc}") from None
    signal.signal(signal.SIGTERM, _interrupt)  # a service stop ends like Ctrl-C: final upload and summary
    try:
        run(parts, frames, display, refresh_s=refresh_s)
    except KeyboardInterrupt:
        pass
    except SuishenError as exc:
        raise _fail(str(exc)) from None


@app.command("decode")
def decode(
    images: Annotated[Path, typer.Option("--images", help="Folder of images.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per image.")] = False,
    decoders: Annotated[str, typer.Option("--decoders", help="Decoders to try, in order.")] = DEFAULT_IMAGE_DECODERS,
) -> None:
    """Decode every image in a folder (any QR, not only SP1): which decoder read what, and how fast."""
    try:
        files = list_images(images)
        chain_for(decoders)  # a bad --decoders fails here, once
    except SuishenError as exc:
        raise _fail(str(exc)) from None
    for path in files:
        try:
            read, error = read_file(path, decoders), None
        except ImageDecodeError as exc:
            read, error = None, str(exc)
        found = [{"text": r.text, "decoder": r.step} for r in read.reads] if read else []
        ms = round(read.ms, 2) if read else None
        record = {
            "image": path.name,
            "codes": [f["text"] for f in found],
            "found": found,
            "steps": read.steps if read else [],
            "ms": ms,
            "error": error,
        }
        if as_json:
            typer.echo(json.dumps(record, ensure_ascii=False))
        elif error:
            typer.echo(f"{path.name}: {error}")
        else:
            readers = ", ".join(sorted({f["decoder"] for f in found})) or "-"
            typer.echo(f"{path.name}: {len(found)} code(s) in {ms} ms (read by {readers})")


@app.command("scan")
def scan(
    images: Annotated[Path, typer.Option("--images", help="Folder of images.")],
    trust_list: Annotated[Path, typer.Option("--trust-list", help="Signed trust list.")],
    root: Annotated[Optional[Path], typer.Option("--root", help="Root public key (PEM).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Verify the codes in every image against a trust list (no venue, no privileges, nothing recorded)."""
    try:
        root_key = read_public_key(root or trust_list.parent / "root.pub.pem")
        store = TrustStore.from_document(trust_list.read_bytes(), root_key, time.time())
        files = list_images(images)
    except SuishenError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"{exc.filename or ''}: {exc.strerror or exc}") from None
    verifier = Verifier(store)
    for path in files:
        try:
            texts = [r.text for r in read_file(path).reads]
        except ImageDecodeError as exc:
            typer.echo(json.dumps({"image": path.name, "error": str(exc)}) if as_json else f"{path.name}: {exc}")
            continue
        for text in texts:
            try:
                record = {"image": path.name, "result": "VALID", **verifier.verify(text, time.time()).to_json()}
            except VerificationError as exc:
                record = {"image": path.name, "result": "REJECTED", "reason": exc.reason.value, "detail": exc.detail}
            words = f"{path.name}: {record['result']} {record.get('reason') or record.get('kind')}"
            typer.echo(json.dumps(record, ensure_ascii=False) if as_json else words)


def main() -> None:
    os.umask(0o077)  # the outbox, replay cache and documents are the gate's own: files 0600, folders 0700
    app()
