"""One verification as the CLI reports it: a JSON-ready dict, never an exception for a bad code."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from keys.storage import read_public_key
from verifier.errors import VerificationError
from verifier.trust import TrustStore
from verifier.verify import Verifier


def result_json(verifier: Verifier, text: str, now: float) -> dict[str, Any]:
    started = time.perf_counter_ns()
    try:
        verified = verifier.verify(text, now)
    except VerificationError as exc:
        latency = (time.perf_counter_ns() - started) // 1000
        return {
            "result": "REJECTED",
            "reason": exc.reason.value,
            "detail": exc.detail,
            "kind": None,
            "issuer": None,
            "profile": None,
            "latency_us": latency,
        }
    latency = (time.perf_counter_ns() - started) // 1000
    body = verified.to_json()
    return {
        "result": "VALID",
        "reason": None,
        "detail": None,
        "kind": body["kind"],
        "issuer": body["issuer"],
        "profile": body["profile"],
        "latency_us": latency,
    }


def verify_text_or_image(
    trust_list: Path, root: Path, text: str | None, image: Path | None, now: float
) -> dict[str, Any]:
    from scanner_client.decode import decode_image

    store = TrustStore.from_document(trust_list.read_bytes(), read_public_key(root), now)
    if image is not None:
        texts = decode_image(image)
        if not texts:
            raise ValueError(f"no QR code found in {image}")
        text = texts[0]
    assert text is not None
    return result_json(Verifier(store), text.strip(), now)
