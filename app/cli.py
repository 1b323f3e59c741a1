"""The `suishen` command: keys, catalogue, match, serve, issue, verify and demo.

Every failure prints one line naming the problem and exits non-zero; no stack traces.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from app.cli_common import DEFAULT_KEYS_DIR, fail
from app.cli_devices import devices_app
from app.cli_match import data_app, match_app
from app.cli_partners import partners_app
from keys import directory
from keys.algorithms import ALG_IDS, ES256, KeyAlgorithmError
from keys.ring import KeyRingError
from keys.signed_json import SignedDocumentError
from keys.storage import KeyStorageError, passphrase_from_environment, read_private_key, read_public_key
from keys.trust_list import DEFAULT_MAX_AGE_S, load_trust_list

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Suishen Pass: keys, codes and verification.")
keys_app = typer.Typer(no_args_is_help=True, help="Issuer keys, rotation and signed trust lists.")
trust_app = typer.Typer(no_args_is_help=True, help="Export and check signed trust lists.")
catalogue_app = typer.Typer(no_args_is_help=True, help="Validate, publish and inspect the policy catalogue.")
app.add_typer(keys_app, name="keys")
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(match_app, name="match")
app.add_typer(data_app, name="data")
app.add_typer(devices_app, name="devices")
keys_app.add_typer(trust_app, name="trust-list")
keys_app.add_typer(partners_app, name="partner")

DirOption = Annotated[Path, typer.Option("--dir", envvar="SUISHEN_KEYS_DIR", help="Keys directory.")]
EXPECTED_ERRORS = (KeyRingError, KeyStorageError, SignedDocumentError, KeyAlgorithmError, ValueError, OSError)


def _now() -> int:
    return int(time.time())


@keys_app.command("init")
def keys_init(
    dir: DirOption = DEFAULT_KEYS_DIR,
    issuer: Annotated[str, typer.Option(help="Issuer id written into every code (iss).")] = "CN-SH",
    region: Annotated[str, typer.Option(help="Region code of the issuer.")] = "310000",
    alg: Annotated[str, typer.Option(help="ES256 (default), EdDSA or SM2 (needs gmssl-pyx).")] = "ES256",
) -> None:
    """Create an issuer key and a trust-list root key, both encrypted at rest."""
    try:
        ring = directory.init_directory(
            dir,
            issuer=issuer,
            region=region,
            passphrase=passphrase_from_environment(),
            now=_now(),
            alg=ALG_IDS.get(alg, 0) or _bad_alg(alg),
        )
    except EXPECTED_ERRORS as exc:
        raise fail(str(exc)) from None
    typer.echo(f"created key ring for {issuer} in {dir}: active kid {ring.active().kid.hex()}")


def _bad_alg(alg: str) -> int:
    raise KeyAlgorithmError(f"--alg must be one of {sorted(ALG_IDS)}, not {alg!r}")


@keys_app.command("rotate")
def keys_rotate(dir: DirOption = DEFAULT_KEYS_DIR) -> None:
    """Make a new active key; the old one keeps verifying until its codes have expired."""
    try:
        ring = directory.rotate(dir, passphrase=passphrase_from_environment(), now=_now())
    except EXPECTED_ERRORS as exc:
        raise fail(str(exc)) from None
    typer.echo(f"rotated: active kid {ring.active().kid.hex()}, trust list generation {ring.generation}")


@keys_app.command("revoke")
def keys_revoke(kid: str, dir: DirOption = DEFAULT_KEYS_DIR) -> None:
    """Mark a key revoked: verifiers with the next trust list refuse its codes at once."""
    try:
        ring = directory.revoke(dir, bytes.fromhex(kid))
    except EXPECTED_ERRORS as exc:
        raise fail(str(exc)) from None
    typer.echo(f"revoked {kid}; export a new trust list (generation {ring.generation})")


@trust_app.command("export")
def trust_export(
    out: Annotated[Path, typer.Option("--out", help="Where to write the signed trust list.")],
    dir: DirOption = DEFAULT_KEYS_DIR,
    max_age: Annotated[int, typer.Option(help="Seconds after which verifiers refuse the list.")] = DEFAULT_MAX_AGE_S,
) -> None:
    """Sign the ring's keys into a trust list with the root key."""
    try:
        out.write_bytes(
            directory.export_trust_list(dir, passphrase=passphrase_from_environment(), now=_now(), max_age=max_age)
        )
    except EXPECTED_ERRORS as exc:
        raise fail(str(exc)) from None
    typer.echo(f"wrote {out}")


@trust_app.command("verify")
def trust_verify(
    file: Path,
    root: Annotated[Path, typer.Option("--root", help="Trust-list root public key (PEM).")],
) -> None:
    """Check a trust list's signature and age, and list its keys."""
    try:
        trust_list = load_trust_list(file.read_bytes(), read_public_key(root), time.time())
    except EXPECTED_ERRORS as exc:
        raise fail(str(exc)) from None
    typer.echo(f"trust list version {trust_list.version}: valid until {trust_list.expires_at}")
    for key in trust_list.keys:
        typer.echo(f"  {key.kid.hex()}  {key.status:8s} {key.issuer} ({key.region})  {sorted(key.privileges)}")


@catalogue_app.command("validate")
def catalogue_validate(folder: Path) -> None:
    """Check every policy file; list every problem (file, field path, message)."""
    from app.catalogue import load_catalogue

    catalogue = load_catalogue(folder)
    for problem in catalogue.problems:
        typer.echo(str(problem), err=True)
    if catalogue.problems:
        typer.echo(f"{len(catalogue.problems)} problem(s) in {folder}", err=True)
        raise typer.Exit(code=1)
    modes = {m: sum(p.delivery == m for p in catalogue.policies) for m in ("scan", "direct", "confirm")}
    typer.echo(f"{len(catalogue.policies)} policies, no problems ({modes})")


@catalogue_app.command("publish")
def catalogue_publish(
    folder: Path,
    out: Annotated[Path, typer.Option("--out", help="Snapshot file; its version is raised by one.")],
    keys_dir: Annotated[Path, typer.Option("--keys", help="Keys directory (the root key signs).")] = DEFAULT_KEYS_DIR,
    max_age: Annotated[int, typer.Option(help="Seconds after which gates answer CATALOGUE_STALE.")] = 3 * 86400,
) -> None:
    """Sign the published policies into a snapshot for gates; nothing is written if any file has a problem."""
    from app.catalogue import load_catalogue, next_version, publish

    catalogue = load_catalogue(folder)
    for problem in catalogue.problems:
        typer.echo(str(problem), err=True)
    if catalogue.problems:
        raise fail(f"{len(catalogue.problems)} problem(s) in {folder}: nothing published")
    try:
        root = read_private_key(keys_dir / directory.ROOT_KEY_FILE, passphrase_from_environment())
        document = publish(catalogue, root, version=next_version(out), now=_now(), max_age=max_age)
        out.write_bytes(document)
    except EXPECTED_ERRORS as exc:
        raise fail(str(exc)) from None
    published = sum(p.status == "published" for p in catalogue.policies)
    typer.echo(f"wrote {out}: version {next_version(out) - 1}, {published} published policies")


@catalogue_app.command("show")
def catalogue_show(
    snapshot: Path,
    root: Annotated[Optional[Path], typer.Option("--root", help="Root public key (PEM).")] = None,
) -> None:
    """Check a snapshot's signature and list its policies."""
    from verifier.catalogue import load_snapshot

    try:
        snap = load_snapshot(
            snapshot.read_bytes(), read_public_key(root or snapshot.parent / directory.ROOT_PUBLIC_FILE)
        )
    except EXPECTED_ERRORS as exc:
        raise fail(str(exc)) from None
    stale = " (STALE)" if time.time() > snap.expires_at else ""
    typer.echo(f"catalogue snapshot version {snap.version}, hash {snap.content_hash[:16]}")
    typer.echo(f"valid until {snap.expires_at}{stale}")
    for p in snap.policies:
        where = ",".join(sorted(p.venue_types | p.venue_ids)) or "-"
        typer.echo(f"  {p.id:40s} {p.delivery:7s} {where:30s} {p.title_zh}")


@app.command("issue")
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
    from app.profiles import ProfileError, read_profile
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
        now = _now()
        if holder_key is None:
            text = online_code(issuer.credential(holder, now, lifetime=lifetime))
        else:
            device = read_private_key(holder_key, passphrase)
            if _alg(device) != ES256:
                raise KeyAlgorithmError("the holder key must be a P-256 (ES256) key")
            credential = issuer.credential(holder, now, device_key=device.public_key(), lifetime=lifetime)  # type: ignore[arg-type]
            text = holder_code(credential, device_proof(credential, device, now))  # type: ignore[arg-type]
        if png is not None:
            write_png(text, png)
    except (*EXPECTED_ERRORS, ProfileError) as exc:
        raise fail(str(exc)) from None
    typer.echo(text)


def _alg(key: object) -> int:
    from keys.algorithms import alg_of

    return alg_of(key)  # type: ignore[arg-type]


@app.command("verify")
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
    from app.verifying import VenueError, read_venue, verify_text_or_image

    if (text is None) == (image is None):
        raise fail("give either the code text or --image")
    if (venue_type or venue) and catalogue is None:
        raise fail("--venue-type and --venue need --catalogue SNAPSHOT")
    root_key = root or trust_list.parent / directory.ROOT_PUBLIC_FILE
    try:
        place = read_venue(venue, venue_type) if catalogue is not None else None
        result = verify_text_or_image(trust_list, root_key, text, image, time.time(), catalogue, place)
    except (*EXPECTED_ERRORS, VenueError) as exc:
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
        for explanation in decision["explanation"]:
            typer.echo(f"    {explanation}")


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's QR images.")] = Path("var/demo"),
) -> None:
    """Make dev keys, issue both kinds of code, render, read back with pyzbar, verify."""
    from app.demo import run_demo

    raise typer.Exit(code=run_demo(out))


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool, typer.Option("--demo", help="Set up dev keys, sample registries and a matching run first; dev login on.")
    ] = False,
) -> None:
    """Run the online services (signing, verify API, distribution, events, admin, pages)."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.serve import serve_command

    try:
        serve_command(host, port, demo)
    except EXPECTED_ERRORS as exc:
        raise fail(str(exc)) from None
    except SQLAlchemyError as exc:
        raise fail(f"the services database cannot be used: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None


def main() -> None:
    from app.private_files import restrict_umask

    restrict_umask()  # profiles, registries, results: files 0600 and folders 0700 (app/private_files.py)
    app()


if __name__ == "__main__":
    main()
