"""The pages in Chromium against the real server (uvicorn in a subprocess, temporary data folder).

- the citizen page shows codes (offline and online) that the Python verifier accepts, read back
  from the pixels it drew; with the network cut it goes on making holder-bound codes that verify
  and are not replays of each other, and a reload is served by the service worker;
- a phone whose clock is five minutes off still makes good codes;
- one-click confirm and an objection about a missing privilege;
- the staff page reads a code from a fake camera and shows GRANTED (with companions where the
  policy allows them), refuses a replay in plain words, and asks for a check by hand when it
  cannot reach the server; the phone's screen filmed by the handheld's camera is granted;
- an admin publishes a policy change in the dashboard and the next gate decision uses it; the
  dashboard shows validation errors, the runs' diff, the objections queue, usage and trust.
Screenshots of each page go to var/test-artifacts/.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from keys import directory
from tests.support.pages import Server, launch
from tests.web.y4m import image_y4m, qr_y4m
from verifier.code import TIME_STEP_S, parse_code
from verifier.trust import TrustStore
from verifier.verify import HOLDER_BOUND, Verifier

expect = pytest.importorskip("playwright.sync_api").expect

PHONE = {"viewport": {"width": 412, "height": 915}, "device_scale_factor": 1, "locale": "zh-CN"}
CODE = re.compile(r"^SP1:[0-9A-Z $%*+\-./:]+$")


def watch(page: Any) -> list[str]:
    """Script errors and Content-Security-Policy refusals on a page (failed requests are not counted)."""
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on(
        "console",
        lambda m: (
            problems.append(f"console: {m.text}")
            if m.type == "error" and ("Content Security Policy" in m.text or "Refused" in m.text)
            else None
        ),
    )
    return problems


def sign_in(page: Any, server: Server, subject: str) -> None:
    page.goto(server.base + "/")
    page.fill("#subject", subject)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#code-box")).to_have_attribute("data-code", CODE, timeout=15_000)


def shown_code(page: Any) -> str:
    """The code the page shows, read back from a screenshot of its canvas by zxing-cpp (as a gate would).

    Checked against the text the page says it drew; read again if the code refreshed meanwhile.
    """
    import io

    import zxingcpp
    from PIL import Image

    for _ in range(3):
        text = page.get_attribute("#code-box", "data-code")
        image = Image.open(io.BytesIO(page.locator("#qr").screenshot()))
        if page.get_attribute("#code-box", "data-code") != text:
            continue
        found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
        assert len(found) == 1, "the page's QR code could not be read"
        assert found[0].ec_level == "M"
        assert found[0].text == text
        return str(text)
    raise AssertionError("the code kept changing")


def python_verifier(server: Server) -> Verifier:
    """Our own offline verifier over the server's signed trust list, checked with the root key on disk."""
    document = httpx.get(server.base + "/v1/trust-list", timeout=10).content
    now = httpx.get(server.base + "/healthz", timeout=10).headers.get("date")
    assert now is not None
    store = TrustStore.from_document(document, directory.root_public_key(server.keys), _http_time(now))
    return Verifier(store)


def _http_time(value: str) -> float:
    import email.utils

    return email.utils.parsedate_to_datetime(value).timestamp()


def test_citizen_page_shows_a_code_the_verifier_accepts(browser: Any, server: Server, artifacts: Path) -> None:
    context = browser.new_context(**PHONE)
    page = context.new_page()
    errors = watch(page)
    sign_in(page, server, server.subjects["senior"])
    expect(page.locator(".entitlement").first).to_be_visible()
    expect(page.locator("#groups li").first).to_be_visible()
    unread = page.locator("#notifications li.unread")
    expect(unread.first).to_be_visible()  # 主动提醒: the run that found the privileges left a reminder
    count = unread.count()
    unread.first.locator("button.read").click()
    expect(unread).to_have_count(count - 1)
    box = page.locator("#code-box")
    gate = server.device_key("gate", "web test gate", "sh-century-park")
    verifier = python_verifier(server)
    for kind in ("holder", "online"):  # the offline code by default; the online one a tap away
        if kind == "online":
            page.click("#mode-toggle")
        expect(box).to_have_attribute("data-kind", kind, timeout=15_000)
        text = shown_code(page)
        verified = verifier.verify(text, time.time())  # our verifier, offline, over the signed trust list
        assert verified.kind == {"holder": HOLDER_BOUND, "online": "online"}[kind] and verified.issuer == "CN-SH"
        answer = server.verify(text, "sh-century-park", gate)  # and the server's, with the decision at a park
        assert answer["result"] == "VALID", answer
        assert answer["decision"]["result"] == "GRANTED", answer
    page.screenshot(path=str(artifacts / "citizen-page.png"), full_page=True)
    page.click("#lang")  # English, one tap away
    expect(page.locator("#code-h")).to_contain_text("My code")
    page.screenshot(path=str(artifacts / "citizen-page-en.png"), full_page=True)
    page.click("a[href='/disclosure']")
    expect(page.locator("#disclosure table tbody tr").first).to_be_visible()  # the figures, from GET /v1/disclosure
    page.screenshot(path=str(artifacts / "disclosure-page.png"), full_page=True)
    assert not errors
    context.close()


def test_citizen_page_makes_codes_offline(browser: Any, server: Server, artifacts: Path) -> None:
    context = browser.new_context(**PHONE)
    page = context.new_page()
    errors = watch(page)
    page.clock.install()  # the page's clock, so that a 30 s step passes without waiting for it
    sign_in(page, server, server.subjects["senior"])
    box = page.locator("#code-box")
    expect(box).to_have_attribute("data-kind", "holder", timeout=15_000)  # key registered, credential held
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")

    context.set_offline(True)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    codes: list[tuple[str, float]] = []
    for _ in range(3):
        step = box.get_attribute("data-step")
        codes.append((box.get_attribute("data-code"), int(step) * TIME_STEP_S + 1))
        page.clock.fast_forward(TIME_STEP_S * 1000)
        expect(box).not_to_have_attribute("data-step", step)
    expect(page.locator("#net")).to_have_class(re.compile("net-off"))
    page.screenshot(path=str(artifacts / "citizen-page-offline.png"), full_page=True)

    page.reload()  # the service worker serves the page and its scripts; the key and credential are in IndexedDB
    expect(box).to_have_attribute("data-kind", "holder", timeout=15_000)
    expect(box).to_have_attribute("data-code", CODE)
    assert page.evaluate("() => !!navigator.serviceWorker.controller"), "the page did not come from the service worker"
    shown_code(page)  # the larger holder-bound QR reads back too
    step = box.get_attribute("data-step")
    codes.append((box.get_attribute("data-code"), int(step) * TIME_STEP_S + 1))
    assert not [u for u in requests if "/v1/" in u], "the page asked the network for something while offline"
    assert not errors
    context.close()

    verifier = python_verifier(server)
    texts = [c for c, _ in codes]
    assert len(set(texts)) == len(texts)
    credentials = {parse_code(c).credential_bytes for c in texts}
    assert len(credentials) == 1, "one credential, a fresh device proof every step"
    steps = set()
    for text, at in codes:
        verified = verifier.verify(text, at)  # one verifier: a replay of an earlier code would be refused
        assert verified.kind == HOLDER_BOUND
        steps.add(verified.proof_time // TIME_STEP_S)
    assert len(steps) >= 3


def test_phone_with_a_wrong_clock_still_makes_good_codes(browser: Any, server: Server) -> None:
    """A phone five minutes fast: the page takes the time from the server's answers, so its codes verify."""
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.clock.install(time=time.time() + 300)
    sign_in(page, server, server.subjects["senior"])
    box = page.locator("#code-box")
    expect(box).to_have_attribute("data-kind", "holder", timeout=15_000)
    text = shown_code(page)
    context.close()
    verified = python_verifier(server).verify(text, time.time())
    assert abs(verified.proof_time - time.time()) < 45


def test_citizen_confirms_and_objects(browser: Any, server: Server, artifacts: Path) -> None:
    subject = server.subjects.get("confirm")
    if subject is None:
        pytest.skip("nobody in the synthetic registry has a confirm-mode entitlement")
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(server.base + "/")
    page.fill("#subject", subject)
    page.click("#login-form button[type=submit]")
    card = page.locator(".entitlement[data-mode=confirm]").first
    expect(card).to_be_visible(timeout=15_000)
    policy = card.get_attribute("data-policy")
    card.locator("button.confirm").click()  # one click
    confirmed = page.locator(f".entitlement[data-policy={policy}]")
    expect(confirmed).to_have_attribute("data-status", "confirmed")
    expect(confirmed.locator(".done")).to_be_visible()

    page.locator(".entitlement button.secondary").first.click()  # "I disagree" opens the form for that policy
    page.check("input[name=kind][value=missing]")
    page.select_option("#objection-policy", "sh-park-senior-free")
    page.fill("#objection-statement", "我今年已满65周岁，但没有收到免费游园的待遇。")
    page.click("#objection-form button[type=submit]")
    expect(page.locator("#objection-result")).to_contain_text("已提交")
    page.screenshot(path=str(artifacts / "citizen-confirm-objection.png"), full_page=True)
    context.close()

    queue = server.call("GET", "/v1/admin/objections", token=server.admin_key)["objections"]
    assert any(o["policy_id"] == "sh-park-senior-free" and o["kind"] == "missing" for o in queue)


def test_staff_page_reads_the_camera_and_grants(
    playwright: Any, server: Server, artifacts: Path, tmp_path: Path
) -> None:
    code = server.online_code(server.subjects["senior"])
    video = qr_y4m(code, tmp_path / "code.y4m")
    camera = launch(
        playwright,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    )
    try:
        context = camera.new_context(**PHONE, permissions=["camera"])
        page = context.new_page()
        errors = watch(page)
        page.goto(server.base + "/staff")
        expect(page.locator("body")).to_have_attribute("data-ready", "1")
        page.fill("#device-key", server.device_key("handheld", "web test handheld"))
        page.select_option("#venue", "sh-century-park")
        page.screenshot(path=str(artifacts / "staff-page.png"), full_page=True)
        page.click("#scan")
        result = page.locator("#result")
        expect(result).to_be_visible(timeout=20_000)
        expect(result).to_have_attribute("data-result", "GRANTED")
        expect(page.locator("#verdict-en")).to_have_text("GRANTED")
        expect(page.locator("#privileges")).to_contain_text("公园")
        page.screenshot(path=str(artifacts / "staff-granted.png"))
        page.click("#next")
        page.click("#scan")  # camera off: the rest is typed in
        expect(page.locator("body")).not_to_have_attribute("data-scanning", "1")

        if "companion" in server.subjects:  # a privilege with a companion says so
            page.select_option("#venue", "sh-museum")
            page.fill("#manual-code", server.online_code(server.subjects["companion"]))
            page.click("#manual-form button[type=submit]")
            expect(result).to_have_attribute("data-result", "GRANTED")
            expect(page.locator("#privileges .companions")).to_contain_text("1")
            page.screenshot(path=str(artifacts / "staff-granted-companion.png"))
            page.click("#next")
            page.select_option("#venue", "sh-century-park")

        if "confirm" in server.subjects:  # a pupil at a park: not eligible, and the screen says why
            page.fill("#manual-code", server.online_code(server.subjects["confirm"]))
            page.click("#manual-form button[type=submit]")
            expect(result).to_have_attribute("data-result", "NOT_GRANTED")
            expect(result).to_have_attribute("data-reason", "NOT_ELIGIBLE")
            expect(page.locator("#reason")).to_contain_text("不符合")
            expect(page.locator("#detail")).not_to_be_empty()
            page.screenshot(path=str(artifacts / "staff-not-eligible.png"))
            page.click("#next")

        # the same code again: the verifier refuses the replay
        page.fill("#manual-code", code)
        page.click("#manual-form button[type=submit]")
        expect(result).to_have_attribute("data-result", "NOT_GRANTED")
        expect(result).to_have_attribute("data-reason", "REPLAYED")
        expect(page.locator("#reason")).to_contain_text("已被使用")
        page.screenshot(path=str(artifacts / "staff-not-granted.png"))

        page.click("#next")  # no network: the handheld decides in the page, from its signed documents
        expect(page.locator("body")).to_have_attribute("data-offline-ready", "1")
        context.set_offline(True)
        offline_code = server.online_code(server.subjects["senior"])
        page.fill("#manual-code", offline_code)
        page.click("#manual-form button[type=submit]")
        expect(result).to_have_attribute("data-result", "GRANTED")
        expect(result).to_have_attribute("data-offline", "1")
        expect(page.locator("#detail")).to_contain_text("离线核验")
        page.screenshot(path=str(artifacts / "staff-offline-granted.png"))
        page.click("#next")
        page.fill("#manual-code", offline_code)  # the same code again, still offline: the page's own replay cache
        page.click("#manual-form button[type=submit]")
        expect(result).to_have_attribute("data-reason", "REPLAYED")
        expect(result).to_have_attribute("data-offline", "1")
        page.click("#next")
        context.set_offline(False)  # back online: the outbox uploads the decisions it kept, marked degraded
        deadline = time.monotonic() + 10
        while True:
            rows = server.call("GET", "/v1/admin/stats?by=venue", token=server.admin_key)["rows"]
            park = next((r for r in rows if r["venue"] == "sh-century-park"), {})
            if park.get("GRANTED", 0) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert park.get("GRANTED", 0) >= 2, rows
        assert not errors
        context.close()
    finally:
        camera.close()


def test_phone_screen_to_staff_camera(browser: Any, playwright: Any, server: Server, tmp_path: Path) -> None:
    """The offline code as the phone draws it, filmed by the handheld's camera: the whole optical path."""
    phone = browser.new_context(**PHONE)
    page = phone.new_page()
    sign_in(page, server, server.subjects["senior"])
    expect(page.locator("#code-box")).to_have_attribute("data-kind", "holder", timeout=15_000)
    text = shown_code(page)
    video = image_y4m(page.locator("#qr").screenshot(), tmp_path / "phone.y4m")
    phone.close()
    camera = launch(
        playwright,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    )
    try:
        staff = camera.new_context(**PHONE, permissions=["camera"]).new_page()
        staff.goto(server.base + "/staff")
        expect(staff.locator("body")).to_have_attribute("data-ready", "1")
        staff.fill("#device-key", server.device_key("handheld", "web test museum handheld"))
        staff.select_option("#venue", "sh-century-park")
        staff.click("#scan")
        expect(staff.locator("#result")).to_have_attribute("data-result", "GRANTED", timeout=20_000)
    finally:
        camera.close()
    assert parse_code(text).proof is not None  # it was the holder-bound code, device proof and all


def test_admin_publishes_a_change_that_the_gate_uses(browser: Any, server: Server, artifacts: Path) -> None:
    senior = server.subjects["senior"]
    gate = server.device_key("gate", "web test zoo gate", "sh-zoo")
    before = server.verify(server.online_code(senior), "sh-zoo", gate)
    assert before["decision"]["result"] != "GRANTED" or all(
        p["policy_id"] != "sh-park-senior-free" for p in before["decision"]["privileges"]
    )

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors = watch(page)
    page.goto(server.base + "/admin")
    page.fill("#admin-key", server.admin_key)
    page.click("#key-form button[type=submit]")
    expect(page.locator("#dashboard")).to_be_visible()
    old_version = int(page.text_content("#catalogue-version") or 0)
    page.click("button.edit[data-policy=sh-park-senior-free]")
    source = json.loads(page.input_value("#policy-source"))
    broken = json.loads(json.dumps(source))
    broken["versions"][-1]["benefit"]["kind"] = "free_lunch"
    page.fill("#policy-source", json.dumps(broken, ensure_ascii=False, indent=2))
    page.click("#save-draft")  # a draft that does not validate: the errors are listed, nothing is published
    expect(page.locator("#draft-check")).to_have_attribute("data-valid", "false")
    expect(page.locator("#draft-check .problems li").first).to_be_visible()
    page.screenshot(path=str(artifacts / "admin-draft-invalid.png"))
    source["venues"]["types"].append("zoo")  # free entry for senior residents now at the zoo too
    page.fill("#policy-source", json.dumps(source, ensure_ascii=False, indent=2))
    page.click("#save-draft")
    expect(page.locator("#draft-check")).to_have_attribute("data-valid", "true")
    expect(page.locator("#drafts")).to_contain_text("sh-park-senior-free")
    page.screenshot(path=str(artifacts / "admin-draft.png"), full_page=True)
    page.click("#publish")
    expect(page.locator("#publish-result")).to_have_attribute("data-version", str(old_version + 1))
    expect(page.locator("#catalogue-version")).to_have_text(str(old_version + 1))

    after = server.verify(server.online_code(senior), "sh-zoo", gate)
    assert after["decision"]["result"] == "GRANTED", after
    assert "sh-park-senior-free" in [p["policy_id"] for p in after["decision"]["privileges"]]
    assert after.get("catalogue_version", old_version + 1) == old_version + 1

    queue = server.call("GET", "/v1/admin/objections", token=server.admin_key)["objections"]
    page.locator("[data-tab=objections]").click()
    if any(o["policy_id"] == "sh-park-senior-free" for o in queue):  # filed by the citizen test
        row = page.locator("#objections tbody tr", has_text="sh-park-senior-free").first
        row.locator("textarea").fill("birth_date=1950-03-01")  # the officer corrects a fact and re-evaluates
        row.locator("button").click()
        expect(row.locator("[role=status]")).to_contain_text("entitled")
    page.select_option("#objection-status", "all")
    page.locator("[data-tab=runs]").click()  # the second run found the 65-69-year-olds the park age change let in
    expect(page.locator("#diff-result")).to_contain_text("#1 → #2")
    park = page.locator("#diff-result tbody tr", has_text="sh-park-senior-free")
    assert int(park.locator("td").nth(1).inner_text()) > 0
    page.locator("[data-tab=stats]").click()  # 绩效评估: this month's figures, drawn from the route's numbers
    figures = server.call("GET", "/v1/admin/evaluation", token=server.admin_key)
    expect(page.locator("#evaluation-period-shown")).to_have_attribute("data-period", figures["period"])
    chosen = page.locator("#evaluation-policy").input_value()
    policy = next(p for p in figures["policies"] if p["policy_id"] == chosen)
    assert policy["eligible"] > 0
    eligible = page.locator("#evaluation-funnel rect[data-step=eligible]")
    assert int(eligible.get_attribute("data-value") or -1) == policy["eligible"]
    paid = next(p for p in figures["policies"] if p["paid_subjects"] > 0 and p["delivery"] == "direct")
    page.select_option("#evaluation-policy", paid["policy_id"])  # another policy's funnel, as the officer picks it
    expect(page.locator("#evaluation-funnel svg")).to_have_attribute("data-policy", paid["policy_id"])
    bar = page.locator("#evaluation-funnel rect[data-step=paid]")
    assert int(bar.get_attribute("data-value") or -1) == paid["paid_subjects"]
    assert (bar.bounding_box() or {"width": 0})["width"] > 1
    measured = [p for p in figures["policies"] if p["days_to_payment_median"] is not None]
    assert measured and page.locator("#evaluation-days rect.bar-median[data-policy]").count() == len(measured)
    expect(page.locator("#evaluation-table tbody tr")).to_have_count(len(figures["policies"]))
    expect(page.locator("#evaluation-table")).to_contain_text("上海市老年综合津贴")  # Chinese titles, in a CJK font
    with page.expect_download() as download:
        page.click("#evaluation-csv")
    saved = download.value
    assert saved.suggested_filename == f"evaluation-{figures['period']}.csv"
    lines = Path(saved.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("period,policy_id,") and len(lines) == 1 + len(figures["policies"])
    page.fill("#evaluation-period", "2026-13")  # a month that does not exist: said in words, nothing drawn
    page.click("#evaluation-form button[type=submit]")
    expect(page.locator("#evaluation [role=alert]")).to_contain_text("expected YYYY-MM")
    page.fill("#evaluation-period", "all")
    page.click("#evaluation-form button[type=submit]")
    expect(page.locator("#evaluation-period-shown")).to_have_attribute("data-period", "all")
    expect(page.locator("#evaluation-venues rect.bar-granted").first).to_be_visible()  # the handheld's grants
    expect(page.locator("#evaluation-venues svg")).to_contain_text("世纪公园")
    expect(page.locator("#evaluation-by-day rect.bar-total").first).to_be_visible()
    page.screenshot(path=str(artifacts / "admin-evaluation.png"), full_page=True)
    # the handheld's decisions, posted as events, per venue
    page.locator("#stats-by [data-by=venue]").click()
    expect(page.locator("#stats-chart svg")).to_contain_text("世纪公园")
    expect(page.locator("#stats-chart rect.bar-granted").first).to_be_visible()
    page.screenshot(path=str(artifacts / "admin-stats-venue.png"), full_page=True)
    page.locator("#stats-by [data-by=policy]").click()
    for tab in ("runs", "objections", "stats", "trust"):
        page.click(f"[data-tab={tab}]")
        expect(page.locator(f"#tab-{tab}")).to_be_visible()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(artifacts / f"admin-{tab}.png"), full_page=True)
    page.locator("[data-tab=devices]").click()  # a key for a new handheld, shown once, that works at once
    page.fill("#device-name", "Zoo gate 3 handheld")
    page.select_option("#device-role", "handheld")
    page.click("#device-form button[type=submit]")
    key = page.locator("#device-result pre.api-key")
    expect(key).not_to_be_empty()
    assert server.verify(server.online_code(senior), "sh-zoo", key.inner_text().strip())["result"] == "VALID"
    page.screenshot(path=str(artifacts / "admin-devices.png"))
    expect(page.locator("#message")).to_have_text("")
    assert not errors
    context.close()


def test_the_api_docs_render_from_this_server_alone(browser: Any, server: Server, artifacts: Path) -> None:
    page = browser.new_page()
    errors = watch(page)
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(server.base) else outside.append(r.url))
    page.goto(server.base + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Suishen Pass")
    expect(page.locator(".opblock").first).to_be_visible()  # the routes, read from /openapi.json
    page.screenshot(path=str(artifacts / "api-docs.png"))
    assert errors == [] and outside == []
    page.close()
