"""Chromium for the page tests, and a client of the real server they drive (tests/web/conftest.py starts it).

The browser is never downloaded: Playwright drives Debian's /usr/bin/chromium.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_KEY = "sk_web-tests-admin-" + "0" * 24


def launch(playwright: Any, *extra: str) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *extra])


class Server:
    """`app.api.server:create_app` under uvicorn in a subprocess, over a temporary data folder."""

    def __init__(self, base: str, data: Path, keys: Path, process: subprocess.Popen[bytes]) -> None:
        self.base = base
        self.data = data
        self.keys = keys
        self.process = process
        self.admin_key = ADMIN_KEY
        self.subjects: dict[str, str] = {}

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with httpx.Client(base_url=self.base, timeout=10) as client:
            answer = client.request(method, path, json=body, headers=headers)
        assert answer.status_code < 400, f"{method} {path}: {answer.status_code} {answer.text[:300]}"
        return answer.json()

    def citizen_token(self, subject: str) -> str:
        return str(self.call("POST", "/v1/dev/login", {"subject": subject})["token"])

    def online_code(self, subject: str) -> str:
        return str(self.call("POST", "/v1/codes", token=self.citizen_token(subject))["text"])

    def device_key(self, role: str, name: str, venue: str | None = None) -> str:
        answer = self.call("POST", "/v1/admin/devices", {"name": name, "role": role, "venue": venue}, self.admin_key)
        return str(answer["api_key"])

    def verify(self, code: str, venue: str, key: str) -> dict[str, Any]:
        return dict(self.call("POST", "/v1/verify", {"code": code, "venue": venue}, key))
