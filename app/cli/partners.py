"""`suishen keys partner ...`: register partner regions, import their trust lists, export and merge ours.

Mounted by app/cli/keys.py as `keys_app.add_typer(partners_app, name="partner")`. Every failure prints
one line naming the problem (for a refused list: why, and which version stays in force).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from app.api.partner_fetch import fetch_trust_list
from app.cli.common import DEFAULT_KEYS_DIR, DirOption, fail, now
from app.settings import Settings
from keys import partners
from keys.errors import SuishenError
from keys.ring import ALL_PRIVILEGES
from keys.storage import passphrase_from_environment
from keys.trust_list import DEFAULT_MAX_AGE_S, TrustListError

partners_app = typer.Typer(no_args_is_help=True, help="Partner regions: their trust-list roots and signed lists.")

MaxAge = Annotated[int, typer.Option(help="Seconds after which verifiers refuse the list.")]


def fetch(url: str, allow_hosts: list[str]) -> bytes:
    """A trust list over http(s), with the server's guards (streamed, capped, one deadline)."""
    settings = Settings()
    return asyncio.run(fetch_trust_list(url, allow_hosts=allow_hosts, deadline_s=settings.partner_fetch_deadline_s))


def read_source(source: str) -> bytes:
    """A trust list from a file or an http(s) URL the operator typed, at most MAX_DOCUMENT_BYTES.

    A URL typed here is the operator's own choice, so its host is not address-checked (the
    registered URL, fetched when no source is given, is).
    """
    limit = partners.MAX_DOCUMENT_BYTES
    if source.startswith(("https://", "http://")):
        return fetch(source, [urlsplit(source).hostname or ""])
    with Path(source).open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise TrustListError(f"{source} is over {limit} bytes: not a trust list")
    return data


def read_registered(keys_dir: Path, region: str) -> bytes:
    """The partner's list from the URL registered for it, address-checked as the server does."""
    url = partners.load_partner(keys_dir, region).trust_list_url
    if not url:
        raise partners.PartnerError(
            f"partner {region} has no trust-list URL: give a file, or register --trust-list-url"
        )
    return fetch(url, Settings().partner_fetch_allow_hosts)


@partners_app.command("register")
def register(
    region: Annotated[str, typer.Argument(help="The partner's six-digit region code, e.g. 320000.")],
    root: Annotated[Path, typer.Option("--root", help="The partner's trust-list root public key (PEM).")],
    issuer: Annotated[list[str], typer.Option("--issuer", help="An issuer id its codes carry (repeatable).")],
    privileges: Annotated[
        str, typer.Option(help="Comma-separated: what its issuers may assert at our gates.")
    ] = ",".join(ALL_PRIVILEGES),
    name: Annotated[str, typer.Option(help="A name for people, e.g. 江苏省.")] = "",
    trust_list_url: Annotated[
        str | None, typer.Option("--trust-list-url", help="Where the partner publishes its signed list (http(s)).")
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Change an existing registration (new root).")] = False,
    dir: DirOption = DEFAULT_KEYS_DIR,
) -> None:
    """Register a partner region's trust-list root and what its issuers may assert."""
    try:
        partner = partners.register_partner(
            dir,
            region,
            root.read_bytes(),
            issuers=issuer,
            privileges=[p.strip() for p in privileges.split(",") if p.strip()],
            name=name,
            now=now(),
            replace=replace,
            trust_list_url=trust_list_url,
        )
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(
        f"registered partner {partner.region} {partner.name} (root {partner.root_kid.hex()}, "
        f"issuers {', '.join(partner.issuers)}, may assert {', '.join(partner.privileges)})"
        + (f", list from {partner.trust_list_url}" if partner.trust_list_url else "")
    )


@partners_app.command("import")
def import_list(
    region: Annotated[str, typer.Argument(help="The partner's region code.")],
    source: Annotated[
        str | None, typer.Argument(help="The signed list: a file or an http(s) URL; default: its registered URL.")
    ] = None,
    dir: DirOption = DEFAULT_KEYS_DIR,
) -> None:
    """Verify a partner's signed trust list and hold it; on refusal the previous one stays in force."""
    try:
        document = read_registered(dir, region) if source is None else read_source(source)
        trust_list = partners.import_partner_trust_list(dir, region, document, time.time())
    except (SuishenError, OSError, ValueError) as exc:  # ValueError: fetch settings from the environment
        raise fail(str(exc)) from None
    revoked = sum(k.status == "revoked" for k in trust_list.keys)
    typer.echo(
        f"partner {region}: trust list version {trust_list.version} in force, {len(trust_list.keys)} keys "
        f"({revoked} revoked), valid until {trust_list.expires_at}; run `suishen keys partner merge` for the gates"
    )


@partners_app.command("list")
def list_partners(
    dir: DirOption = DEFAULT_KEYS_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """The registered partners and the list held from each."""
    try:
        summaries = partners.partner_summaries(dir, time.time())
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(summaries, ensure_ascii=False))
        return
    if not summaries:
        typer.echo("no partners registered")
    for s in summaries:
        held = s["trust_list"]
        state = (
            "no list imported"
            if held is None
            else (f"list v{held['version']} until {held['expires_at']}" + (" (STALE)" if held["stale"] else ""))
        )
        typer.echo(f"{s['region']} {s['name']}: issuers {', '.join(s['issuers'])}; {state}")
        for key in (held or {}).get("keys", []):
            typer.echo(f"  {key['kid']}  {key['status']:8s} {key['issuer']}")


@partners_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="Where to write our signed trust list for partners.")],
    dir: DirOption = DEFAULT_KEYS_DIR,
    max_age: MaxAge = DEFAULT_MAX_AGE_S,
) -> None:
    """Our own issuer keys, signed by our root, in the format partners import (send root.pub.pem once)."""
    try:
        out.write_bytes(
            partners.export_own_trust_list(dir, now(), passphrase=passphrase_from_environment(), max_age=max_age)
        )
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"wrote {out}")


@partners_app.command("merge")
def merge(
    out: Annotated[Path, typer.Option("--out", help="Where to write the merged trust list our gates load.")],
    dir: DirOption = DEFAULT_KEYS_DIR,
    max_age: MaxAge = DEFAULT_MAX_AGE_S,
) -> None:
    """Our keys and every partner's, as registered, signed by our root: the list gates load."""
    try:
        document, result = partners.merge(dir, now(), passphrase=passphrase_from_environment(), max_age=max_age)
        out.write_bytes(document)
    except (SuishenError, OSError) as exc:
        raise fail(str(exc)) from None
    included = ", ".join(f"{r} v{v}" for r, v in sorted(result.included.items())) or "none"
    typer.echo(f"wrote {out}: version {result.version}, partners {included}")
    for region, why in sorted(result.skipped.items()):
        typer.echo(f"  left out {region}: {why}")


__all__ = ["partners_app", "read_source"]
