"""The signing service and the verify route end to end: online codes, holder-bound credentials, replay, limits.

Runs on the in-process backends and on a real redis-server (the `api` fixture).
"""

from __future__ import annotations

import base64
import functools
import time
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from app.issuing import day_pseudonym
from tests.support.services import PEPPER, Api, Place, one_window, open_api
from verifier.code import device_proof, holder_code
from verifier.verify import Verifier

MUSEUM, PARK = "sh-museum", "sh-century-park"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def credential_request(key: ec.EllipticCurvePrivateKey, t: int, signer: ec.EllipticCurvePrivateKey | None = None
                       ) -> dict[str, Any]:  # fmt: skip
    """What a phone sends: its P-256 public key as a JWK and a raw r||s signature proving it holds the key."""
    numbers = key.public_key().public_numbers()
    x, y = b64url(numbers.x.to_bytes(32, "big")), b64url(numbers.y.to_bytes(32, "big"))
    der = (signer or key).sign(f"suishen-pop:{t}:{x}:{y}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    signature = b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return {"public_key": {"kty": "EC", "crv": "P-256", "x": x, "y": y}, "pop": {"t": t, "signature": signature}}


def verify(api: Api, code: str, venue: str, gate: dict[str, str]) -> dict[str, Any]:
    answer = api.client.post("/v1/verify", json={"code": code, "venue": venue}, headers=gate)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_an_online_code_is_granted_once_then_replayed(api: Api) -> None:
    senior = api.place.template.seniors[0]
    gate = api.device("gate", MUSEUM)
    issued = api.client.post("/v1/codes", headers=api.citizen(senior))
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["kind"] == "online" and body["text"].startswith("SP1:")
    assert 0 < body["expires_at"] - time.time() <= 60
    first = verify(api, body["text"], MUSEUM, gate)
    assert first["result"] == "VALID" and first["kind"] == "online"
    assert first["decision"]["result"] == "GRANTED"
    assert any(p["policy_id"] == "sh-museum-senior-free" for p in first["decision"]["privileges"])
    assert first["catalogue_version"] == api.services.catalogued.version
    second = verify(api, body["text"], MUSEUM, gate)
    assert second["result"] == "REJECTED" and second["reason"] == "REPLAYED"


def test_a_code_carries_a_pseudonym_of_the_day_and_the_answer_names_it_only_for_a_daily_limit(api: Api) -> None:
    """Scans on different days cannot be linked; an answer without a daily limit links nothing at all."""
    senior = api.place.template.seniors[0]
    museum_gate, park_gate = api.device("gate", MUSEUM), api.device("gate", PARK)
    reader = Verifier(api.services.trusted.store)  # reads the codes below without using them up
    texts = [api.client.post("/v1/codes", headers=api.citizen(senior)).json()["text"] for _ in range(2)]
    carried = {reader.verify(text, time.time()).profile.subject for text in texts}
    today = day_pseudonym(PEPPER.encode(), senior, time.time())
    assert carried == {today}  # the same person on the same day: one pseudonym, as a daily limit needs
    assert today.hex() != api.services.log_id(senior)  # the server's stable key never leaves it

    at_park = verify(api, texts[0], PARK, park_gate)  # the park's senior policy has no daily limit
    assert at_park["decision"]["result"] == "GRANTED", at_park
    assert "subject" not in at_park["profile"] and at_park["profile"]["age_over"] >= 65
    at_museum = verify(api, texts[1], MUSEUM, museum_gate)  # one free admission per venue per day
    assert at_museum["decision"]["result"] == "GRANTED", at_museum
    assert at_museum["profile"]["subject"] == today.hex()


def test_the_day_pseudonym_turns_at_local_midnight() -> None:
    pepper = PEPPER.encode()
    midnight = 1_790_006_400.0  # 2026-09-22 00:00 Beijing time (16:00 UTC the day before)
    assert day_pseudonym(pepper, "P00000001", midnight - 86_399) == day_pseudonym(pepper, "P00000001", midnight - 1)
    assert day_pseudonym(pepper, "P00000001", midnight - 1) != day_pseudonym(pepper, "P00000001", midnight)
    assert day_pseudonym(pepper, "P00000001", midnight) != day_pseudonym(pepper, "P00000002", midnight)
    assert day_pseudonym(pepper, "P00000001", midnight) != day_pseudonym(b"another pepper", "P00000001", midnight)


def test_codes_as_png_and_svg(api: Api) -> None:
    citizen = api.citizen(api.place.template.seniors[0])
    png = api.client.post("/v1/codes", headers={**citizen, "Accept": "image/png"})
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    svg = api.client.post("/v1/codes", headers={**citizen, "Accept": "image/svg+xml"})
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content


def test_a_person_outside_the_results_gets_no_code(api: Api) -> None:
    answer = api.client.post("/v1/codes", headers=api.citizen("P99999999"))
    assert answer.status_code == 404 and answer.json()["error"] == "no_profile"


def test_unknown_venue_and_bad_codes_are_answered_plainly(api: Api) -> None:
    gate = api.device("gate", MUSEUM)
    answer = api.client.post("/v1/verify", json={"code": "SP1:AAAA", "venue": "nowhere"}, headers=gate)
    assert answer.status_code == 404 and answer.json()["error"] == "unknown_venue"
    for code, reason in [("XX1:ABC", "MALFORMED_PREFIX"), ("SP1:%%%", "MALFORMED_BASE45"), ("SP1:" + "0" * 1500,
                         "TOO_LARGE")]:  # fmt: skip
        result = verify(api, code, MUSEUM, gate)
        assert (result["result"], result["reason"]) == ("REJECTED", reason)


def test_holder_bound_credential_with_proof_of_possession(api: Api) -> None:
    senior = api.place.template.seniors[1]
    gate = api.device("gate", MUSEUM)
    phone = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    answer = api.client.post("/v1/credentials", json=credential_request(phone, now), headers=api.citizen(senior))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["time_step"] == 30 and now + 3600 < body["expires_at"] <= now + 86400 + 5
    credential = unb64url(body["credential"])
    assert cbor2.loads(credential).tag == 18  # a tagged COSE_Sign1

    at = time.time()  # one moment for the proofs below, so that none crosses a 30 s step by chance
    code = holder_code(credential, device_proof(credential, phone, at))
    first = verify(api, code, MUSEUM, gate)
    assert first["result"] == "VALID" and first["kind"] == "holder_bound", first
    assert first["profile"]["subject"] == api.services.pseudonym(senior, now).hex()  # the museum counts daily uses
    assert first["decision"]["result"] == "GRANTED", (first["decision"], first["profile"])
    assert verify(api, code, MUSEUM, gate)["reason"] == "REPLAYED"
    same_step = holder_code(credential, device_proof(credential, phone, at))  # a new nonce, the same 30 s step
    assert verify(api, same_step, MUSEUM, gate)["reason"] == "REPLAYED"  # replay is keyed on (kid, cti, step)
    next_step = holder_code(credential, device_proof(credential, phone, at + 30))  # a phone clock 30 s ahead
    assert verify(api, next_step, MUSEUM, gate)["reason"] == "REPLAYED"  # one acceptance per 30 s of the server

    thief = ec.generate_private_key(ec.SECP256R1())
    stolen = holder_code(credential, device_proof(credential, thief, at))
    assert verify(api, stolen, MUSEUM, gate)["reason"] == "BAD_DEVICE_SIGNATURE"
    assert verify(api, "SP1:" + code[4:][:60], MUSEUM, gate)["result"] == "REJECTED"


def test_proofs_for_every_step_of_the_skew_window_get_one_grant_in_any_order(api: Api) -> None:
    """The reported attack: one credential, proofs for steps -2 ... +2 shown at one venue within a moment."""
    gate = api.device("gate", MUSEUM)

    def show(order: tuple[int, ...]) -> list[dict[str, Any]]:
        citizen = api.citizen(api.place.template.seniors[2])  # a fresh sign-in: each new phone replaces the last
        phone = ec.generate_private_key(ec.SECP256R1())
        issued = api.client.post("/v1/credentials", json=credential_request(phone, int(time.time())), headers=citizen)
        assert issued.status_code == 200, issued.text
        credential = unb64url(issued.json()["credential"])
        at = time.time()
        codes = [holder_code(credential, device_proof(credential, phone, at + 30 * step)) for step in order]
        return [verify(api, code, MUSEUM, gate) for code in codes]

    for order in ((-2, -1, 0, 1, 2), (2, 1, 0, -1, -2), (0, 2, -2, 1, -1)):
        # Within one 30 s step of the server's clock: across a step, step -2 would be too old (not a replay).
        answers = one_window(functools.partial(show, order), window_s=30)
        assert [a["result"] for a in answers] == ["VALID", "REJECTED", "REJECTED", "REJECTED", "REJECTED"], answers
        assert answers[0]["decision"]["result"] == "GRANTED"
        assert {a["reason"] for a in answers[1:]} == {"REPLAYED"}, order


def test_credentials_need_a_fresh_proof_by_the_same_key(api: Api) -> None:
    citizen = api.citizen(api.place.template.seniors[1])
    phone, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    cases = {
        "bad_proof": credential_request(phone, now, signer=other),
        "stale_proof": credential_request(phone, now - 600),
    }
    for error, body in cases.items():
        answer = api.client.post("/v1/credentials", json=body, headers=citizen)
        assert answer.status_code == 422 and answer.json()["error"] == error, answer.text
    off_curve = credential_request(phone, now)
    off_curve["public_key"]["y"] = b64url(b"\x01" * 32)
    answer = api.client.post("/v1/credentials", json=off_curve, headers=citizen)
    assert answer.status_code == 422 and answer.json()["error"] in ("invalid_key", "bad_proof")


def test_over_the_account_limit_is_429_with_retry_after(backend: Place) -> None:
    with open_api(backend, codes_per_minute=3) as api:
        subjects = iter(api.place.template.seniors)

        def attempt(api: Api = api) -> list[Any]:
            citizen = api.citizen(next(subjects))  # a fresh account each attempt
            return [api.client.post("/v1/codes", headers=citizen) for _ in range(4)]

        answers = one_window(attempt)
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        refused = answers[-1]
        assert refused.json()["error"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        other = api.client.post("/v1/codes", headers=api.citizen(api.place.template.seniors[-1]))
        assert other.status_code == 200  # one account's limit is not another's


def test_over_the_ip_limit_is_429(backend: Place) -> None:
    with open_api(backend, codes_per_minute=100, requests_per_minute_per_ip=3) as api:
        subjects = iter(api.place.template.seniors)

        def attempt(api: Api = api) -> list[int]:
            return [api.client.post("/v1/codes", headers=api.citizen(next(subjects))).status_code for _ in range(4)]

        assert one_window(attempt)[-1] == 429


def test_over_the_device_key_limit_is_429(backend: Place) -> None:
    """A phone key cannot collect credentials for many accounts (per-device limit on /v1/credentials)."""
    with open_api(backend, codes_per_minute=2) as api:
        subjects = iter(api.place.template.seniors)

        def attempt(api: Api = api) -> list[int]:
            phone = ec.generate_private_key(ec.SECP256R1())
            citizens = [api.citizen(next(subjects)) for _ in range(3)]
            body = credential_request(phone, int(time.time()))
            return [api.client.post("/v1/credentials", json=body, headers=c).status_code for c in citizens]

        assert one_window(attempt) == [200, 200, 429]


def test_the_verify_fast_path_answers_as_the_route(backend: Place) -> None:
    """The same requests through an app with the fast path and one without: the same answers."""
    from fastapi.testclient import TestClient

    from app.api.gate import VerifyFastPath
    from app.api.server import create_app

    senior = backend.template.seniors[0]
    answers = []
    for fast in (True, False):
        app = create_app(backend.settings())
        if not fast:
            app.user_middleware = [m for m in app.user_middleware if m.cls is not VerifyFastPath]
        with TestClient(app) as client:
            api = Api(client, backend)
            gate = api.device("gate", MUSEUM)
            code = api.client.post("/v1/codes", headers=api.citizen(senior)).json()["text"]
            requests = [
                ({"code": code, "venue": MUSEUM}, gate),
                ({"code": code, "venue": MUSEUM}, gate),  # replayed
                ({"code": code, "venue": "nowhere"}, gate),
                ({"code": "SP1:%%%", "venue": MUSEUM}, gate),
                ({"code": code}, gate),  # invalid body
                ({"code": code, "venue": MUSEUM}, api.citizen(senior)),  # wrong role
                ({"code": code, "venue": MUSEUM}, {"Authorization": "Bearer sk_nobody"}),
                ({"code": code, "venue": MUSEUM}, {}),
            ]
            seen = []
            for body, headers in requests:
                answer = api.client.post("/v1/verify", json=body, headers=headers)
                payload = answer.json()
                for volatile in ("latency_us", "profile"):
                    payload.pop(volatile, None)
                kept = {k: v for k, v in answer.headers.items() if k in ("www-authenticate", "content-type")}
                seen.append((answer.status_code, payload, kept))
            text_plain = api.client.post("/v1/verify", content=b'{"code": "x", "venue": "y"}',
                                         headers={**gate, "Content-Type": "text/plain"})  # fmt: skip
            seen.append((text_plain.status_code, text_plain.json()["error"], {}))
            answers.append(seen)
    assert [s for s, _, _ in answers[0]] == [200, 200, 404, 200, 422, 403, 401, 401, 422]
    assert answers[0] == answers[1]


def test_over_the_device_limit_verify_is_429_with_retry_after(backend: Place) -> None:
    with open_api(backend, device_requests_per_minute=2) as api:
        senior = api.place.template.seniors[0]

        def attempt(api: Api = api) -> list[Any]:
            gate = api.device("gate", MUSEUM)  # a fresh device key each attempt
            codes = [api.client.post("/v1/codes", headers=api.citizen(senior)).json()["text"] for _ in range(3)]
            return [api.client.post("/v1/verify", json={"code": c, "venue": MUSEUM}, headers=gate) for c in codes]

        answers = one_window(attempt)
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[2].json()["error"] == "rate_limited" and 1 <= int(answers[2].headers["Retry-After"]) <= 60
