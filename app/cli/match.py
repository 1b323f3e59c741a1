"""`suishen match` and `suishen data`: the matching engine's commands (免申即享)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import duckdb
import typer

from app.cli.common import (
    DEFAULT_KEYS_DIR,
    DEFAULT_RESULTS,
    SAMPLE_CATALOGUE,
    CatalogueOption,
    LedgerOption,
    ResultsOption,
    fail,
    load_policies,
)
from app.db.engine import DEFAULT_DATABASE_URL
from app.matching.engine import connect, latest_run
from keys import directory
from keys.errors import SuishenError
from keys.storage import passphrase_from_environment
from verifier.catalogue import Policy

if TYPE_CHECKING:
    from rich.console import Console

    from app.matching.run import MatchReport


def _results(db: Path) -> duckdb.DuckDBPyConnection:
    """The results database of earlier runs, or a one-line failure when there is none."""
    if not db.exists():
        raise fail(f"no results database at {db}: run `suishen match run` first")
    return connect(db)


def _policy(catalogue: Path, policy_id: str) -> Policy:

    policy = next((p for p in load_policies(catalogue).policies if p.id == policy_id), None)
    if policy is None:
        raise fail(f"no policy {policy_id!r} in {catalogue}")
    return policy


def _language(value: str) -> str:
    if value not in ("zh", "en"):
        raise typer.BadParameter(f"{value!r}: zh (Chinese, the default) or en (English)")
    return value


LangOption = Annotated[str, typer.Option("--lang", callback=_language, help="Language of the explanation: zh or en.")]
match_app = typer.Typer(no_args_is_help=True, help="Run the matching engine over registries (免申即享).")
data_app = typer.Typer(no_args_is_help=True, help="Synthetic registries for trials and benchmarks.")


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option("--out", help="Folder for the registry Parquet files.")],
    persons: Annotated[int, typer.Option(help="Number of persons.")] = 100_000,
    enterprises: Annotated[int, typer.Option(help="Number of enterprises.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 1,
    relations: Annotated[
        bool, typer.Option("--relations/--no-relations", help="Also households, kin, marriages, addresses, martyrs.")
    ] = True,
) -> None:
    """Write synthetic registries (Shanghai-like distributions, households and kin), deterministic by seed."""
    from app.matching.synth import synthesise

    started = time.perf_counter()
    try:
        out.mkdir(parents=True, exist_ok=True)
        counts = synthesise(out, persons=persons, enterprises=enterprises, seed=seed, relations=relations)
    except (SuishenError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    rows = ", ".join(f"{name} {count:,}" for name, count in counts.items())
    typer.echo(f"wrote {out} in {time.perf_counter() - started:.1f} s: {rows}")


@match_app.command("run")
def match_run(
    registries: Annotated[Path, typer.Option("--registries", help="Folder of registry Parquet/CSV files.")],
    catalogue: CatalogueOption = SAMPLE_CATALOGUE,
    day: Annotated[Optional[str], typer.Option(help="Decision date YYYY-MM-DD (default: today).")] = None,
    db: ResultsOption = DEFAULT_RESULTS,
    max_reject_share: Annotated[float, typer.Option(help="Refuse to publish above this share of bad rows.")] = 0.01,
    ledger_url: Annotated[
        Optional[str],
        typer.Option(
            "--ledger",
            help="Services database: its upheld objections correct facts; it receives the profiles, the "
            "entitlements, the run history and a notice for each newly eligible subject.",
        ),
    ] = None,
) -> None:
    """Find everyone entitled under every published policy, in one pass over the registries."""
    import datetime as dt

    from rich.console import Console
    from rich.progress import Progress, TimeElapsedColumn

    from app.db.engine import open_database
    from app.matching.run import STEPS, match_registries

    policies = load_policies(catalogue)
    console = Console()
    try:
        on = dt.date.fromisoformat(day) if day else dt.date.today()
        ledger = None if ledger_url is None else open_database(ledger_url)
        with Progress(*Progress.get_default_columns(), TimeElapsedColumn(), console=console, transient=True) as bar:
            steps = bar.add_task("matching", total=STEPS)

            def step(description: str) -> None:
                bar.update(steps, advance=1, description=description)

            report = match_registries(registries, policies.policies, db, on, ledger=ledger,
                                      max_reject_share=max_reject_share, step=step)  # fmt: skip
            bar.update(steps, completed=STEPS)
    except (SuishenError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    _print_match_report(console, report, policies.policies, db)


def _print_match_report(console: Console, report: MatchReport, policies: Sequence[Policy], db: Path) -> None:
    from rich.table import Table

    run, load = report.run, report.load
    if sum(load.rejected.values()):
        console.print(f"{sum(load.rejected.values()):,} rows rejected ({load.reject_share:.3%}): see {report.rejects}")
    table = Table(
        "policy",
        "delivery",
        "entitled",
        title=f"matching on {report.day}: {run.persons:,} persons, {run.enterprises:,} enterprises, "
        f"{run.seconds:.1f} s",
    )
    for policy in sorted(policies, key=lambda p: p.id):
        if policy.status == "published":
            table.add_row(policy.id, policy.delivery, f"{run.counts.get(policy.id, 0):,}")
    console.print(table)
    if report.corrected or report.uncorrected:
        console.print(f"{report.corrected} corrected fact(s) from upheld objections applied")
        for line in report.uncorrected:
            console.print(f"  not applied: {line}")
    if report.incomplete:
        waiting = ", ".join(f"{pid} {n:,}" for pid, n in sorted(report.incomplete.items()))
        console.print(f"not matched for want of a fact, to apply through the original channel: {waiting}")
    console.print(f"run {report.version}: entitlements and {report.profiles:,} profiles (version {report.version}) "
                  f"are in {db}")  # fmt: skip
    copied = report.copied
    if copied is not None:
        console.print(
            f"services database: {report.profiles:,} profiles, {copied.entitlements:,} entitlements "
            f"({copied.revoked:,} revoked by this run; {copied.written:,} rows written), "
            f"{copied.notified:,} new notices, in {copied.seconds:.1f} s"
        )
        console.print(f"{report.reminded:,} new renewal reminders (a fact a code depends on ends within 30 days)")
        console.print(f"{report.withdrawn:,} subject(s) whose earlier codes are withdrawn (the new profile takes "
                      "back what they assert); the running servers publish them in their revocation list")  # fmt: skip


@match_app.command("pay")
def match_pay(
    period: Annotated[str, typer.Option("--period", help="Payout period, e.g. 2026-11.")],
    db: ResultsOption = DEFAULT_RESULTS,
    ledger_url: LedgerOption = DEFAULT_DATABASE_URL,
    catalogue: CatalogueOption = SAMPLE_CATALOGUE,
    out: Annotated[Optional[Path], typer.Option("--out", help="Finance file (CSV) for the period.")] = None,
    batch: Annotated[int, typer.Option(help="Payouts per committed batch.")] = 5_000,
) -> None:
    """Pay the latest run's direct-mode entitlements, and confirm-mode ones once confirmed: once per subject,
    policy and period, in the periods each policy pays in (pays: monthly, quarterly in January, April, July
    and October, yearly in January, once per subject and policy version)."""
    import duckdb

    from app.db.engine import open_database
    from app.matching.payouts import describe, export_payout_file, parse_period, pay

    try:
        parse_period(period)
        con = _results(db)
        run, _ = latest_run(con)
        engine = open_database(ledger_url)
        results = pay(con, engine, load_policies(catalogue).policies, period, run, batch=max(1, batch))
    except (SuishenError, ValueError, OSError, duckdb.Error) as exc:
        raise fail(str(exc).splitlines()[0]) from None
    for r in results:
        typer.echo(describe(r))
    if out is not None:
        lines, total = export_payout_file(engine, period, out)
        typer.echo(f"wrote {out}: {lines:,} payouts, ¥{total:,} for {period}")


@match_app.command("applications")
def match_applications(
    keys_dir: Annotated[Path, typer.Option("--keys", help="Keys directory (department seal keys).")] = DEFAULT_KEYS_DIR,
    db: ResultsOption = DEFAULT_RESULTS,
    registries: Annotated[Path, typer.Option("--registries", help="The run's registry folder.")] = Path(
        "var/registries"
    ),
    ledger_url: LedgerOption = DEFAULT_DATABASE_URL,
    catalogue: CatalogueOption = SAMPLE_CATALOGUE,
) -> None:
    """Write and seal the applications of the latest run's confirm-mode entitlements (一键确认)."""
    import duckdb

    from app.db.engine import open_database
    from app.matching.applications import write_applications
    from app.matching.engine import attach_registries

    try:
        con = _results(db)
        run, day = latest_run(con)
        attach_registries(con, registries)
        passphrase = passphrase_from_environment()
        written = write_applications(
            con, open_database(ledger_url), load_policies(catalogue).policies, day, run,
            lambda department: directory.seal_key(keys_dir, department, passphrase),
        )  # fmt: skip
    except (SuishenError, ValueError, OSError, duckdb.Error) as exc:
        raise fail(str(exc).splitlines()[0]) from None
    for w in written:
        typer.echo(f"{w.policy_id}: {w.entitled:,} entitled, {w.new:,} applications sealed now")


@match_app.command("confirm")
def match_confirm(
    subject: str,
    policy_id: str,
    channel: Annotated[str, typer.Option(help="app, web, counter or phone.")] = "app",
    ledger_url: LedgerOption = DEFAULT_DATABASE_URL,
    catalogue: CatalogueOption = SAMPLE_CATALOGUE,
) -> None:
    """Record that SUBJECT confirmed the application written for them under POLICY_ID (at a counter or by
    phone: kept as not signed); refused after the policy's version ended, past its deadline or once revoked."""
    from app.db.engine import open_database
    from app.matching.applications import ApplicationError
    from app.matching.confirmations import confirm

    policy = _policy(catalogue, policy_id)
    try:
        sha = confirm(open_database(ledger_url), subject, policy_id, channel, policy=policy)
    except ApplicationError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"confirmed {policy_id} for {subject} via {channel}, not signed (application {sha[:16]})")


@match_app.command("object")
def match_object(
    subject: str,
    policy_id: str,
    statement: Annotated[str, typer.Option("--statement", help="What the subject says is wrong.")],
    kind: Annotated[str, typer.Option(help="wrong (an entitlement) or missing (one they expected).")] = "missing",
    ledger_url: LedgerOption = DEFAULT_DATABASE_URL,
) -> None:
    """File a subject's objection on an entitlement, or on one they believe is missing."""
    from app.db.engine import open_database
    from app.matching.objections import ObjectionError, file_objection

    try:
        number = file_objection(open_database(ledger_url), subject, policy_id, kind, statement)
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
    catalogue: CatalogueOption = SAMPLE_CATALOGUE,
    day: Annotated[Optional[str], typer.Option(help="Decision date YYYY-MM-DD (default: today).")] = None,
    ledger_url: LedgerOption = DEFAULT_DATABASE_URL,
    lang: LangOption = "zh",
) -> None:
    """Re-evaluate an objection's subject with corrected facts; upheld when the result changes."""
    import datetime as dt

    from app.db.engine import open_database
    from app.matching.objections import parse_corrections, resolve

    policy = _policy(catalogue, policy_id)
    try:
        on = dt.date.fromisoformat(day) if day else dt.date.today()
        result = resolve(
            open_database(ledger_url), objection, officer, parse_corrections(corrections or []), registries,
            policy, on,
        )  # fmt: skip
    except (SuishenError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"objection #{objection}: {'entitled' if result.entitled else 'not entitled'} after re-evaluation")
    for line in result.lines_in(lang):
        typer.echo(f"  {line}")


@match_app.command("notify")
def match_notify(
    db: ResultsOption = DEFAULT_RESULTS,
    ledger_url: LedgerOption = DEFAULT_DATABASE_URL,
    catalogue: CatalogueOption = SAMPLE_CATALOGUE,
    channel: Annotated[str, typer.Option(help="Channel the messaging service will use.")] = "sms",
) -> None:
    """Queue one notice per newly entitled subject of the latest run (direct and confirm policies)."""
    from app.db.engine import open_database
    from app.matching.statuses import notify

    con = _results(db)
    try:
        run, _ = latest_run(con)
    except ValueError as exc:
        raise fail(str(exc)) from None
    ids = [p.id for p in load_policies(catalogue).policies if p.delivery in ("direct", "confirm")]
    typer.echo(f"{notify(con, open_database(ledger_url), ids, run, channel):,} notices queued from run {run}")


@match_app.command("status")
def match_status(
    subject: str,
    policy_id: str,
    db: ResultsOption = DEFAULT_RESULTS,
    ledger_url: LedgerOption = DEFAULT_DATABASE_URL,
    catalogue: CatalogueOption = SAMPLE_CATALOGUE,
) -> None:
    """Where SUBJECT's entitlement under POLICY_ID stands, and how it got there."""
    from app.db.engine import open_database
    from app.matching.statuses import status_of

    policy = next((p for p in load_policies(catalogue).policies if p.id == policy_id), None)
    status = status_of(_results(db), open_database(ledger_url), subject, policy_id, policy=policy)
    typer.echo(f"{subject} / {policy_id}: {status.status}")
    for when, what in status.timeline:
        typer.echo(f"  {when}  {what}")


@match_app.command("disclose")
def match_disclose(
    out: Annotated[Path, typer.Option("--out", help="Disclosure file (CSV).")],
    db: ResultsOption = DEFAULT_RESULTS,
    ledger_url: Annotated[Optional[str], typer.Option("--ledger", help="Ledger, for paid counts.")] = None,
    period: Annotated[Optional[str], typer.Option("--period", help="Payout period for paid counts.")] = None,
) -> None:
    """Counts per policy and region for public disclosure (信息公示); small counts shown as <5."""
    from app.db.engine import open_database
    from app.matching.disclosure import disclosure, write_disclosure

    engine = open_database(ledger_url) if ledger_url else None
    rows = disclosure(_results(db), engine, period)
    write_disclosure(rows, out, period)
    typer.echo(f"wrote {out}: {len(rows)} rows, no personal data")


@match_app.command("apply-changes")
def match_apply_changes(
    changes: Annotated[
        Path, typer.Option("--changes", help="A JSON Lines file of change records, or a folder of them.")
    ],
    registries: Annotated[
        Path, typer.Option("--registries", help="Registry folder the first batch starts the state from.")
    ] = Path("var/registries"),
    catalogue: CatalogueOption = SAMPLE_CATALOGUE,
    day: Annotated[Optional[str], typer.Option(help="Decision date YYYY-MM-DD (default: the last run's).")] = None,
    db: ResultsOption = DEFAULT_RESULTS,
    ledger_url: Annotated[
        Optional[str],
        typer.Option(
            "--ledger",
            help="Services database to publish the batches to (entitlements, notices, profiles, withdrawals), "
            "as `match run --ledger` copies a run.",
        ),
    ] = None,
) -> None:
    """Apply registry changes exactly once per source sequence and re-evaluate only the affected subjects."""
    import datetime as dt

    from app.db.engine import open_database
    from app.matching.change_effects import publish_pending
    from app.matching.changes import apply_changes, read_changes

    con = _results(db)
    try:
        policies = load_policies(catalogue).policies
        on = dt.date.fromisoformat(day) if day else latest_run(con)[1]
        result = apply_changes(con, registries, read_changes(changes), policies, on)
        typer.echo(
            f"{result.applied:,} change(s) applied, {result.skipped:,} already applied; {result.affected:,} "
            f"subject(s) evaluated again on {on}: {result.gained:,} entitlement(s) gained, {result.lost:,} lost, "
            f"{result.withdrawn:,} subject(s)' earlier codes to withdraw, in {result.seconds:.2f} s"
        )
        if ledger_url is not None:
            out = publish_pending(con, open_database(ledger_url), policies)
            typer.echo(
                f"published {out.batches} batch(es) to the services database: {out.entitlements:,} entitlement(s) "
                f"written ({out.revoked:,} revoked), {out.notified:,} notice(s), {out.profiles:,} profile(s), "
                f"{out.withdrawn:,} withdrawal(s) requested"
            )
    except (SuishenError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    finally:
        con.close()


@match_app.command("diff")
def match_diff(
    old: int,
    new: int,
    db: ResultsOption = DEFAULT_RESULTS,
) -> None:
    """Per policy: newly eligible, no longer eligible, and changed policy version between two runs."""
    from rich.console import Console
    from rich.table import Table

    from app.matching.engine import diff_runs

    try:
        diffs = diff_runs(_results(db), old, new)
    except (SuishenError, ValueError, OSError) as exc:
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
    catalogue: CatalogueOption = SAMPLE_CATALOGUE,
    day: Annotated[Optional[str], typer.Option(help="Decision date YYYY-MM-DD (default: today).")] = None,
    lang: LangOption = "zh",
) -> None:
    """Why SUBJECT is (or is not) entitled under POLICY_ID, clause by clause, from the registries (in Chinese;
    --lang en for English)."""
    import datetime as dt

    from app.matching.explain import explain_subject

    policy = _policy(catalogue, policy_id)
    try:
        on = dt.date.fromisoformat(day) if day else dt.date.today()
        lines = explain_subject(registries, policy, subject, on, lang=lang)
    except (SuishenError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    for line in lines:
        typer.echo(line)


# Signed confirmations for the finance department, and the department's list of expired ones (app/cli/confirmations.py).
from app.cli.confirmations import confirmations_app, match_expired  # noqa: E402

match_app.add_typer(confirmations_app, name="confirmations")
match_app.command("expired")(match_expired)

# The department's performance evaluation (app/cli/evaluation.py).
from app.cli.evaluation import match_evaluate  # noqa: E402

match_app.command("evaluate")(match_evaluate)


@match_app.command("deliver")
def match_deliver(
    webhook: Annotated[str, typer.Option("--webhook", help="The SMS/push gateway's webhook URL.")],
    secret_file: Annotated[
        Optional[Path], typer.Option("--secret-file", help="HMAC key of X-Suishen-Signature (default: data_dir's).")
    ] = None,
    ledger_url: LedgerOption = DEFAULT_DATABASE_URL,
    catalogue: CatalogueOption = SAMPLE_CATALOGUE,
    limit: Annotated[int, typer.Option(help="Notices posted at most in this round.")] = 1_000,
) -> None:
    """One round of the gateway deliverer a server runs when SUISHEN_NOTIFY_WEBHOOK_URL is set: queue the new
    notices and renewal reminders, post the due ones, and say what became of them."""
    from app.db.engine import open_database
    from app.matching.delivery import WebhookGateway, delivery_counts, run_once
    from app.settings import Settings

    try:
        secret = secret_file.read_text().strip().encode() if secret_file else Settings().secret("notify-webhook", None)
    except OSError as exc:
        raise fail(f"cannot read {secret_file}: {exc}") from None
    if not webhook.startswith(("http://", "https://")):
        raise fail(f"{webhook!r} is not an http(s) URL")
    engine = open_database(ledger_url)
    gateway = WebhookGateway(webhook, secret)
    try:
        report = run_once(engine, gateway, load_policies(catalogue).policies, limit=max(1, limit))
    finally:
        gateway.close()
    counts = delivery_counts(engine)
    typer.echo(f"queued {report.enqueued:,}; delivered {report.delivered:,}, to retry {report.retried:,}, "
               f"failed {report.failed:,}; in all: {counts['delivered']:,} delivered, {counts['pending']:,} pending, "
               f"{counts['failed']:,} failed")  # fmt: skip
