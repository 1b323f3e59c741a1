"""`suishen match evaluate`: the department's performance evaluation (绩效评估) from the records, as a table or CSV."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from app.cli.common import SAMPLE_CATALOGUE, CatalogueOption, LedgerOption, fail, load_policies
from app.db.engine import DEFAULT_DATABASE_URL


def match_evaluate(
    period: Annotated[
        Optional[str], typer.Option("--period", help="A local month YYYY-MM, a year YYYY, or all (default: this month)")
    ] = None,
    csv_out: Annotated[Optional[Path], typer.Option("--csv", help="Also write the figures as CSV here.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the figures as JSON here.")] = None,
    ledger_url: LedgerOption = DEFAULT_DATABASE_URL,
    catalogue: CatalogueOption = SAMPLE_CATALOGUE,
) -> None:
    """Per policy: eligible, notified, confirmed, paid, take-up, days to payment, objections, corrections, the
    original channel, gate grants and spend against budget (alerts past 90 %), computed from the ledger, runs
    and events."""
    from rich.console import Console
    from rich.table import Table

    from app.db.engine import open_database
    from app.matching.evaluation import EvaluationError, budgets_of, evaluate, parse_period, this_month, to_csv

    try:
        chosen = this_month(time.time()) if period is None else parse_period(period)
    except EvaluationError as exc:
        raise fail(str(exc)) from None
    policies = load_policies(catalogue).policies
    found = evaluate(open_database(ledger_url), policies, chosen, budgets=budgets_of(policies))
    try:
        if csv_out is not None:
            csv_out.write_text(to_csv(found), encoding="utf-8")
        if json_out is not None:
            json_out.write_text(json.dumps(found.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write: {exc}") from None
    table = Table("policy", "eligible", "notified", "confirmed", "paid", "yuan", "take-up", "days to pay (p50/p90)",
                  "objections (upheld)", "original channel", "gate grants", "budget",
                  title=f"绩效评估 performance evaluation, {found.period.label}")  # fmt: skip
    for f in found.policies:
        days = "-" if f.days_to_payment_median is None else f"{f.days_to_payment_median:g}/{f.days_to_payment_p90:g}"
        budget = "-" if f.budget_share is None else f"{f.budget_share:.0%}" + (" ALERT" if f.budget_alert else "")
        table.add_row(
            f.policy_id, f"{f.eligible:,}", f"{f.notified:,}", "-" if f.confirmed is None else f"{f.confirmed:,}",
            f"{f.paid:,}", f"{f.paid_yuan:,}", "-" if f.take_up is None else f"{f.take_up:.0%} ({f.take_up_basis})",
            days, f"{f.objections_filed:,} ({f.objections_upheld:,})", f"{f.original_channel:,}",
            f"{f.gate_grants:,}", budget,
        )  # fmt: skip
    console = Console()
    console.print(table)
    for f in found.alerts:
        console.print(f"ALERT {f.policy_id}: spent {f.spent_yuan:,} of a {f.budget_period}ly budget of "
                      f"{f.budget_yuan:,} yuan ({f.budget_share:.0%})")  # fmt: skip
    for out in (csv_out, json_out):
        if out is not None:
            typer.echo(f"wrote {out}")
