"""Every reason code has its words, in Chinese and English, in the one file gates and pages read."""

from __future__ import annotations

import json

from verifier.errors import Reason
from verifier.reasons import REASON_WORDS, REASONS_FILE


def test_every_reason_has_words_in_both_languages_and_the_file_names_no_other_code() -> None:
    assert set(REASON_WORDS) == {r.value for r in Reason}
    for reason in Reason:
        words = REASON_WORDS[reason]
        assert words.zh.strip() and words.en.strip(), reason
        assert words.zh != words.en, reason


def test_the_file_is_plain_json_with_only_zh_and_en() -> None:
    raw = json.loads(REASONS_FILE.read_text(encoding="utf-8"))
    assert all(set(text) == {"zh", "en"} for text in raw.values())
