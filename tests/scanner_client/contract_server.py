"""A small real HTTP server with only the gate's part of docs/api.md, for the outbox tests.

Written before `app/server.py` existed; it speaks the same contract (bearer key, signed
documents by ETag with 304, `POST /v1/events` stored idempotently by id). The document refresh
tests now run against the real server (test_offline.py); test_outbox.py still uses this one,
and one of its cases needs it or a proxy in front of the real server: a batch stored whose
answer is lost on the way back (`drop_answers`), which the real server never does.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ContractServer:
    def __init__(self, port: int, api_key: str, documents: dict[str, bytes]) -> None:
        self.port = port
        self.api_key = api_key
        self.documents = documents  # route → body
        self.events: dict[str, dict[str, Any]] = {}
        self.posts = 0
        self.received = Counter[str]()  # how many times each id arrived (duplicates included)
        self.drop_answers = 0  # store the next N batches but close the connection instead of answering
        self.lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                body = server.documents.get(self.path)
                if body is None:
                    self._json(404, {"error": "not_found", "detail": self.path})
                    return
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                if self.path != "/v1/events":
                    self._json(404, {"error": "not_found", "detail": self.path})
                    return
                if self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    self._json(401, {"error": "unauthenticated", "detail": "bad device key"})
                    return
                try:
                    events = json.loads(raw)["events"]
                    assert isinstance(events, list) and len(events) <= 1000
                    assert all(isinstance(e, dict) and len(e["id"]) == 32 for e in events)
                except (ValueError, KeyError, TypeError, AssertionError):
                    self._json(400, {"error": "bad_request", "detail": "events must be a list of events"})
                    return
                with server.lock:
                    server.posts += 1
                    stored = duplicates = 0
                    for e in events:
                        server.received[e["id"]] += 1
                        if e["id"] in server.events:
                            duplicates += 1
                        else:
                            server.events[e["id"]] = e
                            stored += 1
                    drop = server.drop_answers > 0
                    server.drop_answers -= drop
                if drop:  # stored, but the answer is lost on the way back
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self._json(200, {"stored": stored, "duplicates": duplicates})

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
