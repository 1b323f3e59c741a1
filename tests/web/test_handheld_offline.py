"""The staff handheld with no network: decisions in the page from signed documents held in IndexedDB.

A real server, Debian's Chromium, real codes. The page takes its documents while online, then the
network goes; it must grant, refuse a replay and a withdrawn code, say CHECK BY HAND when what it
holds is stale or damaged, and never grant on a document it could not verify.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.pages import Server
from verifier.claims import decode_claims
from verifier.code import parse_code

expect = pytest.importorskip("playwright.sync_api").expect

VENUE = "sh-century-park"


def _staff(browser: Any, server: Server) -> tuple[Any, Any]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.base + "/staff")
    expect(page.locator("body")).to_have_attribute("data-ready", "1")
    expect(page.locator("body")).to_have_attribute("data-offline-ready", "1", timeout=15_000)
    page.fill("#device-key", server.device_key("handheld", "offline handheld"))
    page.select_option("#venue", VENUE)
    return context, page


def _check(page: Any, text: str) -> Any:
    page.fill("#manual-code", text)
    page.click("#manual-form button[type=submit]")
    result = page.locator("#result")
    expect(result).to_be_visible()
    return result


def _next(page: Any) -> None:
    page.click("#next")
    expect(page.locator("#result")).to_be_hidden()


def test_offline_the_handheld_grants_refuses_replays_and_withdrawn_codes(browser: Any, server: Server) -> None:
    senior = server.subjects["senior"]
    withdrawn = server.online_code(senior)
    claims = decode_claims(parse_code(withdrawn).credential.payload)
    kid = parse_code(withdrawn).credential.kid
    assert kid is not None
    server.call(
        "POST", "/v1/admin/revocations", {"kind": "credential", "kid": kid.hex(), "cti": claims.cti.hex()},
        server.admin_key,
    )  # fmt: skip
    context, page = _staff(browser, server)  # the page loads after the withdrawal: its list holds it
    try:
        fresh = server.online_code(senior)
        context.set_offline(True)
        result = _check(page, fresh)
        expect(result).to_have_attribute("data-result", "GRANTED")
        expect(result).to_have_attribute("data-offline", "1")
        _next(page)
        expect(_check(page, fresh)).to_have_attribute("data-reason", "REPLAYED")
        _next(page)
        result = _check(page, withdrawn)
        expect(result).to_have_attribute("data-result", "NOT_GRANTED")
        expect(result).to_have_attribute("data-reason", "CREDENTIAL_REVOKED")
        expect(page.locator("#reason")).to_contain_text("注销")
        _next(page)
        expect(_check(page, "SP1:NOT A CODE")).to_have_attribute("data-reason", "MALFORMED_BASE45")
    finally:
        context.close()


def test_offline_a_damaged_document_held_gives_check_by_hand_never_a_grant(browser: Any, server: Server) -> None:
    context, page = _staff(browser, server)
    try:
        code = server.online_code(server.subjects["senior"])
        # someone alters the catalogue kept in IndexedDB (one benefit made larger): its signature no longer holds
        page.evaluate(
            """async () => {
              const db = await new Promise((ok, no) => { const r = indexedDB.open("suishen-handheld", 1);
                r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
              const tx = db.transaction("documents", "readwrite");
              const store = tx.objectStore("documents");
              const held = await new Promise((ok) => {
                const r = store.get("catalogue");
                r.onsuccess = () => ok(r.result);
              });
              held.text = held.text.replace('"free_entry"', '"amount"');
              store.put(held, "catalogue");
              await new Promise((ok) => { tx.oncomplete = ok; });
              db.close();
            }"""
        )
        context.set_offline(True)
        page.reload()  # the page itself comes from the service worker's cache; the documents are checked again
        expect(page.locator("body")).to_have_attribute("data-ready", "1", timeout=15_000)
        expect(page.locator("#offline-status")).to_contain_text("cannot be used")
        page.fill("#device-key", "sk_offline-key-kept-by-staff")
        page.select_option("#venue", VENUE)
        result = _check(page, code)
        expect(result).to_have_attribute("data-result", "MANUAL_CHECK")
    finally:
        context.close()


def test_offline_stale_documents_give_check_by_hand(browser: Any, server: Server) -> None:
    context, page = _staff(browser, server)
    try:
        code = server.online_code(server.subjects["senior"])
        context.set_offline(True)
        # the handheld's clock runs eight days on: past the trust list's and the revocation list's max age
        page.evaluate("() => { localStorage.setItem('suishen.clockOffset', String(8 * 86400)); }")
        page.reload()
        expect(page.locator("body")).to_have_attribute("data-ready", "1", timeout=15_000)
        page.fill("#device-key", "sk_offline-key-kept-by-staff")
        page.select_option("#venue", VENUE)
        result = _check(page, code)
        expect(result).to_have_attribute("data-result", "MANUAL_CHECK")
        expect(result).to_have_attribute("data-reason", "TRUST_LIST_STALE")
    finally:
        context.close()


def test_the_service_worker_keeps_every_module_the_staff_page_needs_offline() -> None:
    """A module missing from the cache stops the whole page with no network: every one is listed."""
    import re
    from pathlib import Path

    static = Path(__file__).resolve().parents[2] / "app" / "api" / "web" / "static"
    shell = set(re.findall(r'"(/static/[^"]+)"', (static / "sw.js").read_text()))
    needed = {"/static/js/staff.js"}
    todo = ["/static/js/staff.js"]
    while todo:
        path = todo.pop()
        source = (static / path.removeprefix("/static/")).read_text()
        for target in re.findall(r'^import\s[^;]*?\sfrom\s+"([^"]+)"', source, flags=re.MULTILINE):
            resolved = str(Path(path).parent / target) if target.startswith(".") else target
            resolved = str(Path(resolved).resolve()) if resolved.startswith("/") else resolved
            if resolved not in needed:
                needed.add(resolved)
                todo.append(resolved)
    assert len(needed) > 15  # staff.js, handheld.js, the verifier's modules, the decoder
    assert needed <= shell, sorted(needed - shell)
