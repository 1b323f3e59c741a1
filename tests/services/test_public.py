"""The public disclosure (信息公示): no sign-in, counts only, the same figures as the admin export."""

from __future__ import annotations

from tests.services.conftest import Api


def test_public_disclosure_needs_no_sign_in_and_hides_small_counts(api: Api) -> None:
    public = api.client.get("/v1/disclosure")
    assert public.status_code == 200, public.text
    rows = public.json()["rows"]
    assert rows, "the sample run entitles people under several policies"
    assert all(r["matched"] == "<5" or int(r["matched"]) >= 5 for r in rows)
    assert all(set(r) == {"policy_id", "title", "region", "matched", "paid"} for r in rows)  # no subject anywhere
    titled = [r for r in rows if r["title"] is not None]
    assert titled and all(r["title"]["zh"] and r["title"]["en"] for r in titled)

    admin = api.client.get("/v1/admin/disclosure", headers=api.admin).json()["rows"]
    shown = {(r["policy_id"], r["region"]): r["matched"] for r in rows}
    assert shown == {(r["policy_id"], r["region"]): r["matched"] for r in admin}

    assert api.client.get("/v1/disclosure", params={"period": "last month"}).status_code == 422
