"""`suishen match confirmations export|verify` and `suishen match expired` (一键确认: what was confirmed, and how)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from app.cli.common import SAMPLE_CATALOGUE, CatalogueOption, LedgerOption, fail, load_policies
from app.db.engine import DEFAULT_DATABASE_URL
from keys.algorithms import PublicKey

confirmations_app = typer.Typer(
    no_args_is_help=True, help="Signed confirmations for the finance department, each verifiable on its own."
)


@confirmations_app.command("export")
def confirmations_export(
    out: Annotated[Path, typer.Option("--out", help="JSON lines file for the finance department.")],
    ledger_url: LedgerOption = DEFAULT_DATABASE_URL,
) -> None:
    """Write every confirmation as one JSON line: the sealed application, the channel and, when signed with the
    holder's device key, the COSE_Sign1 statement (base64) and the device's public key."""
    from app.db.engine import open_database
    from app.matching.confirmations import export_confirmations

    try:
        lines, signed = export_confirmations(open_database(ledger_url), out)
    except OSError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"wrote {out}: {lines:,} confirmations, {signed:,} signed with the holder's device key")


@confirmations_app.command("verify")
def confirmations_verify(
    file: Annotated[Path, typer.Argument(help="A file `suishen match confirmations export` wrote.")],
    line: Annotated[Optional[int], typer.Option("--line", help="Verify only this line (1 is the first).")] = None,
    keys_dir: Annotated[
        Optional[Path], typer.Option("--keys", help="Keys directory: also check each application's seal.")
    ] = None,
) -> None:
    """Verify each confirmation from its own stored bytes (no server, no database): the application's hash and,
    for a signed one, the statement's signature by the device key and its fields; exit 1 if any line fails."""
    from app.matching.applications import ApplicationError
    from app.matching.confirmations import verify_export_line

    try:
        texts = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {file}: {exc}") from None
    if line is not None and not 1 <= line <= len(texts):
        raise fail(f"{file} has {len(texts)} line(s): there is no line {line}")
    chosen = [line] if line is not None else range(1, len(texts) + 1)
    failed = 0
    for number in chosen:
        try:
            seal = _seal_key(keys_dir, texts[number - 1]) if keys_dir is not None else None
            ok = verify_export_line(texts[number - 1], seal)
        except (ApplicationError, OSError, ValueError, KeyError, TypeError) as exc:
            failed += 1
            typer.echo(f"line {number}: FAILED: {exc}")
            continue
        sealed = ", seal verified" if ok.seal_checked else ""
        if ok.signed:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ok.signed_at or 0))
            typer.echo(f"line {number}: verified: {ok.subject} confirmed {ok.policy_id} via {ok.channel}, signed at "
                       f"{when} by device key {(ok.device_key_sha256 or '')[:16]}{sealed}")  # fmt: skip
        else:
            typer.echo(f"line {number}: not signed: {ok.subject} confirmed {ok.policy_id} via {ok.channel}{sealed}")
    typer.echo(f"{len(chosen) - failed:,} of {len(chosen):,} line(s) verified")
    if failed:
        raise typer.Exit(1)


def _seal_key(keys_dir: Path, text: str) -> PublicKey:
    """The lead department's seal key named in the line's application."""
    import json

    from keys import directory

    department = json.loads(json.loads(text)["application"])["payload"]["lead_department"]
    return directory.seal_public_key(keys_dir, str(department))


def match_expired(
    ledger_url: LedgerOption = DEFAULT_DATABASE_URL,
    catalogue: CatalogueOption = SAMPLE_CATALOGUE,
) -> None:
    """Confirm-mode entitlements not confirmed within their policy's confirm_within_days of the notice: expired,
    to apply through the original channel (原渠道申请). One line each, for the department."""
    from app.db.engine import open_database
    from app.matching.confirmations import expired

    rows = expired(open_database(ledger_url), load_policies(catalogue).policies, time.time())
    for r in rows:
        typer.echo(f"{r.subject}  {r.policy_id}  version {r.policy_version}  noticed {r.noticed_at.date()}  "
                   f"deadline {r.deadline.date()}")  # fmt: skip
    typer.echo(f"{len(rows):,} expired confirmation(s): expired, apply through the original channel")
