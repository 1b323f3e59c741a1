"""schemathesis against the app's own OpenAPI document: no request the document allows (or nearly allows) is a 500.

Bounded: a few examples per operation, derandomised so that CI runs the same cases each time
(SUISHEN_FUZZ_EXAMPLES raises the count for a longer local run). Every error is JSON
`{"error", "detail"}` as docs/api.md promises.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from app.api.server import create_app
from app.api.services import Services
from tests.support.services import ADMIN_KEY, Place

EXAMPLES = int(os.environ.get("SUISHEN_FUZZ_EXAMPLES", "12"))


@pytest.fixture
def fuzzed_app(place: Place) -> Iterator[tuple[Any, Services]]:
    configured = place.settings(codes_per_minute=100_000, requests_per_minute_per_ip=100_000, demo=True)
    services = Services(configured)
    try:
        yield create_app(configured, services), services
    finally:
        services.close()


def check_answer(method: str, path: str, response: Any) -> None:
    where = f"{method} {path} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, where
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])  # schemathesis keeps every value of a header
        assert str(content_type[0] if isinstance(content_type, list) else content_type).startswith(
            "application/json"), where  # fmt: skip
        body = json.loads(response.content)
        assert isinstance(body.get("error"), str) and isinstance(body.get("detail"), str), where
        assert "Traceback" not in response.text, where


def exercise(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    """A bounded, derandomised hypothesis run over one operation."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        check_answer(case.method, case.formatted_path, response)

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_anywhere_in_the_document(
    place: Place, fuzzed_app: tuple[Any, Services], mode: GenerationMode
) -> None:
    app, services = fuzzed_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    senior = services.tokens.issue(place.template.seniors[0], time.time())[0]
    _, gate_key = services.devices.register("fuzz gate", "gate", None, services.now_utc())
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        tags = operation.definition.raw.get("tags", [])
        token = senior if "citizen" in tags else ADMIN_KEY
        if operation.path == "/v1/verify":
            token = gate_key
        headers = {"Authorization": f"Bearer {token}"}

        try:
            exercise(operation, mode, headers)
        except Unsatisfiable:  # negative mode: an operation without parameters or body has nothing to break
            assert mode is GenerationMode.NEGATIVE, operation.label
        tried += 1
    assert tried >= 25  # every operation of the document was exercised
