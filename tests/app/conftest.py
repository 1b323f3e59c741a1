"""Fixtures shared by the tests of app/ (helpers are in tests/support/)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

POSTGRES_ENV = "SUISHEN_TEST_POSTGRES_URL"  # .ci/run starts a server and names it here


@pytest.fixture(params=[
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason=f"no {POSTGRES_ENV}")),
])  # fmt: skip
def services_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty services database: a new SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield str(tmp_path / "services.sqlite")
        return
    server = create_engine(os.environ[POSTGRES_ENV], isolation_level="AUTOCOMMIT")
    name = f"suishen_matching_{uuid.uuid4().hex[:12]}"
    with server.connect() as db:
        db.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as db:
            db.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()
