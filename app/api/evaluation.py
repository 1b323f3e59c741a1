"""Performance evaluation routes (绩效评估, role admin): every policy's figures for a month, a year or all time.

The figures are computed from the records on each request (app.matching.evaluation), so the page, the
CSV and the ledger can never disagree. Plain `def` routes: the aggregates run in the thread pool, never
in the event loop.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.api.deps import ERROR_RESPONSES, Admin, ApiError, ServicesDep
from app.api.services import Services
from app.matching.evaluation import Evaluation, EvaluationError, budgets_of, evaluate, parse_period, this_month, to_csv

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=ERROR_RESPONSES)

PeriodText = Annotated[
    str | None,
    Query(max_length=16, examples=["2026-11", "2026", "all"],
          description="A local month YYYY-MM, a year YYYY, or all; the current month when left out."),
]  # fmt: skip


def _evaluation(svc: Services, period: str | None) -> Evaluation:
    try:
        chosen = this_month(time.time()) if period is None else parse_period(period)
    except EvaluationError as exc:
        raise ApiError(422, "invalid_period", str(exc)) from None
    policies = svc.catalogued.snapshot.policies
    return evaluate(svc.engine, policies, chosen, budgets=budgets_of(policies))


@router.get("/evaluation", summary="Per policy: the funnel, take-up, days to payment, objections, grants, budget")
def evaluation(_: Admin, svc: ServicesDep, period: PeriodText = None) -> dict[str, Any]:
    return _evaluation(svc, period).to_json()


@router.get("/evaluation.csv", summary="The same figures as CSV, one line a policy", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})  # fmt: skip
def evaluation_csv(_: Admin, svc: ServicesDep, period: PeriodText = None) -> Response:
    found = _evaluation(svc, period)
    name = f"evaluation-{found.period.label.replace('..', '_')}.csv"
    return Response(to_csv(found), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip
