"""Defaults of the command line that do not depend on where it runs, and one database for the CLI and the server."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.cli import match as match_commands
from app.cli.common import SAMPLE_CATALOGUE
from app.db.engine import DEFAULT_DATABASE_URL
from app.settings import Settings


def test_match_run_from_another_folder_finds_the_sample_catalogue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no data/catalogue here
    result = CliRunner().invoke(app, ["match", "run", "--registries", "reg"])
    assert result.exit_code == 2
    assert "no persons.parquet or persons.csv in reg" in result.output  # the real problem, not the catalogue
    missing = CliRunner().invoke(app, ["match", "run", "--registries", "reg", "--catalogue", "nowhere"])
    assert missing.exit_code == 2 and "no folder nowhere here: pass --catalogue DIR" in missing.output
    assert (SAMPLE_CATALOGUE / "sh-park-senior-free.yaml").is_file()


def test_every_command_that_takes_the_services_database_defaults_to_the_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUISHEN_SETTINGS_FILE", str(tmp_path / "none.env"))
    for name in ("SUISHEN_DATA_DIR", "SUISHEN_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().sqlalchemy_url == DEFAULT_DATABASE_URL
    defaults = {
        command: parameter.default
        for command, function in inspect.getmembers(match_commands, inspect.isfunction)
        for name, parameter in inspect.signature(function).parameters.items()
        if name == "ledger_url" and parameter.default is not None
    }
    assert len(defaults) >= 6 and set(defaults.values()) == {DEFAULT_DATABASE_URL}, defaults
