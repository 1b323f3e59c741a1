"""Performance evaluation (绩效评估): every figure recomputed here from the stored rows, by other code, must agree.

One matching run copied into a real SQLite ledger, notices spread over past days, most confirm-mode
entitlements confirmed, a pay run, objections (one upheld and applied by a second run), gate events:
then `evaluate` is checked figure for figure against plain Python over the same tables, and the CSV,
the command and the budget alert against it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.catalogue import load_catalogue
from app.db.engine import open_database
from app.db.schema import (
    applications,
    confirmations,
    events,
    matching_runs,
    notifications,
    objections,
    original_channel,
    payouts,
    stored_entitlements,
)
from app.events_store import store_events
from app.matching.applications import write_applications
from app.matching.confirmations import confirm
from app.matching.engine import attach_registries, connect
from app.matching.evaluation import (
    CSV_COLUMNS,
    EvaluationError,
    budgets_of,
    evaluate,
    parse_period,
    this_month,
    to_csv,
)
from app.matching.objections import file_objection, resolve
from app.matching.payouts import pay
from app.matching.run import match_registries
from app.matching.synth import synthesise
from keys import directory
from tests.support.registries import DAY
from verifier.catalogue import Budget

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"
SUISHEN = str(Path(sys.executable).parent / "suishen")
PERIOD = "2026-11"
NOW = time.time()


class Place:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.registries = root / "registries"
        self.results = root / "results.duckdb"
        self.ledger = root / "ledger.sqlite"
        self.engine = open_database(self.ledger)
        self.policies = load_catalogue(CATALOGUE).policies
        self.confirmed: dict[str, int] = {}
        self.report: Any = None


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Place:
    p = Place(tmp_path_factory.mktemp("evaluation"))
    synthesise(p.registries, persons=12_000, enterprises=1_500, seed=11)
    p.report = match_registries(p.registries, p.policies, p.results, DAY, ledger=p.engine)
    with p.engine.begin() as db:  # notices went out on different past days (k days before now)
        ids = [r.id for r in db.execute(sa.select(notifications.c.id).order_by(notifications.c.id))]
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for i, nid in enumerate(ids):
            db.execute(notifications.update().where(notifications.c.id == nid)
                       .values(queued_at=now - dt.timedelta(days=i % 37, hours=i % 5)))  # fmt: skip
    con = connect(p.results)
    attach_registries(con, p.registries)
    write_applications(con, p.engine, p.policies, DAY, p.report.version,
                       lambda d: directory.seal_key(p.root / "keys", d, b"pw"))  # fmt: skip
    for policy in (x for x in p.policies if x.delivery == "confirm"):
        subjects = [s for (s,) in con.execute(
            "SELECT subject FROM entitlements WHERE policy_id = ? ORDER BY subject", [policy.id]).fetchall()]
        chosen = [s for i, s in enumerate(subjects) if i % 4 != 3]  # a quarter do not confirm
        for subject in chosen:
            confirm(p.engine, subject, policy.id, "counter", policy=policy)
        p.confirmed[policy.id] = len(chosen)
    pay(con, p.engine, p.policies, PERIOD, matching_run=p.report.version)
    con.close()
    allowance = next(x for x in p.policies if x.id == "sh-senior-allowance-65-69")
    subjects = [r.subject for r in _rows(p.engine, stored_entitlements) if r.policy_id == allowance.id][:6]
    for i, subject in enumerate(subjects):
        file_objection(p.engine, subject, allowance.id, "wrong", f"statement {i}")
    upheld = resolve(p.engine, 1, "officer-1", {"hukou.region": 320000}, p.registries, allowance, DAY)
    assert not upheld.entitled  # moved away: the objection changes the result, so it is upheld
    resolve(p.engine, 2, "officer-1", {}, p.registries, allowance, DAY)  # nothing changes: rejected
    p.report = match_registries(p.registries, p.policies, p.results, DAY, ledger=p.engine)  # applies #1
    store_events(p.engine, "gate-1", _gate_events(), dt.datetime.now(dt.UTC).replace(tzinfo=None))
    return p


def _gate_events() -> list[dict[str, Any]]:
    out = []
    for i in range(60):
        out.append({
            "id": f"ev{i:04d}", "venue": ["sh-museum", "sh-park-1", "sh-library"][i % 3], "at": NOW - 86400 * (i % 4),
            "result": "GRANTED" if i % 5 else "DENIED", "reason": None if i % 5 else "NOT_ELIGIBLE",
            "policy_id": ["sh-museum-senior-free", "sh-park-senior-free"][i % 2] if i % 5 else None,
            "kind": "online", "issuer": "CN-310000", "degraded": False, "repeat": i % 7 == 0,
        })  # fmt: skip
    return out


def _rows(engine: sa.Engine, table: sa.Table) -> list[Any]:
    with engine.connect() as db:
        return list(db.execute(sa.select(table)))


def _nearest_rank(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(q * len(ordered) / 100) - 1]


def _recomputed(engine: sa.Engine) -> dict[str, dict[str, Any]]:
    """Every figure of period `all`, from the rows, by loops rather than SQL."""
    runs = {r.run: r for r in _rows(engine, matching_runs)}
    first_notice: dict[tuple[str, str], dt.datetime] = {}
    for n in _rows(engine, notifications):
        key = (n.subject, n.policy_id)
        first_notice[key] = min(first_notice.get(key, n.queued_at), n.queued_at)
    since: dict[tuple[str, str], dt.datetime] = {}
    for e in _rows(engine, stored_entitlements):
        key = (e.subject, e.policy_id)
        found = runs[e.run].copied_at
        at = first_notice[key] if key in first_notice and first_notice[key] < found else found
        since[key] = min(since.get(key, at), at)
    confirmed = {(a.subject, a.policy_id) for a in _rows(engine, applications)
                 if a.sha256 in {c.application_sha256 for c in _rows(engine, confirmations)}}  # fmt: skip
    out: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for subject, policy_id in since:
        f = out[policy_id]
        f["eligible"] += 1
        f["notified"] += (subject, policy_id) in first_notice
        f["confirmed"] += (subject, policy_id) in confirmed
    first_paid: dict[tuple[str, str], dt.datetime] = {}
    paid_subjects: dict[str, set[str]] = defaultdict(set)
    for p in sorted(_rows(engine, payouts), key=lambda p: (p.created_at, p.id)):
        out[p.policy_id]["paid"] += 1
        out[p.policy_id]["paid_yuan"] += p.amount_yuan
        paid_subjects[p.policy_id].add(p.subject)
        first_paid.setdefault((p.subject, p.policy_id), p.created_at)
    days: dict[str, list[float]] = defaultdict(list)
    for key, at in first_paid.items():
        days[key[1]].append((at - since[key]).total_seconds() / 86400)
    for policy_id, values in days.items():
        out[policy_id]["median"] = _nearest_rank(values, 50)
        out[policy_id]["p90"] = _nearest_rank(values, 90)
        out[policy_id]["measured"] = len(values)
    for policy_id, subjects in paid_subjects.items():
        out[policy_id]["paid_subjects"] = len(subjects)
    copied_starts = [r.started_at for r in runs.values() if r.copied_at is not None]
    for o in _rows(engine, objections):
        out[o.policy_id]["filed"] += 1
        out[o.policy_id]["upheld"] += o.status == "upheld"
        applied = o.status == "upheld" and o.corrections not in (None, "{}")
        out[o.policy_id]["corrections"] += applied and any(s >= o.resolved_at for s in copied_starts)
    channel: dict[str, set[str]] = defaultdict(set)
    for r in _rows(engine, original_channel):
        channel[r.policy_id].add(r.subject)
    for policy_id, subjects in channel.items():
        out[policy_id]["original_channel"] = len(subjects)
    for ev in _rows(engine, events):
        if ev.result == "GRANTED" and not ev.repeat:
            out[ev.policy_id]["gate_grants"] += 1
    return out


def test_every_figure_agrees_with_the_rows_it_is_computed_from(place: Place) -> None:
    found = evaluate(place.engine, place.policies, parse_period("all"))
    expected = _recomputed(place.engine)
    by_id = {f.policy_id: f for f in found.policies}
    checked = 0
    for policy in (p for p in place.policies if p.status == "published"):
        f, e = by_id[policy.id], expected[policy.id]
        assert (f.eligible, f.notified, f.paid, f.paid_yuan, f.paid_subjects) == (
            e["eligible"], e["notified"], e["paid"], e["paid_yuan"], e.get("paid_subjects", 0)), policy.id
        assert (f.objections_filed, f.objections_upheld, f.corrections_applied) == (
            e["filed"], e["upheld"], e["corrections"]), policy.id
        assert (f.original_channel, f.gate_grants) == (e["original_channel"], e["gate_grants"]), policy.id
        if policy.delivery == "confirm":
            assert f.confirmed == e["confirmed"] == place.confirmed[policy.id], policy.id
        else:
            assert f.confirmed is None
        if e.get("measured"):
            assert f.days_to_payment_measured == e["measured"]
            assert f.days_to_payment_median == pytest.approx(e["median"], abs=1e-3)
            assert f.days_to_payment_p90 == pytest.approx(e["p90"], abs=1e-3)
            checked += 1
        if f.eligible and policy.delivery != "scan":
            assert f.take_up == pytest.approx(f.paid_subjects / f.eligible)
    assert checked >= 5  # the days to payment were measured for many policies, not none
    spread = by_id["sh-senior-allowance-65-69"]
    assert spread.days_to_payment_p90 is not None and spread.days_to_payment_median is not None
    assert spread.days_to_payment_p90 > spread.days_to_payment_median > 1  # notices spread over 37 days
    assert sum(f.gate_grants for f in found.policies) == sum(n for _, _, n in found.by_venue) > 30


def test_the_funnel_narrows_and_confirmations_are_those_made(place: Place) -> None:
    found = {f.policy_id: f for f in evaluate(place.engine, place.policies, parse_period("all")).policies}
    startup = found["sh-enterprise-startup-subsidy"]
    assert startup.eligible >= startup.notified >= (startup.confirmed or 0) >= startup.paid_subjects > 0
    assert startup.confirmed == place.confirmed["sh-enterprise-startup-subsidy"]
    assert startup.paid_subjects == startup.confirmed  # paid once, everyone who confirmed
    assert startup.take_up == pytest.approx(startup.confirmed / startup.eligible)
    allowance = found["sh-senior-allowance-65-69"]
    assert allowance.objections_filed == 6 and allowance.objections_upheld == 1
    assert allowance.upheld_rate == pytest.approx(1 / 6) and allowance.corrections_applied == 1


def test_the_original_channel_is_the_runs_incomplete_list(place: Place) -> None:
    found = {f.policy_id: f for f in evaluate(place.engine, place.policies, parse_period("all")).policies}
    assert place.report.incomplete, "the synthetic registries leave some facts unknown"
    for policy_id, subjects in place.report.incomplete.items():
        assert found[policy_id].original_channel >= subjects > 0, policy_id


def test_a_month_counts_the_payouts_of_the_pay_runs_for_that_month(place: Place) -> None:
    november = {f.policy_id: f for f in evaluate(place.engine, place.policies, parse_period(PERIOD)).policies}
    december = {f.policy_id: f for f in evaluate(place.engine, place.policies, parse_period("2026-12")).policies}
    year = {f.policy_id: f for f in evaluate(place.engine, place.policies, parse_period("2026")).policies}
    paid: dict[str, int] = defaultdict(int)
    for row in _rows(place.engine, payouts):
        assert row.period == PERIOD
        paid[row.policy_id] += 1
    assert paid["sh-enterprise-startup-subsidy"] and paid["sh-senior-allowance-65-69"]  # once and monthly
    for pid, n in paid.items():
        assert november[pid].paid == year[pid].paid == n, pid
        assert december.get(pid) is None or december[pid].paid == 0, pid
    assert all(f.paid == 0 for f in evaluate(place.engine, place.policies, parse_period("1999-01")).policies)


def test_a_budget_past_ninety_percent_is_an_alert(place: Place) -> None:
    period = this_month(NOW)
    spent = evaluate(place.engine, place.policies, parse_period("all"))
    startup = next(f for f in spent.policies if f.policy_id == "sh-enterprise-startup-subsidy")
    assert startup.paid_yuan > 0
    budgets = {
        "sh-enterprise-startup-subsidy": Budget(int(startup.paid_yuan / 0.95), "year"),  # 95 % spent
        "sh-senior-allowance-65-69": Budget(10**12, "year"),
    }
    found = {f.policy_id: f for f in evaluate(place.engine, place.policies, period, budgets=budgets).policies}
    assert found["sh-enterprise-startup-subsidy"].budget_alert
    assert found["sh-enterprise-startup-subsidy"].budget_share == pytest.approx(0.95, abs=0.01)
    assert not found["sh-senior-allowance-65-69"].budget_alert
    assert found["sh-disability-living-subsidy"].budget_yuan is None  # no budget: no figure, no alert
    ev = evaluate(place.engine, place.policies, period, budgets=budgets)
    assert [a.policy_id for a in ev.alerts] == ["sh-enterprise-startup-subsidy"]
    assert ev.to_json()["alerts"][0]["spent_yuan"] == startup.paid_yuan
    assert budgets_of(place.policies)["sh-senior-allowance-65-69"] == Budget(1_350_000_000, "year")


def test_the_csv_carries_the_same_figures_as_the_json(place: Place) -> None:
    found = evaluate(place.engine, place.policies, parse_period("all"))
    rows = list(csv.DictReader(io.StringIO(to_csv(found))))
    assert list(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(found.policies)
    for row, f in zip(rows, found.policies, strict=True):
        assert row["policy_id"] == f.policy_id and int(row["eligible"]) == f.eligible
        assert int(row["paid_yuan"]) == f.paid_yuan and row["period"] == "all"
        assert row["take_up"] == ("" if f.take_up is None else f"{f.take_up:.4f}")
        assert row["title_zh"] == f.title["zh"]


def test_a_period_that_is_not_a_month_a_year_or_all_is_refused_in_words() -> None:
    for bad in ("2026-13", "26-11", "2026-1", "november", "", "2026-11-01"):
        with pytest.raises(EvaluationError, match="expected YYYY-MM"):
            parse_period(bad)
    year = parse_period("2026")
    assert (year.first_day, year.last_day, year.label) == ("2026-01-01", "2026-12-31", "2026")
    assert parse_period("2026-02").last_day == "2026-02-28"


def test_the_command_prints_the_table_and_writes_csv_and_json(place: Place, tmp_path: Path) -> None:
    out, js = tmp_path / "e.csv", tmp_path / "e.json"
    done = subprocess.run(
        [SUISHEN, "match", "evaluate", "--period", "all", "--ledger", str(place.ledger), "--catalogue",
         str(CATALOGUE), "--csv", str(out), "--json", str(js)],
        capture_output=True, text=True, timeout=120, env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "sh-enterprise-startup-subsidy" in done.stdout and "绩效评估" in done.stdout
    figures = json.loads(js.read_text(encoding="utf-8"))
    direct = evaluate(place.engine, place.policies, parse_period("all"), budgets=budgets_of(place.policies)).to_json()
    assert figures["policies"] == direct["policies"]
    assert out.read_text(encoding="utf-8").splitlines()[0].startswith("period,policy_id,")
    bad = subprocess.run([SUISHEN, "match", "evaluate", "--period", "2026-13", "--ledger", str(place.ledger)],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "expected YYYY-MM" in bad.stderr and "Traceback" not in bad.stderr


def test_a_budget_that_is_not_a_number_is_named_with_its_file_and_field(tmp_path: Path) -> None:
    folder = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE, folder)
    target = folder / "sh-senior-allowance-65-69.yaml"
    text = target.read_text(encoding="utf-8")
    target.write_text(text.replace("budget: {amount_yuan: 1350000000, period: year}",
                                   "budget: {amount_yuan: a lot, period: year}"), encoding="utf-8")  # fmt: skip
    problems = load_catalogue(folder).problems
    named = [p for p in problems if "sh-senior-allowance-65-69.yaml" in str(p) and "budget.amount_yuan" in str(p)]
    assert named, problems
    target.write_text(text.replace("budget: {amount_yuan: 1350000000, period: year}",
                                   "budget: {amount_yuan: 100, period: week}"), encoding="utf-8")  # fmt: skip
    assert any("budget.period" in str(p) for p in load_catalogue(folder).problems)


def test_the_figures_are_the_same_on_sqlite_and_postgresql(services_url: str, tmp_path: Path) -> None:
    """The evaluation's SQL (a temporary table, a MATERIALIZED CTE, day arithmetic) on each database the
    services run on, checked against the rows as above."""
    registries = tmp_path / "registries"
    synthesise(registries, persons=3_000, enterprises=400, seed=5)
    engine = open_database(services_url)
    policies = load_catalogue(CATALOGUE).policies
    report = match_registries(registries, policies, tmp_path / "results.duckdb", DAY, ledger=engine)
    con = connect(tmp_path / "results.duckdb")
    attach_registries(con, registries)
    write_applications(con, engine, policies, DAY, report.version,
                       lambda d: directory.seal_key(tmp_path / "keys", d, b"pw"))  # fmt: skip
    startup = next(p for p in policies if p.id == "sh-enterprise-startup-subsidy")
    for (subject,) in con.execute("SELECT subject FROM entitlements WHERE policy_id = ?", [startup.id]).fetchall():
        confirm(engine, subject, startup.id, "counter", policy=startup)
    pay(con, engine, policies, PERIOD, matching_run=report.version)
    con.close()
    found = {f.policy_id: f for f in evaluate(engine, policies, parse_period("all")).policies}
    expected = _recomputed(engine)
    paid_any = False
    for policy in (p for p in policies if p.status == "published"):
        f, e = found[policy.id], expected[policy.id]
        assert (f.eligible, f.notified, f.paid, f.paid_yuan) == (e["eligible"], e["notified"], e["paid"],
                                                                 e["paid_yuan"]), policy.id  # fmt: skip
        if e.get("measured"):
            paid_any = True
            assert f.days_to_payment_median == pytest.approx(e["median"], abs=1e-3), policy.id
    assert paid_any and found[startup.id].confirmed == found[startup.id].paid_subjects > 0
    month = evaluate(engine, policies, parse_period(PERIOD))
    assert sum(f.paid for f in month.policies) == sum(e["paid"] for e in expected.values())
    engine.dispose()
