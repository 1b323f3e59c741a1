"""What every `suishen` command module shares: options, the clock, the errors it expects, one-line failures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.settings import ROOT

if TYPE_CHECKING:
    from app.catalogue import Catalogue

DEFAULT_KEYS_DIR = Path("keys")
DirOption = Annotated[Path, typer.Option("--dir", envvar="SUISHEN_KEYS_DIR", help="Keys directory.")]
SAMPLE_CATALOGUE = ROOT / "data" / "catalogue"  # shipped beside the package: the default wherever one runs
CatalogueOption = Annotated[
    Path, typer.Option("--catalogue", help="Policy folder (YAML); default: the sample catalogue of the package.")
]
DEFAULT_RESULTS = Path("var/match/matching.duckdb")
ResultsOption = Annotated[Path, typer.Option("--db", help="DuckDB file of the matching results.")]
LedgerOption = Annotated[
    str,
    typer.Option(
        "--ledger", "--database", envvar=["SUISHEN_DATABASE_URL", "DATABASE_URL"],
        help="The services database (file or SQLAlchemy URL); default: the one `suishen serve` uses.",
    ),
]  # fmt: skip
# Every project error derives from keys.errors.SuishenError: a command catches that, plus OSError where
# it reads or writes files (and ValueError where a library's own parse, such as a date, can fail).


def now() -> int:
    """The clock of every command, in whole seconds."""
    return int(time.time())


def load_policies(folder: Path) -> Catalogue:
    """The catalogue in `folder`, or a one-line failure that says what is wrong with it."""
    from app.catalogue import load_catalogue

    if not folder.is_dir():
        raise fail(f"no folder {folder} here: pass --catalogue DIR")
    catalogue = load_catalogue(folder)
    if catalogue.problems:
        first = catalogue.problems[0]
        raise fail(f"{len(catalogue.problems)} problem(s) in {folder}, the first in {first.file}: {first.message}; "
                   f"run `suishen catalogue validate {folder}`")  # fmt: skip
    return catalogue


def fail(message: str) -> typer.Exit:
    """Print one line naming the problem; the command exits with status 2 (no stack trace)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)
