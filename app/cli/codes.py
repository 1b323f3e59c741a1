"""`suishen issue` and `suishen verify`: a code made from a profile, and a code checked offline.

`verify --image` reads the QR with the gate's decoders: the command line is the one place in
`app/` that may use `scanner_client` (the composition root).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from app.cli.common import fail, now
from keys import directory
from keys.algorithms import ES256, KeyAlgorithmError
from keys.errors import SuishenError
from keys.storage import passphrase_from_environment, read_private_key, read_public_key
from verifier.catalogue import load_snapshot
from verifier.decide import Decider, Venue
from verifier.trust import TrustStore
from verifier.verify import Verifier


def issue(
    keys_dir: Annotated[Path, typer.Option("--keys", help="Keys directory.")],
    profile: Annotated[Path, typer.Option("--profile", help="Holder profile JSON.")],
    png: Annotated[Optional[Path], typer.Option("--png", help="Write the QR image here.")] = None,
    holder_key: Annotated[
        Optional[Path], typer.Option("--holder-key", help="Device P-256 private key (PEM): makes a holder-bound code.")
    ] = None,
    lifetime: Annotated[Optional[int], typer.Option(help="Seconds; default 60 online, 24 h holder-bound.")] = None,
    catalogue: Annotated[
        Optional[Path], typer.Option("--catalogue", help="Snapshot: carry only what its scan-mode policies read.")
    ] = None,
) -> None:
    """Issue a code for a profile and print its text."""
    from app.issuing import Issuer
    from app.profiles import read_profile
    from app.qr import write_png
    from verifier.code import device_proof, holder_code, online_code

    try:
        holder = read_profile(profile)
        passphrase = passphrase_from_environment()
        entry, private_key = directory.signing_key(keys_dir, passphrase)
        carry = None
        if catalogue is not None:
            from verifier.catalogue import load_snapshot

            snapshot = load_snapshot(catalogue.read_bytes(), directory.root_public_key(keys_dir))
            carry = frozenset(snapshot.scan_attributes())
        issuer = Issuer(directory.load_ring(keys_dir).issuer, entry, private_key, carry)
        at = now()
        if holder_key is None:
            text = online_code(issuer.credential(holder, at, lifetime=lifetime))
        else:
            device = read_private_key(holder_key, passphrase)
            if _alg(device) != ES256:
                raise KeyAlgorithmError("the holder key must be a P-256 (ES256) key")
            credential = issuer.credential(holder, at, device_key=device.public_key(), lifetime=lifetime)  # type: ignore[arg-type]
            text = holder_code(credential, device_proof(credential, device, at))  # type: ignore[arg-type]
        if png is not None:
            write_png(text, png)
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(text)


def _alg(key: object) -> int:
    from keys.algorithms import alg_of

    return alg_of(key)  # type: ignore[arg-type]


def verify(
    trust_list: Annotated[Path, typer.Option("--trust-list", help="Signed trust list (JSON).")],
    text: Annotated[Optional[str], typer.Argument(help="Code text (SP1:...).")] = None,
    image: Annotated[Optional[Path], typer.Option("--image", help="Read the code from a QR image.")] = None,
    root: Annotated[
        Optional[Path], typer.Option("--root", help="Root public key; default root.pub.pem beside the trust list.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    catalogue: Annotated[
        Optional[Path], typer.Option("--catalogue", help="Catalogue snapshot: decide privileges at a venue.")
    ] = None,
    venue_type: Annotated[Optional[str], typer.Option("--venue-type", help="Venue type, e.g. park.")] = None,
    venue: Annotated[Optional[Path], typer.Option("--venue", help="Venue JSON: id, type, region.")] = None,
) -> None:
    """Verify a code offline and print the result (and, with a catalogue and venue, the decision)."""
    from app.verifying import read_venue

    if (text is None) == (image is None):
        raise fail("give either the code text or --image")
    if (venue_type or venue) and catalogue is None:
        raise fail("--venue-type and --venue need --catalogue SNAPSHOT")
    root_key = root or trust_list.parent / directory.ROOT_PUBLIC_FILE
    try:
        place = read_venue(venue, venue_type) if catalogue is not None else None
        result = verify_text_or_image(trust_list, root_key, text, image, time.time(), catalogue, place)
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        _print_result(result)
    if result["result"] != "VALID" or (result.get("decision") or {}).get("result") == "REJECTED":
        raise typer.Exit(code=1)


def _print_result(result: dict[str, object]) -> None:
    line = f"{result['result']}"
    if result["reason"]:
        line += f" ({result['reason']}: {result['detail']})"
    else:
        line += f" {result['kind']} code from {result['issuer']}"
    typer.echo(f"{line}  [{result['latency_us']} µs]")
    decision = result.get("decision")
    if isinstance(decision, dict):
        typer.echo(f"{decision['result']}" + (f" ({decision['reason']})" if decision["reason"] else ""))
        for privilege in decision["privileges"]:
            typer.echo(f"  {privilege['title']['zh']} / {privilege['title']['en']}: {privilege['benefit']}")
        for explanation in decision["explanation"]:  # each line {zh, en}: Chinese first, then English
            typer.echo(f"    {explanation['zh']}" if isinstance(explanation, dict) else f"    {explanation}")
            if isinstance(explanation, dict):
                typer.echo(f"    {explanation['en']}")


def verify_text_or_image(
    trust_list: Path,
    root: Path,
    text: str | None,
    image: Path | None,
    at: float,
    catalogue: Path | None = None,
    venue: Venue | None = None,
) -> dict[str, Any]:
    """The verify result for a code given as text or read from an image."""
    from app.verifying import result_json
    from scanner_client.decode import ImageDecodeError, decode_image

    root_key = read_public_key(root)
    store = TrustStore.from_document(trust_list.read_bytes(), root_key, at)
    decider = Decider(load_snapshot(catalogue.read_bytes(), root_key)) if catalogue is not None else None
    if image is not None:
        texts = decode_image(image)
        if not texts:
            raise ImageDecodeError(f"no QR code found in {image}")
        text = texts[0]
    assert text is not None
    return result_json(Verifier(store), text.strip(), at, decider, venue)
