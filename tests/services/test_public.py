"""The public disclosure (信息公示): no sign-in, counts only, the same figures as the admin export."""

from __future__ import annotations

import datetime as dt

from app.api.public import MAX_ANSWERS
from app.db.engine import open_database
from app.db.schema import payouts
from tests.support.services import Api


def test_public_disclosure_needs_no_sign_in_and_hides_small_counts(api: Api) -> None:
    public = api.client.get("/v1/disclosure")
    assert public.status_code == 200, public.text
    rows = public.json()["rows"]
    assert rows, "the sample run entitles people under several policies"
    assert all(r["matched"] in ("<5", "≥5") or int(r["matched"]) >= 5 for r in rows)
    assert all(set(r) == {"policy_id", "title", "region", "matched", "paid"} for r in rows)  # no subject anywhere
    titled = [r for r in rows if r["title"] is not None]
    assert titled and all(r["title"]["zh"] and r["title"]["en"] for r in titled)

    admin = api.client.get("/v1/admin/disclosure", headers=api.admin).json()["rows"]
    shown = {(r["policy_id"], r["region"]): r["matched"] for r in rows}
    assert shown == {(r["policy_id"], r["region"]): r["matched"] for r in admin}

    assert api.client.get("/v1/disclosure", params={"period": "last month"}).status_code == 422


def test_a_period_that_is_not_a_month_is_malformed_and_a_month_without_payouts_is_unknown(api: Api) -> None:
    for route, headers in (("/v1/disclosure", {}), ("/v1/admin/disclosure", api.admin)):
        for period in ("2026-13", "2026-00"):
            answer = api.client.get(route, params={"period": period}, headers=headers)
            assert answer.status_code == 422 and answer.json()["error"] == "invalid_request", (route, answer.text)
            assert "period" in answer.json()["detail"], answer.text
    answer = api.client.get("/v1/disclosure", params={"period": "1999-12"})
    assert answer.status_code == 404 and answer.json()["error"] == "unknown_period", answer.text


def _pay(api: Api, policy: str, periods: list[str]) -> None:
    engine = open_database(api.place.database_url)
    try:
        with engine.begin() as db:
            db.execute(payouts.insert(), [
                {"subject": f"S{i}", "policy_id": policy, "policy_version": 1, "period": period,
                 "amount_yuan": 75, "matching_run": 1, "created_at": dt.datetime(2026, 1, 1)}
                for period in periods for i in range(7)
            ])  # fmt: skip
    finally:
        engine.dispose()


def test_only_periods_in_the_ledger_are_answered_and_few_answers_are_kept(api: Api) -> None:
    periods = [f"20{y:02d}-{m:02d}" for y in (24, 25) for m in range(1, 13)]  # 24 real periods
    policy = api.client.get("/v1/disclosure").json()["rows"][0]["policy_id"]
    api.services.answers.clear()  # the periods were read with that answer: read them again
    _pay(api, policy, periods)
    made_up = [f"{1000 + i}-01" for i in range(300)]
    for period in made_up:
        answer = api.client.get("/v1/disclosure", params={"period": period})
        assert answer.status_code == 404 and answer.json()["error"] == "unknown_period", answer.text
    for period in periods:
        answer = api.client.get("/v1/disclosure", params={"period": period})
        assert answer.status_code == 200, answer.text
        assert [r["paid"] for r in answer.json()["rows"] if (r["policy_id"], r["region"]) == (policy, "all")] == ["7"]
    kept = [key for key in api.services.answers if key.startswith("disclosure")]
    assert len(kept) <= MAX_ANSWERS, kept
    assert not any(period in key for key in kept for period in made_up)
