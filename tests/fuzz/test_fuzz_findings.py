"""Inputs the fuzz harnesses found crashing, each now answered as its module documents.

These run in `make test` (no atheris needed); the harnesses themselves are not collected.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from app.matching.load import RegistryError, load_registries
from keys.algorithms import ES256, KeyAlgorithmError, generate_private_key, kid_of, load_public_key, spki_der
from keys.ring import KeyRing, new_entry
from keys.signed_json import b64url
from keys.trust_list import TrustListError, load_trust_list, payload_from_rings, sign_trust_list
from verifier.catalogue import CatalogueError, load_snapshot
from verifier.rules.evaluate import compile_rule
from verifier.rules.parse import MAX_TODAY_OFFSET_DAYS, parse_rule

NOW = 1_800_000_000


def test_a_today_offset_beyond_a_century_is_a_rule_problem_not_an_overflow() -> None:
    for offset in (10**10, -(10**9), MAX_TODAY_OFFSET_DAYS + 1):
        rule, problems = parse_rule({"student.enrolled_until": {">=": {"today": offset}}})
        assert rule is None
        assert [p.path for p in problems] == ["eligibility.student.enrolled_until.>="]
        assert "{today: N} with N from" in problems[0].expected


def test_the_largest_today_offset_still_evaluates_on_any_decision_date() -> None:
    for offset in (MAX_TODAY_OFFSET_DAYS, -MAX_TODAY_OFFSET_DAYS):
        rule, problems = parse_rule({"student.enrolled_until": {"<": {"today": offset}}})
        assert rule is not None, problems
        test = compile_rule(rule)
        for day in (dt.date(1970, 1, 1), dt.date(2099, 12, 31)):
            test({"student.enrolled_until": dt.date(2030, 1, 1)}, day)


def _signed_list(entry_changes: dict[str, Any]) -> tuple[bytes, Any]:
    root, issuer = generate_private_key(ES256), generate_private_key(ES256)
    ring = KeyRing("CN-JS", "320000", ("age_over",), (new_entry(issuer.public_key(), NOW - 60),))
    payload = payload_from_rings([ring], version=1, issued_at=NOW)
    payload["keys"][0].update(entry_changes)
    return sign_trust_list(payload, root), root


def test_a_trust_list_key_on_an_unknown_curve_is_a_trust_list_error() -> None:
    p256 = bytes.fromhex("06082a8648ce3d030107")  # the curve OID 1.2.840.10045.3.1.7 (P-256)
    spki = spki_der(generate_private_key(ES256).public_key())
    unknown_curve = spki.replace(p256, bytes.fromhex("06082a8648ce3d037507"))  # 1.2.840.10045.3.117.7
    document, root = _signed_list({"public_key": b64url(unknown_curve)})
    with pytest.raises(TrustListError, match=r"public_key is not a usable SubjectPublicKeyInfo"):
        load_trust_list(document, root.public_key(), NOW)
    with pytest.raises(KeyAlgorithmError):
        load_public_key(unknown_curve)


def test_a_residence_region_of_non_ascii_digits_is_refused_at_load() -> None:
    document, root = _signed_list({"residence_region": "³²⁰⁰⁰⁰"})  # str.isdigit() is true for superscripts
    with pytest.raises(TrustListError, match=r"residence_region must be a six-digit region code"):
        load_trust_list(document, root.public_key(), NOW)


def test_a_registry_csv_that_is_not_utf8_is_a_registry_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "persons.csv").write_bytes(b"person\xff\xff_id,birth_date,residence_region\n")
    with duckdb.connect() as con, pytest.raises(RegistryError, match=r"^persons\.csv: .*CSV Error"):
        load_registries(con, tmp_path)


def test_a_signed_document_with_an_unpaired_surrogate_is_refused_by_both_loaders() -> None:
    root = generate_private_key(ES256)
    signature = {"alg": "ES256", "kid": kid_of(root.public_key()).hex(), "value": "AAAA"}
    document = json.dumps({"payload": {"format": "x", "note": "\udddd"}, "signature": signature}).encode()
    assert b"\\udddd" in document  # JSON escapes the lone surrogate; json.loads gives it back
    with pytest.raises(TrustListError, match=r"not valid Unicode"):
        load_trust_list(document, root.public_key(), NOW)
    with pytest.raises(CatalogueError, match=r"not valid Unicode"):
        load_snapshot(document, root.public_key())
