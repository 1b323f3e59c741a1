"""What every `suishen` command module shares: options, the clock, the errors it expects, one-line failures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from keys.algorithms import KeyAlgorithmError
from keys.ring import KeyRingError
from keys.signed_json import SignedDocumentError
from keys.storage import KeyStorageError

DEFAULT_KEYS_DIR = Path("keys")
DirOption = Annotated[Path, typer.Option("--dir", envvar="SUISHEN_KEYS_DIR", help="Keys directory.")]
EXPECTED_ERRORS = (
    KeyRingError, KeyStorageError, SignedDocumentError, KeyAlgorithmError, ValueError, OSError,
)  # fmt: skip


def now() -> int:
    """The clock of every command, in whole seconds."""
    return int(time.time())


def fail(message: str) -> typer.Exit:
    """Print one line naming the problem; the command exits with status 2 (no stack trace)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)
