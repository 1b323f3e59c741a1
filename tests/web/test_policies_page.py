"""The public list of policies (/policies, 主动向社会公开) in Chromium against the real server, with no sign-in:
every published policy, who qualifies in plain Chinese (English on the switch) drawn from the rule, how it is
delivered, its dates and how many it reached, small counts hidden as on /disclosure. And the page's Chinese is
drawn in a real CJK font, not boxes.

Screenshots go to var/test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.pages import Server

expect = pytest.importorskip("playwright.sync_api").expect


def test_every_published_policy_is_listed_in_plain_words_without_signing_in(
    browser: Any, server: Server, artifacts: Path
) -> None:
    listed = httpx.get(server.base + "/v1/policies", timeout=30).json()  # no token: public
    disclosed = httpx.get(server.base + "/v1/disclosure", timeout=30).json()["rows"]
    totals = {r["policy_id"]: r["matched"] for r in disclosed if r["region"] == "all"}
    policies = {p["id"]: p for p in listed["policies"]}
    assert "sh-park-senior-free" in policies and "sh-enterprise-startup-subsidy" in policies
    for p in listed["policies"]:
        assert p["who_qualifies"], p["id"]
        for line in p["who_qualifies"]:  # words, never the YAML's operators or parameter names
            assert not any(w in line["zh"] + line["en"] for w in ("{", "param", "member_of", ">=", "age_on")), line
        assert p["benefited"]["matched"] == totals.get(p["id"], 0), p["id"]  # the disclosure's own figure
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.base + "/policies")
    cards = page.locator("article.policy")
    expect(cards).to_have_count(len(listed["policies"]))
    park = page.locator("article.policy[data-policy=sh-park-senior-free]")
    expect(park.locator("ul.who")).to_contain_text("年满 65 周岁")
    expect(park.locator(".delivery")).to_contain_text("现场亮码")
    expect(park.locator(".delivery")).to_contain_text("公园")
    expect(park.locator(".reached")).to_contain_text(str(policies["sh-park-senior-free"]["benefited"]["matched"]))
    expect(park).to_contain_text(policies["sh-park-senior-free"]["legal_basis"])
    allowance = page.locator("article.policy[data-policy=sh-senior-allowance-65-69]")
    expect(allowance.locator("ul.who")).to_contain_text("年龄 65 至 69 周岁")
    expect(allowance.locator(".delivery")).to_contain_text("直接发放")
    startup = page.locator("article.policy[data-policy=sh-enterprise-startup-subsidy]")
    expect(startup.locator(".delivery")).to_contain_text("一键确认")
    expect(startup.locator("ul.who")).to_contain_text("不属于以下情形")
    small = [p for p in listed["policies"] if p["benefited"]["matched"] == "<5"]
    for p in small:  # a count under five is never shown exactly
        expect(page.locator(f"article.policy[data-policy={p['id']}] .reached")).to_contain_text("<5")
    page.screenshot(path=str(artifacts / "policies-zh.png"), full_page=True)
    page.click("#policies-filter [data-subject=enterprise]")
    enterprise = [p for p in listed["policies"] if p["subject"] == "enterprise"]
    expect(cards).to_have_count(len(enterprise))
    page.click("#lang")  # English on the switch
    expect(startup.locator(".delivery")).to_contain_text("confirm with one click")
    page.click("#policies-filter [data-subject=all]")
    expect(park.locator("ul.who")).to_contain_text("aged 65 or over")
    expect(park.locator("h2")).to_have_text(policies["sh-park-senior-free"]["title"]["en"])
    page.screenshot(path=str(artifacts / "policies-en.png"), full_page=True)
    assert not errors
    context.close()


def test_chinese_is_drawn_in_a_cjk_font_not_as_boxes(browser: Any, server: Server) -> None:
    """Two different characters drawn alone: with no CJK font both are the same missing-glyph box."""
    page = browser.new_page()
    page.goto(server.base + "/policies")
    drawn = page.evaluate("""() => {
        const font = getComputedStyle(document.body).fontFamily;
        const pixels = (ch) => {
            const c = document.createElement("canvas");
            c.width = 64; c.height = 64;
            const g = c.getContext("2d");
            g.fillStyle = "#fff"; g.fillRect(0, 0, 64, 64);
            g.fillStyle = "#000"; g.font = `48px ${font}`; g.fillText(ch, 4, 52);
            return Array.from(g.getImageData(0, 0, 64, 64).data).join(",");
        };
        return { sui: pixels("随"), shen: pixels("申"), a: pixels("A"), b: pixels("B") };
    }""")
    assert drawn["a"] != drawn["b"]  # the control: Latin letters differ in any font
    assert drawn["sui"] != drawn["shen"], "随 and 申 are drawn alike: no CJK font (make system-deps installs one)"
    page.close()
