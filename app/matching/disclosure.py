"""Disclosure (信息公示): how many were matched and paid, per policy and region, and nothing personal.

Counts from one to four are published as "<5" so that no one can be singled out in a small region.
Hiding them alone is not enough: a policy's exact total minus its other exact cells gave a hidden
cell back (141 - 140 = 1). So each policy's table gets secondary suppression, by this rule:

1. Primary: every region cell of 1 to 4 is shown "<5"; so is the total ("all") when it is 1 to 4.
2. While some "<5" figure can still be worked out exactly from what is shown, hide the smallest
   region cell still shown (ties by region), as "≥5"; when every cell is hidden, hide the total too
   ("≥5"); if even then a figure can be worked out (a small total over several small cells: four
   cells of 1 under a total of 4), the policy's region cells are left out and only its total shown.
3. "Worked out" is judged as a reader who knows this rule would: each "<5" lies in 1..4, each "≥5"
   cell in 5..(the smallest cell still shown), a "≥5" total in 5..∞, shown figures are exact, and the
   cells add up to the total. The range of each hidden figure under these constraints is exact
   for sums of bounded integers (`hidden_ranges`); a "<5" figure is safe when its range holds at
   least two values. Cells of five or more are publishable, so a "≥5" cell is only ever hidden to
   protect a "<5" one.

Paid counts are one figure a policy (on its "all" row), with no cells to subtract: "<5" suffices.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import duckdb
from sqlalchemy import Engine, func, select

from app.db.schema import payouts
from app.private_files import private_file

SMALL = 5
HIDDEN_SMALL = f"<{SMALL}"
HIDDEN_OTHER = f"≥{SMALL}"  # not small, hidden so that a small figure beside it cannot be derived


class DisclosureRow(NamedTuple):
    policy_id: str
    region: str  # six-digit residence region, "enterprises", or "all" for the policy's totals
    matched: int
    paid: int | None  # payouts in the period, on the policy's "all" row only


class PublishedRow(NamedTuple):
    """A row as published: counts as text ("12", "<5", "≥5", "-")."""

    policy_id: str
    region: str
    matched: str
    paid: str


def shown(count: int | None) -> str:
    """One figure on its own: "-" for none, "<5" for 1 to 4 (no secondary suppression: see `published`)."""
    if count is None:
        return "-"
    return HIDDEN_SMALL if 0 < count < SMALL else str(count)


Bounds = tuple[int, float]  # what a reader can know of a figure: low .. high (high may be math.inf)


def reader_bounds(labels: Sequence[str], total: str) -> tuple[list[Bounds], Bounds]:
    """What a reader who knows the rule knows of each cell and of the total, from the labels alone."""
    large = [int(label) for label in labels if label not in (HIDDEN_SMALL, HIDDEN_OTHER) and int(label) >= SMALL]
    ceiling: float = min(large) if large else math.inf  # the suppressed cells were the smallest ones

    def bounds(label: str, other_high: float) -> Bounds:
        if label == HIDDEN_SMALL:
            return (1, SMALL - 1)
        if label == HIDDEN_OTHER:
            return (SMALL, other_high)
        return (int(label), int(label))

    return [bounds(label, ceiling) for label in labels], bounds(total, math.inf)


def hidden_ranges(cells: Sequence[Bounds], total: Bounds) -> tuple[list[Bounds], Bounds]:
    """The exact range of each cell and of the total, given each one's bounds and sum(cells) == total."""
    low_sum = sum(low for low, _ in cells)
    high_sum = math.fsum(high for _, high in cells)
    t_low, t_high = max(total[0], low_sum), min(total[1], high_sum)
    ranges: list[Bounds] = []
    for low, high in cells:
        others_low, others_high = low_sum - low, high_sum - high
        c_low = max(low, t_low - others_high) if math.isfinite(others_high) else low
        ranges.append((int(max(c_low, low)), min(high, t_high - others_low)))
    return ranges, (int(t_low), t_high)


def derivable(labels: Sequence[str], total: str) -> bool:
    """True when a "<5" figure (cell or total) can be worked out to one value from the labels."""
    cells, total_bounds = reader_bounds(labels, total)
    ranges, total_range = hidden_ranges(cells, total_bounds)
    figures = [*zip(labels, ranges, strict=True), (total, total_range)]
    return any(label == HIDDEN_SMALL and high - low < 1 for label, (low, high) in figures)


def suppress(counts: Sequence[int], total: int) -> tuple[list[str], str] | None:
    """Labels for a policy's region cells and total by the module's rule; None: publish the total alone."""
    labels = [shown(n) for n in counts]
    total_label = shown(total)
    while derivable(labels, total_label):
        still_shown = [i for i, label in enumerate(labels) if label not in (HIDDEN_SMALL, HIDDEN_OTHER)]
        if still_shown:
            labels[min(still_shown, key=lambda i: counts[i])] = HIDDEN_OTHER
        elif total_label not in (HIDDEN_SMALL, HIDDEN_OTHER):
            total_label = HIDDEN_OTHER
        else:
            return None
    return labels, total_label


def published(rows: Iterable[DisclosureRow]) -> list[PublishedRow]:
    """Rows as published, with small counts hidden and no hidden count derivable (the module's rule)."""
    by_policy: dict[str, list[DisclosureRow]] = {}
    for row in rows:
        by_policy.setdefault(row.policy_id, []).append(row)
    out: list[PublishedRow] = []
    for policy_id, group in by_policy.items():
        cells = [r for r in group if r.region != "all"]
        totals = [r for r in group if r.region == "all"]
        total = totals[0] if totals else DisclosureRow(policy_id, "all", sum(r.matched for r in cells), None)
        decided = suppress([r.matched for r in cells], total.matched)
        if decided is None:
            out.append(PublishedRow(policy_id, "all", shown(total.matched), shown(total.paid)))
            continue
        labels, total_label = decided
        out.extend(
            PublishedRow(policy_id, r.region, label, shown(r.paid)) for r, label in zip(cells, labels, strict=True)
        )
        out.append(PublishedRow(policy_id, "all", total_label, shown(total.paid)))
    return out


def disclosure(con: duckdb.DuckDBPyConnection, engine: Engine | None, period: str | None) -> list[DisclosureRow]:
    """From the results database (the latest run), with paid counts from the ledger when given."""
    matched = con.execute(
        """
        SELECT e.policy_id, COALESCE(CAST(p.residence AS VARCHAR), 'enterprises') AS region, count(*)
        FROM entitlements AS e LEFT JOIN profiles AS p USING (subject)
        GROUP BY ALL ORDER BY 1, 2
        """
    ).fetchall()
    return _rows(matched, engine, period)


def disclosure_of_store(engine: Engine, period: str | None = None) -> list[DisclosureRow]:
    """The same counts from the services database alone (the latest copied run), for the HTTP API."""
    from app.db.schema import profiles
    from app.db.schema import stored_entitlements as e

    query = (
        select(e.c.policy_id, profiles.c.residence, func.count())
        .select_from(e.outerjoin(profiles, profiles.c.subject == e.c.subject))
        .where(e.c.revoked_in.is_(None))
        .group_by(e.c.policy_id, profiles.c.residence)
    )
    with engine.connect() as db:
        counted = db.execute(query).all()
    matched = sorted((p, "enterprises" if r is None else str(r), n) for p, r, n in counted)
    return _rows(matched, engine, period)


def _rows(matched: list[tuple[str, str, int]], engine: Engine | None, period: str | None) -> list[DisclosureRow]:
    paid: dict[str, int] = {}
    if engine is not None and period is not None:
        with engine.connect() as db:
            query = (
                select(payouts.c.policy_id, func.count())
                .where(payouts.c.period == period)
                .group_by(payouts.c.policy_id)
            )
            paid = {policy_id: count for policy_id, count in db.execute(query)}
    rows: list[DisclosureRow] = []
    totals: dict[str, int] = {}
    for policy_id, region, count in matched:
        rows.append(DisclosureRow(policy_id, region, count, None))
        totals[policy_id] = totals.get(policy_id, 0) + count
    rows.extend(DisclosureRow(pid, "all", total, paid.get(pid)) for pid, total in totals.items())
    return sorted(rows, key=lambda r: (r.policy_id, r.region == "all", r.region))


def write_disclosure(rows: list[DisclosureRow], out: Path, period: str | None) -> None:
    with private_file(out).open("w", newline="") as handle:  # counts only, but kept with the data: 0600
        writer = csv.writer(handle)
        writer.writerow(["policy_id", "region", "matched", f"paid {period}" if period else "paid"])
        for row in published(rows):
            writer.writerow(list(row))
