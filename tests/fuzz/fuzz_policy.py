"""Atheris harness for policy drafts: `check_draft` (YAML or JSON text) and `parse_policy` (plain data).

A draft's problems are its answer: `check_draft` returns them as lines and `parse_policy` as
`RuleProblem`s. Any exception, a hang (-timeout) or memory past -rss_limit_mb is a crash.

First byte of an input picks the mode:

    draft     the rest as UTF-8 text (bad bytes replaced, as the HTTP route refuses them) to check_draft
    json      the rest as JSON to parse_policy directly (what a snapshot holds), bad JSON skipped
    mutate    a sample policy's YAML (data/catalogue) with a few bytes edited, to check_draft

    .venv/bin/python tests/fuzz/fuzz_policy.py -max_total_time=60
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGETS = ["app.catalogue_admin", "app.policy_text", "app.catalogue", "verifier", "yaml"]
with atheris.instrument_imports(include=TARGETS):
    from app.catalogue_admin import DraftCheck, check_draft
    from verifier.catalogue import parse_policy

import fuzzlib  # noqa: E402

NAME = "policy"
MODES = ("draft", "json", "mutate")
SAMPLES = sorted((fuzzlib.ROOT / "data" / "catalogue").glob("*.yaml"))
SAMPLE_TEXTS = tuple(p.read_bytes() for p in SAMPLES)


def _check(text: str) -> None:
    result = check_draft(text)
    assert isinstance(result, DraftCheck), result
    assert (result.source is None) == bool(result.errors), result  # a source exactly when there is no error


def TestOneInput(data: bytes) -> None:
    if len(data) < 2:
        return
    mode, body = MODES[data[0] % len(MODES)], data[1:]
    if mode == "draft":
        _check(body.decode("utf-8", "replace"))
    elif mode == "json":
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            return
        policy, problems = parse_policy(value)
        assert (policy is None) == bool(problems), problems
    else:
        base = SAMPLE_TEXTS[body[0] % len(SAMPLE_TEXTS)]
        _check(fuzzlib.sparse_edit(base, atheris.FuzzedDataProvider(body[1:])).decode("utf-8", "replace"))


def seeds() -> dict[str, bytes]:
    """Every sample policy as a draft and as JSON, plus a zero edit of each."""
    import yaml

    from app.catalogue import json_ready

    out: dict[str, bytes] = {}
    for i, (path, text) in enumerate(zip(SAMPLES, SAMPLE_TEXTS, strict=True)):
        out[f"draft-{path.stem}"] = b"\x00" + text
        out[f"json-{path.stem}"] = b"\x01" + json.dumps(json_ready(yaml.safe_load(text)), ensure_ascii=False).encode()
        out[f"mutate-{path.stem}"] = b"\x02" + bytes([i]) + bytes(8)
    return out


if __name__ == "__main__":
    fuzzlib.main(NAME, TestOneInput, seeds, defaults=("-max_len=8192", "-timeout=10"))
