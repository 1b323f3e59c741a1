"""Shared fixtures: the world of tests/support/world.py (real keys, a signed trust list), and an environment."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.world import World, make_world


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture(params=["ES256", "EdDSA"])
def any_alg_world(request: pytest.FixtureRequest) -> World:
    from keys.algorithms import ALG_IDS

    return make_world(ALG_IDS[request.param])


WorldFactory = Callable[..., World]


@pytest.fixture
def world_factory() -> WorldFactory:
    return make_world


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Environment for running the installed commands: a passphrase file, no other SUISHEN_ settings."""
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple\n")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SUISHEN_")}
    environment["SUISHEN_KEY_PASSPHRASE_FILE"] = str(secret)
    return environment
