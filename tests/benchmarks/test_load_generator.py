"""The load generator `make bench` uses where wrk is not installed, against a real HTTP server on loopback.

`make bench` once failed on a fresh machine because this fallback took the URL's path for part of
its port; the benchmarks themselves are not run in the tests, so this runs the fallback alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from benchmarks.http import python_load


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the load generator expects
    paths: ClassVar[list[str]] = []  # every path asked for, across the handler's instances

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.paths.append(self.path)
        body = b'{"ok":true}'
        self.send_response(200 if self.path == "/bare" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_the_python_load_generator_sends_the_lines_to_a_url_with_a_path(server: str, tmp_path: Path) -> None:
    lines = tmp_path / "bare.txt"
    lines.write_text('/bare\tBearer x\t{"n": 1}\n/missing\tBearer x\t{"n": 2}\n')
    result = python_load(f"{server}/bare", lines, 0.3, 2)
    assert result["requests"] > 10 and result["socket_errors"] == 0
    assert 0 < result["non2xx"] < result["requests"]  # the /missing line answered 404, the /bare one 200
    assert set(_Answer.paths) == {"/bare", "/missing"}
    assert 0 < result["p50_us"] <= result["p99_us"] <= result["max_us"]
