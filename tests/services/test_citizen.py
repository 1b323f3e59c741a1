"""The citizen's own pages of the API: entitlements explained, one-click confirmation, reminders."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select

from app.db.engine import open_database
from app.db.schema import applications, renewal_reminders
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
    assert any("Legal basis" in line["en"] and "政策依据" in line["zh"] for line in museum[0]["explanation"])
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
    assert confirmed.json()["signed"] is False and confirmed.json()["channel"] == "web"  # no device key: unsigned
    again = api.client.post(f"/v1/me/entitlements/{policy}/confirm", headers=citizen)
    assert again.status_code == 409 and again.json()["error"] == "already_confirmed"
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


def test_a_renewal_reminder_is_in_the_inbox_with_its_end_date_in_both_languages(api: Api) -> None:
    me, other = api.place.template.seniors[:2]
    ends = dt.date(2026, 12, 25)
    with api.services.engine.begin() as db:  # as the matching run writes it (app.matching.notifications)
        db.execute(insert(renewal_reminders).values(
            subject=me, fact="disability.certificate_valid_until", ends_on=ends, matching_run=1,
            queued_at=dt.datetime(2026, 11, 26, 9, 0),
        ))  # fmt: skip
    inbox = api.client.get("/v1/me/notifications", headers=api.citizen(me)).json()["notifications"]
    [reminder] = [n for n in inbox if n["kind"] == "renewal" and n["ends_on"] == "2026-12-25"]
    assert reminder["fact"] == "disability.certificate_valid_until" and reminder["read"] is False
    assert "2026-12-25" in reminder["title"]["zh"] and "残疾人证" in reminder["title"]["zh"]
    assert "disability certificate ends on 2026-12-25" in reminder["title"]["en"]
    assert all(n["kind"] == "privilege" for n in inbox if n is not reminder)
    path = f"/v1/me/notifications/{reminder['id']}/read"  # the page marks either kind through the same path
    assert api.client.post(path, headers=api.citizen(other)).status_code == 404
    marked = api.client.post(path, headers=api.citizen(me))
    assert marked.status_code == 200 and marked.json() == {"id": reminder["id"], "read": True}
    after = api.client.get("/v1/me/notifications", headers=api.citizen(me)).json()["notifications"]
    assert {n["id"]: n["read"] for n in after}[reminder["id"]] is True
    assert api.client.post("/v1/me/notifications/renewal-x/read", headers=api.citizen(me)).status_code == 422
