"""Bad partner trust lists (generator part of the corpus).

Judged by `keys.partners.import_partner_trust_list` into a keys folder where partner 320000
(issuer CN-JS, root `PARTNER_ROOT_KEY`) is registered and, when a case says `held`, a list was
accepted before; or, for `judge: load`, by `keys.trust_list.load_trust_list` as a gate loads ours.
The expectation is a substring of the TrustListError message; `pad_to` pads the document with
spaces (still valid JSON) to that many bytes when the test reads it.
"""

from __future__ import annotations

import json
from typing import Any

from keys.signed_json import sign_document
from keys.trust_list import FORMAT
from tests.corpus.world import (
    DAY,
    ISSUER_KEY,
    NOW,
    PARTNER_ROOT_KEY,
    ROOT_KEY,
    STRANGER_ROOT_KEY,
    partner_entry_json,
)

Case = dict[str, Any]
HELD = "held-version-5.json"


def payload(*, version: int = 5, issued_at: int = NOW - 3600, max_age: int = 7 * DAY, **changes: Any) -> dict[str, Any]:
    key = partner_entry_json()
    key.pop("residence_region")
    key["region"] = "320100"
    body: dict[str, Any] = {
        "format": FORMAT,
        "version": version,
        "issued_at": issued_at,
        "max_age": max_age,
        "keys": [key],
    }
    body.update(changes)
    return body


def signed(body: dict[str, Any], key: Any = PARTNER_ROOT_KEY) -> bytes:
    return sign_document(body, key)


def retouched(document: bytes, change: Any) -> bytes:
    """The document with its JSON changed after signing (the signature no longer matches, or is damaged)."""
    doc = json.loads(document)
    change(doc)
    return json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n"


def with_key(**changes: Any) -> dict[str, Any]:
    body = payload()
    body["keys"][0].update(changes)
    return body


def trust_list_cases() -> tuple[dict[str, bytes], list[Case]]:
    """(file name -> document, cases)."""
    files: dict[str, bytes] = {HELD: signed(payload())}
    cases: list[Case] = []

    def add(name: str, document: bytes, expect: str, **extra: Any) -> None:
        file = f"{name}.json"
        files[file] = document
        cases.append({"file": file, "expect": expect, **extra})

    good = signed(payload(version=6))

    def flip(doc: dict[str, Any]) -> None:
        value = doc["signature"]["value"]
        doc["signature"]["value"] = ("A" if value[0] != "A" else "B") + value[1:]

    add("signature-altered", retouched(good, flip), "signature is not valid for the root key")
    add(
        "payload-altered-after-signing",
        retouched(good, lambda d: d["payload"].update(version=99)),
        "signature is not valid for the root key",
    )
    add("signed-by-a-stranger-root", signed(payload(version=6), STRANGER_ROOT_KEY), "not by the root key")
    add("signed-by-our-own-root", signed(payload(version=6), ROOT_KEY), "not by the root key")
    add("signed-by-an-issuer-key", signed(payload(version=6), ISSUER_KEY), "not by the root key")

    def stranger_claims_partner_kid(doc: dict[str, Any]) -> None:
        doc["signature"]["kid"] = json.loads(good)["signature"]["kid"]

    add(
        "stranger-signature-under-partner-kid",
        retouched(signed(payload(version=6), STRANGER_ROOT_KEY), stranger_claims_partner_kid),
        "signature is not valid",
    )
    add("signature-says-EdDSA", retouched(good, lambda d: d["signature"].update(alg="EdDSA")), "signed with EdDSA")
    add("signature-not-base64url", retouched(good, lambda d: d["signature"].update(value="A")), "not base64url")
    add("signature-missing", retouched(good, lambda d: d.pop("signature")), "signature must have string fields")
    add(
        "signature-value-a-number",
        retouched(good, lambda d: d["signature"].update(value=5)),
        "signature must have string fields",
    )
    add("stale-eight-days", signed(payload(version=6, issued_at=NOW - 8 * DAY)), "is stale")
    add("issued-an-hour-ahead", signed(payload(version=6, issued_at=NOW + 3600)), "issued in the future")
    add("max-age-negative", signed(payload(version=6, max_age=-1)), "negative max_age")
    add("older-version-than-held", signed(payload(version=4)), "older than the held version 5", held=HELD)
    add("same-version-other-keys", signed(payload(version=5, keys=[])), "already held with different keys", held=HELD)
    add("key-names-unregistered-issuer", signed(with_key(issuer="CN-ZJ")), "names issuer 'CN-ZJ'")
    add("key-names-our-issuer", signed(with_key(issuer="CN-SH")), "names issuer 'CN-SH'")
    add("key-outside-partner-province", signed(with_key(region="330100")), "outside province")
    add("malformed-json", good[:-40], "not valid JSON")
    add("empty-document", b"", "not valid JSON")
    add("not-utf8", b"\xff\xfe" + good, "not valid JSON")
    add("json-array", b"[1, 2, 3]\n", "must be an object with 'payload'")
    add("payload-a-string", retouched(good, lambda d: d.update(payload="keys")), "must be an object with 'payload'")
    add("100000-nested-arrays", b'{"payload": ' + b"[" * 100000 + b"]" * 100000 + b"}", "not valid JSON")
    add("format-other", signed(payload(version=6, format="suishen-trust-list/2")), "format must be")
    add("version-as-text", signed(payload(version="6")), "version must be int")  # type: ignore[arg-type]
    add("version-true", signed(payload(version=True)), "version must be int")
    add("keys-an-object", signed(payload(version=6, keys={"kid": "x"})), "keys must be list")
    add("key-entry-a-string", signed(payload(version=6, keys=["CN-JS"])), "must be an object")
    add("key-kid-mismatch", signed(with_key(kid="00" * 8)), "kid does not match the public key")
    add("key-alg-RS256", signed(with_key(alg="RS256")), "is not one of")
    add("key-public-key-garbage", signed(with_key(public_key="bm90IGEga2V5")), "not a usable SubjectPublicKeyInfo")
    add("key-alg-EdDSA-for-P256-key", signed(with_key(alg="EdDSA")), "does not match alg")
    add("key-status-unknown", signed(with_key(status="suspended")), "status 'suspended' is not one of")
    add("key-privileges-not-strings", signed(with_key(privileges=[1, 2])), "privileges must be a list of strings")
    add("key-residence-region-short", signed(with_key(residence_region="32")), "six-digit region code")
    add("key-not-before-text", signed(with_key(not_before="yesterday")), "not_before must be int")
    body = payload(version=6)
    body["keys"] = body["keys"] * 2
    add("duplicate-kid", signed(body), "duplicate kid")
    add("over-one-mebibyte", signed(payload(version=6)), "over 1048576 bytes", pad_to=(1 << 20) + 1)
    add("import-for-unregistered-region", good, "no partner registered for region 330000", region="330000")
    add("gate-loads-a-list-its-root-did-not-sign", signed(payload(version=6)), "not by the root key", judge="load")
    add(
        "gate-loads-a-stale-list",
        signed(payload(version=6, issued_at=NOW - 30 * DAY), ROOT_KEY),
        "is stale",
        judge="load",
    )
    return files, cases
