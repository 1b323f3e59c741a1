"""Who may call what: citizens get only their own codes, devices only their role's routes, admin routes are closed.

Runs on the in-process backends and on a real redis-server (the `api` fixture).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.api.auth import TokenAuthority
from tests.support.services import ADMIN_KEY, TOKEN_SECRET, Api, Place, open_api

MUSEUM = "sh-museum"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(answer: Any, status: int, error: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error
    assert "Traceback" not in answer.text


def test_a_citizen_code_names_the_caller_whatever_the_body_says(api: Api) -> None:
    me, other = api.place.template.seniors[:2]
    gate = api.device("gate", MUSEUM)
    answer = api.client.post("/v1/codes", json={"subject": other, "sub": other}, headers=api.citizen(me))
    assert answer.status_code == 200, answer.text
    verified = api.client.post("/v1/verify", json={"code": answer.json()["text"], "venue": MUSEUM}, headers=gate)
    assert verified.json()["result"] == "VALID"
    carried = verified.json()["profile"]["subject"]
    assert carried == api.services.pseudonym(me, time.time()).hex()  # named: the museum counts uses per day
    assert carried != api.services.pseudonym(other, time.time()).hex()


def test_no_route_takes_a_subject_from_the_request_except_dev_login(api: Api) -> None:
    """Every citizen route learns the subject from the token: no parameter or body field names one.

    The one exception besides the dev login is the service counter's card issue, where staff name the
    person they checked at the desk, and only a counter (or admin) key is let through (see below)."""
    document = api.client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    suspicious = re.compile(r"^(subject|sub|person|person_id|id_number|citizen)$", re.IGNORECASE)

    def fields(schema: dict[str, Any], seen: set[str]) -> set[str]:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name in seen:
                return set()
            return fields(schemas[name], seen | {name})
        names = set(schema.get("properties", {}))
        for part in [*schema.get("properties", {}).values(), *schema.get("anyOf", []), *schema.get("allOf", [])]:
            names |= fields(part, seen)
        return names

    offending = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path in ("/v1/dev/login", "/v1/counter/cards"):
                continue
            names = {p["name"] for p in operation.get("parameters", [])}
            for content in operation.get("requestBody", {}).get("content", {}).values():
                names |= fields(content.get("schema", {}), set())
            offending += [f"{method.upper()} {path}: {n}" for n in names if suspicious.match(n)]
    assert offending == []
    assert any(path == "/v1/dev/login" for path in document["paths"])  # the check saw the document


def test_missing_malformed_forged_and_expired_tokens_are_401(api: Api) -> None:
    subject = api.place.template.seniors[0]
    good = api.citizen(subject)
    assert api.client.get("/v1/me/entitlements", headers=good).status_code == 200
    token = good["Authorization"].removeprefix("Bearer ")
    body, mac = token.removeprefix("st1.").split(".")
    forged_subject = TokenAuthority(b"some other secret", 3600).issue(subject, time.time())[0]
    tampered = f"st1.{body}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    expired = TokenAuthority(TOKEN_SECRET.encode(), 3600).issue(subject, time.time() - 7200)[0]
    cases = {
        "missing": {},
        "empty": {"Authorization": "Bearer "},
        "not bearer": {"Authorization": f"Basic {token}"},
        "garbage": bearer("st1.not-a-token"),
        "forged": bearer(forged_subject),
        "tampered": bearer(tampered),
        "expired": bearer(expired),
        "unknown device key": bearer("sk_" + "x" * 43),
    }
    for name, headers in cases.items():
        for method, path in [("GET", "/v1/me/entitlements"), ("POST", "/v1/codes"), ("POST", "/v1/verify"),
                             ("POST", "/v1/admin/catalogue/publish")]:  # fmt: skip
            body_json = {"code": "SP1:X", "venue": MUSEUM} if path == "/v1/verify" else None
            answer = api.client.request(method, path, headers=headers, json=body_json)
            assert answer.status_code == 401, (name, path, answer.text)
            assert answer.json()["error"] == "unauthenticated"
            assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_roles_are_403_on_other_roles_routes(api: Api) -> None:
    citizen = api.citizen(api.place.template.seniors[0])
    gate, handheld = api.device("gate", MUSEUM), api.device("handheld")
    assert_error(api.client.post("/v1/codes", headers=gate), 403, "forbidden")
    assert_error(api.client.get("/v1/me/entitlements", headers=handheld), 403, "forbidden")
    assert_error(api.client.post("/v1/verify", json={"code": "SP1:X", "venue": MUSEUM}, headers=citizen), 403,
                 "forbidden")  # fmt: skip
    assert_error(api.client.post("/v1/events", json={"events": []}, headers=citizen), 403, "forbidden")
    assert api.client.post("/v1/events", json={"events": []}, headers=gate).status_code == 200


def test_a_gate_key_cannot_publish_policies(api: Api) -> None:
    gate = api.device("gate", MUSEUM)
    before = api.client.get("/v1/catalogue/snapshot").headers["ETag"]
    policy = "id: sh-museum-senior-free\n"
    assert_error(api.client.put("/v1/admin/policies/sh-museum-senior-free", content=policy, headers=gate), 403,
                 "forbidden")  # fmt: skip
    assert_error(api.client.post("/v1/admin/catalogue/publish", headers=gate), 403, "forbidden")
    assert api.client.get("/v1/catalogue/snapshot").headers["ETag"] == before
    assert api.client.get("/v1/admin/policies", headers=api.admin).json()["drafts"] == []


def _admin_calls(api: Api) -> list[tuple[str, str]]:
    """Every (method, path) under /v1/admin, path parameters filled; a new route is included automatically."""
    calls = []
    for path, methods in app_routes(api.client.app):  # type: ignore[arg-type]
        if path.startswith("/v1/admin"):
            calls += [(method, re.sub(r"\{[^}]+\}", "1", path)) for method in sorted(methods)]
    return calls


def app_routes(app: FastAPI) -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, through included routers (FastAPI nests them since 0.16x)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: the routes are flat
        return [(r.path, set(r.methods)) for r in app.routes if isinstance(r, APIRoute)]
    return [(c.path, set(c.methods or ())) for c in iter_route_contexts(app.routes) if c.path and c.methods]


def test_every_admin_route_checks_the_caller(api: Api) -> None:
    calls = _admin_calls(api)
    assert len(calls) >= 12  # policies, drafts, publish, runs, diff, objections, resolve, stats, disclosure, devices
    callers = {
        "citizen": api.citizen(api.place.template.seniors[0]),
        "gate": api.device("gate", MUSEUM),
        "handheld": api.device("handheld"),
        "counter": api.device("counter"),  # a service counter issues cards, and does nothing an admin does
    }
    for method, path in calls:
        answer = api.client.request(method, path, json={})
        assert answer.status_code == 401, (method, path, answer.text)
        for role, headers in callers.items():
            answer = api.client.request(method, path, json={}, headers=headers)
            assert answer.status_code == 403, (role, method, path, answer.text)
            assert answer.json()["error"] == "forbidden"


def test_an_admin_device_key_passes_the_admin_check(api: Api) -> None:
    """The positive control: the same calls with an admin key are not refused for who is calling."""
    admin_device = api.device("admin")
    for method, path in _admin_calls(api):
        for headers in (api.admin, admin_device):
            answer = api.client.request(method, path, json={}, headers=headers)
            assert answer.status_code not in (401, 403), (method, path, answer.text)
            assert answer.status_code < 500, (method, path, answer.text)


def _counter_calls(api: Api) -> list[tuple[str, str]]:
    calls = []
    for path, methods in app_routes(api.client.app):  # type: ignore[arg-type]
        if path.startswith("/v1/counter"):
            calls += [(method, re.sub(r"\{[^}]+\}", "123456789012", path)) for method in sorted(methods)]
    return calls


def test_only_a_counter_or_an_admin_issues_cards_and_a_counter_does_nothing_else(api: Api) -> None:
    calls = _counter_calls(api)
    assert ("POST", "/v1/counter/cards") in calls and len(calls) >= 2  # issue, report lost
    senior = api.place.template.seniors[0]
    body = {"subject": senior, "initial": "W", "years": 1}
    others = {"citizen": api.citizen(senior), "gate": api.device("gate", MUSEUM), "handheld": api.device("handheld")}
    for method, path in calls:
        assert api.client.request(method, path, json=body).status_code == 401, (method, path)
        for headers in others.values():
            assert_error(api.client.request(method, path, json=body, headers=headers), 403, "forbidden")
    for headers in (api.device("counter"), api.device("admin"), api.admin):  # the positive control
        for method, path in calls:
            answer = api.client.request(method, path, json=body, headers=headers)
            assert answer.status_code not in (401, 403) and answer.status_code < 500, (method, path, answer.text)
    counter = api.device("counter")
    assert_error(api.client.post("/v1/verify", json={"code": "SP1:X", "venue": MUSEUM}, headers=counter), 403,
                 "forbidden")  # fmt: skip
    assert_error(api.client.post("/v1/events", json={"events": []}, headers=counter), 403, "forbidden")
    assert_error(api.client.post("/v1/codes", headers=counter), 403, "forbidden")
    assert_error(api.client.post("/v1/me/cards/lost", headers=counter), 403, "forbidden")
    assert_error(api.client.post("/v1/admin/devices", json={"name": "x", "role": "admin"}, headers=counter), 403,
                 "forbidden")  # fmt: skip


def test_dev_login_exists_only_in_demo_mode(place: Place) -> None:
    with open_api(place, demo=True) as api:
        answer = api.client.post("/v1/dev/login", json={"subject": place.template.seniors[0]})
        assert answer.status_code == 200
        token = answer.json()["token"]
        assert api.client.get("/v1/me/entitlements", headers=bearer(token)).status_code == 200
    with open_api(place, demo=False) as api:
        assert_error(api.client.post("/v1/dev/login", json={"subject": place.template.seniors[0]}), 404, "not_found")
        assert api.client.get("/v1/me/entitlements", headers=bearer(token)).status_code == 200  # same secret


@pytest.mark.parametrize("role", ["gate", "handheld", "admin", "counter"])
def test_device_keys_are_stored_as_hashes(api: Api, role: str) -> None:
    from sqlalchemy import select

    from app.db.schema import devices

    key = api.device(role, MUSEUM if role == "gate" else None)["Authorization"].removeprefix("Bearer ")
    with api.services.engine.connect() as db:
        stored = [tuple(r) for r in db.execute(select(devices))]
    assert stored and all(key not in str(row) for row in stored)
    assert ADMIN_KEY not in str(stored)


# -- the enterprise role (issue 15): an enterprise account and a person never read each other's data ---------


def _calls(api: Api, prefix: str = "/v1/") -> list[tuple[str, str]]:
    calls = []
    for path, methods in app_routes(api.client.app):  # type: ignore[arg-type]
        if path.startswith(prefix):
            calls += [(method, re.sub(r"\{[^}]+\}", "1", path)) for method in sorted(methods)]
    return calls


ENTERPRISE_CODE = "91310000000000001Y"  # a well-formed credit code (GB 32100-2015 check character)


def test_every_enterprise_route_is_for_enterprise_accounts_and_nobody_else(api: Api) -> None:
    calls = _calls(api, "/v1/enterprise/")
    assert len(calls) >= 8  # entitlements, application, confirm, objections, notifications, read, payouts, codes
    citizen = api.citizen(api.place.template.seniors[0])
    devices = {role: api.device(role, MUSEUM if role == "gate" else None) for role in ("gate", "handheld", "counter")}
    devices["admin"] = api.admin
    for method, path in calls:
        assert api.client.request(method, path, json={}).status_code == 401, (method, path)
        assert_error(api.client.request(method, path, json={}, headers=citizen), 403, "citizen_account")
        for role, headers in devices.items():
            answer = api.client.request(method, path, json={}, headers=headers)
            assert answer.status_code == 403 and answer.json()["error"] == "forbidden", (role, method, path)
    firm = api.enterprise(ENTERPRISE_CODE)
    for method, path in calls:  # the positive control: not refused for who is calling
        answer = api.client.request(method, path, json={}, headers=firm)
        assert answer.status_code not in (401, 403) and answer.status_code < 500, (method, path, answer.text)


def test_an_enterprise_token_is_refused_on_every_route_of_every_other_role(api: Api) -> None:
    """Every route that wants a caller (401 without one) is 403 for an enterprise's token, but its own."""
    firm = api.enterprise(ENTERPRISE_CODE)
    checked = []
    for method, path in _calls(api):
        if path.startswith("/v1/enterprise/") or path.startswith("/v1/dev/"):
            continue
        if api.client.request(method, path, json={}).status_code != 401:
            continue  # public: the catalogue snapshot, the trust list, disclosure, ...
        answer = api.client.request(method, path, json={}, headers=firm)
        assert answer.status_code == 403, (method, path, answer.text)
        expected = "enterprise_account" if path.startswith(("/v1/me/", "/v1/codes", "/v1/credentials")) else "forbidden"
        assert answer.json()["error"] == expected, (method, path, answer.text)
        checked.append(path)
    assert any(p.startswith("/v1/me/") for p in checked) and any(p.startswith("/v1/admin/") for p in checked)
    assert "/v1/verify" in checked and "/v1/codes" in checked and len(checked) >= 30
