"""Partner regions through the HTTP API: register, import (body and URL), refuse, decide by scope."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.issuing import Issuer
from app.server import create_app
from app.settings import Settings
from keys import directory
from keys.algorithms import EDDSA
from keys.storage import read_public_key
from keys.trust_list import load_trust_list
from verifier.claims import Profile
from verifier.code import online_code

ADMIN = "sk_partner-test-admin-key"
PASS = b"partner test passphrase"


@pytest.fixture
def ours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Settings]]:
    monkeypatch.setenv("SUISHEN_KEY_PASSPHRASE", PASS.decode())
    settings = Settings(data_dir=tmp_path / "data", keys_dir=tmp_path / "keys", admin_key=ADMIN, log_requests=False)
    directory.init_directory(settings.keys_dir, issuer="CN-SH", region="310000", passphrase=PASS, now=int(time.time()))
    with TestClient(create_app(settings)) as client:
        yield client, settings


@pytest.fixture
def jiangsu(tmp_path: Path) -> Path:
    keys = tmp_path / "jiangsu"
    now = int(time.time()) - 60
    directory.init_directory(keys, issuer="CN-JS", region="320000", passphrase=PASS, now=now, alg=EDDSA)
    return keys


def _auth(key: str = ADMIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _register(client: TestClient, partner_keys: Path) -> None:
    pem = (partner_keys / directory.ROOT_PUBLIC_FILE).read_text()
    answer = client.post(
        "/v1/admin/partners",
        json={"region": "320000", "name": "Jiangsu", "root_public_pem": pem, "issuers": ["CN-JS"]},
        headers=_auth(),
    )
    assert answer.status_code == 200, answer.text


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
    assert any("sh-park-senior-free" in line for line in verdict["decision"]["explanation"])

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
    gate = client.post("/v1/admin/devices", json={"name": "gate 1", "role": "gate"}, headers=_auth()).json()["api_key"]
    pem = (jiangsu / directory.ROOT_PUBLIC_FILE).read_text()
    body = {"region": "320000", "root_public_pem": pem, "issuers": ["CN-JS"]}
    assert client.post("/v1/admin/partners", json=body, headers=_auth(gate)).status_code == 403
    assert client.post("/v1/admin/partners", json=body).status_code == 401
    assert client.get("/v1/admin/partners", headers=_auth(gate)).status_code == 403


def test_import_from_a_url_and_export_of_our_own_list(ours: tuple[TestClient, Settings], jiangsu: Path) -> None:
    client, settings = ours
    _register(client, jiangsu)
    document = directory.export_trust_list(jiangsu, passphrase=PASS, now=int(time.time()))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/trust-list.json"
        answer = client.post("/v1/admin/partners/320000/trust-list", params={"url": url}, headers=_auth())
        assert answer.status_code == 200, answer.text
        dead = client.post(
            "/v1/admin/partners/320000/trust-list", params={"url": "http://127.0.0.1:9/x"}, headers=_auth()
        )
        assert dead.status_code == 502
    finally:
        server.shutdown()

    own = client.get("/v1/trust-list/own").content
    ours_only = load_trust_list(own, read_public_key(settings.keys_dir / directory.ROOT_PUBLIC_FILE), time.time())
    assert {k.issuer for k in ours_only.keys} == {"CN-SH"}
