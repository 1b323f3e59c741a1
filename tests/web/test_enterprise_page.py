"""The enterprise page (企业专属网页) in Chromium against the real server: sign-in with a credit code (a
mistyped check character refused in the page), entitlements with their explanations, one-click
confirmation with the commitment notice signed by the page's device key, an objection, payouts, and
the enterprise's Suishen code (法人随申码) read from the page and verified at /v1/verify.

Screenshots go to var/test-artifacts/.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from app.credit_code import ALPHABET, check_character
from tests.support.pages import Server

expect = pytest.importorskip("playwright.sync_api").expect

PHONE = {"viewport": {"width": 412, "height": 915}, "device_scale_factor": 1, "locale": "zh-CN"}
HALL = "sh-service-hall-huangpu"


def _enterprises(server: Server) -> tuple[str | None, str]:
    """(an enterprise with a confirm-mode entitlement or None, any enterprise with a profile)."""
    with sqlite3.connect(server.data / "suishen.sqlite") as db:
        confirm = db.execute(
            "SELECT subject FROM entitlements WHERE revoked_in IS NULL AND mode = 'confirm' AND subject LIKE '9%' "
            "ORDER BY subject LIMIT 1"
        ).fetchone()
        anyone = db.execute("SELECT subject FROM enterprise_profiles ORDER BY credit_good DESC, subject").fetchone()
    assert anyone is not None, "the matching run copies the enterprises' profiles"
    return (confirm[0] if confirm else None), anyone[0]


def _watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "Content Security" in m.text
            else None)  # fmt: skip
    return problems


def _sign_in(page: Any, server: Server, code: str) -> None:
    page.goto(server.base + "/enterprise")
    page.fill("#credit-code", code)
    page.click("#ent-login-form button[type=submit]")
    expect(page.locator("#ent-who")).to_have_text(code, timeout=15_000)


def test_a_mistyped_credit_code_is_refused_in_the_page(browser: Any, server: Server, artifacts: Path) -> None:
    _, code = _enterprises(server)
    wrong = code[:17] + next(c for c in ALPHABET if c != check_character(code[:17]))
    page = browser.new_page(**PHONE)
    problems = _watch(page)
    page.goto(server.base + "/enterprise")
    expect(page.locator("#ent-login-h")).to_have_text("企业登录")
    page.fill("#credit-code", wrong)
    page.click("#ent-login-form button[type=submit]")
    message = page.locator("#ent-login-message")
    expect(message).to_have_attribute("data-error", "invalid_credit_code")
    expect(message).to_contain_text("统一社会信用代码有误")
    assert page.locator("#ent-home").is_hidden()
    page.screenshot(path=str(artifacts / "enterprise-login-refused.png"), full_page=True)
    assert problems == []
    page.close()


def test_an_enterprise_confirms_objects_and_shows_its_code(browser: Any, server: Server, artifacts: Path) -> None:
    confirmable, anyone = _enterprises(server)
    code = confirmable or anyone
    page = browser.new_page(**PHONE)
    problems = _watch(page)
    _sign_in(page, server, code)
    items = page.locator("#ent-entitlements > li.entitlement")
    expect(items.first).to_be_visible()
    first = items.first
    expect(first.locator(".explanation li").nth(1)).to_contain_text("政策依据")  # Chinese first
    first.locator("details.clauses summary").click()
    expect(first.locator("details.clauses pre")).to_contain_text("✓")  # the clauses that held, from the registries
    expect(first.locator("details.clauses pre")).to_contain_text("注册地区")  # the clause words in Chinese too
    expect(page.locator("#ent-standing")).not_to_be_empty()

    if confirmable is not None:
        policy = "sh-enterprise-startup-subsidy"
        box = page.locator(f"li.entitlement[data-policy={policy}] .confirm-box")
        expect(box.locator(".notice")).to_be_visible(timeout=15_000)  # 告知承诺书 before the button
        expect(box.locator("p.seal-check.ok")).to_be_visible()  # the department's seal, checked in the page
        box.locator("button.confirm").click()  # one click
        expect(page.locator(f"li.entitlement[data-policy={policy}]")).to_have_class("entitlement status-confirmed",
                                                                                     timeout=15_000)  # fmt: skip
        with sqlite3.connect(server.data / "suishen.sqlite") as db:
            signed = db.execute(
                "SELECT s.signed FROM confirmation_statements s JOIN applications a ON a.sha256 = s.application_sha256 "
                "WHERE a.subject = ? AND a.policy_id = ?", [code, policy],
            ).fetchone()  # fmt: skip
        assert signed is not None and bool(signed[0]), "the confirmation is signed with the page's device key"

    page.fill("#ent-obj-statement", "我们的参保人数有误")
    page.click("#ent-objection-form button[type=submit]")
    expect(page.locator("#ent-obj-message")).to_have_attribute("data-objection", re.compile(r"^\d+$"))

    page.click("#ent-code-button")
    box = page.locator("#ent-code-box")
    expect(box).to_have_attribute("data-text", re.compile(r"^SP1:"), timeout=15_000)
    text = box.get_attribute("data-text")
    gate = server.device_key("gate", "enterprise page test", HALL)
    answer = server.verify(str(text), HALL, gate)
    assert answer["result"] == "VALID" and answer["profile"]["enterprise"] is True, answer
    page.screenshot(path=str(artifacts / "enterprise-page.png"), full_page=True)
    page.click("#lang")
    expect(page.locator("#ent-ent-h")).to_have_text("Your enterprise's entitlements")
    english = page.locator("#ent-entitlements > li.entitlement").first
    expect(english.locator(".explanation li").nth(1)).to_contain_text("Legal basis")  # on the language switch
    page.screenshot(path=str(artifacts / "enterprise-page-en.png"), full_page=True)
    assert problems == []
    page.close()
