"""Printed cards in the pages (Chromium against the real server): the citizen page lists the holder's card and
reports it lost in two taps, after which the server refuses it; the staff page shows "check photo ID" on a card's
decision. The card is issued by a counter device and its QR read back from the PDF's rendered page."""

from __future__ import annotations

import sqlite3
from typing import Any

import httpx
import pytest

from tests.support.cards import decoded_by_each, render_pages
from tests.support.pages import Server

expect = pytest.importorskip("playwright.sync_api").expect

PHONE = {"viewport": {"width": 412, "height": 915}, "device_scale_factor": 1, "locale": "zh-CN"}


def park_seniors(server: Server, count: int) -> list[str]:
    """Park seniors the other page tests do not use."""
    taken = set(server.subjects.values())
    with sqlite3.connect(server.data / "suishen.sqlite") as db:
        rows = db.execute("SELECT subject FROM entitlements WHERE policy_id = 'sh-park-senior-free' AND "
                          "revoked_in IS NULL ORDER BY subject DESC").fetchall()  # fmt: skip
    found = [s for (s,) in rows if s not in taken][:count]
    assert len(found) == count
    return found


def issue_card(server: Server, counter: str, subject: str) -> tuple[int, str]:
    answer = httpx.post(server.base + "/v1/counter/cards", json={"subject": subject, "initial": "王"},
                        headers={"Authorization": f"Bearer {counter}"}, timeout=30)  # fmt: skip
    assert answer.status_code == 200, answer.text
    (text,) = decoded_by_each(render_pages(answer.content, dpi=150)[0])["zxing"]
    return int(answer.headers["X-Card-Number"]), text


def test_a_holder_reports_their_card_lost_on_the_citizen_page(browser: Any, server: Server) -> None:
    counter = server.device_key("counter", "web test counter")
    gate = server.device_key("gate", "web test gate", "sh-century-park")
    subject = park_seniors(server, 1)[0]
    number, text = issue_card(server, counter, subject)
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(server.base + "/")
    page.fill("#subject", subject)
    page.click("#login-form button[type=submit]")
    card = page.locator(f"#cards li[data-card='{number}']")
    expect(card).to_have_attribute("data-status", "active", timeout=15_000)
    expect(card).to_contain_text("使用中")
    button = page.locator("#card-lost")
    expect(button).to_have_text("挂失长者卡")
    button.click()  # the first tap only asks
    expect(button).to_contain_text("再点一次确认挂失")
    assert server.verify(text, "sh-century-park", gate)["decision"]["result"] == "GRANTED"
    button.click()
    expect(page.locator("#card-lost-done")).to_be_visible()
    expect(page.locator("#card-lost-done")).to_contain_text("已挂失")
    expect(card).to_have_attribute("data-status", "lost")
    expect(button).to_be_hidden()
    assert server.verify(text, "sh-century-park", gate)["reason"] == "CREDENTIAL_REVOKED"
    page.click("#lang")
    expect(card).to_contain_text("reported lost")
    context.close()


def test_the_staff_page_says_check_photo_id_for_a_card(browser: Any, server: Server) -> None:
    counter = server.device_key("counter", "web test counter 2")
    _, text = issue_card(server, counter, park_seniors(server, 2)[1])
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(server.base + "/staff")
    expect(page.locator("body")).to_have_attribute("data-ready", "1")
    page.fill("#device-key", server.device_key("handheld", "web test handheld for cards"))
    page.select_option("#venue", "sh-century-park")
    page.fill("#manual-code", text)
    page.click("#manual-form button[type=submit]")
    result = page.locator("#result")
    expect(result).to_have_attribute("data-result", "GRANTED", timeout=15_000)
    expect(page.locator("#privileges .check-id")).to_contain_text("请核对本人证件")
    expect(page.locator("#privileges .check-id")).to_contain_text("check the holder's photo ID")
    expect(page.locator("#detail")).to_contain_text("长者卡")
    page.click("#next")
    page.fill("#manual-code", text)  # the same venue again today
    page.click("#manual-form button[type=submit]")
    expect(result).to_have_attribute("data-reason", "REPLAYED")
    context.close()
