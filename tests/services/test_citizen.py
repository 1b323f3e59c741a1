"""The citizen's own pages of the API: entitlements explained, one-click confirmation, reminders."""

from __future__ import annotations

from sqlalchemy import select

from app.db.engine import open_database
from app.db.schema import applications
from tests.support.services import Api


def test_entitlements_are_explained_and_carry_no_subject(api: Api) -> None:
    senior = api.place.template.seniors[0]
    answer = api.client.get("/v1/me/entitlements", headers=api.citizen(senior))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "subject" not in body["subject_groups"] and senior not in answer.text
    assert body["subject_groups"]["age"]
    museum = [e for e in body["entitlements"] if e["policy_id"] == "sh-museum-senior-free"]
    assert len(museum) == 1 and museum[0]["mode"] == "scan" and museum[0]["title"]["zh"]
    assert any("Legal basis" in line for line in museum[0]["explanation"])
    stranger = api.client.get("/v1/me/entitlements", headers=api.citizen("P99999999")).json()
    assert stranger == {"subject_groups": {}, "entitlements": []}


def test_one_click_confirmation_once(api: Api) -> None:
    """A person confirms their own application (the ledger also holds enterprises': not picked here)."""
    person_policies = [p.id for p in api.services.catalogued.snapshot.policies
                       if p.delivery == "confirm" and p.subject == "person"]  # fmt: skip
    assert person_policies
    engine = open_database(api.place.database_url)
    with engine.connect() as db:
        subject, policy = db.execute(
            select(applications.c.subject, applications.c.policy_id)
            .where(applications.c.policy_id.in_(person_policies))
            .order_by(applications.c.id)
            .limit(1)
        ).one()
    engine.dispose()
    citizen = api.citizen(subject)
    listed = api.client.get("/v1/me/entitlements", headers=citizen).json()["entitlements"]
    assert [e["confirmable"] for e in listed if e["policy_id"] == policy] == [True]
    confirmed = api.client.post(f"/v1/me/entitlements/{policy}/confirm", json={"channel": "web"}, headers=citizen)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed", confirmed.text
    again = api.client.post(f"/v1/me/entitlements/{policy}/confirm", headers=citizen)
    assert again.status_code == 404 and again.json()["error"] == "nothing_to_confirm"
    others = api.client.post(f"/v1/me/entitlements/{policy}/confirm", headers=api.citizen("P99999999"))
    assert others.status_code == 404


def test_reminders_in_the_inbox_and_read_marks_are_per_subject(api: Api) -> None:
    me, other = api.place.template.seniors[:2]
    inbox = api.client.get("/v1/me/notifications", headers=api.citizen(me))
    assert inbox.status_code == 200, inbox.text
    notices = inbox.json()["notifications"]
    assert notices and all(n["read"] is False for n in notices)
    assert any(n["policy_id"] == "sh-museum-senior-free" and n["title"]["en"] for n in notices)
    first = notices[0]["id"]
    assert api.client.post(f"/v1/me/notifications/{first}/read", headers=api.citizen(other)).status_code == 404
    marked = api.client.post(f"/v1/me/notifications/{first}/read", headers=api.citizen(me))
    assert marked.status_code == 200 and marked.json() == {"id": first, "read": True}
    after = api.client.get("/v1/me/notifications", headers=api.citizen(me)).json()["notifications"]
    assert {n["id"]: n["read"] for n in after}[first] is True
    assert all(not n["read"] for n in api.client.get("/v1/me/notifications", headers=api.citizen(other)).json()[
        "notifications"])  # fmt: skip
