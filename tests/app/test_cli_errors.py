"""The command line catches SuishenError once: each failure below is one line and exit status 2, no stack trace.

Each error was a plain ValueError before the error tree (caught then by a list of built-ins), so
these keep the message a user saw while the commands catch `SuishenError` (and `OSError`) only.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from app.cli import app
from keys.ring import MAX_CREDENTIAL_LIFE_S
from keys.storage import PASSPHRASE_ENV


@pytest.fixture
def keys_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse battery staple")
    folder = tmp_path / "keys"
    assert CliRunner().invoke(app, ["keys", "init", "--dir", str(folder)]).exit_code == 0
    return folder


def _fails(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"error: {message}"


def test_a_lifetime_out_of_range_is_named(keys_dir: Path, tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"subject": "ab" * 16, "age_over": 60}))
    args = ["issue", "--keys", str(keys_dir), "--profile", str(profile), "--lifetime", "0"]
    _fails(args, f"lifetime must be 1 to {MAX_CREDENTIAL_LIFE_S} seconds")


def test_an_image_without_a_code_is_named(keys_dir: Path, tmp_path: Path) -> None:
    trust = tmp_path / "trust.json"
    assert (
        CliRunner().invoke(app, ["keys", "trust-list", "export", "--out", str(trust), "--dir", str(keys_dir)]).exit_code
        == 0
    )
    blank = tmp_path / "blank.png"
    Image.new("L", (200, 200), 255).save(blank)
    args = ["verify", "--trust-list", str(trust), "--root", str(keys_dir / "root.pub.pem"), "--image", str(blank)]
    _fails(args, f"no QR code found in {blank}")


def test_a_kid_that_is_not_hex_and_an_oversized_partner_list_are_named(keys_dir: Path, tmp_path: Path) -> None:
    _fails(
        ["keys", "revoke", "not-hex", "--dir", str(keys_dir)],
        "non-hexadecimal number found in fromhex() arg at position 0",
    )
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2_000_000)
    result = CliRunner().invoke(app, ["keys", "partner", "import", "320000", str(big), "--dir", str(keys_dir)])
    assert result.exit_code == 2 and result.output.startswith("error: ") and "bytes: not a trust list" in result.output
