"""Public routes with no sign-in: the disclosure of how policies reached people (信息公示).

Counts only, per policy and region, small counts hidden so that no hidden count can be worked
out from the others (the rule is in app/matching/disclosure.py). Counting takes seconds at city
scale, so an answer is kept for a few minutes and recounted at most once at a time.

Anyone can call this, so what it keeps is bounded: only periods that exist in the payouts ledger
are answered (3,000 made-up periods once cost 90 s of counting and 111 MiB never freed), and at
most `MAX_ANSWERS` answers are kept, the least recently used dropped first, each for `KEEP_S`.
A period that is not a month YYYY-MM (01-12) is a malformed request, 422 `invalid_request`; a
real month with no payouts is 404 `unknown_period`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from app.api.deps import ApiError, Period, ServicesDep
from app.api.services import Services
from app.db.schema import payouts
from app.matching.disclosure import disclosure_of_store, published

UNKNOWN_PERIOD = {"description": "No payouts are recorded for that period.", "content": {"application/json": {
    "example": {"error": "unknown_period", "detail": "no payouts are recorded for period 1999-01"}}}}  # fmt: skip
router = APIRouter(prefix="/v1", tags=["public"], responses={404: UNKNOWN_PERIOD})
KEEP_S = 300.0
MAX_ANSWERS = 16  # the no-period answer and the latest months; every entry is a full disclosure
PERIODS_KEY = "disclosure-periods"
_lock = threading.Lock()


def _held(svc: Services, key: str) -> Any | None:
    """A kept answer still fresh, marked most recently used; None if absent or expired."""
    held = svc.answers.pop(key, None)
    if held is None or time.monotonic() >= held[0]:
        return None
    svc.answers[key] = held  # dicts keep insertion order: re-inserting makes it the newest
    return held[1]


def _keep(svc: Services, key: str, answer: Any) -> None:
    svc.answers.pop(key, None)
    svc.answers[key] = (time.monotonic() + KEEP_S, answer)
    prefix = "policies" if key.startswith("policies") else "disclosure"  # each kind bounded on its own
    kept = [k for k in svc.answers if k.startswith(prefix)]
    for old in kept[: max(0, len(kept) - MAX_ANSWERS)]:
        del svc.answers[old]


def _periods(svc: Services) -> frozenset[str]:
    """The payout periods in the ledger (refreshed with the answers)."""
    held = _held(svc, PERIODS_KEY)
    if held is None:
        with svc.engine.connect() as db:
            held = frozenset(str(p) for p in db.execute(select(payouts.c.period).distinct()).scalars())
        _keep(svc, PERIODS_KEY, held)
    return held  # type: ignore[no-any-return]


@router.get("/disclosure", summary="Counts per policy and region, small counts hidden (信息公示, public)")
def disclosure(svc: ServicesDep, period: Period = None) -> dict[str, Any]:
    key = f"disclosure:{period}"
    with _lock:
        if period is not None and period not in _periods(svc):
            raise ApiError(404, "unknown_period", f"no payouts are recorded for period {period}")
        held = _held(svc, key)
        if held is not None:
            return held  # type: ignore[no-any-return]
        titles = {p.id: {"zh": p.title_zh, "en": p.title_en} for p in svc.catalogued.snapshot.policies}
        rows = [
            {"policy_id": r.policy_id, "title": titles.get(r.policy_id), "region": r.region,
             "matched": r.matched, "paid": r.paid}
            for r in published(disclosure_of_store(svc.engine, period))
        ]  # fmt: skip
        answer = {"period": period, "rows": rows}
        _keep(svc, key, answer)
        return answer


@router.get("/policies", summary="Every published policy in plain words, and how many it reached (政策公开, public)")
def public_policies(svc: ServicesDep) -> dict[str, Any]:
    """对已实现免申即享的政策和服务，主动向社会公开: who qualifies is rendered from each rule's AST (not YAML),
    and the counts are the disclosure's totals, small ones shown "<5" exactly as on /disclosure."""
    import datetime as dt

    from app.policy_words import public_entry
    from verifier.local_time import LOCAL_TIME

    snapshot = svc.catalogued.snapshot
    key = f"policies:{svc.catalogued.version}"
    with _lock:
        held = _held(svc, key)
    if held is not None:
        return held  # type: ignore[no-any-return]
    totals = {r["policy_id"]: r for r in disclosure(svc)["rows"] if r["region"] == "all"}
    day = dt.datetime.now(LOCAL_TIME).date()
    entries = []
    for policy in snapshot.policies:
        if policy.status != "published":
            continue
        total = totals.get(policy.id)
        entries.append({**public_entry(policy, day), "benefited": {
            "matched": total["matched"] if total else 0, "paid": total["paid"] if total else None}})  # fmt: skip
    answer = {"catalogue_version": svc.catalogued.version, "region": snapshot.region, "policies": entries}
    with _lock:
        _keep(svc, key, answer)
    return answer
