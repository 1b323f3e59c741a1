"""Partner regions through the HTTP API: register, import (body and registered URL), refuse, decide by scope.

The fetch tests run a real HTTP server on loopback that can also misbehave: a gzip bomb, an
endless stream, a slow drip, a 404 and a dropped connection.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.issuing import Issuer
from app.settings import Settings
from keys import directory
from keys.algorithms import EDDSA
from keys.storage import read_public_key
from keys.trust_list import load_trust_list
from tests.support.servers import free_port
from verifier.claims import Profile
from verifier.code import online_code

ADMIN = "sk_partner-test-admin-key"
PASS = b"partner test passphrase"


def _serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allow_hosts: list[str] | None = None
) -> Iterator[tuple[TestClient, Settings]]:
    monkeypatch.setenv("SUISHEN_KEY_PASSPHRASE", PASS.decode())
    settings = Settings(
        data_dir=tmp_path / "data", keys_dir=tmp_path / "keys", admin_key=ADMIN, log_requests=False,
        partner_fetch_allow_hosts=allow_hosts or [], partner_fetch_deadline_s=1.0,
    )  # fmt: skip
    directory.init_directory(settings.keys_dir, issuer="CN-SH", region="310000", passphrase=PASS, now=int(time.time()))
    with TestClient(create_app(settings)) as client:
        yield client, settings


@pytest.fixture
def ours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Settings]]:
    yield from _serve(tmp_path, monkeypatch)


@pytest.fixture
def allowing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Settings]]:
    """Our server with the loopback test host allowed, and a short whole-fetch deadline."""
    yield from _serve(tmp_path, monkeypatch, ["127.0.0.1"])


@pytest.fixture
def jiangsu(tmp_path: Path) -> Path:
    keys = tmp_path / "jiangsu"
    now = int(time.time()) - 60
    directory.init_directory(keys, issuer="CN-JS", region="320000", passphrase=PASS, now=now, alg=EDDSA)
    return keys


def _auth(key: str = ADMIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _register(client: TestClient, partner_keys: Path, url: str | None = None) -> None:
    pem = (partner_keys / directory.ROOT_PUBLIC_FILE).read_text()
    body = {"region": "320000", "name": "Jiangsu", "root_public_pem": pem, "issuers": ["CN-JS"], "replace": True}
    answer = client.post("/v1/admin/partners", json={**body, "trust_list_url": url}, headers=_auth())
    assert answer.status_code == 200, answer.text
    assert answer.json()["trust_list_url"] == url


def _partner_code(partner_keys: Path, profile: Profile) -> str:
    entry, key = directory.signing_key(partner_keys, PASS)
    return online_code(Issuer("CN-JS", entry, key).credential(profile, int(time.time())))


def test_imported_partner_codes_get_yrd_privileges_but_not_resident_ones(
    ours: tuple[TestClient, Settings], jiangsu: Path
) -> None:
    client, settings = ours
    _register(client, jiangsu)
    before = client.get("/v1/trust-list").json()["payload"]["version"]
    document = directory.export_trust_list(jiangsu, passphrase=PASS, now=int(time.time()))
    answer = client.post("/v1/admin/partners/320000/trust-list", content=document, headers=_auth())
    assert answer.status_code == 200, answer.text
    assert answer.json()["partner_version"] == 1
    merged = client.get("/v1/trust-list").content
    trust = load_trust_list(merged, read_public_key(settings.keys_dir / directory.ROOT_PUBLIC_FILE), time.time())
    assert trust.version > before
    assert "CN-JS" in {k.issuer for k in trust.keys}

    senior = Profile(bytes(8), age_over=65, residence=320000, version=1)
    verdict = client.post(
        "/v1/verify", json={"code": _partner_code(jiangsu, senior), "venue": "sh-century-park"}, headers=_auth()
    ).json()
    assert verdict["result"] == "VALID" and verdict["issuer"] == "CN-JS"
    granted = {p["policy_id"] for p in verdict["decision"]["privileges"]}
    assert "yrd-park-senior-free" in granted
    assert "sh-park-senior-free" not in granted  # a Shanghai-residents-only policy
    assert any("sh-park-senior-free" in line["en"] and "sh-park-senior-free" in line["zh"]
               for line in verdict["decision"]["explanation"])

    listed = client.get("/v1/admin/partners", headers=_auth()).json()
    assert listed["partners"][0]["region"] == "320000"
    assert listed["partners"][0]["trust_list"]["version"] == 1


def test_refused_lists_leave_the_held_one_in_force(ours: tuple[TestClient, Settings], jiangsu: Path) -> None:
    client, _ = ours
    _register(client, jiangsu)
    now = int(time.time())
    first = directory.export_trust_list(jiangsu, passphrase=PASS, now=now)
    assert client.post("/v1/admin/partners/320000/trust-list", content=first, headers=_auth()).status_code == 200
    version = client.get("/v1/trust-list").json()["payload"]["version"]

    forged = first.replace(b'"CN-JS"', b'"CN-JX"')
    refused = client.post("/v1/admin/partners/320000/trust-list", content=forged, headers=_auth())
    assert refused.status_code == 422 and refused.json()["error"] == "partner_refused"
    assert "stays in force" in refused.json()["detail"]

    unknown = client.post("/v1/admin/partners/330000/trust-list", content=first, headers=_auth())
    assert unknown.status_code == 404
    empty = client.post("/v1/admin/partners/320000/trust-list", content=b"", headers=_auth())
    assert empty.status_code == 422 and empty.json()["error"] == "empty_document"
    assert client.get("/v1/trust-list").json()["payload"]["version"] == version


def test_partner_routes_are_for_admins_only(ours: tuple[TestClient, Settings], jiangsu: Path) -> None:
    client, _ = ours
    device = {"name": "gate 1", "role": "gate", "venue": "sh-century-park"}  # a gate belongs to one venue
    gate = client.post("/v1/admin/devices", json=device, headers=_auth()).json()["api_key"]
    pem = (jiangsu / directory.ROOT_PUBLIC_FILE).read_text()
    body = {"region": "320000", "root_public_pem": pem, "issuers": ["CN-JS"]}
    assert client.post("/v1/admin/partners", json=body, headers=_auth(gate)).status_code == 403
    assert client.post("/v1/admin/partners", json=body).status_code == 401
    assert client.get("/v1/admin/partners", headers=_auth(gate)).status_code == 403


# --- fetching from the registered URL ---------------------------------------------------------

BOMB_BYTES = 256 << 20  # what the gzip stream inflates to (about 250 kB on the wire)
ENDLESS_BYTES = 64 << 20  # an answer with no length that goes on well past the limit
DRIP_S = 20.0  # the drip ends by itself, so a test run against a fetcher without a deadline still ends


def _gzip_bomb() -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    zeros = bytes(1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(BOMB_BYTES >> 20)) + packer.flush()


class PartnerSite:
    """A loopback HTTP server publishing a trust list, and paths that misbehave as an attacker's would."""

    def __init__(self, document: bytes) -> None:
        self.document = document
        self.requests: list[str] = []
        self.bomb = _gzip_bomb()
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                site.requests.append(self.path)
                route: Callable[[], None] = getattr(self, "route_" + self.path.strip("/").replace("-", "_"), self.gone)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the fetcher hung up, as it should
                    route()

            def head(self, status: int, length: int | None, **headers: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if length is not None:
                    self.send_header("Content-Length", str(length))
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.end_headers()

            def route_list(self) -> None:
                self.head(200, len(site.document))
                self.wfile.write(site.document)

            def route_bomb(self) -> None:
                self.head(200, len(site.bomb), Content_Encoding="gzip")
                self.wfile.write(site.bomb)

            def route_endless(self) -> None:
                self.head(200, None, Connection="close")
                chunk = b"a" * (1 << 16)
                for _ in range(ENDLESS_BYTES // len(chunk)):
                    self.wfile.write(chunk)

            def route_drip(self) -> None:
                self.head(200, 1000)
                ends = time.monotonic() + DRIP_S
                while time.monotonic() < ends:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.2)

            def route_drop(self) -> None:
                self.connection.shutdown(socket.SHUT_RDWR)

            def gone(self) -> None:
                self.head(404, 0)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site(jiangsu: Path) -> Iterator[PartnerSite]:
    served = PartnerSite(directory.export_trust_list(jiangsu, passphrase=PASS, now=int(time.time())))
    yield served
    served.close()


def _fetch(client: TestClient) -> tuple[int, dict[str, str]]:
    answer = client.post("/v1/admin/partners/320000/trust-list", params={"fetch": "true"}, headers=_auth())
    return answer.status_code, answer.json()


def test_the_registered_url_is_fetched_from_an_allowed_host(
    allowing: tuple[TestClient, Settings], jiangsu: Path, site: PartnerSite
) -> None:
    client, _ = allowing
    _register(client, jiangsu, site.url("list"))
    status, answer = _fetch(client)
    assert status == 200, answer
    assert answer["partner_version"] == 1 and site.requests == ["/list"]
    listed = client.get("/v1/admin/partners", headers=_auth()).json()["partners"][0]
    assert listed["trust_list_url"] == site.url("list") and listed["trust_list"]["version"] == 1


def test_an_address_given_with_the_import_is_never_fetched(
    allowing: tuple[TestClient, Settings], jiangsu: Path, site: PartnerSite
) -> None:
    client, _ = allowing
    _register(client, jiangsu)
    answer = client.post("/v1/admin/partners/320000/trust-list", params={"url": site.url("list")}, headers=_auth())
    assert answer.status_code == 422 and answer.json()["error"] == "url_not_accepted"
    status, refused = _fetch(client)  # registered without a URL: nothing to fetch
    assert status == 422 and refused["error"] == "no_trust_list_url"
    assert site.requests == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0"])
def test_loopback_is_refused_after_resolution_without_the_allow_setting(
    ours: tuple[TestClient, Settings], jiangsu: Path, site: PartnerSite, host: str
) -> None:
    client, _ = ours
    _register(client, jiangsu, site.url("list").replace("127.0.0.1", host))
    status, answer = _fetch(client)
    assert status == 422 and answer["error"] == "address_refused", answer
    assert "non-public address" in answer["detail"]
    assert site.requests == []  # refused before any connection


def test_a_closed_port_and_open_ones_that_fail_give_the_same_answer(
    allowing: tuple[TestClient, Settings], jiangsu: Path, site: PartnerSite
) -> None:
    client, _ = allowing
    answers = []
    for url in (f"http://127.0.0.1:{free_port()}/list", site.url("missing"), site.url("drop"), site.url("drip")):
        _register(client, jiangsu, url)
        answers.append(_fetch(client))
    assert answers[0] == (
        502,
        {"error": "partner_unreachable", "detail": "the partner's trust list could not be fetched"},
    )
    assert all(a == answers[0] for a in answers), answers
    assert "127.0.0.1" not in json.dumps(answers) and "port" not in json.dumps(answers)


@pytest.mark.parametrize("path", ["bomb", "endless"])
def test_a_gzip_bomb_and_an_endless_answer_stop_at_the_limit(
    allowing: tuple[TestClient, Settings], jiangsu: Path, site: PartnerSite, path: str
) -> None:
    client, _ = allowing
    _register(client, jiangsu, site.url(path))
    status, answer = _fetch(client)
    if path == "bomb":  # an encoded answer is never inflated: it was asked for as identity
        assert (status, answer["error"]) == (502, "partner_unreachable"), answer
    else:
        assert (status, answer["error"]) == (413, "too_large"), answer
    assert client.get("/v1/admin/partners", headers=_auth()).json()["partners"][0]["trust_list"] is None


def test_a_slow_drip_is_stopped_at_the_whole_fetch_deadline(
    allowing: tuple[TestClient, Settings], jiangsu: Path, site: PartnerSite
) -> None:
    client, _ = allowing
    _register(client, jiangsu, site.url("drip"))
    began = time.monotonic()
    status, answer = _fetch(client)
    assert (status, answer["error"]) == (502, "partner_unreachable")
    assert time.monotonic() - began < DRIP_S  # it ended before the drip did (no tight timing asserted)


FETCH_IN_A_FRESH_PROCESS = """
import asyncio, json, resource, sys
from app.api.partner_fetch import FetchError, fetch_trust_list
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    asyncio.run(fetch_trust_list(sys.argv[1], allow_hosts=["127.0.0.1"], deadline_s=30))
    outcome = "fetched"
except FetchError as exc:
    outcome = exc.code
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "growth_kib": after - before}))
"""


@pytest.mark.parametrize("path", ["bomb", "endless"])
def test_a_gzip_bomb_and_an_endless_answer_leave_memory_small(site: PartnerSite, path: str) -> None:
    """Peak memory of a fresh process around one fetch (ru_maxrss): the limit is 1 MiB, allow 32 MiB."""
    done = subprocess.run(
        [sys.executable, "-c", FETCH_IN_A_FRESH_PROCESS, site.url(path)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["outcome"] in ("too_large", "partner_unreachable"), result
    assert result["growth_kib"] < 32 * 1024, result
