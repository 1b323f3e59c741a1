"""A refusal reads the same on the staff page and at a gate: both take the words from verifier/reasons.json.

The page's scripts hold no reason wording of their own; the route serves the file itself; and in
Chromium, a code the server refuses shows exactly the file's words, the ones a gate shows for it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.api.web.pages import STATIC, router
from scanner_client.decision import GateDecision
from verifier.decide import REJECTED
from verifier.errors import Reason
from verifier.reasons import REASON_WORDS, REASONS_FILE

expect = pytest.importorskip("playwright.sync_api").expect


def gate_words(reason: str) -> str:
    return GateDecision(REJECTED, reason, "", 0.0, "sh-century-park").words


def test_the_pages_scripts_hold_no_reason_wording_of_their_own() -> None:
    for path in (STATIC / "js").glob("*.js"):
        script = path.read_text(encoding="utf-8")
        for reason, words in REASON_WORDS.items():
            assert words.zh not in script and words.en not in script, f"{path.name} has its own words for {reason}"
        assert Reason.MALFORMED_BASE45.value not in script, f"{path.name} keeps a table of reason codes"


def test_the_route_serves_the_file_the_gate_reads() -> None:
    app = FastAPI()
    app.include_router(router)
    answer = TestClient(app).get("/static/reasons.json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json() == json.loads(REASONS_FILE.read_text(encoding="utf-8"))


def test_the_gate_shows_the_files_words_for_every_reason() -> None:
    for reason in Reason:
        words = REASON_WORDS[reason]
        assert gate_words(reason) == f"{words.en} ({words.zh})", reason


def test_a_refused_code_shows_the_same_words_on_the_staff_page_as_at_a_gate(browser: Any, server: Any) -> None:
    context = browser.new_context(viewport={"width": 412, "height": 915}, locale="zh-CN")
    page = context.new_page()
    page.goto(server.base + "/staff")
    expect(page.locator("body")).to_have_attribute("data-ready", "1")
    page.fill("#device-key", server.device_key("handheld", "reason words handheld"))
    page.select_option("#venue", "sh-century-park")
    code = server.online_code(server.subjects["senior"])
    result = page.locator("#result")
    for text, reason in (("NOT-A-SUISHEN-CODE", Reason.MALFORMED_PREFIX), (code, None), (code, Reason.REPLAYED)):
        page.fill("#manual-code", text)
        page.click("#manual-form button[type=submit]")
        if reason is None:  # the first use is granted; the same code again is a replay
            expect(result).to_have_attribute("data-result", "GRANTED")
        else:
            expect(result).to_have_attribute("data-reason", reason.value)
            words = REASON_WORDS[reason]
            expect(page.locator("#reason")).to_have_text(f"{words.zh}\n{words.en}")
            assert words.zh in gate_words(reason) and words.en in gate_words(reason)
        page.click("#next")
    context.close()
