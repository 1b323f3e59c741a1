"""The revocation list on the server: the route, every cause's entries and audit rows, one phone per person.

Runs on the in-process backends and on a real redis-server (the `api` fixture). The list each
test reads is checked with the real root key, as a gate checks it.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from sqlalchemy import select

from app.api.auth import TokenAuthority
from app.db.engine import open_database
from app.db.schema import audit, revocations
from app.issuing import day_pseudonym
from keys import directory
from keys.revocation_list import RevocationList, credential_id, load_revocation_list
from tests.support.phones import Phone
from tests.support.services import PEPPER, TOKEN_SECRET, Api
from verifier.claims import decode_claims
from verifier.code import online_code, parse_code

MUSEUM = "sh-museum"


def root(api: Api) -> Any:
    return directory.root_public_key(api.place.template.keys_dir)


def read_list(api: Api, answer: httpx.Response, held: RevocationList | None = None) -> RevocationList:
    assert answer.status_code == 200, answer.text
    return load_revocation_list(answer.content, root(api), time.time(), held=held)


def since_of(answer: httpx.Response) -> int | None:
    return answer.json()["payload"]["since"]  # type: ignore[no-any-return]


def kid_cti(credential: bytes) -> tuple[bytes, bytes]:
    cred = parse_code(online_code(credential)).credential
    assert cred.kid is not None
    return cred.kid, decode_claims(cred.payload).cti


def verify(api: Api, code: str, gate: dict[str, str]) -> dict[str, Any]:
    answer = api.client.post("/v1/verify", json={"code": code, "venue": MUSEUM}, headers=gate)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def reason_of(answer: dict[str, Any]) -> str | None:
    return (answer.get("decision") or {}).get("result") if answer["result"] == "VALID" else answer["reason"]


def stored(api: Api) -> tuple[list[Any], list[Any]]:
    """(revocation rows, their audit rows), oldest first."""
    engine = open_database(api.place.database_url)
    try:
        with engine.connect() as db:
            rows = db.execute(select(revocations).order_by(revocations.c.id)).all()
            trail = db.execute(select(audit).where(audit.c.action == "revocation added").order_by(audit.c.id)).all()
    finally:
        engine.dispose()
    return list(rows), list(trail)


def test_the_list_whole_unchanged_as_a_delta_and_whole_again_when_since_is_unknown_or_too_old(api: Api) -> None:
    whole = api.client.get("/v1/revocations")
    first = read_list(api, whole)
    assert since_of(whole) is None and first.version >= 1 and len(first) == 0
    assert whole.headers["ETag"] == f'"rl-{first.version}-{first.issued_at}"'
    assert api.client.get("/v1/revocations", headers={"If-None-Match": whole.headers["ETag"]}).status_code == 304
    assert api.client.get(f"/v1/revocations?since={first.version}").status_code == 304  # nothing new

    added = api.client.post("/v1/admin/revocations", json={"kind": "credential", "kid": "ab" * 8, "cti": "cd" * 16},
                            headers=api.admin)  # fmt: skip
    assert added.status_code == 200, added.text
    version = added.json()["version"]
    assert version == first.version + 1

    delta = api.client.get(f"/v1/revocations?since={first.version}")
    assert since_of(delta) == first.version and delta.headers["ETag"] != whole.headers["ETag"]
    after = read_list(api, delta, held=first)
    assert after.version == version and credential_id(b"\xab" * 8, b"\xcd" * 16) in after.credentials
    again = read_list(api, api.client.get("/v1/revocations", headers={"If-None-Match": whole.headers["ETag"]}))
    assert again.version == version and again.credentials == after.credentials  # the whole list has it too
    assert api.client.get(f"/v1/revocations?since={version}").status_code == 304

    for unknown in (version + 1, 2**31 - 1):  # a version this list never had (a database started afresh)
        assert since_of(api.client.get(f"/v1/revocations?since={unknown}")) is None
    older_than_every_entry = api.client.get(f"/v1/revocations?since={version - 2}")
    assert version - 2 < 0 or since_of(older_than_every_entry) is None

    for malformed in ("abc", "-1", "1.5", str(2**31), ""):
        answer = api.client.get(f"/v1/revocations?since={malformed}")
        assert answer.status_code == 422, (malformed, answer.text)
        assert answer.json()["error"] and "\n" not in answer.json()["detail"]


def test_revoked_issuer_keys_are_no_longer_listed_here_but_in_the_trust_list(api: Api) -> None:
    payload = api.client.get("/v1/revocations").json()["payload"]
    assert "revoked_kids" not in payload and payload["format"] == "suishen-revocation-list/1"
    keys = api.client.get("/v1/trust-list").json()["payload"]["keys"]
    assert {k["status"] for k in keys} <= {"active", "retired", "revoked"}


def test_an_administrator_withdraws_a_credential_or_a_subject_with_one_audit_row_per_entry(api: Api) -> None:
    gate = api.device("gate", MUSEUM)
    senior, other = api.place.template.seniors[0], api.place.template.seniors[1]
    code = api.client.post("/v1/codes", headers=api.citizen(senior)).json()["text"]
    cred = parse_code(code).credential
    assert cred.kid is not None
    cti = decode_claims(cred.payload).cti
    body = {"kind": "credential", "kid": cred.kid.hex(), "cti": cti.hex(), "until": int(time.time()) + 120}
    assert api.client.post("/v1/admin/revocations", json=body, headers=api.admin).status_code == 200
    assert verify(api, code, gate)["reason"] == "CREDENTIAL_REVOKED"  # this process's verifier holds it at once

    before = api.client.post("/v1/codes", headers=api.citizen(other)).json()["text"]
    time.sleep(1.01)  # `before` is a code of an earlier second than the withdrawal (iat < before is withdrawn)
    answer = api.client.post("/v1/admin/revocations", json={"kind": "subject", "subject": other}, headers=api.admin)
    assert answer.status_code == 200, answer.text
    after = api.client.post("/v1/codes", headers=api.citizen(other)).json()["text"]  # the same second or later
    assert verify(api, before, gate)["reason"] == "CREDENTIAL_REVOKED"
    assert reason_of(verify(api, after, gate)) == "GRANTED"

    rows, trail = stored(api)
    assert [(r.kind, r.cause) for r in rows][:1] == [("credential", "admin")]
    today = day_pseudonym(PEPPER.encode(), other, time.time())
    subject_rows = [r for r in rows if r.kind == "subject"]
    assert 2 <= len(subject_rows) <= 3 and today in {bytes(r.key) for r in subject_rows}
    assert {r.cause for r in rows} == {"admin"} and len({r.version for r in subject_rows}) == 1
    assert len(trail) == len(rows)
    for row, line in zip(rows, trail, strict=True):
        assert f"entry #{row.id} ({row.kind})" in line.detail and "cause admin" in line.detail
        assert line.subject == "" and senior not in line.detail and other not in line.detail


def test_bad_admin_revocations_are_refused_and_add_nothing(api: Api) -> None:
    bad = [
        {"kind": "credential", "kid": "ab" * 7, "cti": "cd" * 16},  # a kid of 7 bytes
        {"kind": "credential", "kid": "AB" * 8, "cti": "cd" * 16},  # upper-case hex
        {"kind": "credential", "kid": "ab" * 8, "cti": "cd" * 15},
        {"kind": "subject", "subject": "P0000 0001"},
        {"kind": "phone", "subject": "P00000001"},
        {"kind": "credential", "kid": "ab" * 8, "cti": "cd" * 16, "until": -1},
    ]
    version = api.client.get("/v1/revocations").json()["payload"]["version"]
    for body in bad:
        answer = api.client.post("/v1/admin/revocations", json=body, headers=api.admin)
        assert answer.status_code == 422, (body, answer.text)
    citizen = api.client.post("/v1/admin/revocations", json={"kind": "subject", "subject": "P1"},
                              headers=api.citizen(api.place.template.seniors[0]))  # fmt: skip
    assert citizen.status_code == 403
    assert api.client.get("/v1/revocations").json()["payload"]["version"] == version
    assert stored(api) == ([], [])


def stale_token(subject: str, age_s: int) -> dict[str, str]:
    """A citizen token signed in `age_s` seconds ago (still within its hour)."""
    token, _ = TokenAuthority(TOKEN_SECRET.encode(), 3600).issue(subject, time.time() - age_s)
    return {"Authorization": f"Bearer {token}"}


def test_one_phone_per_person_a_second_phone_needs_a_fresh_sign_in_and_withdraws_the_first(api: Api) -> None:
    gate = api.device("gate", MUSEUM)
    senior = api.place.template.seniors[2]
    old, new = Phone(), Phone()
    first = api.client.post("/v1/credentials", json=old.request(), headers=stale_token(senior, 1800))
    assert first.status_code == 200, first.text  # the first phone needs no fresh sign-in
    issued = [old.take(first.json())]
    renewed = api.client.post("/v1/credentials", json=old.request(), headers=stale_token(senior, 1800))
    assert renewed.status_code == 200  # the same phone renews, with no fresh sign-in either
    issued.append(old.take(renewed.json()))
    assert reason_of(verify(api, old.code(), gate)) == "GRANTED"

    refused = api.client.post("/v1/credentials", json=new.request(), headers=stale_token(senior, 900))
    assert refused.status_code == 401 and refused.json()["error"] == "fresh_sign_in_required", refused.text
    assert api.client.get("/v1/me/phone", params={"x": old.x, "y": old.y}, headers=api.citizen(senior)).json() == {
        "status": "active"}  # fmt: skip

    moved = api.client.post("/v1/credentials", json=new.request(), headers=api.citizen(senior))
    assert moved.status_code == 200, moved.text
    new.take(moved.json())
    assert verify(api, old.code(), gate)["reason"] == "CREDENTIAL_REVOKED"
    assert reason_of(verify(api, new.code(), gate)) == "GRANTED"
    status = api.client.get("/v1/me/phone", params={"x": old.x, "y": old.y}, headers=api.citizen(senior))
    assert status.json() == {"status": "replaced"}
    again = api.client.post("/v1/credentials", json=old.request(), headers=api.citizen(senior))
    assert again.status_code == 409 and again.json()["error"] == "phone_replaced"
    assert "moved to another phone" in again.json()["detail"]

    rows, trail = stored(api)
    assert [(r.kind, r.cause) for r in rows] == [("credential", "phone_replaced")] * 2  # both of the old phone's
    assert {bytes(r.key) for r in rows} == {credential_id(*kid_cti(c)) for c in issued}
    assert len(trail) == 2 and all(line.subject == "" and senior not in line.detail for line in trail)


def test_a_lost_phone_withdraws_every_code_issued_before_the_report(api: Api) -> None:
    gate = api.device("gate", MUSEUM)
    senior = api.place.template.seniors[0]
    phone = Phone()
    phone.take(api.client.post("/v1/credentials", json=phone.request(), headers=api.citizen(senior)).json())
    online = api.client.post("/v1/codes", headers=api.citizen(senior)).json()["text"]
    time.sleep(1.01)  # both issued in an earlier second than the report
    reported = api.client.post("/v1/me/phone/lost", headers=api.citizen(senior))
    assert reported.status_code == 200, reported.text
    assert reported.json()["phones_ended"] == 1
    assert verify(api, phone.code(), gate)["reason"] == "CREDENTIAL_REVOKED"
    assert verify(api, online, gate)["reason"] == "CREDENTIAL_REVOKED"
    refused = api.client.post("/v1/credentials", json=phone.request(), headers=api.citizen(senior))
    assert refused.status_code == 409 and refused.json()["error"] == "phone_lost"
    found = Phone()  # a new phone after the report: no other phone is active, no fresh sign-in needed
    found.take(api.client.post("/v1/credentials", json=found.request(), headers=stale_token(senior, 1800)).json())
    assert reason_of(verify(api, found.code(), gate)) == "GRANTED"

    rows, trail = stored(api)
    assert {(r.kind, r.cause) for r in rows} == {("subject", "phone_lost")} and 2 <= len(rows) <= 3
    assert len(trail) == len(rows) and all("cause phone_lost" in line.detail for line in trail)
