"""The page routes alone (no browser): headers, the static folder's boundary, the service worker's list."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.api.web.pages import STATIC, router


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    app.include_router(router)
    return TestClient(app)


@pytest.mark.parametrize("path", ["/", "/staff", "/admin", "/disclosure", "/policies"])
def test_pages_are_served_with_a_strict_policy(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "'unsafe-eval'" not in policy
    assert "http" not in answer.text.replace('xmlns="http', ""), "a page must load nothing from elsewhere"


def test_service_worker_is_served_from_the_root(client: TestClient) -> None:
    answer = client.get("/sw.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["service-worker-allowed"] == "/"


def test_every_file_the_service_worker_keeps_exists(client: TestClient) -> None:
    shell = re.findall(r'"(/[^"]*)"', (STATIC / "sw.js").read_text().split("];")[0])
    assert "/" in shell and "/static/js/holder.js" in shell
    for path in shell:
        assert client.get(path).status_code == 200, path
    # and every module the citizen page imports is among them, so that it loads offline
    for module in re.findall(r'from "\./([a-z0-9]+\.js)"', (STATIC / "js" / "citizen.js").read_text()):
        assert f"/static/js/{module}" in shell, module


def test_static_files_stay_inside_the_folder(client: TestClient) -> None:
    assert client.get("/static/js/holder.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/vendor/zxing-wasm/reader/zxing_reader.wasm").headers["content-type"] == (
        "application/wasm"
    )
    assert client.get("/static/vendor/uqr/LICENSE").headers["content-type"].startswith("text/plain")
    for bad in ("/static/../pages.py", "/static/%2e%2e/pages.py", "/static/js/nothing.js", "/static/js"):
        assert client.get(bad).status_code == 404, bad


def test_every_module_import_resolves(client: TestClient) -> None:
    for path in (STATIC / "js").glob("*.js"):
        for target in re.findall(r'(?:from|import)\s*\(?\s*"([^"]+\.js)"', path.read_text()):
            url = target if target.startswith("/") else f"/static/js/{target.removeprefix('./')}"
            assert client.get(url).status_code == 200, f"{path.name} imports {target}"


def test_vendored_libraries_keep_their_licences() -> None:
    for folder in ("uqr", "zxing-wasm"):
        assert (STATIC / "vendor" / folder / "LICENSE").read_text().startswith("MIT License")
