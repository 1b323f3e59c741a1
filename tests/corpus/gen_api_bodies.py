"""Bad API requests for a real `suishen serve` (generator part of the corpus).

A case is a method, a path, who calls (`admin`, `gate` (a gate key for sh-century-park), `citizen`
(subject P0001), `none`, `forged`), a body (`json`, or `text`; `repeat_events` makes a batch of N
copies of the one event given; `pad_to` pads a JSON body with spaces to that many bytes) and
what must come back: the status (or any of several), the `error` code when one is named, and
fields of the answer. `"__NOW__"` in a body becomes the current Unix time. No answer is ever a 500.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import serialization

from tests.corpus.world import PARTNER_ROOT_KEY, device_key, pem

Case = dict[str, Any]
VENUE = "sh-century-park"
OTHER_VENUE = "sh-museum"  # a real venue, not the gate's
EVENT = {
    "id": "0" * 32,
    "venue": VENUE,
    "at": 1_800_000_000,
    "result": "GRANTED",
    "reason": None,
    "policy_id": "sh-park-senior-free",
    "kind": "online",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def api_cases() -> list[Case]:
    cases: list[Case] = []

    def add(
        case_id: str,
        method: str,
        path: str,
        auth: str,
        status: int | list[int],
        error: str | None = None,
        **request: Any,
    ) -> None:
        cases.append(
            {"id": case_id, "method": method, "path": path, "auth": auth, "status": status, "error": error, **request}
        )

    point = (
        device_key(0)
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    key = {"kty": "EC", "crv": "P-256", "x": _b64(point[1:33]), "y": _b64(point[33:])}
    zero_sig = "A" * 86

    def credential(public_key: dict[str, Any], t: Any = "__NOW__", signature: str = zero_sig) -> dict[str, Any]:
        return {"public_key": public_key, "pop": {"t": t, "signature": signature}}

    v = "/v1/verify"
    add(
        "verify-not-json",
        "POST",
        v,
        "gate",
        422,
        "invalid_request",
        text='{"code": "SP1:',
        content_type="application/json",
    )
    add("verify-empty-body", "POST", v, "gate", 422, "invalid_request", text="", content_type="application/json")
    add("verify-json-array", "POST", v, "gate", 422, "invalid_request", json=[])
    add("verify-code-missing", "POST", v, "gate", 422, "invalid_request", json={"venue": VENUE})
    add("verify-code-is-a-number", "POST", v, "gate", 422, "invalid_request", json={"code": 12345, "venue": VENUE})
    add("verify-code-null", "POST", v, "gate", 422, "invalid_request", json={"code": None, "venue": VENUE})
    add(
        "verify-code-3000-characters",
        "POST",
        v,
        "gate",
        422,
        "invalid_request",
        json={"code": "SP1:" + "0" * 2996, "venue": VENUE},
    )
    add(
        "verify-venue-100-characters",
        "POST",
        v,
        "gate",
        422,
        "invalid_request",
        json={"code": "SP1:0", "venue": "v" * 100},
    )
    add(
        "verify-unknown-venue",
        "POST",
        v,
        "gate",
        404,
        "unknown_venue",
        json={"code": "SP1:0", "venue": "no-such-venue"},
    )
    add(
        "verify-at-another-venue",
        "POST",
        v,
        "gate",
        403,
        "wrong_venue",
        json={"code": "SP1:0", "venue": OTHER_VENUE},
    )
    add(
        "verify-10000-nested-arrays",
        "POST",
        v,
        "gate",
        413,
        "too_large",
        text="[" * 10000 + "]" * 10000,
        content_type="application/json",
    )
    add(
        "verify-form-encoded",
        "POST",
        v,
        "gate",
        422,
        "invalid_request",
        text="code=SP1:0&venue=sh-century-park",
        content_type="application/x-www-form-urlencoded",
    )
    add("verify-without-credentials", "POST", v, "none", 401, "unauthenticated", json={"code": "SP1:0", "venue": VENUE})
    add("verify-forged-token", "POST", v, "forged", 401, "unauthenticated", json={"code": "SP1:0", "venue": VENUE})
    add("verify-by-a-citizen", "POST", v, "citizen", 403, "forbidden", json={"code": "SP1:0", "venue": VENUE})
    add(
        "verify-bad-code-is-a-rejection",
        "POST",
        v,
        "gate",
        200,
        json={"code": "SP1:GGW", "venue": VENUE},
        answer={"result": "REJECTED", "reason": "MALFORMED_BASE45"},
    )
    add(
        "verify-url-code-is-a-rejection",
        "POST",
        v,
        "gate",
        200,
        json={"code": "https://pass.example.org/", "venue": VENUE},
        answer={"reason": "MALFORMED_PREFIX"},
    )

    e = "/v1/events"
    add("events-not-a-list", "POST", e, "gate", 422, "invalid_request", json={"events": EVENT})
    add("events-missing", "POST", e, "gate", 422, "invalid_request", json={})
    add("event-id-not-hex", "POST", e, "gate", 422, "invalid_request", json={"events": [{**EVENT, "id": "x" * 32}]})
    add("event-time-1970", "POST", e, "gate", 422, "invalid_request", json={"events": [{**EVENT, "at": 0}]})
    add("event-time-text", "POST", e, "gate", 422, "invalid_request", json={"events": [{**EVENT, "at": "yesterday"}]})
    add(
        "event-time-NaN",
        "POST",
        e,
        "gate",
        422,
        "invalid_request",
        text='{"events": [{"id": "' + "0" * 32 + '", "venue": "' + VENUE + '", "at": NaN, "result": "GRANTED"}]}',
        content_type="application/json",
    )
    add(
        "event-result-unknown",
        "POST",
        e,
        "gate",
        422,
        "invalid_request",
        json={"events": [{**EVENT, "result": "MAYBE"}]},
    )
    add(
        "event-reason-100-characters",
        "POST",
        e,
        "gate",
        422,
        "invalid_request",
        json={"events": [{**EVENT, "reason": "R" * 100}]},
    )
    add(
        "events-1001-in-one-batch",
        "POST",
        e,
        "gate",
        422,
        "invalid_request",
        json={"events": []},
        repeat_events=1001,
    )
    add(
        "event-for-a-made-up-venue",
        "POST",
        e,
        "gate",
        422,
        "unknown_venue",
        json={"events": [{**EVENT, "venue": "no-such-venue"}]},
    )
    add(
        "event-at-another-venue",
        "POST",
        e,
        "gate",
        403,
        "wrong_venue",
        json={"events": [{**EVENT, "id": "2" * 32, "venue": OTHER_VENUE}]},
    )
    add(
        "event-for-a-made-up-policy",
        "POST",
        e,
        "gate",
        422,
        "unknown_policy",
        json={"events": [{**EVENT, "id": "1" * 32, "policy_id": "no-such-policy"}]},
    )
    add("events-2-MiB-body", "POST", e, "gate", 413, "too_large", json={"events": []}, pad_to=2 << 20)
    add("events-by-a-citizen", "POST", e, "citizen", 403, "forbidden", json={"events": []})

    c = "/v1/credentials"
    add("credential-pop-missing", "POST", c, "citizen", 422, "invalid_request", json={"public_key": key})
    add("credential-kty-RSA", "POST", c, "citizen", 422, "invalid_request", json=credential({**key, "kty": "RSA"}))
    add(
        "credential-x-42-characters",
        "POST",
        c,
        "citizen",
        422,
        "invalid_request",
        json=credential({**key, "x": key["x"][:42]}),
    )
    add("credential-x-not-base64url", "POST", c, "citizen", 422, "invalid_key", json=credential({**key, "x": "!" * 43}))
    add(
        "credential-point-not-on-curve",
        "POST",
        c,
        "citizen",
        422,
        "invalid_key",
        json=credential({**key, "y": "A" * 43}),
    )
    add("credential-proof-from-1970", "POST", c, "citizen", 422, "stale_proof", json=credential(key, t=0))
    add("credential-proof-time-10e30", "POST", c, "citizen", 422, "stale_proof", json=credential(key, t=10**30))
    add("credential-proof-does-not-verify", "POST", c, "citizen", 422, "bad_proof", json=credential(key))
    add(
        "credential-signature-85-characters",
        "POST",
        c,
        "citizen",
        422,
        "invalid_request",
        json=credential(key, signature="A" * 85),
    )
    add("credential-by-a-gate", "POST", c, "gate", 403, "forbidden", json=credential(key))

    p = "/v1/admin/partners"
    partner = {
        "region": "330000",
        "name": "Zhejiang",
        "root_public_pem": pem(PARTNER_ROOT_KEY).decode(),
        "issuers": ["CN-ZJ"],
    }
    add("partner-region-five-digits", "POST", p, "admin", 422, "invalid_request", json={**partner, "region": "33000"})
    add(
        "partner-root-not-a-key",
        "POST",
        p,
        "admin",
        422,
        "invalid_partner",
        json={**partner, "root_public_pem": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"},
    )
    add(
        "partner-root-5000-characters",
        "POST",
        p,
        "admin",
        422,
        "invalid_request",
        json={**partner, "root_public_pem": "A" * 5000},
    )
    add("partner-no-issuers", "POST", p, "admin", 422, "invalid_request", json={**partner, "issuers": []})
    add(
        "partner-17-issuers",
        "POST",
        p,
        "admin",
        422,
        "invalid_request",
        json={**partner, "issuers": [f"CN-Z{i}" for i in range(17)]},
    )
    add("partner-issuer-with-space", "POST", p, "admin", 422, "invalid_partner", json={**partner, "issuers": ["CN ZJ"]})
    add(
        "partner-unknown-privilege", "POST", p, "admin", 422, "invalid_partner", json={**partner, "privileges": ["vip"]}
    )
    add("partner-our-own-region", "POST", p, "admin", 422, "invalid_partner", json={**partner, "region": "310000"})
    add("partner-our-own-issuer", "POST", p, "admin", 422, "invalid_partner", json={**partner, "issuers": ["CN-SH"]})
    add("partner-by-a-gate", "POST", p, "gate", 403, "forbidden", json=partner)
    t = "/v1/admin/partners/320000/trust-list"
    add(
        "trust-list-unregistered-region",
        "POST",
        "/v1/admin/partners/330000/trust-list",
        "admin",
        404,
        "partner_refused",
        text='{"payload": {}}',
        content_type="application/json",
    )
    add("trust-list-empty-body", "POST", t, "admin", 422, "empty_document", text="", content_type="application/json")
    add(
        "trust-list-not-json", "POST", t, "admin", 422, "partner_refused", text="{nope", content_type="application/json"
    )
    add("trust-list-unsigned", "POST", t, "admin", 422, "partner_refused", json={"payload": {"keys": []}})
    add("trust-list-over-1-MiB", "POST", t, "admin", 413, "too_large", json={"payload": {}}, pad_to=(1 << 20) + 10)
    # The server fetches only the trust_list_url registered for the partner (?fetch=true): a URL from
    # the request is refused whatever it names, so it can reach no file and no loopback or private address.
    add("trust-list-file-url", "POST", t + "?url=file:///etc/passwd", "admin", 422, "url_not_accepted")
    add(
        "trust-list-url-on-loopback",
        "POST",
        t + "?url=http://127.0.0.1:9/list.json",
        "admin",
        422,
        "url_not_accepted",
    )

    add(
        "policy-not-utf8",
        "PUT",
        "/v1/admin/policies/sh-x-policy",
        "admin",
        422,
        "invalid_policy",
        text_hex="ff fe 69 64 3a 20 78",
        content_type="application/yaml",
    )
    add(
        "policy-id-65-characters",
        "PUT",
        "/v1/admin/policies/" + "a" * 65,
        "admin",
        422,
        "invalid_request",
        text="id: x\n",
        content_type="application/yaml",
    )
    add(
        "policy-impossible-date",
        "PUT",
        "/v1/admin/policies/sh-x-policy",
        "admin",
        200,
        text="id: sh-x-policy\nversions:\n  - version: 1\n    effective_from: 2019-02-30\n",
        content_type="application/yaml",
        answer={
            "valid": False,
            "errors": [
                "line 4, column 21: effective_from: expected a date that exists, found 2019-02-30 "
                "(day is out of range for month)"
            ],
        },
    )
    add(
        "policy-key-given-twice",
        "PUT",
        "/v1/admin/policies/sh-x-policy",
        "admin",
        200,
        text="id: sh-x-policy\nstatus: draft\nid: sh-y-policy\n",
        content_type="application/yaml",
        answer={
            "valid": False,
            "errors": [
                'line 3, column 1: duplicate key "id" (first at line 1): a key may appear only once in a mapping'
            ],
        },
    )
    add(
        "policy-5000-nested-brackets",
        "PUT",
        "/v1/admin/policies/sh-x-policy",
        "admin",
        200,
        text="[" * 5000 + "]" * 5000,
        content_type="application/yaml",
        answer={"valid": False, "errors": ["line 1, column 65: nested deeper than 64 levels"]},
    )
    add(
        "policy-by-a-gate",
        "PUT",
        "/v1/admin/policies/sh-x-policy",
        "gate",
        403,
        "forbidden",
        text="id: x\n",
        content_type="application/yaml",
    )

    d = "/v1/admin/devices"
    add("device-role-root", "POST", d, "admin", 422, "invalid_request", json={"name": "x", "role": "root"})
    add("device-name-empty", "POST", d, "admin", 422, "invalid_request", json={"name": "", "role": "gate"})
    add(
        "device-name-129-characters",
        "POST",
        d,
        "admin",
        422,
        "invalid_request",
        json={"name": "n" * 129, "role": "gate"},
    )
    add(
        "device-unknown-venue",
        "POST",
        d,
        "admin",
        404,
        "unknown_venue",
        json={"name": "x", "role": "gate", "venue": "no-such-venue"},
    )
    add("device-by-a-citizen", "POST", d, "citizen", 403, "forbidden", json={"name": "x", "role": "admin"})

    o = "/v1/me/objections"
    objection = {"policy_id": "sh-park-senior-free", "kind": "wrong", "statement": "I am 66"}
    add(
        "objection-statement-2001-characters",
        "POST",
        o,
        "citizen",
        422,
        "invalid_request",
        json={**objection, "statement": "x" * 2001},
    )
    add(
        "objection-policy-id-uppercase",
        "POST",
        o,
        "citizen",
        422,
        "invalid_request",
        json={**objection, "policy_id": "SH-PARK"},
    )
    add("objection-kind-unknown", "POST", o, "citizen", 422, "invalid_request", json={**objection, "kind": "angry"})
    add(
        "objection-unknown-policy",
        "POST",
        o,
        "citizen",
        404,
        "unknown_policy",
        json={**objection, "policy_id": "sh-no-such-policy"},
    )

    add("dev-login-outside-demo-mode", "POST", "/v1/dev/login", "none", 404, "not_found", json={"subject": "P0001"})
    add(
        "notification-id-too-large",
        "POST",
        "/v1/me/notifications/99999999999999/read",
        "citizen",
        422,
        "invalid_request",
    )
    add("run-id-not-a-number", "GET", "/v1/admin/runs/abc/diff/1", "admin", 422, "invalid_request")
    # A period that is not a month YYYY-MM is malformed; a month with no payouts recorded is unknown.
    add("disclosure-period-not-a-month", "GET", "/v1/disclosure?period=2026-13", "none", 422, "invalid_request")
    add("disclosure-period-words", "GET", "/v1/disclosure?period=latest", "none", 422, "invalid_request")
    add("disclosure-month-without-payouts", "GET", "/v1/disclosure?period=1999-12", "none", 404, "unknown_period")
    assert len({c["id"] for c in cases}) == len(cases)
    return cases
