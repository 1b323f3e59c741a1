"""Bad revocation lists and deltas (generator part of the corpus).

Judged by `keys.revocation_list.load_revocation_list` with our root at NOW, on top of the list in
`held` when a case names one (a delta needs it); the expectation is a substring of the one-line
RevocationListError message. Unless a case says `gate: false` (a stale or early list, which a gate
stores and answers MANUAL CHECK for), the gate program's `DocumentCache.install` refuses it too
and leaves the files it holds unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from keys.revocation_list import FORMAT, sign_revocation_list
from tests.corpus.world import DAY, ISSUER_KEY, NOW, ROOT_KEY, STRANGER_ROOT_KEY

Case = dict[str, Any]
HELD = "held-version-5.json"
CREDENTIAL = "0123456789abcdef"
SUBJECT = "fedcba9876543210"


def payload(*, version: int = 6, since: int | None = 5, issued_at: int = NOW - 3600, max_age: int = 2 * DAY,
            **changes: Any) -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {
        "format": FORMAT,
        "version": version,
        "issued_at": issued_at,
        "max_age": max_age,
        "since": since,
        "credentials": [[CREDENTIAL, NOW + DAY]],
        "subjects": [[SUBJECT, NOW - 60, NOW + DAY]],
    }
    body.update(changes)
    return body


def signed(body: dict[str, Any], key: Any = ROOT_KEY) -> bytes:
    return sign_revocation_list(body, key)


def retouched(document: bytes, change: Any) -> bytes:
    """The document with its JSON changed after signing."""
    doc = json.loads(document)
    change(doc)
    return json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n"


def revocation_list_cases() -> tuple[dict[str, bytes], list[Case]]:
    """(file name -> document, cases)."""
    files: dict[str, bytes] = {HELD: signed(payload(version=5, since=None, credentials=[], subjects=[]))}
    cases: list[Case] = []

    def add(name: str, document: bytes, expect: str, **extra: Any) -> None:
        file = f"{name}.json"
        files[file] = document
        cases.append({"file": file, "expect": expect, "held": HELD, **extra})

    good = signed(payload())

    def flip(doc: dict[str, Any]) -> None:
        value = doc["signature"]["value"]
        doc["signature"]["value"] = ("A" if value[0] != "A" else "B") + value[1:]

    add("signature-altered", retouched(good, flip), "signature is not valid for the root key")
    add("entry-removed-after-signing", retouched(good, lambda d: d["payload"].update(credentials=[])),
        "signature is not valid for the root key")  # fmt: skip
    add("signed-by-a-stranger-root", signed(payload(), STRANGER_ROOT_KEY), "not by the root key")
    add("signed-by-an-issuer-key", signed(payload(), ISSUER_KEY), "not by the root key")
    add("signature-missing", retouched(good, lambda d: d.pop("signature")), "signature must have string fields")
    add("signature-not-base64url", retouched(good, lambda d: d["signature"].update(value="A")), "not base64url")
    add("malformed-json", good[:-40], "not valid JSON")
    add("empty-document", b"", "not valid JSON")
    add("not-utf8", b"\xff\xfe" + good, "not valid JSON")
    add("json-array", b"[1, 2, 3]\n", "must be an object with 'payload'")
    add("100000-nested-arrays", b'{"payload": ' + b"[" * 100000 + b"]" * 100000 + b"}", "not valid JSON")
    add("format-trust-list", signed(payload(format="suishen-trust-list/1")), "format must be")
    add("format-missing", signed({k: v for k, v in payload().items() if k != "format"}), "format must be")
    add("version-as-text", signed(payload(version="6")), "'version' must be a non-negative integer")  # type: ignore[arg-type]
    add("version-negative", signed(payload(version=-6)), "'version' must be a non-negative integer")
    add("version-true", signed(payload(version=True)), "'version' must be a non-negative integer")
    add("max-age-a-string", signed(payload(max_age="2d")), "'max_age' must be a non-negative integer")  # type: ignore[arg-type]
    add("since-a-string", signed(payload(since="5")), "'since' must be null or a version")  # type: ignore[arg-type]
    add("since-negative", signed(payload(since=-1)), "'since' must be null or a version")
    add("credentials-an-object", signed(payload(credentials={CREDENTIAL: NOW})), "'credentials' must be a list")
    no_subjects = {k: v for k, v in payload().items() if k != "subjects"}
    add("subjects-missing", signed(no_subjects), "'subjects' must be a list")
    add("credential-entry-one-field", signed(payload(credentials=[[CREDENTIAL]])), "must be [id, until]")
    add("credential-entry-a-string", signed(payload(credentials=[CREDENTIAL])), "must be [id, until]")
    add("credential-id-7-bytes", signed(payload(credentials=[[CREDENTIAL[:14], NOW + DAY]])), "hex of 8 to 8 bytes")
    add("credential-id-9-bytes", signed(payload(credentials=[[CREDENTIAL + "00", NOW + DAY]])), "hex of 8 to 8 bytes")
    add("credential-id-upper-case", signed(payload(credentials=[[CREDENTIAL.upper(), NOW + DAY]])), "lower-case hex")
    add("credential-id-not-hex", signed(payload(credentials=[["0123456789abcdeg", NOW + DAY]])), "lower-case hex")
    add("credential-id-a-number", signed(payload(credentials=[[1234, NOW + DAY]])), "lower-case hex")
    add("credential-until-negative", signed(payload(credentials=[[CREDENTIAL, -1]])), "a time in unix seconds")
    add("credential-until-a-float", signed(payload(credentials=[[CREDENTIAL, NOW + 0.5]])), "a time in unix seconds")
    add("credential-until-far-future", signed(payload(credentials=[[CREDENTIAL, 1 << 41]])), "a time in unix seconds")
    add("subject-7-bytes", signed(payload(subjects=[[SUBJECT[:14], NOW, NOW + DAY]])), "hex of 8 to 32 bytes")
    add("subject-33-bytes", signed(payload(subjects=[["ab" * 33, NOW, NOW + DAY]])), "hex of 8 to 32 bytes")
    add("subject-odd-length-hex", signed(payload(subjects=[[SUBJECT + "a", NOW, NOW + DAY]])), "lower-case hex")
    add("subject-entry-two-fields", signed(payload(subjects=[[SUBJECT, NOW]])), "must be [subject, before, until]")
    add("subject-before-text", signed(payload(subjects=[[SUBJECT, "now", NOW + DAY]])), "before must be a time")
    add("delta-with-no-list-held", signed(payload()), "but no list is held", held=None)
    add("delta-on-another-version", signed(payload(version=7, since=4)), "does not apply to the held version 5")
    add("delta-not-after-its-since", signed(payload(version=5, since=5)), "is not after 5")
    add("delta-going-back", signed(payload(version=3, since=5)), "is not after 5")
    add("stale-three-days", signed(payload(issued_at=NOW - 3 * DAY)), "is stale", gate=False)
    add("issued-an-hour-ahead", signed(payload(issued_at=NOW + 3600)), "issued in the future", gate=False)
    return files, cases
