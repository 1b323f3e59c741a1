"""Words a person reads, in Chinese first and English on the language switch.

An explanation line, a decision's note, an ignored partner code: each is made once in both
languages, so the pages, the staff page and the command line choose a language without making
the line again. The handheld's verifier (js/verifier/) makes the same pairs, character for
character (tests/web/test_handheld_parity.py).
"""

from __future__ import annotations

from typing import NamedTuple

LANGUAGES = ("zh", "en")


class Words(NamedTuple):
    zh: str
    en: str

    def in_(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en

    def to_json(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}

    def __add__(self, other: object) -> Words:  # type: ignore[override]
        if not isinstance(other, Words):
            return NotImplemented
        return Words(self.zh + other.zh, self.en + other.en)
