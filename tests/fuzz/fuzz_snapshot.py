"""Atheris harness for the catalogue snapshot loader: `load_snapshot` may raise CatalogueError only.

The fuzzed payload is signed with the fixed test root key, and in the signed modes its
content_hash is recomputed over the fuzzed policies and value sets, so the policy and value-set
parsing after both checks is reached. What loads is then used as a gate uses it (scan
attributes, the version in force, its compiled rule on sample facts).

First byte of an input picks the mode:

    raw       the rest is the whole document (signature and all)
    signed    the rest as JSON, used as the payload (content hash fixed when it can be), signed
    mutate    a real one-policy snapshot payload with a few bytes edited, hash fixed, signed

    .venv/bin/python tests/fuzz/fuzz_snapshot.py -max_total_time=60
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["verifier", "keys.signed_json"]):
    from keys.signed_json import canonical_json
    from verifier.catalogue import CatalogueError, build_snapshot, content_hash, load_snapshot
    from verifier.rules.evaluate import AgeBand

import fuzzlib

NAME = "snapshot"
MODES = ("raw", "signed", "mutate")
ROOT_PUBLIC = fuzzlib.ROOT_KEY.public_key()
DAYS = (dt.date(2026, 7, 1), dt.date(2020, 1, 1))
FACTS: tuple[dict[str, Any], ...] = ({"age": AgeBand(65, 70), "residence.region": 310000, "martyr_family": True}, {})


def _real_payloads() -> list[bytes]:
    """One snapshot payload per sample policy (small), with the sample value sets."""
    from app.catalogue import load_catalogue

    catalogue = load_catalogue(fuzzlib.ROOT / "data" / "catalogue")
    out = []
    for source in catalogue.sources:
        published = {**source, "status": "published"}
        document = build_snapshot([published], fuzzlib.ROOT_KEY, version=3, issued_at=fuzzlib.NOW,
                                  value_sets=catalogue.value_sets)  # fmt: skip
        out.append(canonical_json(json.loads(document)["payload"]))
    return out


REAL_PAYLOADS = _real_payloads()


def _fix_hash(payload: Any) -> None:
    if isinstance(payload, dict) and isinstance(payload.get("policies"), list):
        sets = payload.get("value_sets", [])
        if isinstance(sets, list):
            # not canonical JSON (a lone surrogate): the hash stays wrong and the loader must refuse it
            with contextlib.suppress(UnicodeEncodeError, ValueError):
                payload["content_hash"] = content_hash(payload["policies"], sets)


def _document(mode: str, body: bytes) -> bytes | None:
    if mode == "raw":
        return body
    if mode == "mutate":
        if not body:
            return None
        body = fuzzlib.sparse_edit(REAL_PAYLOADS[body[0] % len(REAL_PAYLOADS)], atheris.FuzzedDataProvider(body[1:]))
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    _fix_hash(payload)
    return fuzzlib.sign_any(payload)


def TestOneInput(data: bytes) -> None:
    if len(data) < 2:
        return
    document = _document(MODES[data[0] % len(MODES)], data[1:])
    if document is None:
        return
    try:
        snapshot = load_snapshot(document, ROOT_PUBLIC)
    except CatalogueError:
        return
    snapshot.scan_attributes()
    for policy in snapshot.policies:
        for day in DAYS:
            version = policy.version_on(day)
            if version is not None:
                for facts in FACTS:
                    version.test(facts, day)
                    version.time_rules.allows(dt.datetime(2026, 7, 1, 9, 30))


def seeds() -> dict[str, bytes]:
    out = {f"signed-{i}": b"\x01" + p for i, p in enumerate(REAL_PAYLOADS)}
    out.update({f"mutate-{i}": b"\x02" + bytes([i]) + bytes(8) for i in range(len(REAL_PAYLOADS))})
    out["raw-0"] = b"\x00" + fuzzlib.sign_any(json.loads(REAL_PAYLOADS[0]))
    return out


if __name__ == "__main__":
    fuzzlib.main(NAME, TestOneInput, seeds, defaults=("-max_len=16384", "-timeout=10"))
