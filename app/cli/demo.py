"""`suishen demo`: the whole loop on one machine, with throwaway keys.

Keys are created in a temporary folder, encrypted with a random passphrase held only in
memory; codes are drawn as PNG, read back by pyzbar (a real decoder, as a gate would), and
verified offline against the signed trust list. The trust-list root public key, the trust list,
the catalogue snapshot and an (empty) revocation list are left beside the images, with the
`suishen-gate --images` command that decides on them offline.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.catalogue import load_catalogue, publish
from app.cli.common import SAMPLE_CATALOGUE
from app.cli.demo_gate import DEMO_VENUE, gate_command
from app.issuing import Issuer, day_pseudonym
from app.qr import write_png
from app.verifying import result_json
from keys import directory
from keys.algorithms import ES256, PrivateKey, generate_private_key
from keys.revocation_list import DEFAULT_MAX_AGE_S, RevocationList, list_payload, sign_revocation_list
from keys.storage import read_private_key
from scanner_client.decode import decode_image
from verifier.base45 import b45decode
from verifier.catalogue import load_snapshot
from verifier.claims import Profile
from verifier.code import PREFIX, device_proof, holder_code, online_code
from verifier.decide import LOCAL_TIME, Decider, Venue
from verifier.trust import TrustStore
from verifier.verify import Verifier


def pseudonym(pepper: bytes, person_id: str) -> bytes:
    """Keyed hash of an ID number and today: the only form in which a person appears in a code."""
    return day_pseudonym(pepper, person_id, time.time())


def sample_holders(pepper: bytes) -> list[tuple[str, Profile]]:
    """Made-up people; the ID numbers never leave this function except as keyed hashes."""
    return [
        ("senior", Profile(pseudonym(pepper, "demo-0001"), age_over=70, residence=310000, version=1)),
        (
            "disabled",
            Profile(
                pseudonym(pepper, "demo-0002"), disability_category=1, disability_grade=1, residence=310000, version=1
            ),
        ),
        ("martyr family", Profile(pseudonym(pepper, "demo-0003"), martyr_family=True, residence=310000, version=1)),
        (
            "student",
            Profile(
                pseudonym(pepper, "demo-0004"),
                student_level=5,
                enrolled_until=dt.date(2027, 6, 30),
                residence=320000,
                version=2,
            ),
        ),
    ]


ROOT_FILE, TRUST_FILE, CATALOGUE_FILE = "root.pub.pem", "trust-list.json", "catalogue.json"
REVOCATIONS_FILE = "revocations.json"


def offline_gate_command(out: Path) -> str:
    """`suishen-gate --images OUT ...` with the documents the demo left in OUT, and its state beside them."""
    return gate_command(
        "--images", out, "--root", out / ROOT_FILE, "--trust-list", out / TRUST_FILE, "--catalogue",
        out / CATALOGUE_FILE, "--revocations", out / REVOCATIONS_FILE, "--venue", DEMO_VENUE, "--state",
        out / "gate-state",
    )  # fmt: skip


DEMO_VENUES = (
    Venue("sh-century-park", "park"),
    Venue("sh-museum", "museum"),
    Venue("sh-metro-line-2", "metro"),
    Venue("sh-oriental-pearl", "scenic_area"),
)


def show_decisions(
    console: Console, issuer: Issuer, store: TrustStore, root_key: PrivateKey, now: int, out: Path
) -> int:
    """Publish the sample catalogue, then decide each sample holder's privileges at a few venues."""
    catalogue = load_catalogue(SAMPLE_CATALOGUE)
    if catalogue.problems or not catalogue.policies:
        console.print(f"[red]sample catalogue at {SAMPLE_CATALOGUE} has problems: {catalogue.problems[:3]}[/red]")
        return 1
    snapshot_document = publish(catalogue, root_key, version=1, now=now, max_age=86400)
    (out / CATALOGUE_FILE).write_bytes(snapshot_document)
    snapshot = load_snapshot(snapshot_document, root_key.public_key())  # type: ignore[arg-type]
    decider = Decider(snapshot)
    issuer = issuer.carrying(frozenset(snapshot.scan_attributes()))
    verifier = Verifier(store)
    local = dt.datetime.fromtimestamp(now, LOCAL_TIME).strftime('%a %H:%M')
    table = Table("holder", *(v.type for v in DEMO_VENUES), title=f"privileges at {local} Shanghai time")
    for label, profile in sample_holders(os.urandom(32)):
        cells = []
        for venue in DEMO_VENUES:
            verified = verifier.verify(online_code(issuer.credential(profile, now)), time.time())
            decision = decider.decide(verified, venue, time.time())
            best = decision.best
            reason = decision.reason.value if decision.reason else ""
            cells.append(f"[green]{best.benefit.words()}[/green]" if best else f"[dim]{reason}[/dim]")
        table.add_row(label, *cells)
    console.print(table)
    return 0


def run_demo(out: Path, console: Console | None = None) -> int:
    console = console or Console()
    out.mkdir(parents=True, exist_ok=True)
    passphrase = os.urandom(24).hex().encode()
    now = int(time.time())
    with tempfile.TemporaryDirectory(prefix="suishen-keys-") as tmp:
        keys_dir = Path(tmp)
        ring = directory.init_directory(keys_dir, issuer="CN-SH", region="310000", passphrase=passphrase, now=now)
        entry, private_key = directory.signing_key(keys_dir, passphrase)
        issuer = Issuer(ring.issuer, entry, private_key)
        trust_document = directory.export_trust_list(keys_dir, passphrase=passphrase, now=now)
        store = TrustStore.from_document(trust_document, directory.root_public_key(keys_dir), now)
        root_is_encrypted = b"ENCRYPTED" in (keys_dir / directory.ROOT_KEY_FILE).read_bytes()
        root_key = read_private_key(keys_dir / directory.ROOT_KEY_FILE, passphrase)
        root_public = (keys_dir / directory.ROOT_PUBLIC_FILE).read_bytes()
    (out / ROOT_FILE).write_bytes(root_public)
    (out / TRUST_FILE).write_bytes(trust_document)
    nothing_revoked = RevocationList(1, now, DEFAULT_MAX_AGE_S)
    (out / REVOCATIONS_FILE).write_bytes(sign_revocation_list(list_payload(nothing_revoked), root_key))
    console.print(
        f"[bold]Suishen Pass demo[/bold]  issuer {ring.issuer}, kid {entry.kid.hex()}, "
        f"keys encrypted at rest: {root_is_encrypted}"
    )

    online_code(issuer.credential(sample_holders(b"warm-up")[0][1], now))  # first use builds tables
    verifier = Verifier(store)
    table = Table("holder", "kind", "bytes", "issue µs", "PNG ms", "read ms", "result", "verify µs")
    failures = 0
    codes: list[str] = []
    for label, profile in sample_holders(os.urandom(32)):
        for kind in ("online", "holder"):
            started = time.perf_counter_ns()
            if kind == "online":
                text = online_code(issuer.credential(profile, now))
            else:
                device = generate_private_key(ES256)
                credential = issuer.credential(profile, now, device_key=device.public_key())  # type: ignore[arg-type]
                text = holder_code(credential, device_proof(credential, device, now))  # type: ignore[arg-type]
            issued = time.perf_counter_ns()
            png = out / f"{label.replace(' ', '-')}-{kind}.png"
            write_png(text, png)
            drawn = time.perf_counter_ns()
            read = decode_image(png)
            decoded = time.perf_counter_ns()
            result = result_json(verifier, read[0] if read else "", time.time())
            ok = read == [text] and result["result"] == "VALID"
            failures += not ok
            codes.append(text)
            table.add_row(
                label,
                kind,
                str(len(b45decode(text[len(PREFIX) :]))),
                f"{(issued - started) / 1000:.0f}",
                f"{(drawn - issued) / 1e6:.1f}",
                f"{(decoded - drawn) / 1e6:.1f}",
                ("[green]" if ok else "[red]") + (result["result"] if read else "NOT READ"),
                str(result["latency_us"]),
            )
    console.print(table)

    replay = result_json(verifier, codes[0], time.time())
    tampered = codes[0][:-1] + ("0" if codes[0][-1] != "0" else "1")
    bad = result_json(Verifier(store), tampered, time.time())
    console.print(f"showing the first code again: {replay['result']} {replay['reason']}")
    console.print(f"a code with one character changed: {bad['result']} {bad['reason']}")
    failures += replay["reason"] != "REPLAYED" or bad["result"] != "REJECTED"
    failures += show_decisions(console, issuer, store, root_key, now, out)
    console.print(f"QR images, the root public key, the trust list, the catalogue snapshot and the revocation list "
                  f"are in {out}/")  # fmt: skip
    console.print(f"a gate at {DEMO_VENUE} deciding on these images offline (online codes live 60 s):")
    console.print(f"  {offline_gate_command(out)}", markup=False, highlight=False, soft_wrap=True)
    if failures:
        console.print(f"[red]{failures} step(s) did not go as expected[/red]")
    return 1 if failures else 0


def demo_command(
    out: Annotated[Path, typer.Option(help="Folder for the demo's QR images.")] = Path("var/demo"),
) -> None:
    """Make dev keys, issue both kinds of code, render, read back with pyzbar, verify."""
    raise typer.Exit(code=run_demo(out))
