"""`suishen revoke`: withdraw codes before they expire, see the revocation list, export it for offline gates.

    suishen revoke credential --kid 0123456789abcdef --cti <32 hex> [--until UNIX]
    suishen revoke subject --subject P00000001
    suishen revoke status
    suishen revoke export --out revocations.json      (for suishen-gate --revocations FILE)

They use the server's services database, subject pepper and keys (its settings: DATABASE_URL,
SUISHEN_DATA_DIR, SUISHEN_KEYS_DIR), so an entry added here is in the list every running server
serves within 2 s (each checks the database's list version that often). Every entry is
recorded with cause `admin` and an audit row naming the cause and the entry, never the person.
A refused request stores nothing and prints one line.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from app.cli.common import fail, now
from keys.errors import SuishenError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.settings import Settings

revoke_app = typer.Typer(no_args_is_help=True, help="Withdraw codes before they expire (the revocation list).")
DatabaseOption = Annotated[
    Optional[str],
    typer.Option("--database", help="The services database (file or SQLAlchemy URL); default: the server's."),
]
HEX = re.compile(r"[0-9a-f]+")


def _open(database: str | None) -> tuple[Settings, Engine]:
    from app.db.engine import open_database
    from app.settings import Settings

    settings = Settings()
    return settings, open_database(database or settings.sqlalchemy_url)


def _hex(value: str, name: str, length: int) -> bytes:
    if len(value) != 2 * length or not HEX.fullmatch(value):
        raise fail(f"--{name} must be {length} bytes in lower-case hex ({2 * length} characters), not {value!r}")
    return bytes.fromhex(value)


def _when(unix: int) -> str:
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@revoke_app.command("credential")
def revoke_credential_command(
    kid: Annotated[str, typer.Option("--kid", help="The issuer key id (8 bytes, hex).")],
    cti: Annotated[str, typer.Option("--cti", help="The credential's cti (16 bytes, hex).")],
    until: Annotated[
        Optional[int], typer.Option("--until", help="Unix time the entry may be dropped (exp + 60 s); default: "
                                    "the longest life of any credential (a card's two years).")
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Withdraw one credential (a phone's, an online code, a printed card) by its kid and cti."""
    from app.revocations import ADMIN, LONGEST_LIFE_S, revoke_credential

    raw_kid, raw_cti = _hex(kid, "kid", 8), _hex(cti, "cti", 16)
    at = now()
    if until is not None and not at <= until < 1 << 40:
        raise fail(f"--until must be a unix time from now on, not {until}")
    try:
        _, engine = _open(database)
        try:
            version = revoke_credential(engine, raw_kid, raw_cti, until if until is not None else at + LONGEST_LIFE_S,
                                        ADMIN, at, actor="cli")  # fmt: skip
        finally:
            engine.dispose()
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"credential withdrawn in revocation list version {version}: servers serve it within 2 s")


@revoke_app.command("subject")
def revoke_subject_command(
    subject: Annotated[str, typer.Option("--subject", help="The registry subject (never printed or stored).")],
    database: DatabaseOption = None,
) -> None:
    """Withdraw every phone code and online code of a subject issued before now (cards: by their own id)."""
    from app.revocations import ADMIN, revoke_subject

    if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", subject):
        raise fail("--subject must be 1 to 64 letters, digits or hyphens")
    try:
        settings, engine = _open(database)
        try:
            pepper = settings.secret("subject-pepper", settings.subject_pepper)
            version = revoke_subject(engine, pepper, subject, ADMIN, now(), actor="cli")
        finally:
            engine.dispose()
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"the subject's codes issued before now are withdrawn in revocation list version {version}")


@revoke_app.command("status")
def revoke_status(database: DatabaseOption = None) -> None:
    """The list's version and age, and how many entries each cause added (never whose)."""
    from sqlalchemy import func, select

    from app.db.schema import revocations
    from app.revocations import pending_requests, read_state

    try:
        _, engine = _open(database)
        try:
            state = read_state(engine)
            with engine.connect() as db:
                rows = db.execute(select(revocations.c.cause, revocations.c.kind, func.count())
                                  .where(revocations.c.until >= now())
                                  .group_by(revocations.c.cause, revocations.c.kind)).all()  # fmt: skip
            waiting = pending_requests(engine)
        finally:
            engine.dispose()
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    issued = _when(state.issued_at) if state.issued_at else "never"
    typer.echo(f"revocation list version {state.version}, issued {issued}")
    for cause, kind, count in sorted(rows):
        typer.echo(f"  {cause:<20} {kind:<10} {count:,}")
    typer.echo(f"  {waiting:,} matching-run request(s) waiting for a server to publish them")


@revoke_app.command("export")
def revoke_export(
    out: Annotated[Path, typer.Option("--out", help="File for the signed list (suishen-gate --revocations FILE).")],
    keys: Annotated[Optional[Path], typer.Option("--keys", help="Keys directory; default: the server's.")] = None,
    database: DatabaseOption = None,
) -> None:
    """Write the whole list, signed by the trust-list root, for a gate that is set up offline."""
    from app.revocations import full_document
    from keys import directory
    from keys.storage import passphrase_from_environment, read_private_key

    try:
        settings, engine = _open(database)
        try:
            root = read_private_key((keys or settings.keys_dir) / directory.ROOT_KEY_FILE,
                                    passphrase_from_environment())  # fmt: skip
            document = full_document(engine, root, now(), settings.revocation_list_max_age_s)
        finally:
            engine.dispose()
        out.write_bytes(document)
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"wrote the revocation list to {out} ({len(document):,} bytes)")
