"""The `suishen` command: keys, catalogue, match, serve, issue, verify, card and demo.

The command line is the composition root: one module per command group, `common.py` for what
they share. Every failure prints one line naming the problem and exits non-zero; no stack traces.
"""

from __future__ import annotations

import typer

from app.cli.cards import cards_app
from app.cli.catalogue import catalogue_app
from app.cli.codes import issue, verify
from app.cli.demo import demo_command
from app.cli.devices import devices_app
from app.cli.init import init_command
from app.cli.keys import keys_app
from app.cli.match import data_app, match_app
from app.cli.revocations import revoke_app
from app.cli.serve import serve

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Suishen Pass: keys, codes and verification.")
app.add_typer(keys_app, name="keys")
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(match_app, name="match")
app.add_typer(data_app, name="data")
app.add_typer(devices_app, name="devices")
app.add_typer(cards_app, name="card")
app.add_typer(revoke_app, name="revoke")
app.command("issue")(issue)
app.command("verify")(verify)
app.command("demo")(demo_command)
app.command("serve")(serve)
app.command("init")(init_command)


def main() -> None:
    from app.private_files import restrict_umask

    restrict_umask()  # profiles, registries, results: files 0600 and folders 0700 (app/private_files.py)
    app()
