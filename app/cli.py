"""The `suishen` command: keys, issue, verify and demo.

Every failure prints one line naming the problem and exits non-zero; no stack traces.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from keys import directory
from keys.algorithms import ALG_IDS, ES256, KeyAlgorithmError
from keys.ring import KeyRingError
from keys.signed_json import SignedDocumentError
from keys.storage import KeyStorageError, passphrase_from_environment, read_private_key, read_public_key
from keys.trust_list import DEFAULT_MAX_AGE_S, load_trust_list

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Suishen Pass: keys, codes and verification.")
keys_app = typer.Typer(no_args_is_help=True, help="Issuer keys, rotation and signed trust lists.")
trust_app = typer.Typer(no_args_is_help=True, help="Export and check signed trust lists.")
catalogue_app = typer.Typer(no_args_is_help=True, help="Validate, publish and inspect the policy catalogue.")
app.add_typer(keys_app, name="keys")
app.add_typer(catalogue_app, name="catalogue")
match_app = typer.Typer(no_args_is_help=True, help="Run the matching engine over registries (免申即享).")
data_app = typer.Typer(no_args_is_help=True, help="Synthetic registries for trials and benchmarks.")
app.add_typer(match_app, name="match")
app.add_typer(data_app, name="data")
keys_app.add_typer(trust_app, name="trust-list")

DirOption = Annotated[Path, typer.Option("--dir", envvar="SUISHEN_KEYS_DIR", help="Keys directory.")]
DEFAULT_KEYS_DIR = Path("keys")
EXPECTED_ERRORS = (KeyRingError, KeyStorageError, SignedDocumentError, KeyAlgorithmError, ValueError, OSError)


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _now() -> int:
    return int(time.time())


@keys_app.command("init")
def keys_init(
    dir: DirOption = DEFAULT_KEYS_DIR,
    issuer: Annotated[str, typer.Option(help="Issuer id written into every code (iss).")] = "CN-SH",
    region: Annotated[str, typer.Option(help="Region code of the issuer.")] = "310000",
    alg: Annotated[str, typer.Option(help="ES256 (default) or EdDSA.")] = "ES256",
) -> None:
    """Create an issuer key and a trust-list root key, both encrypted at rest."""
    try:
        ring = directory.init_directory(
            dir,
            issuer=issuer,
            region=region,
            passphrase=passphrase_from_environment(),
            now=_now(),
            alg=ALG_IDS.get(alg, 0) or _bad_alg(alg),
        )
    except EXPECTED_ERRORS as exc:
        raise fail(str(exc)) from None
    typer.echo(f"created key ring for {issuer} in {dir}: active kid {ring.active().kid.hex()}")


def _bad_alg(alg: str) -> int:
    raise KeyAlgorithmError(f"--alg must be one of {sorted(ALG_IDS)}, not {alg!r}")


@keys_app.command("rotate")
def keys_rotate(dir: DirOption = DEFAULT_KEYS_DIR) -> None:
    """Make a new active key; the old one keeps verifying until its codes have expired."""
    try:
        ring = directory.rotate(dir, passphrase=passphrase_from_environment(), now=_now())
    except EXPECTED_ERRORS as exc:
        raise fail(str(exc)) from None
    typer.echo(f"rotated: active kid {ring.active().kid.hex()}, trust list generation {ring.generation}")


@keys_app.command("revoke")
def keys_revoke(kid: str, dir: DirOption = DEFAULT_KEYS_DIR) -> None:
    """Mark a key revoked: verifiers with the next trust list refuse its codes at once."""
    try:
        ring = directory.revoke(dir, bytes.fromhex(kid))
    except EXPECTED_ERRORS as exc:
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
            directory.export_trust_list(dir, passphrase=passphrase_from_environment(), now=_now(), max_age=max_age)
        )
    except EXPECTED_ERRORS as exc:
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
    except EXPECTED_ERRORS as exc:
        raise fail(str(exc)) from None
    typer.echo(f"trust list version {trust_list.version}: valid until {trust_list.expires_at}")
    for key in trust_list.keys:
        typer.echo(f"  {key.kid.hex()}  {key.status:8s} {key.issuer} ({key.region})  {sorted(key.privileges)}")


@catalogue_app.command("validate")
def catalogue_validate(folder: Path) -> None:
    """Check every policy file; list every problem (file, field path, message)."""
    from app.catalogue import load_catalogue

    catalogue = load_catalogue(folder)
    for problem in catalogue.problems:
        typer.echo(str(problem), err=True)
    if catalogue.problems:
        typer.echo(f"{len(catalogue.problems)} problem(s) in {folder}", err=True)
        raise typer.Exit(code=1)
    modes = {m: sum(p.delivery == m for p in catalogue.policies) for m in ("scan", "direct", "confirm")}
    typer.echo(f"{len(catalogue.policies)} policies, no problems ({modes})")


@catalogue_app.command("publish")
def catalogue_publish(
    folder: Path,
    out: Annotated[Path, typer.Option("--out", help="Snapshot file; its version is raised by one.")],
    keys_dir: Annotated[Path, typer.Option("--keys", help="Keys directory (the root key signs).")] = DEFAULT_KEYS_DIR,
    max_age: Annotated[int, typer.Option(help="Seconds after which gates answer CATALOGUE_STALE.")] = 3 * 86400,
) -> None:
    """Sign the published policies into a snapshot for gates; nothing is written if any file has a problem."""
    from app.catalogue import load_catalogue, next_version, publish

    catalogue = load_catalogue(folder)
    for problem in catalogue.problems:
        typer.echo(str(problem), err=True)
    if catalogue.problems:
        raise fail(f"{len(catalogue.problems)} problem(s) in {folder}: nothing published")
    try:
        root = read_private_key(keys_dir / directory.ROOT_KEY_FILE, passphrase_from_environment())
        document = publish(catalogue, root, version=next_version(out), now=_now(), max_age=max_age)
        out.write_bytes(document)
    except EXPECTED_ERRORS as exc:
        raise fail(str(exc)) from None
    published = sum(p.status == "published" for p in catalogue.policies)
    typer.echo(f"wrote {out}: version {next_version(out) - 1}, {published} published policies")


@catalogue_app.command("show")
def catalogue_show(
    snapshot: Path,
    root: Annotated[Optional[Path], typer.Option("--root", help="Root public key (PEM).")] = None,
) -> None:
    """Check a snapshot's signature and list its policies."""
    from verifier.catalogue import load_snapshot

    try:
        snap = load_snapshot(
            snapshot.read_bytes(), read_public_key(root or snapshot.parent / directory.ROOT_PUBLIC_FILE)
        )
    except EXPECTED_ERRORS as exc:
        raise fail(str(exc)) from None
    stale = " (STALE)" if time.time() > snap.expires_at else ""
    typer.echo(f"catalogue snapshot version {snap.version}, hash {snap.content_hash[:16]}")
    typer.echo(f"valid until {snap.expires_at}{stale}")
    for p in snap.policies:
        where = ",".join(sorted(p.venue_types | p.venue_ids)) or "-"
        typer.echo(f"  {p.id:40s} {p.delivery:7s} {where:30s} {p.title_zh}")


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option("--out", help="Folder for the registry Parquet files.")],
    persons: Annotated[int, typer.Option(help="Number of persons.")] = 100_000,
    enterprises: Annotated[int, typer.Option(help="Number of enterprises.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 1,
) -> None:
    """Write synthetic registries (Shanghai-like distributions), deterministic by seed."""
    from app.matching.synth import synthesise

    started = time.perf_counter()
    try:
        out.mkdir(parents=True, exist_ok=True)
        counts = synthesise(out, persons=persons, enterprises=enterprises, seed=seed)
    except (ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    rows = ", ".join(f"{name} {count:,}" for name, count in counts.items())
    typer.echo(f"wrote {out} in {time.perf_counter() - started:.1f} s: {rows}")


@match_app.command("run")
def match_run(
    registries: Annotated[Path, typer.Option("--registries", help="Folder of registry Parquet/CSV files.")],
    catalogue: Annotated[Path, typer.Option("--catalogue", help="Policy folder (YAML).")] = Path("data/catalogue"),
    day: Annotated[Optional[str], typer.Option(help="Decision date YYYY-MM-DD (default: today).")] = None,
    db: Annotated[Path, typer.Option("--db", help="DuckDB file for the results.")] = Path("var/match/matching.duckdb"),
    max_reject_share: Annotated[float, typer.Option(help="Refuse to publish above this share of bad rows.")] = 0.01,
    ledger_url: Annotated[
        Optional[str], typer.Option("--ledger", help="Ledger whose upheld objections correct facts for this run.")
    ] = None,
) -> None:
    """Find everyone entitled under every published policy, in one pass over the registries."""
    import datetime as dt

    from rich.console import Console
    from rich.progress import Progress, TimeElapsedColumn
    from rich.table import Table

    from app.catalogue import load_catalogue
    from app.matching.engine import (
        attach_registries,
        connect,
        list_incomplete,
        record_run,
        registries_fingerprint,
        run_matching,
    )
    from app.matching.load import RegistryError, check_reject_share, write_rejects
    from app.matching.objections import apply_corrections
    from app.matching.payouts import ledger
    from app.matching.profiles import build_profiles

    policies = load_catalogue(catalogue)
    if policies.problems:
        raise fail(f"{len(policies.problems)} problem(s) in {catalogue}: run `suishen catalogue validate`")
    try:
        on = dt.date.fromisoformat(day) if day else dt.date.today()
        db.parent.mkdir(parents=True, exist_ok=True)
        con = connect(db)
        console = Console()
        with Progress(*Progress.get_default_columns(), TimeElapsedColumn(), console=console, transient=True) as bar:
            steps = bar.add_task(f"loading and checking registries from {registries}", total=4)
            report = attach_registries(con, registries)
            corrected, uncorrected = (0, []) if ledger_url is None else apply_corrections(con, ledger(ledger_url))
            rejects = db.with_name(db.stem + "-rejects.csv")
            write_rejects(con, rejects)
            check_reject_share(report, max_reject_share)
            bar.update(steps, advance=1, description=f"matching {len(policies.policies)} policies")
            run = run_matching(con, policies.policies, on)
            incomplete = list_incomplete(con, policies.policies, on)
            bar.update(steps, advance=1, description="recording the run")
            version = record_run(con, run, registries_fingerprint(registries))
            bar.update(steps, advance=1, description="building profiles")
            profiles = build_profiles(con, on, version)
            bar.update(steps, advance=1)
        if sum(report.rejected.values()):
            console.print(f"{sum(report.rejected.values()):,} rows rejected ({report.reject_share:.3%}): see {rejects}")
    except (RegistryError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    table = Table(
        "policy",
        "delivery",
        "entitled",
        title=f"matching on {on}: {run.persons:,} persons, {run.enterprises:,} enterprises, {run.seconds:.1f} s",
    )
    for policy in sorted(policies.policies, key=lambda p: p.id):
        if policy.status == "published":
            table.add_row(policy.id, policy.delivery, f"{run.counts.get(policy.id, 0):,}")
    console.print(table)
    if corrected or uncorrected:
        console.print(f"{corrected} corrected fact(s) from upheld objections applied")
        for line in uncorrected:
            console.print(f"  not applied: {line}")
    if incomplete:
        waiting = ", ".join(f"{pid} {n:,}" for pid, n in sorted(incomplete.items()))
        console.print(f"not matched for want of a fact, to apply through the original channel: {waiting}")
    console.print(f"run {version}: entitlements and {profiles:,} profiles (version {version}) are in {db}")


@match_app.command("pay")
def match_pay(
    period: Annotated[str, typer.Option("--period", help="Payout period, e.g. 2026-11.")],
    db: Annotated[Path, typer.Option("--db", help="Results DuckDB file.")] = Path("var/match/matching.duckdb"),
    ledger_url: Annotated[str, typer.Option("--ledger", help="Ledger database (file or URL).")] = "var/suishen.sqlite",
    catalogue: Annotated[Path, typer.Option("--catalogue", help="Policy folder (YAML).")] = Path("data/catalogue"),
    out: Annotated[Optional[Path], typer.Option("--out", help="Finance file (CSV) for the period.")] = None,
    batch: Annotated[int, typer.Option(help="Payouts per committed batch.")] = 5_000,
) -> None:
    """Pay direct-mode entitlements of the latest run: exactly once per subject, policy and period."""
    import duckdb

    from app.catalogue import load_catalogue
    from app.matching.engine import connect
    from app.matching.payouts import export_payout_file, ledger, pay

    if not db.exists():
        raise fail(f"no results database at {db}: run `suishen match run` first")
    try:
        con = connect(db)
        run = con.execute("SELECT max(version) FROM runs").fetchone()[0]  # type: ignore[index]
        engine = ledger(ledger_url)
        results = pay(con, engine, load_catalogue(catalogue).policies, period, run, batch=max(1, batch))
    except (ValueError, OSError, duckdb.Error) as exc:
        raise fail(str(exc).splitlines()[0]) from None
    for r in results:
        typer.echo(f"{r.policy_id}: {r.entitled:,} entitled, {r.new:,} paid now, {r.already_paid:,} already paid")
    if out is not None:
        lines, total = export_payout_file(engine, period, out)
        typer.echo(f"wrote {out}: {lines:,} payouts, ¥{total:,} for {period}")


@match_app.command("applications")
def match_applications(
    keys_dir: Annotated[Path, typer.Option("--keys", help="Keys directory (department seal keys).")] = DEFAULT_KEYS_DIR,
    db: Annotated[Path, typer.Option("--db", help="Results DuckDB file.")] = Path("var/match/matching.duckdb"),
    registries: Annotated[Path, typer.Option("--registries", help="The run's registry folder.")] = Path(
        "var/registries"
    ),
    ledger_url: Annotated[str, typer.Option("--ledger", help="Ledger database (file or URL).")] = "var/suishen.sqlite",
    catalogue: Annotated[Path, typer.Option("--catalogue", help="Policy folder (YAML).")] = Path("data/catalogue"),
) -> None:
    """Write and seal the applications of the latest run's confirm-mode entitlements (一键确认)."""
    import duckdb

    from app.catalogue import load_catalogue
    from app.matching.applications import write_applications
    from app.matching.engine import attach_registries, connect
    from app.matching.load import RegistryError
    from app.matching.payouts import ledger

    if not db.exists():
        raise fail(f"no results database at {db}: run `suishen match run` first")
    try:
        con = connect(db)
        run, day = con.execute("SELECT version, day FROM runs ORDER BY version DESC LIMIT 1").fetchone()  # type: ignore[misc]
        attach_registries(con, registries)
        passphrase = passphrase_from_environment()
        written = write_applications(
            con, ledger(ledger_url), load_catalogue(catalogue).policies, day, run,
            lambda department: directory.seal_key(keys_dir, department, passphrase),
        )  # fmt: skip
    except (RegistryError, KeyStorageError, ValueError, OSError, duckdb.Error) as exc:
        raise fail(str(exc).splitlines()[0]) from None
    for w in written:
        typer.echo(f"{w.policy_id}: {w.entitled:,} entitled, {w.new:,} applications sealed now")


@match_app.command("confirm")
def match_confirm(
    subject: str,
    policy_id: str,
    channel: Annotated[str, typer.Option(help="app, web, counter or phone.")] = "app",
    ledger_url: Annotated[str, typer.Option("--ledger", help="Ledger database (file or URL).")] = "var/suishen.sqlite",
) -> None:
    """Record that SUBJECT confirmed the application written for them under POLICY_ID."""
    from app.matching.applications import ApplicationError, confirm
    from app.matching.payouts import ledger

    try:
        sha = confirm(ledger(ledger_url), subject, policy_id, channel)
    except ApplicationError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"confirmed {policy_id} for {subject} via {channel} (application {sha[:16]})")


@match_app.command("object")
def match_object(
    subject: str,
    policy_id: str,
    statement: Annotated[str, typer.Option("--statement", help="What the subject says is wrong.")],
    kind: Annotated[str, typer.Option(help="wrong (an entitlement) or missing (one they expected).")] = "missing",
    ledger_url: Annotated[str, typer.Option("--ledger", help="Ledger database (file or URL).")] = "var/suishen.sqlite",
) -> None:
    """File a subject's objection on an entitlement, or on one they believe is missing."""
    from app.matching.objections import ObjectionError, file_objection
    from app.matching.payouts import ledger

    try:
        number = file_objection(ledger(ledger_url), subject, policy_id, kind, statement)
    except ObjectionError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"objection #{number} filed for {subject} on {policy_id}")


@match_app.command("resolve")
def match_resolve(
    objection: int,
    officer: Annotated[str, typer.Option("--officer", help="Who resolves it (kept in the audit trail).")],
    policy_id: Annotated[str, typer.Option("--policy", help="The objection's policy.")],
    corrections: Annotated[
        Optional[list[str]], typer.Option("--set", help="Corrected fact ATTRIBUTE=VALUE (repeatable).")
    ] = None,
    registries: Annotated[Path, typer.Option("--registries", help="Registry folder.")] = Path("var/registries"),
    catalogue: Annotated[Path, typer.Option("--catalogue", help="Policy folder (YAML).")] = Path("data/catalogue"),
    day: Annotated[Optional[str], typer.Option(help="Decision date YYYY-MM-DD (default: today).")] = None,
    ledger_url: Annotated[str, typer.Option("--ledger", help="Ledger database (file or URL).")] = "var/suishen.sqlite",
) -> None:
    """Re-evaluate an objection's subject with corrected facts; upheld when the result changes."""
    import datetime as dt

    from app.catalogue import load_catalogue
    from app.matching.load import RegistryError
    from app.matching.objections import ObjectionError, parse_corrections, resolve
    from app.matching.payouts import ledger

    policies = {p.id: p for p in load_catalogue(catalogue).policies}
    if policy_id not in policies:
        raise fail(f"no policy {policy_id!r} in {catalogue}")
    try:
        on = dt.date.fromisoformat(day) if day else dt.date.today()
        result = resolve(
            ledger(ledger_url), objection, officer, parse_corrections(corrections or []), registries,
            policies[policy_id], on,
        )  # fmt: skip
    except (ObjectionError, RegistryError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"objection #{objection}: {'entitled' if result.entitled else 'not entitled'} after re-evaluation")
    for line in result.lines:
        typer.echo(f"  {line}")


@match_app.command("notify")
def match_notify(
    db: Annotated[Path, typer.Option("--db", help="Results DuckDB file.")] = Path("var/match/matching.duckdb"),
    ledger_url: Annotated[str, typer.Option("--ledger", help="Ledger database (file or URL).")] = "var/suishen.sqlite",
    catalogue: Annotated[Path, typer.Option("--catalogue", help="Policy folder (YAML).")] = Path("data/catalogue"),
    channel: Annotated[str, typer.Option(help="Channel the messaging service will use.")] = "sms",
) -> None:
    """Queue one notice per newly entitled subject of the latest run (direct and confirm policies)."""
    from app.catalogue import load_catalogue
    from app.matching.engine import connect
    from app.matching.payouts import ledger
    from app.matching.statuses import notify

    if not db.exists():
        raise fail(f"no results database at {db}: run `suishen match run` first")
    con = connect(db)
    run = con.execute("SELECT max(version) FROM runs").fetchone()[0]  # type: ignore[index]
    ids = [p.id for p in load_catalogue(catalogue).policies if p.delivery in ("direct", "confirm")]
    typer.echo(f"{notify(con, ledger(ledger_url), ids, run, channel):,} notices queued from run {run}")


@match_app.command("status")
def match_status(
    subject: str,
    policy_id: str,
    db: Annotated[Path, typer.Option("--db", help="Results DuckDB file.")] = Path("var/match/matching.duckdb"),
    ledger_url: Annotated[str, typer.Option("--ledger", help="Ledger database (file or URL).")] = "var/suishen.sqlite",
) -> None:
    """Where SUBJECT's entitlement under POLICY_ID stands, and how it got there."""
    from app.matching.engine import connect
    from app.matching.payouts import ledger
    from app.matching.statuses import status_of

    if not db.exists():
        raise fail(f"no results database at {db}: run `suishen match run` first")
    status = status_of(connect(db), ledger(ledger_url), subject, policy_id)
    typer.echo(f"{subject} / {policy_id}: {status.status}")
    for when, what in status.timeline:
        typer.echo(f"  {when}  {what}")


@match_app.command("disclose")
def match_disclose(
    out: Annotated[Path, typer.Option("--out", help="Disclosure file (CSV).")],
    db: Annotated[Path, typer.Option("--db", help="Results DuckDB file.")] = Path("var/match/matching.duckdb"),
    ledger_url: Annotated[Optional[str], typer.Option("--ledger", help="Ledger, for paid counts.")] = None,
    period: Annotated[Optional[str], typer.Option("--period", help="Payout period for paid counts.")] = None,
) -> None:
    """Counts per policy and region for public disclosure (信息公示); small counts shown as <5."""
    from app.matching.disclosure import disclosure, write_disclosure
    from app.matching.engine import connect
    from app.matching.payouts import ledger

    if not db.exists():
        raise fail(f"no results database at {db}: run `suishen match run` first")
    engine = ledger(ledger_url) if ledger_url else None
    rows = disclosure(connect(db), engine, period)
    write_disclosure(rows, out, period)
    typer.echo(f"wrote {out}: {len(rows)} rows, no personal data")


@match_app.command("diff")
def match_diff(
    old: int,
    new: int,
    db: Annotated[Path, typer.Option("--db", help="Results DuckDB file.")] = Path("var/match/matching.duckdb"),
) -> None:
    """Per policy: newly eligible, no longer eligible, and changed policy version between two runs."""
    from rich.console import Console
    from rich.table import Table

    from app.matching.engine import connect, diff_runs

    if not db.exists():
        raise fail(f"no results database at {db}: run `suishen match run` first")
    try:
        diffs = diff_runs(connect(db), old, new)
    except (ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    table = Table("policy", "newly eligible", "no longer eligible", "changed version", title=f"run {old} -> run {new}")
    for d in diffs:
        table.add_row(d.policy_id, f"{d.newly_eligible:,}", f"{d.no_longer_eligible:,}", f"{d.changed_version:,}")
    Console().print(table)


@match_app.command("explain")
def match_explain(
    subject: str,
    policy_id: str,
    registries: Annotated[Path, typer.Option("--registries", help="Folder of registry files.")],
    catalogue: Annotated[Path, typer.Option("--catalogue", help="Policy folder (YAML).")] = Path("data/catalogue"),
    day: Annotated[Optional[str], typer.Option(help="Decision date YYYY-MM-DD (default: today).")] = None,
) -> None:
    """Why SUBJECT is (or is not) entitled under POLICY_ID, clause by clause, from the registries."""
    import datetime as dt

    from app.catalogue import load_catalogue
    from app.matching.explain import explain_subject
    from app.matching.load import RegistryError

    policies = {p.id: p for p in load_catalogue(catalogue).policies}
    if policy_id not in policies:
        raise fail(f"no policy {policy_id!r} in {catalogue}")
    try:
        on = dt.date.fromisoformat(day) if day else dt.date.today()
        lines = explain_subject(registries, policies[policy_id], subject, on)
    except (RegistryError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    for line in lines:
        typer.echo(line)


@app.command("issue")
def issue(
    keys_dir: Annotated[Path, typer.Option("--keys", help="Keys directory.")],
    profile: Annotated[Path, typer.Option("--profile", help="Holder profile JSON.")],
    png: Annotated[Optional[Path], typer.Option("--png", help="Write the QR image here.")] = None,
    holder_key: Annotated[
        Optional[Path], typer.Option("--holder-key", help="Device P-256 private key (PEM): makes a holder-bound code.")
    ] = None,
    lifetime: Annotated[Optional[int], typer.Option(help="Seconds; default 60 online, 24 h holder-bound.")] = None,
    catalogue: Annotated[
        Optional[Path], typer.Option("--catalogue", help="Snapshot: carry only what its scan-mode policies read.")
    ] = None,
) -> None:
    """Issue a code for a profile and print its text."""
    from app.issuing import Issuer
    from app.profiles import ProfileError, read_profile
    from app.qr import write_png
    from verifier.code import device_proof, holder_code, online_code

    try:
        holder = read_profile(profile)
        passphrase = passphrase_from_environment()
        entry, private_key = directory.signing_key(keys_dir, passphrase)
        carry = None
        if catalogue is not None:
            from verifier.catalogue import load_snapshot

            snapshot = load_snapshot(catalogue.read_bytes(), directory.root_public_key(keys_dir))
            carry = frozenset(snapshot.scan_attributes())
        issuer = Issuer(directory.load_ring(keys_dir).issuer, entry, private_key, carry)
        now = _now()
        if holder_key is None:
            text = online_code(issuer.credential(holder, now, lifetime=lifetime))
        else:
            device = read_private_key(holder_key, passphrase)
            if _alg(device) != ES256:
                raise KeyAlgorithmError("the holder key must be a P-256 (ES256) key")
            credential = issuer.credential(holder, now, device_key=device.public_key(), lifetime=lifetime)  # type: ignore[arg-type]
            text = holder_code(credential, device_proof(credential, device, now))  # type: ignore[arg-type]
        if png is not None:
            write_png(text, png)
    except (*EXPECTED_ERRORS, ProfileError) as exc:
        raise fail(str(exc)) from None
    typer.echo(text)


def _alg(key: object) -> int:
    from keys.algorithms import alg_of

    return alg_of(key)  # type: ignore[arg-type]


@app.command("verify")
def verify(
    trust_list: Annotated[Path, typer.Option("--trust-list", help="Signed trust list (JSON).")],
    text: Annotated[Optional[str], typer.Argument(help="Code text (SP1:...).")] = None,
    image: Annotated[Optional[Path], typer.Option("--image", help="Read the code from a QR image.")] = None,
    root: Annotated[
        Optional[Path], typer.Option("--root", help="Root public key; default root.pub.pem beside the trust list.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    catalogue: Annotated[
        Optional[Path], typer.Option("--catalogue", help="Catalogue snapshot: decide privileges at a venue.")
    ] = None,
    venue_type: Annotated[Optional[str], typer.Option("--venue-type", help="Venue type, e.g. park.")] = None,
    venue: Annotated[Optional[Path], typer.Option("--venue", help="Venue JSON: id, type, region.")] = None,
) -> None:
    """Verify a code offline and print the result (and, with a catalogue and venue, the decision)."""
    from app.verifying import VenueError, read_venue, verify_text_or_image

    if (text is None) == (image is None):
        raise fail("give either the code text or --image")
    if (venue_type or venue) and catalogue is None:
        raise fail("--venue-type and --venue need --catalogue SNAPSHOT")
    root_key = root or trust_list.parent / directory.ROOT_PUBLIC_FILE
    try:
        place = read_venue(venue, venue_type) if catalogue is not None else None
        result = verify_text_or_image(trust_list, root_key, text, image, time.time(), catalogue, place)
    except (*EXPECTED_ERRORS, VenueError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        _print_result(result)
    if result["result"] != "VALID" or (result.get("decision") or {}).get("result") == "REJECTED":
        raise typer.Exit(code=1)


def _print_result(result: dict[str, object]) -> None:
    line = f"{result['result']}"
    if result["reason"]:
        line += f" ({result['reason']}: {result['detail']})"
    else:
        line += f" {result['kind']} code from {result['issuer']}"
    typer.echo(f"{line}  [{result['latency_us']} µs]")
    decision = result.get("decision")
    if isinstance(decision, dict):
        typer.echo(f"{decision['result']}" + (f" ({decision['reason']})" if decision["reason"] else ""))
        for privilege in decision["privileges"]:
            typer.echo(f"  {privilege['title']['zh']} / {privilege['title']['en']}: {privilege['benefit']}")
        for explanation in decision["explanation"]:
            typer.echo(f"    {explanation}")


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's QR images.")] = Path("var/demo"),
) -> None:
    """Make dev keys, issue both kinds of code, render, read back with pyzbar, verify."""
    from app.demo import run_demo

    raise typer.Exit(code=run_demo(out))


def main() -> None:
    app()
