"""Atheris harness for the trust-list loader: `load_trust_list` may raise TrustListError only.

The fuzzed document is signed with the fixed test root key (fuzzlib.ROOT_KEY), so parsing
after the signature check is reached; a raw mode feeds the bytes as the document itself.
What loads is then used as a gate and the server use it (trust store, revocations, entries).

First byte of an input picks the mode (its next bit: allow_stale, as for a list already held):

    raw       the rest is the whole document (signature and all)
    signed    the rest as JSON, used as the payload and signed by the root key
    mutate    a real payload's canonical JSON with a few bytes edited, then signed

    .venv/bin/python tests/fuzz/fuzz_trust_list.py -max_total_time=60
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["keys"]):
    from keys.signed_json import canonical_json
    from keys.trust_list import TrustListError, key_entry, load_trust_list, revocations

import fuzzlib

from verifier.trust import TrustStore

NAME = "trust_list"
MODES = ("raw", "signed", "mutate")
ROOT_PUBLIC = fuzzlib.ROOT_KEY.public_key()
REAL_PAYLOADS = (canonical_json(fuzzlib.trust_payload()), canonical_json({**fuzzlib.trust_payload(), "keys": []}))


def _document(mode: str, body: bytes) -> bytes | None:
    if mode == "raw":
        return body
    if mode == "mutate":
        body = fuzzlib.sparse_edit(REAL_PAYLOADS[body[0] % 2], atheris.FuzzedDataProvider(body[1:])) if body else b""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return fuzzlib.sign_any(payload)


def TestOneInput(data: bytes) -> None:
    if len(data) < 2:
        return
    mode, allow_stale = MODES[data[0] % len(MODES)], bool(data[0] & 0x80)
    document = _document(mode, data[1:])
    if document is None:
        return
    try:
        trust_list = load_trust_list(document, ROOT_PUBLIC, fuzzlib.NOW, allow_stale=allow_stale)
    except TrustListError:
        return
    TrustStore(trust_list)
    json.dumps(revocations(trust_list))
    for key in trust_list.keys:
        _ = key.residence_province
        key_entry(key)


def seeds() -> dict[str, bytes]:
    """The fixed world's list (ours, a revoked key, a partner limited to Jiangsu) in every mode."""
    return {
        "raw-0": b"\x00" + fuzzlib.TRUST_DOCUMENT,
        "signed-0": b"\x01" + REAL_PAYLOADS[0],
        "signed-empty": b"\x81" + REAL_PAYLOADS[1],
        "mutate-0": b"\x02\x00" + bytes(8),
        "mutate-1": b"\x82\x01" + bytes(8),
    }


if __name__ == "__main__":
    fuzzlib.main(NAME, TestOneInput, seeds, defaults=("-max_len=8192", "-timeout=10"))
