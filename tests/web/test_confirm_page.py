"""One-click confirmation in Chromium against the real server: the facts, the seal checked in the page, the notice,
a statement signed with the page's device key that Python verifies from the stored bytes; a forged seal shown as
failed; and the bad confirmations the routes refuse (another device key, a replay, an old time) storing nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.catalogue import load_catalogue
from app.db.engine import open_database
from app.matching.applications import write_applications
from app.matching.confirmations import export_confirmations, make_statement, read_statement, verify_export_line
from keys import directory
from tests.support.pages import Server
from tests.support.phones import Phone, b64url

expect = pytest.importorskip("playwright.sync_api").expect

PHONE = {"viewport": {"width": 412, "height": 915}, "device_scale_factor": 1, "locale": "zh-CN"}
ROOT = Path(__file__).resolve().parents[2]
POLICY = "sh-student-transport-subsidy"
MORE = 4


@pytest.fixture(scope="module")
def waiting(server: Server) -> list[tuple[str, str]]:
    """People with a confirm-mode application to confirm, `MORE` of them at least.

    The synthetic registries hold about one such person in 500, so the module seals applications for a
    few more registry persons, as `suishen match applications` does (their facts read from the registries,
    sealed with the department's key), and gives each the confirm-mode entitlement the page lists.
    """
    have = _waiting(server)
    if len({s for s, _ in have}) < MORE:
        tmp = server.data.parent
        results = tmp / "match" / "extra.duckdb"
        shutil.copy(tmp / "match" / "matching.duckdb", results)
        from app.matching.engine import attach_registries, connect, latest_run

        con = connect(results)
        run, day = latest_run(con)
        attach_registries(con, tmp / "registries")
        people = [s for (s,) in con.execute(
            "SELECT subject FROM person_facts WHERE subject NOT IN "
            "(SELECT subject FROM entitlements WHERE policy_id = ?) ORDER BY subject DESC LIMIT ?", [POLICY, MORE],
        ).fetchall()]  # fmt: skip
        con.execute("DELETE FROM entitlements")
        con.executemany("INSERT INTO entitlements (subject, policy_id, version) VALUES (?, ?, 1)",
                        [(p, POLICY) for p in people])  # fmt: skip
        engine = open_database(_database(server), migrate=False)
        passphrase = (tmp / "passphrase").read_text().strip().encode()
        policies = load_catalogue(ROOT / "data" / "catalogue").policies
        write_applications(con, engine, policies, day, run, lambda d: directory.seal_key(server.keys, d, passphrase))
        con.close()
        engine.dispose()
        with sqlite3.connect(_database(server)) as db:
            generation, evidence = db.execute("SELECT generation, evidence FROM entitlements LIMIT 1").fetchone()
            db.executemany(
                "INSERT INTO entitlements (subject, policy_id, generation, policy_version, mode, run, evidence) "
                "VALUES (?, ?, ?, 1, 'confirm', ?, ?)", [(p, POLICY, generation, run, evidence) for p in people],
            )  # fmt: skip
        have = _waiting(server)
    return have


def _database(server: Server) -> Path:
    return server.data / "suishen.sqlite"


def _waiting(server: Server) -> list[tuple[str, str]]:
    """(subject, policy) of people whose latest confirm-mode application nobody confirmed, not revoked."""
    with sqlite3.connect(_database(server)) as db:
        rows = db.execute(
            "SELECT a.subject, a.policy_id FROM applications AS a JOIN entitlements AS e "
            "ON e.subject = a.subject AND e.policy_id = a.policy_id AND e.revoked_in IS NULL "
            "WHERE a.subject LIKE 'P%' AND a.sha256 NOT IN (SELECT application_sha256 FROM confirmations) "
            "GROUP BY a.subject, a.policy_id ORDER BY a.subject DESC"
        ).fetchall()
    return [(s, p) for s, p in rows if s != server.subjects.get("confirm")]  # that one is test_pages' to confirm


def _pick(waiting: list[tuple[str, str]], skip: int) -> tuple[str, str]:
    subjects = list(dict.fromkeys(s for s, _ in waiting))
    if len(subjects) <= skip:
        pytest.skip("too few people with a confirm-mode application in the synthetic registry")
    subject = subjects[skip]
    return subject, next(p for s, p in waiting if s == subject)


def _counts(server: Server) -> tuple[int, int]:
    with sqlite3.connect(_database(server)) as db:
        return (db.execute("SELECT count(*) FROM confirmations").fetchone()[0],
                db.execute("SELECT count(*) FROM confirmation_statements").fetchone()[0])  # fmt: skip


def _sign_in(page: Any, server: Server, subject: str) -> None:
    page.goto(server.base + "/")
    page.fill("#subject", subject)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#code-box")).to_have_attribute("data-kind", "holder", timeout=20_000)  # the device key


def test_the_page_shows_the_facts_the_verified_seal_and_the_notice_and_signs_the_confirmation(
    browser: Any, server: Server, waiting: list[tuple[str, str]], artifacts: Path
) -> None:
    subject, policy = _pick(waiting, 0)
    context = browser.new_context(**PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in(page, server, subject)
    card = page.locator(f".entitlement[data-policy={policy}]")
    box = card.locator(".confirm-box")
    expect(box).to_have_attribute("data-seal", "verified", timeout=15_000)
    expect(box.locator("p.seal-check")).to_contain_text("电子印章核验通过")
    facts = box.locator("dl.facts dd")
    assert facts.count() >= 1
    with sqlite3.connect(_database(server)) as db:
        document = db.execute(
            "SELECT document FROM applications WHERE subject = ? AND policy_id = ? ORDER BY matching_run DESC",
            [subject, policy],
        ).fetchone()[0]  # fmt: skip
    sealed_facts = json.loads(document)["payload"]["facts"]
    shown = {facts.nth(i).get_attribute("data-fact"): facts.nth(i).inner_text() for i in range(facts.count())}
    assert set(shown) == set(sealed_facts) and all(shown[k] for k in shown)
    notice = box.locator("section.notice")
    expect(notice).to_contain_text("告知承诺书")
    expect(notice).to_contain_text("30日内")
    expect(box.locator(".sign-note")).to_contain_text("本机密钥签名")
    page.screenshot(path=str(artifacts / "citizen-confirm-notice-seal.png"), full_page=True)
    page.click("#lang")  # the same in English
    expect(card.locator(".confirm-box section.notice")).to_contain_text("30 days")
    expect(card.locator(".confirm-box p.seal-check")).to_contain_text("seal verified")
    before = _counts(server)
    card.locator("button.confirm").click()
    expect(page.locator(f".entitlement[data-policy={policy}]")).to_have_attribute("data-status", "confirmed")
    assert _counts(server) == (before[0] + 1, before[1] + 1)
    context.close()
    assert errors == []

    # Python checks what the server kept, from the stored bytes alone.
    with sqlite3.connect(_database(server)) as db:
        sha, statement, key, signed, channel, notice_version, device = db.execute(
            "SELECT s.application_sha256, s.statement, s.device_key, s.signed, s.channel, s.notice_version, s.device "
            "FROM confirmation_statements AS s JOIN applications AS a ON a.sha256 = s.application_sha256 "
            "WHERE a.subject = ? AND a.policy_id = ?", [subject, policy],
        ).fetchone()  # fmt: skip
        phone = db.execute("SELECT subject, key_sha256, ended FROM holder_devices WHERE id = ?", [device]).fetchone()
    assert signed == 1 and channel == "web" and notice_version == 1
    read = read_statement(bytes(statement), bytes(key[:32]), bytes(key[32:]))
    assert (read.application_sha256, read.policy_id, read.notice_version, read.channel) == (sha, policy, 1, "web")
    assert abs(read.t - time.time()) < 120
    assert phone == (subject, hashlib.sha256(bytes(key)).hexdigest(), None)  # the phone the page registered
    out = server.data.parent / "finance.jsonl"
    engine = open_database(_database(server), migrate=False)
    export_confirmations(engine, out)
    engine.dispose()
    line = next(x for x in out.read_text().splitlines() if json.loads(x)["application_sha256"] == sha)
    department = json.loads(document)["payload"]["lead_department"]
    verified = verify_export_line(line, directory.seal_public_key(server.keys, department))
    assert verified.signed and verified.seal_checked and verified.subject == subject


def test_a_forged_seal_is_shown_as_failed_and_cannot_be_confirmed(
    browser: Any, server: Server, waiting: list[tuple[str, str]], artifacts: Path
) -> None:
    subject, policy = _pick(waiting, 1)
    with sqlite3.connect(_database(server)) as db:
        sha, document = db.execute(
            "SELECT sha256, document FROM applications WHERE subject = ? AND policy_id = ? "
            "ORDER BY matching_run DESC LIMIT 1", [subject, policy],
        ).fetchone()  # fmt: skip
        forged = json.loads(document)
        forged["payload"]["benefit"] = "¥71000"  # the content changed, the department's signature kept
        text = json.dumps(forged, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        db.execute("UPDATE applications SET document = ?, sha256 = ? WHERE sha256 = ?",
                   [text, hashlib.sha256(text.encode()).hexdigest(), sha])  # fmt: skip
    context = browser.new_context(**PHONE)
    page = context.new_page()
    _sign_in(page, server, subject)
    box = page.locator(f".entitlement[data-policy={policy}] .confirm-box")
    expect(box).to_have_attribute("data-seal", "failed", timeout=15_000)
    expect(box.locator("p.seal-check")).to_contain_text("电子印章核验失败")
    expect(box.locator("p.seal-check")).to_contain_text("signature is not valid")
    expect(box.locator("button.confirm")).to_be_disabled()
    page.screenshot(path=str(artifacts / "citizen-confirm-forged-seal.png"), full_page=True)
    context.close()


def _post(server: Server, path: str, body: Any, token: str) -> httpx.Response:
    with httpx.Client(base_url=server.base, timeout=10) as client:
        return client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})


def test_the_confirm_route_refuses_bad_statements_and_stores_nothing(
    server: Server, waiting: list[tuple[str, str]]
) -> None:
    subject, policy = _pick(waiting, 2)
    token = server.citizen_token(subject)
    phone, stranger = Phone(), Phone()
    server.call("POST", "/v1/credentials", phone.request(), token)  # the caller's registered phone
    view = server.call("GET", f"/v1/me/entitlements/{policy}/application", token=token)
    assert view["seal"]["alg"] == "ES256" and view["commitment"]["version"] == 1 and view["confirmed"] is None
    sha, now = view["application_sha256"], int(time.time())
    route = f"/v1/me/entitlements/{policy}/confirm"

    def body(by: Phone, statement: bytes) -> dict[str, Any]:
        return {"channel": "web", "statement": b64url(statement),
                "public_key": {"kty": "EC", "crv": "P-256", "x": by.x, "y": by.y}}  # fmt: skip

    before = _counts(server)
    cases = [
        (body(stranger, make_statement(stranger.key, sha, policy, 1, now)), 403, "device_not_registered"),
        (body(phone, make_statement(stranger.key, sha, policy, 1, now)), 422, "bad_statement_signature"),
        (body(phone, make_statement(phone.key, sha, policy, 1, now - 3600)), 409, "stale_statement"),
        (body(phone, make_statement(phone.key, "00" * 32, policy, 1, now)), 409, "statement_mismatch"),
        (body(phone, make_statement(phone.key, sha, policy, 7, now)), 409, "notice_changed"),
        ({"channel": "web", "notice_version": 7}, 409, "notice_changed"),
        ({"channel": "web", "statement": "not base64!" * 3, "public_key": body(phone, b"")["public_key"]}, 422,
         "bad_statement"),
    ]  # fmt: skip
    for sent, status, code in cases:
        answer = _post(server, route, sent, token)
        assert (answer.status_code, answer.json()["error"]) == (status, code), answer.text
        assert answer.json()["detail"]
    assert _counts(server) == before  # nothing stored
    good = make_statement(phone.key, sha, policy, 1, now)
    accepted = _post(server, route, body(phone, good), token)
    assert accepted.status_code == 200 and accepted.json()["signed"] is True, accepted.text
    replayed = _post(server, route, body(phone, good), token)  # the same bytes again
    assert (replayed.status_code, replayed.json()["error"]) == (409, "replayed_statement")
    twice = _post(server, route, body(phone, make_statement(phone.key, sha, policy, 1, now + 1)), token)
    assert (twice.status_code, twice.json()["error"]) == (409, "already_confirmed")
    assert _counts(server) == (before[0] + 1, before[1] + 1)
    with sqlite3.connect(_database(server)) as db:
        kept = db.execute("SELECT statement FROM confirmation_statements WHERE application_sha256 = ?", [sha])
        assert bytes(kept.fetchone()[0]) == good
    assert server.call("GET", f"/v1/me/entitlements/{policy}/application", token=token)["confirmed"]["signed"] is True
    listed = server.call("GET", "/v1/admin/confirmations/expired", token=server.admin_key)
    assert listed["words"]["zh"] == "已过确认期限，请通过原渠道申请" and isinstance(listed["expired"], list)
