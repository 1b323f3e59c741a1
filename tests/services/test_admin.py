"""Admin through the HTTP API: policy drafts, publication, objections, statistics from events, runs, devices."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import yaml
from sqlalchemy import select

from app.db.engine import open_database
from app.db.schema import profiles
from tests.support.services import Api, policy_from_60

MUSEUM = "sh-museum"
POLICY = "sh-museum-senior-free"


def sixties(api: Api) -> str:
    """A Shanghai resident aged 60 to 64 in no other group: no free museum entry under version 1 of the policy."""
    engine = open_database(api.place.database_url)
    try:
        with engine.connect() as db:
            query = select(profiles.c.subject).where(
                profiles.c.age_over == 60, profiles.c.residence == 310000, profiles.c.disability_category.is_(None),
                profiles.c.martyr_family.is_(False), profiles.c.entitled_group.is_(False),
                profiles.c.student_level.is_(None),
            )  # fmt: skip
            subject = db.execute(query.order_by(profiles.c.subject)).scalar()
    finally:
        engine.dispose()
    assert subject is not None
    return str(subject)


def decide(api: Api, subject: str, gate: dict[str, str]) -> dict[str, Any]:
    code = api.client.post("/v1/codes", headers=api.citizen(subject)).json()["text"]
    answer = api.client.post("/v1/verify", json={"code": code, "venue": MUSEUM}, headers=gate)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_a_published_draft_decides_the_next_verify(api: Api) -> None:
    gate = api.device("gate", MUSEUM)
    subject = sixties(api)
    before = decide(api, subject, gate)
    assert before["decision"]["reason"] == "NOT_ELIGIBLE", (before["profile"], before["decision"])
    start_version = before["catalogue_version"]
    etag = api.client.get("/v1/catalogue/snapshot").headers["ETag"]

    saved = api.client.put(f"/v1/admin/policies/{POLICY}", json=policy_from_60(), headers=api.admin)
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"policy_id": POLICY, "valid": True, "errors": []}
    listed = api.client.get("/v1/admin/policies", headers=api.admin).json()
    assert [d["policy_id"] for d in listed["drafts"]] == [POLICY]
    assert decide(api, subject, gate)["decision"]["reason"] == "NOT_ELIGIBLE"  # a draft decides nothing

    published = api.client.post("/v1/admin/catalogue/publish", headers=api.admin)
    assert published.status_code == 200, published.text
    assert published.json()["version"] == start_version + 1
    after = decide(api, subject, gate)
    assert after["catalogue_version"] == start_version + 1
    assert after["decision"]["result"] == "GRANTED", after["decision"]
    assert api.client.get("/v1/admin/policies", headers=api.admin).json()["drafts"] == []
    snapshot = api.client.get("/v1/catalogue/snapshot", headers={"If-None-Match": etag})
    assert snapshot.status_code == 200 and snapshot.headers["ETag"] != etag
    unchanged = api.client.get("/v1/catalogue/snapshot", headers={"If-None-Match": snapshot.headers["ETag"]})
    assert unchanged.status_code == 304


def test_invalid_drafts_are_refused_with_reasons_and_change_nothing(api: Api) -> None:
    version = api.services.catalogued.version
    broken = policy_from_60()
    broken["versions"][1]["eligibility"] = {"age": {"≥": "sixty"}}
    cases = [
        ("json", json.dumps(broken), "application/json"),
        ("yaml", "id: [unclosed\n", "application/yaml"),
        ("wrong id", yaml.safe_dump({**policy_from_60(), "id": "sh-other"}), "application/yaml"),
        ("not a policy", "just words", "text/plain"),
    ]
    for name, body, media in cases:
        answer = api.client.put(f"/v1/admin/policies/{POLICY}", content=body.encode(), headers={**api.admin,
                                "Content-Type": media})  # fmt: skip
        assert answer.status_code == 200, (name, answer.text)
        assert answer.json()["valid"] is False and answer.json()["errors"], name
    over_draft_limit = api.client.put(f"/v1/admin/policies/{POLICY}", content=b"#" * 66_000, headers=api.admin)
    assert over_draft_limit.json()["valid"] is False  # read (under the route's body limit), then refused
    over_body_limit = api.client.put(f"/v1/admin/policies/{POLICY}", content=b"#" * 70_000, headers=api.admin)
    assert (over_body_limit.status_code, over_body_limit.json()["error"]) == (413, "too_large")  # never read
    not_utf8 = api.client.put(f"/v1/admin/policies/{POLICY}", content=b"\xff\xfe id", headers=api.admin)
    assert not_utf8.status_code == 422
    assert api.client.get("/v1/admin/policies", headers=api.admin).json()["drafts"] == []
    assert api.client.post("/v1/admin/catalogue/publish", headers=api.admin).json()["version"] == version + 1
    assert api.client.get("/readyz").json()["catalogue_version"] == version + 1


def test_objections_queue_and_resolution(api: Api) -> None:
    subject = sixties(api)
    citizen = api.citizen(subject)
    filed = api.client.post("/v1/me/objections", headers=citizen,
                            json={"policy_id": POLICY, "kind": "missing", "statement": "I turned 65 last month."})
    assert filed.status_code == 200, filed.text
    objection = filed.json()
    assert objection["status"] == "open"
    unknown = api.client.post("/v1/me/objections", headers=citizen,
                              json={"policy_id": "no-such-policy", "kind": "wrong", "statement": "x"})
    assert unknown.status_code == 404

    queue = api.client.get("/v1/admin/objections", headers=api.admin).json()["objections"]
    mine = [o for o in queue if o["id"] == objection["id"]]
    assert len(mine) == 1 and mine[0]["policy_id"] == POLICY and mine[0]["status"] == "open"
    assert mine[0]["subject"] == api.services.log_id(subject) and subject not in json.dumps(queue)

    resolved = api.client.post(f"/v1/admin/objections/{objection['id']}/resolve", headers=api.admin,
                               json={"corrections": {"birth_date": "1950-03-01"}})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["entitled"] is True
    after = api.client.get("/v1/admin/objections?status=all", headers=api.admin).json()["objections"]
    assert [o["status"] for o in after if o["id"] == objection["id"]] == ["upheld"]
    again = api.client.post(f"/v1/admin/objections/{objection['id']}/resolve", headers=api.admin, json={})
    assert again.status_code == 422
    missing = api.client.post("/v1/admin/objections/999999/resolve", headers=api.admin, json={})
    assert missing.status_code == 404


def event(venue: str, result: str, policy: str | None, at: float) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "venue": venue, "at": at, "result": result,
            "reason": None if result == "GRANTED" else "NOT_ELIGIBLE", "policy_id": policy, "kind": "online",
            "issuer": "CN-SH", "degraded": False, "repeat": False}  # fmt: skip


def test_stats_count_posted_events_by_policy_venue_and_day(api: Api) -> None:
    museum_gate, park_gate = api.device("gate", MUSEUM), api.device("gate", "sh-century-park")
    day_one, day_two = 1_790_000_000.0, 1_790_000_000.0 + 86400  # 2026-09-21 and -22, Beijing time
    granted = [event(MUSEUM, "GRANTED", POLICY, day_one) for _ in range(3)]
    at_museum = [*granted, event(MUSEUM, "REJECTED", None, day_one)]
    at_park = [event("sh-century-park", "GRANTED", "sh-park-senior-free", day_two) for _ in range(2)]
    mixed = api.client.post("/v1/events", json={"events": at_museum + at_park}, headers=museum_gate)
    assert (mixed.status_code, mixed.json()["error"]) == (403, "wrong_venue")  # a gate reports its own venue only
    stored = [api.client.post("/v1/events", json={"events": batch}, headers=gate).json()
              for batch, gate in ((at_museum, museum_gate), (at_park, park_gate))]  # fmt: skip
    assert stored == [{"stored": 4, "duplicates": 0}, {"stored": 2, "duplicates": 0}]
    by_policy = api.client.get("/v1/admin/stats?by=policy", headers=api.admin).json()["rows"]
    assert {r["policy"]: r["total"] for r in by_policy} == {POLICY: 3, "(none)": 1, "sh-park-senior-free": 2}
    assert [r.get("GRANTED") for r in by_policy if r["policy"] == POLICY] == [3]
    by_venue = api.client.get("/v1/admin/stats?by=venue", headers=api.admin).json()["rows"]
    assert {r["venue"]: (r.get("GRANTED", 0), r.get("REJECTED", 0)) for r in by_venue} == {
        MUSEUM: (3, 1), "sh-century-park": (2, 0)}  # fmt: skip
    by_day = api.client.get("/v1/admin/stats?by=day", headers=api.admin).json()["rows"]
    assert {r["day"]: r["total"] for r in by_day} == {"2026-09-21": 4, "2026-09-22": 2}
    since = api.client.get("/v1/admin/stats?by=day&since=2026-09-22", headers=api.admin).json()["rows"]
    assert [r["day"] for r in since] == ["2026-09-22"]
    assert api.client.get("/v1/admin/stats?by=colour", headers=api.admin).status_code == 422


def test_runs_diff_and_disclosure(api: Api) -> None:
    runs = api.client.get("/v1/admin/runs", headers=api.admin)
    assert runs.status_code == 200, runs.text
    versions = [r["version"] for r in runs.json()["runs"]]
    assert versions == [1]
    diff = api.client.get("/v1/admin/runs/1/diff/1", headers=api.admin)
    assert diff.status_code == 200 and diff.json()["policies"] is not None
    assert api.client.get("/v1/admin/runs/1/diff/7", headers=api.admin).status_code == 404
    disclosure = api.client.get("/v1/admin/disclosure", headers=api.admin)
    assert disclosure.status_code == 200, disclosure.text
    rows = disclosure.json()["rows"]
    assert rows and all(r["matched"] in ("<5", "≥5") or int(r["matched"]) >= 5 for r in rows)  # small counts hidden


def test_devices_are_registered_with_roles_and_venues(api: Api) -> None:
    made = api.client.post("/v1/admin/devices", json={"name": "gate 1", "role": "gate", "venue": MUSEUM},
                           headers=api.admin)  # fmt: skip
    assert made.status_code == 200 and made.json()["role"] == "gate" and made.json()["api_key"].startswith("sk_")
    key = {"Authorization": f"Bearer {made.json()['api_key']}"}
    assert api.client.post("/v1/events", json={"events": []}, headers=key).status_code == 200
    assert api.client.get("/v1/admin/policies", headers=key).status_code == 403
    unknown = api.client.post("/v1/admin/devices", json={"name": "x", "role": "gate", "venue": "nowhere"},
                              headers=api.admin)  # fmt: skip
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_venue"
    bad_role = api.client.post("/v1/admin/devices", json={"name": "x", "role": "citizen"}, headers=api.admin)
    assert bad_role.status_code == 422 and bad_role.json()["error"] == "invalid_request"
    admin_device = api.client.post("/v1/admin/devices", json={"name": "desk", "role": "admin"}, headers=api.admin)
    second = {"Authorization": f"Bearer {admin_device.json()['api_key']}"}
    made_by_device = api.client.post("/v1/admin/devices", json={"name": "gate 2", "role": "gate", "venue": MUSEUM},
                                     headers=second)  # fmt: skip
    assert made_by_device.status_code == 200
    nowhere = api.client.post("/v1/admin/devices", json={"name": "gate 3", "role": "gate"}, headers=api.admin)
    assert (nowhere.status_code, nowhere.json()["error"]) == (422, "venue_required")  # a gate belongs to one venue


def test_readyz_healthz_and_metrics(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz").json()
    assert ready["status"] == "ok" and ready["checks"]["database"] == "ok"
    assert ("not configured" in ready["checks"]["redis"]) == (api.place.redis_url is None)
    api.client.post("/v1/codes", headers=api.citizen(api.place.template.seniors[0]))
    metrics = api.client.get("/metrics").text
    assert 'suishen_codes_issued_total{kind="online"}' in metrics
    assert api.place.template.seniors[0] not in metrics


def _gauge(metrics: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", metrics, re.MULTILINE)
    assert found, name
    return float(found.group(1))


def test_metrics_carry_what_an_operator_alerts_on(api: Api) -> None:
    """docs/deploy.md's alerts: documents near their max age, Redis down, a gate's outbox backlog."""
    metrics = api.client.get("/metrics").text
    services = api.services
    for name, expires in (("suishen_catalogue_seconds_left", services.catalogued.snapshot.expires_at),
                          ("suishen_trust_list_seconds_left", services.trusted.store.expires_at),
                          ("suishen_revocation_list_seconds_left", services.revocations.list.expires_at)):  # fmt: skip
        assert abs(_gauge(metrics, name) - (expires - time.time())) < 60, name
    assert _gauge(metrics, "suishen_catalogue_seconds_left") > 0
    if api.place.redis_url is not None:
        assert _gauge(metrics, "suishen_redis_up") == 1.0
    else:
        assert "suishen_redis_up" not in metrics
    gate = api.device("gate", MUSEUM)
    late = [event(MUSEUM, "GRANTED", POLICY, time.time() - 7200) for _ in range(3)]  # two hours in an outbox
    assert api.client.post("/v1/events", json={"events": late}, headers=gate).json()["stored"] == 3
    metrics = api.client.get("/metrics").text
    assert _gauge(metrics, 'suishen_gate_event_lag_seconds_bucket{le="3600.0"}') == 0
    assert _gauge(metrics, 'suishen_gate_event_lag_seconds_bucket{le="21600.0"}') == 3


def test_evaluation_is_computed_from_the_records_and_served_as_json_and_csv(api: Api) -> None:
    import csv
    import io

    from app.matching.evaluation import budgets_of, evaluate, parse_period

    gate = api.device("gate", MUSEUM)
    day = 1_790_000_000.0  # 2026-09-21, Beijing time
    posted = [event(MUSEUM, "GRANTED", POLICY, day) for _ in range(4)] + [event(MUSEUM, "REJECTED", None, day)]
    assert api.client.post("/v1/events", json={"events": posted}, headers=gate).json()["stored"] == 5
    answer = api.client.get("/v1/admin/evaluation?period=2026-09", headers=api.admin)
    assert answer.status_code == 200, answer.text
    figures = answer.json()
    assert (figures["period"], figures["from"], figures["to"]) == ("2026-09", "2026-09-01", "2026-09-30")
    museum = next(p for p in figures["policies"] if p["policy_id"] == POLICY)
    assert museum["gate_grants"] == 4 and museum["take_up_basis"] == "uses" and museum["delivery"] == "scan"
    assert {"venue": MUSEUM, "policy_id": POLICY, "grants": 4} in figures["by_venue"]
    assert {"day": "2026-09-21", "policy_id": POLICY, "grants": 4} in figures["by_day"]
    whole = api.client.get("/v1/admin/evaluation?period=all", headers=api.admin).json()
    engine = open_database(api.place.database_url)
    try:
        policies = api.services.catalogued.snapshot.policies
        direct = evaluate(engine, policies, parse_period("all"), budgets=budgets_of(policies)).to_json()
    finally:
        engine.dispose()
    assert whole["policies"] == direct["policies"] and whole["policies"]  # the route is the function, no copy
    assert sum(p["eligible"] for p in whole["policies"]) > 0
    table = api.client.get("/v1/admin/evaluation.csv?period=all", headers=api.admin)
    assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
    assert 'filename="evaluation-all.csv"' in table.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [r["policy_id"] for r in rows] == [p["policy_id"] for p in whole["policies"]]
    assert [int(r["eligible"]) for r in rows] == [p["eligible"] for p in whole["policies"]]
    assert api.client.get("/v1/admin/evaluation", headers=api.admin).status_code == 200  # this month
    for bad in ("2026-13", "nov", "2026-11-01"):
        refused = api.client.get(f"/v1/admin/evaluation?period={bad}", headers=api.admin)
        assert (refused.status_code, refused.json()["error"]) == (422, "invalid_period"), bad
        assert "expected YYYY-MM" in refused.json()["detail"]
