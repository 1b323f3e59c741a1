"""`suishen catalogue`: validate, publish and inspect the policy catalogue."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from app.cli.common import DEFAULT_KEYS_DIR, fail, now
from keys import directory
from keys.errors import SuishenError
from keys.storage import passphrase_from_environment, read_private_key, read_public_key

catalogue_app = typer.Typer(no_args_is_help=True, help="Validate, publish and inspect the policy catalogue.")


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
        document = publish(catalogue, root, version=next_version(out), now=now(), max_age=max_age)
        out.write_bytes(document)
    except (SuishenError, OSError) as exc:
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
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    stale = " (STALE)" if time.time() > snap.expires_at else ""
    typer.echo(f"catalogue snapshot version {snap.version}, hash {snap.content_hash[:16]}")
    typer.echo(f"valid until {snap.expires_at}{stale}")
    for p in snap.policies:
        where = ",".join(sorted(p.venue_types | p.venue_ids)) or "-"
        typer.echo(f"  {p.id:40s} {p.delivery:7s} {where:30s} {p.title_zh}")
