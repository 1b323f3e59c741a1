"""`make bench`'s asyncio load generator (used where wrk is not installed) against a real `suishen serve`.

A few hundred verify requests, some with a key the server refuses; what the generator reports must
be what the server counted in its own /metrics. Counts only: speed is measured in `make bench`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.http import python_load
from tests.support.services import ADMIN_KEY, Place, Served

MUSEUM = "sh-museum"


def _served(metrics: str, status: str, route: str | None = None) -> int:
    """Requests answered with `status` (on `route`), as the server's request histogram counts them. A request
    the guard refuses before routing (a wrong key) is counted under route "unmatched"."""
    total = 0.0
    for labels, value in re.findall(r"suishen_request_seconds_count\{([^}]*)\} (\S+)", metrics):
        if (route is None or f'route="{route}"' in labels) and f'status="{status}"' in labels:
            total += float(value)
    return int(total)


def test_the_load_generator_reports_what_the_server_answered(
    place: Place, serve: Callable[..., Served], tmp_path: Path
) -> None:
    limits = {"SUISHEN_REQUESTS_PER_MINUTE_PER_IP": "1000000", "SUISHEN_DEVICE_REQUESTS_PER_MINUTE": "1000000"}
    server: Any = serve(place, **limits)
    made = server.client.post("/v1/admin/devices", json={"name": "load", "role": "gate", "venue": MUSEUM},
                              headers={"Authorization": f"Bearer {ADMIN_KEY}"})  # fmt: skip
    assert made.status_code == 200, made.text
    key = made.json()["api_key"]
    body = '{"code": "SP1:NOT-A-CODE", "venue": "sh-museum"}'
    lines = tmp_path / "verify.txt"
    lines.write_text(f"/v1/verify\tBearer {key}\t{body}\n" * 3 + f"/v1/verify\tBearer sk_wrong\t{body}\n")
    before = server.client.get("/metrics").text
    result = python_load(f"{server.url}/v1/verify", lines, 0.6, 4)
    after = server.client.get("/metrics").text
    assert result["socket_errors"] == 0
    assert result["requests"] >= 100, result  # a few hundred on these machines
    answered = _served(after, "200", "/v1/verify") - _served(before, "200", "/v1/verify")
    refused = _served(after, "401") - _served(before, "401")
    assert answered + refused == result["requests"], (answered, refused, result)
    assert refused == result["non2xx"] > 0  # every fourth line carries a key the server refuses
    assert result["reconnects"] == refused  # the server closes after a refusal; the generator opens another
    assert answered > 2 * refused
