"""The security review's findings about the services, each tried again as the attacker did, against real servers.

Bodies are sent over raw sockets where the point is what the server does before it has the body.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.api.auth import DeviceKeys, TokenAuthority
from keys import directory
from tests.support.servers import RedisServer, wait_until
from tests.support.services import ADMIN_KEY, ROOT, TOKEN_SECRET, Api, Place, Served

MUSEUM, PARK = "sh-museum", "sh-century-park"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def citizen(subject: str, life_s: int = 3000) -> dict[str, str]:
    return {"Authorization": f"Bearer {TokenAuthority(TOKEN_SECRET.encode(), life_s).issue(subject, time.time())[0]}"}


def gate_key(server: Served, venue: str = MUSEUM, role: str = "gate") -> dict[str, str]:
    made = server.client.post("/v1/admin/devices", json={"name": f"{role} {venue}", "role": role, "venue": venue},
                              headers=ADMIN)  # fmt: skip
    assert made.status_code == 200, made.text
    return {"Authorization": f"Bearer {made.json()['api_key']}"}


def raw_request(port: int, head: str, body: bytes = b"", timeout_s: float = 10.0) -> tuple[int, bytes]:
    """Send a request head (and optionally some body) over a socket; the status line's code and what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(head.encode() + body)
        received = b""
        while not _complete(received):
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:  # the server closed while we still sent: what it answered is in hand
                break
            if not chunk:
                break
            received += chunk
    return int(received.split(b" ", 2)[1]), received


def _complete(received: bytes) -> bool:
    head, found, body = received.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True


def own_keys(place: Place, tmp_path: Path) -> Path:
    """A copy of the package's keys, for a test that rotates or revokes them."""
    copy = tmp_path / "keys"
    shutil.copytree(place.template.keys_dir, copy)
    return copy


def kid_of_code(text: str) -> str:
    from verifier.code import parse_code

    kid = parse_code(text).credential.kid
    assert kid is not None
    return kid.hex()


# -- 1. one unauthenticated request must not stall the server ---------------------------------------------


def test_a_body_over_the_limit_is_refused_from_its_content_length_before_a_byte_is_read(
    place: Place, serve: Callable[..., Served]
) -> None:
    server = serve(place)
    head = (
        f"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {53 << 20}\r\n\r\n"
    )
    status, answer = raw_request(server.port, head)  # the 53 MiB are never sent
    assert status == 413 and b"too_large" in answer
    login = f"POST /v1/dev/login HTTP/1.1\r\nHost: x\r\nContent-Length: {60 << 20}\r\n\r\n"
    assert raw_request(server.port, login)[0] == 413  # a public route too
    assert server.client.get("/healthz").status_code == 200


def test_an_unauthenticated_body_is_answered_401_before_it_is_sent(place: Place, serve: Callable[..., Served]) -> None:
    server = serve(place)
    head = (f"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {400_000}\r\n"
            "Authorization: Bearer sk_made-up\r\n\r\n")  # fmt: skip
    status, answer = raw_request(server.port, head)  # headers only: the answer comes without the body
    assert status == 401 and b"unauthenticated" in answer
    without = "PUT /v1/admin/policies/sh-x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    assert raw_request(server.port, without)[0] == 401


def test_a_streamed_body_is_cut_at_the_limit_and_a_slow_one_at_its_deadline(
    place: Place, serve: Callable[..., Served]
) -> None:
    server = serve(place, SUISHEN_REQUEST_BODY_DEADLINE_S="1.5")
    gate = gate_key(server)["Authorization"]
    head = (f"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: {gate}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
    chunk = b"x" * 65536
    chunks = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") * 9  # 576 KiB without a Content-Length
    status, answer = raw_request(server.port, head, chunks)
    assert status == 413 and b"too_large" in answer
    drip = (f"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: {gate}\r\n"
            "Content-Length: 100\r\n\r\n")  # fmt: skip
    status, answer = raw_request(server.port, drip, b'{"events": [')  # and then nothing more
    assert status == 408 and b"body_timeout" in answer
    assert server.client.get("/healthz").status_code == 200


# -- 2. a revoked issuer key stops at once in every process -----------------------------------------------


def test_a_key_revoked_through_one_process_is_neither_used_nor_accepted_by_the_other(
    place: Place, redis_server: RedisServer, serve: Callable[..., list[Served]], tmp_path: Path
) -> None:
    with redis_server.client() as client:
        client.flushall()
    place.redis_url = redis_server.url
    keys = own_keys(place, tmp_path)
    one, two = serve(place, count=2, SUISHEN_KEYS_DIR=str(keys))
    gate = gate_key(one)
    senior = place.template.seniors[0]
    old_code = two.client.post("/v1/codes", headers=citizen(senior)).json()["text"]
    old_kid = kid_of_code(old_code)

    rotated = one.client.post("/v1/admin/keys/rotate", headers=ADMIN).json()
    assert rotated["signing"] != old_kid
    revoked = one.client.post(f"/v1/admin/keys/{old_kid}/revoke", headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"

    def two_knows() -> bool:  # the trust list names each issuer key's status
        keys = two.client.get("/v1/trust-list").json()["payload"]["keys"]
        return {k["kid"]: k["status"] for k in keys}.get(old_kid) == "revoked"

    wait_until(two_knows, "the revocation in the other process", 5)
    answer = two.client.post("/v1/verify", json={"code": old_code, "venue": MUSEUM}, headers=gate).json()
    assert answer["reason"] == "KEY_REVOKED"
    new_code = two.client.post("/v1/codes", headers=citizen(senior)).json()["text"]
    assert kid_of_code(new_code) == rotated["signing"]
    assert two.client.post("/v1/verify", json={"code": new_code, "venue": MUSEUM}, headers=gate).json()["result"] == (
        "VALID"
    )
    listing = two.client.get("/v1/admin/keys", headers=ADMIN).json()["keys"]
    assert {k["kid"]: k["status"] for k in listing}[old_kid] == "revoked"

    # revoking the last active key: no process signs anything until the ring is rotated
    assert one.client.post(f"/v1/admin/keys/{rotated['signing']}/revoke", headers=ADMIN).status_code == 200

    def two_refuses() -> bool:
        return two.client.post("/v1/codes", headers=citizen(senior)).status_code == 503

    wait_until(two_refuses, "the other process to stop signing", 5)
    assert two.client.post("/v1/codes", headers=citizen(senior)).json()["error"] == "no_signing_key"


def test_a_key_revoked_by_the_command_line_stops_a_running_server_within_seconds(
    place: Place, serve: Callable[..., Served], tmp_path: Path
) -> None:
    keys = own_keys(place, tmp_path)
    server = serve(place, SUISHEN_KEYS_DIR=str(keys))
    gate = gate_key(server)
    code = server.client.post("/v1/codes", headers=citizen(place.template.seniors[0])).json()["text"]
    kid = kid_of_code(code)
    environment = place.environment(SUISHEN_KEYS_DIR=str(keys))
    subprocess.run([sys.executable, "-m", "app.cli", "keys", "rotate", "--dir", str(keys)], check=True, cwd=ROOT,
                   env=environment, stdout=subprocess.DEVNULL)  # fmt: skip
    subprocess.run([sys.executable, "-m", "app.cli", "keys", "revoke", kid, "--dir", str(keys)], check=True, cwd=ROOT,
                   env=environment, stdout=subprocess.DEVNULL)  # fmt: skip

    def refused() -> bool:
        answer = server.client.post("/v1/verify", json={"code": code, "venue": MUSEUM}, headers=gate).json()
        return answer["reason"] == "KEY_REVOKED"

    wait_until(refused, "the server to read the revoked ring", 5)
    fresh = server.client.post("/v1/codes", headers=citizen(place.template.seniors[1])).json()["text"]
    assert kid_of_code(fresh) == directory.load_ring(keys).active().kid.hex() != kid


# -- 3. a gate speaks for its own venue, about real policies ----------------------------------------------


def test_a_gate_verifies_and_reports_only_at_its_own_venue(api: Api) -> None:
    gate = api.device("gate", MUSEUM)
    code = api.client.post("/v1/codes", headers=api.citizen(api.place.template.seniors[0])).json()["text"]
    elsewhere = api.client.post("/v1/verify", json={"code": code, "venue": PARK}, headers=gate)
    assert (elsewhere.status_code, elsewhere.json()["error"]) == (403, "wrong_venue")
    assert api.client.post("/v1/verify", json={"code": code, "venue": MUSEUM}, headers=gate).status_code == 200

    def event(venue: str, policy: str | None) -> dict[str, Any]:
        return {"id": f"{len(venue) + time.time_ns():032x}"[-32:], "venue": venue, "at": time.time(),
                "result": "GRANTED", "policy_id": policy}  # fmt: skip

    for venue, policy, status, error in (
        ("no-such-venue", None, 422, "unknown_venue"),
        (PARK, None, 403, "wrong_venue"),
        (MUSEUM, "no-such-policy", 422, "unknown_policy"),
    ):
        answer = api.client.post("/v1/events", json={"events": [event(venue, policy)]}, headers=gate)
        assert (answer.status_code, answer.json()["error"]) == (status, error), venue
    stats = api.client.get("/v1/admin/stats?by=venue", headers=api.admin).json()["rows"]
    assert [r["venue"] for r in stats] == []  # nothing made up was stored
    handheld = api.device("handheld")  # a roaming handheld (no venue) may verify anywhere
    assert api.client.post("/v1/verify", json={"code": code, "venue": PARK}, headers=handheld).status_code == 200


# -- 4. a revoked device stops everywhere ---------------------------------------------------------------


def test_a_device_revoked_through_one_process_is_refused_by_the_other(
    place: Place, redis_server: RedisServer, serve: Callable[..., list[Served]]
) -> None:
    with redis_server.client() as client:
        client.flushall()
    place.redis_url = redis_server.url
    one, two = serve(place, count=2)
    made = one.client.post("/v1/admin/devices", json={"name": "g", "role": "gate", "venue": MUSEUM}, headers=ADMIN)
    device_id, key = made.json()["id"], {"Authorization": f"Bearer {made.json()['api_key']}"}
    assert two.client.post("/v1/events", json={"events": []}, headers=key).status_code == 200  # seen (cached) by two
    assert one.client.post(f"/v1/admin/devices/{device_id}/revoke", headers=ADMIN).json() == {
        "id": device_id, "revoked": True}  # fmt: skip
    wait_until(lambda: two.client.post("/v1/events", json={"events": []}, headers=key).status_code == 401,
               "the other process to refuse the revoked device", 5)  # fmt: skip
    assert one.client.post("/v1/events", json={"events": []}, headers=key).status_code == 401
    listed = {d["id"]: d["revoked"] for d in one.client.get("/v1/admin/devices", headers=ADMIN).json()["devices"]}
    assert listed[device_id] is True
    assert one.client.post("/v1/admin/devices/0123456789abcdef/revoke", headers=ADMIN).status_code == 404


def test_a_cached_device_key_is_looked_up_again_after_its_cache_time(api: Api) -> None:
    """Even with no push at all (another process without Redis, a revocation straight in the database)."""
    from sqlalchemy import update

    from app.db.schema import devices

    made = api.client.post("/v1/admin/devices", json={"name": "h", "role": "handheld"}, headers=api.admin).json()
    keys = DeviceKeys(api.services.engine, None)
    now = time.time()
    assert keys.authenticate(made["api_key"], now) is not None
    with api.services.engine.begin() as db:
        db.execute(update(devices).where(devices.c.id == made["id"]).values(revoked=True))
    assert keys.authenticate(made["api_key"], now + 1) is not None  # still cached: at most CACHE_S
    assert keys.authenticate(made["api_key"], now + DeviceKeys.CACHE_S + 1) is None


# -- 10. X-Forwarded-For only from configured proxies ---------------------------------------------------


def test_forwarded_addresses_are_believed_only_from_configured_proxies(
    place: Place, serve: Callable[..., Served]
) -> None:
    seniors = place.template.seniors

    def statuses(server: Served) -> list[int]:
        return [server.client.post("/v1/codes", headers={**citizen(seniors[i % len(seniors)]),
                                                         "X-Forwarded-For": f"203.0.113.{i}"}).status_code
                for i in range(4)]  # fmt: skip

    direct = serve(place, SUISHEN_REQUESTS_PER_MINUTE_PER_IP="3")
    assert statuses(direct)[3] == 429  # four "addresses" from one peer are one address
    direct.stop()
    behind_proxy = serve(place, SUISHEN_REQUESTS_PER_MINUTE_PER_IP="3", SUISHEN_TRUSTED_PROXIES='["127.0.0.1"]')
    assert statuses(behind_proxy) == [200, 200, 200, 200]  # a named proxy's forwarded addresses are the callers


# -- 11. without Redis, one process per database --------------------------------------------------------


def test_a_second_process_without_redis_on_the_same_database_refuses_to_start(
    place: Place, serve: Callable[..., Served]
) -> None:
    first = serve(place)
    assert "this process alone" in first.client.get("/readyz").json()["checks"]["redis"]
    second = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", "1"], cwd=ROOT,
        env=place.environment(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert second.returncode == 1
    assert "REDIS_URL" in second.stdout and "Traceback" not in second.stdout + second.stderr


# -- 12. demo mode only from the command line, only on loopback ----------------------------------------


def test_demo_mode_comes_only_from_the_command_line_flag(place: Place, serve: Callable[..., Served]) -> None:
    server = serve(place, SUISHEN_DEMO="true")
    login = server.client.post("/v1/dev/login", json={"subject": place.template.seniors[0]})
    assert login.status_code == 404
    exposed = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--demo", "--host", "0.0.0.0", "--port", "1"], cwd=ROOT,
        env=place.environment(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert exposed.returncode == 2 and "loopback" in exposed.stdout


# -- 14. the API docs come from this server ---------------------------------------------------------------


def test_the_api_docs_load_nothing_from_outside(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    sources = [part.split('"')[1] for part in page.text.split("src=")[1:]]
    sources += [part.split('"')[1] for part in page.text.split("href=")[1:]]
    assert sources and all(s.startswith("/static/") for s in sources)
    for source in sources:
        assert api.client.get(source).status_code == 200, source
    assert api.client.get("/redoc").status_code == 404
    assert "localStorage.setItem(KEY" not in api.client.get("/static/js/staff.js").text  # device keys kept per tab


# -- 16. citizen tokens have a maximum life -------------------------------------------------------------


def test_a_token_with_a_longer_life_than_issued_or_no_issue_time_is_refused(api: Api) -> None:
    senior = api.place.template.seniors[0]
    assert api.client.get("/v1/me/entitlements", headers=citizen(senior)).status_code == 200

    def signed(claims: dict[str, Any]) -> dict[str, str]:
        import hashlib
        import hmac

        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        mac = base64.urlsafe_b64encode(hmac.new(TOKEN_SECRET.encode(), body.encode(), hashlib.sha256).digest())
        return {"Authorization": f"Bearer st1.{body}.{mac.rstrip(b'=').decode()}"}

    now = int(time.time())
    for claims in (
        {"sub": senior, "exp": now + 365 * 86400},  # no issue time: how long was it meant to live?
        {"sub": senior, "iat": now, "exp": now + 30 * 86400},  # a month
        {"sub": senior, "iat": now + 3600, "exp": now + 3700},  # issued in the future
    ):
        assert api.client.get("/v1/me/entitlements", headers=signed(claims)).status_code == 401, claims
    with pytest.raises(ValueError, match="at most"):
        TokenAuthority(b"secret", 7 * 86400)


def test_the_devices_command_lists_and_revokes_a_device(place: Place, serve: Callable[..., Served]) -> None:
    server = serve(place)
    made = server.client.post("/v1/admin/devices", json={"name": "gate by the lake", "role": "gate", "venue": PARK},
                              headers=ADMIN).json()  # fmt: skip
    key = {"Authorization": f"Bearer {made['api_key']}"}
    assert server.client.post("/v1/events", json={"events": []}, headers=key).status_code == 200

    def suishen(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "app.cli", "devices", *args, "--database", place.database_url]
        return subprocess.run(command, cwd=ROOT, env=place.environment(), capture_output=True, text=True, timeout=60)

    assert made["id"] in suishen("list").stdout
    assert suishen("revoke", made["id"]).returncode == 0
    assert "revoked" in next(line for line in suishen("list").stdout.splitlines() if made["id"] in line)
    unknown = suishen("revoke", "0123456789abcdef")
    assert unknown.returncode == 2 and "no device" in unknown.stderr
    # no Redis: the running server finds out when its cached entry (30 s) runs out
    wait_until(lambda: server.client.post("/v1/events", json={"events": []}, headers=key).status_code == 401,
               "the server to look the revoked key up again", 40)  # fmt: skip
