"""Public routes with no sign-in: the disclosure of how policies reached people (信息公示).

Counts only, per policy and region, with counts under 5 shown as "<5", so that nobody can be
singled out. Counting takes seconds at city scale, so an answer is kept for a few minutes and
recounted at most once at a time.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.deps import ServicesDep
from app.matching.disclosure import disclosure_of_store, shown

router = APIRouter(prefix="/v1", tags=["public"])
KEEP_S = 300.0
_lock = threading.Lock()


@router.get("/disclosure", summary="Counts per policy and region, small counts as <5 (信息公示, public)")
def disclosure(
    svc: ServicesDep, period: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", examples=["2026-11"])] = None
) -> dict[str, Any]:
    key = f"disclosure:{period}"
    with _lock:
        held = svc.answers.get(key)
        if held is not None and time.monotonic() < held[0]:
            return held[1]  # type: ignore[no-any-return]
        titles = {p.id: {"zh": p.title_zh, "en": p.title_en} for p in svc.catalogued.snapshot.policies}
        rows = [
            {"policy_id": r.policy_id, "title": titles.get(r.policy_id), "region": r.region,
             "matched": shown(r.matched), "paid": shown(r.paid)}
            for r in disclosure_of_store(svc.engine, period)
        ]  # fmt: skip
        answer = {"period": period, "rows": rows}
        svc.answers[key] = (time.monotonic() + KEEP_S, answer)
        return answer
