"""Every reason code in plain words, Chinese and English, from one file: `verifier/reasons.json`.

The gate program's display (`scanner_client/decision.py`) reads it here; the staff page fetches
the same file from `/static/reasons.json` (served by `app/api/web/pages.py`), so a refusal reads
the same at a gate and on a handheld. Change the wording in the JSON file, nowhere else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

REASONS_FILE = Path(__file__).resolve().parent / "reasons.json"


class Words(NamedTuple):
    zh: str
    en: str


def _read(path: Path) -> dict[str, Words]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {code: Words(text["zh"], text["en"]) for code, text in raw.items()}


REASON_WORDS: dict[str, Words] = _read(REASONS_FILE)  # by reason code (a `Reason` is its own code)
