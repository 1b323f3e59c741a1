"""Operations: request logs are JSON lines without personal data; metrics count decisions and issuance."""

from __future__ import annotations

import json
import logging

import pytest

from app.api.server import JsonLogFormatter
from tests.support.services import Place, open_api

MUSEUM = "sh-museum"


def test_request_logs_name_routes_not_people(place: Place, caplog: pytest.LogCaptureFixture) -> None:
    senior = place.template.seniors[0]
    with open_api(place, log_requests=True) as api, caplog.at_level(logging.INFO, logger="suishen"):
        citizen = api.citizen(senior)
        gate = api.device("gate", MUSEUM)
        code = api.client.post("/v1/codes", headers=citizen).json()["text"]
        api.client.post("/v1/verify", json={"code": code, "venue": MUSEUM}, headers=gate)
        api.client.post("/v1/me/entitlements/sh-disability-living-subsidy/confirm", headers=citizen)
        api.client.get("/v1/me/entitlements", headers=citizen)
        api.client.post("/v1/verify", json={"code": code}, headers=gate)
    lines = [JsonLogFormatter().format(r) for r in caplog.records if r.name == "suishen.http"]
    entries = [json.loads(line) for line in lines]
    routes = {(e["route"], e["status"]) for e in entries}
    assert ("/v1/codes", 200) in routes and ("/v1/verify", 422) in routes
    assert ("/v1/verify", 200) not in routes  # answered verifies are counted in /metrics, not logged one by one
    assert ("/v1/me/entitlements/{policy_id}/confirm", 404) in routes  # the route's template, not the address
    secrets = [senior, code, citizen["Authorization"].split()[1], gate["Authorization"].split()[1]]
    assert not [s for s in secrets for line in lines if s in line]
    assert all(set(e) == {"at", "level", "logger", "message", "method", "route", "status", "ms"} for e in entries)


def test_answered_verifies_are_logged_when_asked(place: Place, caplog: pytest.LogCaptureFixture) -> None:
    with (
        open_api(place, log_requests=True, log_answered_verifies=True) as api,
        caplog.at_level(logging.INFO, logger="suishen"),
    ):
        code = api.client.post("/v1/codes", headers=api.citizen(place.template.seniors[0])).json()["text"]
        api.client.post("/v1/verify", json={"code": code, "venue": MUSEUM}, headers=api.device("gate", MUSEUM))
    entries = [json.loads(JsonLogFormatter().format(r)) for r in caplog.records if r.name == "suishen.http"]
    assert ("/v1/verify", 200) in {(e["route"], e["status"]) for e in entries}


def test_metrics_count_decisions_issuance_and_limits(place: Place) -> None:
    with open_api(place, codes_per_minute=1) as api:
        gate = api.device("gate", MUSEUM)
        citizen = api.citizen(place.template.seniors[0])
        code = api.client.post("/v1/codes", headers=citizen).json()["text"]
        assert api.client.post("/v1/codes", headers=citizen).status_code == 429
        for _ in range(2):
            api.client.post("/v1/verify", json={"code": code, "venue": MUSEUM}, headers=gate)
        metrics = api.client.get("/metrics").text
    assert 'suishen_codes_issued_total{kind="online"} 1.0' in metrics
    assert 'suishen_decisions_total{reason="",result="GRANTED"} 1.0' in metrics
    assert 'suishen_decisions_total{reason="REPLAYED",result="REJECTED"} 1.0' in metrics
    assert 'suishen_rate_limited_total{scope="account"} 1.0' in metrics
    assert 'suishen_request_seconds_count{route="/v1/verify",status="200"} 2.0' in metrics
