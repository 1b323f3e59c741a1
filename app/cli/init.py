"""`suishen init`: the first start of a deployment, safe to run on every start (app/first_start.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import fail


def init_command(
    issuer: Annotated[str, typer.Option(help="Issuer id written into every code (iss), on the first start.")] = "CN-SH",
    region: Annotated[str, typer.Option(help="Region code of the issuer, on the first start.")] = "310000",
) -> None:
    """Create the data and keys folders, the encrypted key ring and the secrets that are missing; refuse a missing
    or weak passphrase; change nothing when all is there (the folders come from SUISHEN_DATA_DIR and
    SUISHEN_KEYS_DIR)."""
    from app.first_start import first_start
    from app.settings import Settings
    from keys.errors import SuishenError
    from keys.storage import passphrase_from_environment

    try:
        done = first_start(Settings(), passphrase_from_environment(), issuer=issuer, region=region)
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    if not done.created:
        typer.echo(f"already set up: active kid {done.active_kid}; nothing changed")
    for line in done.created:
        typer.echo(f"created {line}")
