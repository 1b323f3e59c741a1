"""The enterprise side over HTTP: sign-in with a unified social credit code, /v1/enterprise/..., and the
enterprise's Suishen code (法人随申码) verified and decided at /v1/verify.

Runs on the in-process backends and on a real redis-server (the `api` fixture), against the package's
synthetic world (20 enterprises matched with the sample catalogue).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from app.credit_code import ALPHABET, check_character
from app.db.schema import enterprise_profiles, objections
from tests.support.services import Api, Place, open_api
from verifier.claims import decode_claims
from verifier.code import parse_code

HALL = "sh-service-hall-huangpu"
GREEN = "sh-service-hall-credit-green-channel"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(answer: Any, status: int, error: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error, answer.text
    assert "Traceback" not in answer.text


def enterprises(api: Api) -> dict[str, bool]:
    """Credit code -> 守信, as the template's matching run copied them."""
    with api.services.engine.connect() as db:
        rows = db.execute(select(enterprise_profiles.c.subject, enterprise_profiles.c.credit_good)).all()
    assert rows, "the matching run copies the enterprises' profiles"
    return {r.subject: bool(r.credit_good) for r in rows}


def mistyped(code: str) -> str:
    """The code with a wrong check character (any other character of the alphabet)."""
    wrong = next(c for c in ALPHABET if c != check_character(code[:17]))
    return code[:17] + wrong


def test_an_enterprise_signs_in_with_its_credit_code_and_sees_its_entitlements(api: Api) -> None:
    code = sorted(enterprises(api))[0]
    answer = api.client.post("/v1/dev/enterprise-login", json={"credit_code": code.lower()})
    assert answer.status_code == 200, answer.text
    assert answer.json()["credit_code"] == code
    headers = bearer(answer.json()["token"])
    found = api.client.get("/v1/enterprise/entitlements", headers=headers)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["credit_code"] == code and set(body["standing"]) == {"credit_good", "region"}
    for item in body["entitlements"]:
        assert item["explanation"] and item["title"]["zh"] and item["mode"] in ("direct", "confirm", "scan")
        assert item["clauses"] and item["clauses"][0]["zh"].startswith(item["title"]["zh"])  # clause by clause
        assert all(set(line) == {"zh", "en"} for line in item["clauses"] + item["explanation"])
    for path in ("/v1/enterprise/notifications", "/v1/enterprise/payouts"):
        assert api.client.get(path, headers=headers).status_code == 200, path


def test_a_credit_code_with_a_wrong_check_character_is_refused_and_nothing_is_issued(api: Api) -> None:
    code = sorted(enterprises(api))[0]
    answer = api.client.post("/v1/dev/enterprise-login", json={"credit_code": mistyped(code)})
    assert_error(answer, 422, "invalid_credit_code")
    assert "check character" in answer.json()["detail"] and "token" not in answer.json()
    for bad in ("91310000000000001", "91310000000000001YZ", "9131000000000000IY", "91AB0000000000001Y"):
        assert_error(api.client.post("/v1/dev/enterprise-login", json={"credit_code": bad}), 422,
                     "invalid_credit_code")  # fmt: skip


def test_a_credit_code_can_no_longer_sign_in_as_a_citizen(api: Api) -> None:
    code = sorted(enterprises(api))[0]
    assert_error(api.client.post("/v1/dev/login", json={"subject": code}), 422, "enterprise_subject")
    # nor does a citizen token minted for it elsewhere get in (the same secret, the citizen role)
    import base64
    import hashlib
    import hmac
    import json

    from tests.support.services import TOKEN_SECRET

    now = int(time.time())
    body = base64.urlsafe_b64encode(json.dumps({"sub": code, "iat": now, "exp": now + 600}).encode()).rstrip(b"=")
    mac = base64.urlsafe_b64encode(hmac.new(TOKEN_SECRET.encode(), body, hashlib.sha256).digest()).rstrip(b"=")
    forged = f"st1.{body.decode()}.{mac.decode()}"
    assert_error(api.client.get("/v1/me/entitlements", headers=bearer(forged)), 401, "unauthenticated")


def test_an_enterprise_token_on_a_citizen_route_is_403_with_its_own_code_and_the_reverse(api: Api) -> None:
    code = sorted(enterprises(api))[0]
    firm, person = api.enterprise(code), api.citizen(api.place.template.seniors[0])
    for method, path in [("GET", "/v1/me/entitlements"), ("POST", "/v1/codes"), ("GET", "/v1/me/notifications"),
                         ("GET", "/v1/me/cards"), ("GET", "/v1/me/phone")]:  # fmt: skip
        assert_error(api.client.request(method, path, headers=firm), 403, "enterprise_account")
    for method, path in [("GET", "/v1/enterprise/entitlements"), ("POST", "/v1/enterprise/codes"),
                         ("GET", "/v1/enterprise/payouts"), ("GET", "/v1/enterprise/notifications")]:  # fmt: skip
        assert_error(api.client.request(method, path, headers=person), 403, "citizen_account")
    assert_error(api.client.post("/v1/verify", json={"code": "SP1:X", "venue": HALL}, headers=firm), 403, "forbidden")


def test_an_enterprise_objects_to_its_own_policies_only(api: Api) -> None:
    code = sorted(enterprises(api))[0]
    firm = api.enterprise(code)
    with api.services.engine.connect() as db:
        before = db.execute(select(func.count()).select_from(objections)).scalar_one()
    person_policy = {"policy_id": "sh-museum-senior-free", "kind": "missing", "statement": "why not?"}
    assert_error(api.client.post("/v1/enterprise/objections", json=person_policy, headers=firm), 404, "unknown_policy")
    ours = {"policy_id": "sh-enterprise-startup-rent-subsidy", "kind": "missing", "statement": "我们符合条件"}
    answer = api.client.post("/v1/enterprise/objections", json=ours, headers=firm)
    assert answer.status_code == 200, answer.text
    with api.services.engine.connect() as db:
        rows = db.execute(select(objections.c.subject, objections.c.policy_id)).all()
    assert len(rows) == before + 1 and (code, "sh-enterprise-startup-rent-subsidy") in [tuple(r) for r in rows]


def _hall_decision(api: Api, code: str) -> dict[str, Any]:
    issued = api.client.post("/v1/enterprise/codes", headers=api.enterprise(code))
    assert issued.status_code == 200, issued.text
    assert issued.json()["subject_kind"] == "enterprise" and issued.json()["carries"] == ["credit_good"]
    text = issued.json()["text"]
    claims = decode_claims(parse_code(text).credential.payload)
    assert claims.profile.enterprise and claims.profile.subject == api.services.pseudonym(code, time.time())
    assert claims.profile.enterprise_region is None  # no published scan policy reads it: not carried
    gate = api.device("gate", HALL)
    answer = api.client.post("/v1/verify", json={"code": text, "venue": HALL}, headers=gate)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_an_enterprise_code_is_verified_and_a_creditworthy_one_gets_the_green_channel(api: Api) -> None:
    standing = enterprises(api)
    good = [c for c, ok in standing.items() if ok]
    other = [c for c, ok in standing.items() if not ok]
    assert good and other, standing
    granted = _hall_decision(api, good[0])
    assert granted["result"] == "VALID", granted
    assert granted["profile"] == {"enterprise": True, "credit_good": True, "version": 1}, granted["profile"]
    if _working_hours():  # the green channel opens on working days, 09:00-17:00 (tests/app/test_policy_cases.py)
        assert granted["decision"]["result"] == "GRANTED", granted
        assert granted["decision"]["privileges"][0]["policy_id"] == GREEN
        assert granted["decision"]["privileges"][0]["benefit"] == "priority service (green channel)"
    else:
        assert any("not at this day or hour" in line["en"] for line in granted["decision"]["explanation"]), granted
    refused = _hall_decision(api, other[0])
    assert refused["decision"]["result"] == "REJECTED" and refused["decision"]["reason"] == "NOT_ELIGIBLE"


def _working_hours() -> bool:
    import datetime as dt

    from verifier.decide import LOCAL_TIME

    now = dt.datetime.now(LOCAL_TIME)
    return now.isoweekday() <= 5 and 9 <= now.hour < 17


def test_a_persons_code_at_a_service_hall_is_not_eligible_and_says_why(api: Api) -> None:
    senior = api.place.template.seniors[0]
    text = api.client.post("/v1/codes", headers=api.citizen(senior)).json()["text"]
    answer = api.client.post("/v1/verify", json={"code": text, "venue": HALL}, headers=api.device("gate", HALL))
    decision = answer.json()["decision"]
    assert decision["result"] == "REJECTED" and decision["reason"] == "NOT_ELIGIBLE"
    assert any("for enterprises' codes only" in line["en"] and "仅限企业码" in line["zh"]
               for line in decision["explanation"]), decision


def test_the_enterprise_login_exists_only_in_demo_mode(place: Place) -> None:
    with open_api(place, demo=False) as api:
        code = sorted(enterprises(api))[0]
        assert_error(api.client.post("/v1/dev/enterprise-login", json={"credit_code": code}), 404, "not_found")
