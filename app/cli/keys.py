"""`suishen keys` and `suishen keys trust-list`: issuer keys, rotation and signed trust lists."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import DEFAULT_KEYS_DIR, DirOption, LedgerOption, fail, now
from app.cli.partners import partners_app
from app.db.engine import DEFAULT_DATABASE_URL
from keys import directory
from keys.algorithms import ALG_IDS, KeyAlgorithmError
from keys.errors import SuishenError
from keys.storage import passphrase_from_environment, read_public_key
from keys.trust_list import DEFAULT_MAX_AGE_S, load_trust_list

keys_app = typer.Typer(no_args_is_help=True, help="Issuer keys, rotation and signed trust lists.")
trust_app = typer.Typer(no_args_is_help=True, help="Export and check signed trust lists.")
keys_app.add_typer(trust_app, name="trust-list")
keys_app.add_typer(partners_app, name="partner")


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
            now=now(),
            alg=ALG_IDS.get(alg, 0) or _bad_alg(alg),
        )
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"created key ring for {issuer} in {dir}: active kid {ring.active().kid.hex()}")


def _bad_alg(alg: str) -> int:
    raise KeyAlgorithmError(f"--alg must be one of {sorted(ALG_IDS)}, not {alg!r}")


@keys_app.command("rotate")
def keys_rotate(dir: DirOption = DEFAULT_KEYS_DIR, ledger_url: LedgerOption = DEFAULT_DATABASE_URL) -> None:
    """Make a new active key; the old one keeps verifying until its codes (printed cards too) have expired."""
    from app.cli.cards import card_keep_until

    try:
        keep_until = card_keep_until(ledger_url, directory.load_ring(dir).active().kid)
        ring = directory.rotate(dir, passphrase=passphrase_from_environment(), now=now(), keep_until=keep_until)
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"rotated: active kid {ring.active().kid.hex()}, trust list generation {ring.generation}")
    if keep_until is not None:
        retired = ring.keys[-2]
        typer.echo(f"the old key {retired.kid.hex()} stays verifiable until {retired.not_after} (its printed cards)")


@keys_app.command("revoke")
def keys_revoke(kid: str, dir: DirOption = DEFAULT_KEYS_DIR) -> None:
    """Mark a key revoked: verifiers with the next trust list refuse its codes at once."""
    try:
        ring = directory.revoke(dir, bytes.fromhex(kid))
    except (SuishenError, OSError, ValueError) as exc:  # ValueError: a kid that is not hex
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
            directory.export_trust_list(dir, passphrase=passphrase_from_environment(), now=now(), max_age=max_age)
        )
    except (SuishenError, OSError) as exc:
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
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"trust list version {trust_list.version}: valid until {trust_list.expires_at}")
    for key in trust_list.keys:
        typer.echo(f"  {key.kid.hex()}  {key.status:8s} {key.issuer} ({key.region})  {sorted(key.privileges)}")
