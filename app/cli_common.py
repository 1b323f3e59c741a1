"""What every `suishen` command module shares: one-line failures and default places."""

from __future__ import annotations

from pathlib import Path

import typer

DEFAULT_KEYS_DIR = Path("keys")


def fail(message: str) -> typer.Exit:
    """Print one line naming the problem; the command exits with status 2 (no stack trace)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)
