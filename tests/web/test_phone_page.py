"""One phone per person on the citizen page, in Chromium against the real server: signing in on a second phone
moves the code there, the first phone says so when it is next online and shows no code, its last code is
CREDENTIAL_REVOKED; "my phone is lost" (two taps) withdraws the codes of the phone that holds them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.pages import Server

expect = pytest.importorskip("playwright.sync_api").expect

PHONE = {"viewport": {"width": 412, "height": 915}, "device_scale_factor": 1, "locale": "zh-CN"}
CODE = re.compile(r"^SP1:[0-9A-Z $%*+\-./:]+$")


def sign_in(page: Any, server: Server, subject: str) -> None:
    page.goto(server.base + "/")
    page.fill("#subject", subject)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#code-box")).to_have_attribute("data-kind", "holder", timeout=15_000)
    expect(page.locator("#code-box")).to_have_attribute("data-code", CODE)


def test_a_second_phone_takes_the_code_and_the_first_says_it_was_moved(browser: Any, server: Server) -> None:
    subject = server.subjects["senior"]
    gate = server.device_key("gate", "phone test gate", "sh-century-park")
    old_context, new_context = browser.new_context(**PHONE), browser.new_context(**PHONE)
    old, new = old_context.new_page(), new_context.new_page()
    problems: list[str] = []
    for page in (old, new):
        page.on("pageerror", lambda e: problems.append(str(e)))
    sign_in(old, server, subject)
    old_code = old.get_attribute("#code-box", "data-code")
    assert server.verify(old_code, "sh-century-park", gate)["decision"]["result"] == "GRANTED"

    sign_in(new, server, subject)  # a fresh sign-in on the new phone registers its key: the old one is replaced
    new_code = new.get_attribute("#code-box", "data-code")
    again = server.call("POST", "/v1/verify", {"code": old_code, "venue": "sh-century-park"}, gate)
    assert again["reason"] == "CREDENTIAL_REVOKED"
    assert server.verify(new_code, "sh-century-park", gate)["decision"]["result"] == "GRANTED"

    old.evaluate("window.dispatchEvent(new Event('online'))")  # the old phone is online again
    note = old.locator("#phone-ended")
    expect(note).to_be_visible(timeout=15_000)
    expect(note).to_contain_text("此码已转移到另一部手机")
    old.click("#lang")
    expect(note).to_contain_text("This code was moved to another phone")
    expect(old.locator("#code-box")).not_to_have_attribute("data-kind", "holder")
    old.reload()  # and after a reload: the moved phone neither renews nor shows a code
    expect(old.locator("#phone-ended")).to_be_visible(timeout=15_000)
    old.wait_for_timeout(1500)
    assert not old.get_attribute("#code-box", "data-code")
    assert old.locator("#code-box").get_attribute("data-kind") != "holder"

    lost = new.locator("#phone-lost")
    lost.click()
    expect(lost).to_contain_text("再点一次确认")  # the first tap only asks
    lost.click()
    expect(new.locator("#phone-lost-done")).to_contain_text("已挂失", timeout=15_000)
    withdrawn = server.call("POST", "/v1/verify", {"code": new_code, "venue": "sh-century-park"}, gate)
    assert withdrawn["reason"] == "CREDENTIAL_REVOKED"
    assert not problems
    old_context.close()
    new_context.close()
