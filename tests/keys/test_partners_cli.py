"""`suishen keys partner ...` (app/cli/partners.py), driven through its typer app as a person would."""

from __future__ import annotations

import json
import threading
import time
from functools import partial
from http.server import HTTPServer, SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli.partners import partners_app
from keys import directory
from keys.algorithms import EDDSA
from keys.storage import PASSPHRASE_FILE_ENV
from keys.trust_list import load_trust_list

PASS = b"correct horse battery staple"


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    secret = tmp_path / "passphrase"
    secret.write_bytes(PASS + b"\n")
    monkeypatch.setenv(PASSPHRASE_FILE_ENV, str(secret))
    monkeypatch.delenv("SUISHEN_KEYS_DIR", raising=False)
    now = int(time.time())
    ours, jiangsu = tmp_path / "ours", tmp_path / "jiangsu"
    directory.init_directory(ours, issuer="CN-SH", region="310000", passphrase=PASS, now=now - 60)
    directory.init_directory(jiangsu, issuer="CN-JS", region="320000", passphrase=PASS, now=now - 60, alg=EDDSA)
    return ours, jiangsu


def run(*args: Any) -> Any:
    return CliRunner().invoke(partners_app, [str(a) for a in args])


def test_register_import_list_merge_export(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    ours, jiangsu = dirs
    their_list = tmp_path / "jiangsu.json"
    result = run("export", "--dir", jiangsu, "--out", their_list)
    assert result.exit_code == 0, result.output

    result = run("list", "--dir", ours)
    assert result.output.strip() == "no partners registered"
    result = run(
        "register", "320000", "--root", jiangsu / "root.pub.pem", "--issuer", "CN-JS",
        "--privileges", "age_over,residence", "--name", "江苏省", "--dir", ours,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "registered partner 320000 江苏省" in result.output and "may assert age_over, residence" in result.output

    result = run("import", "320000", their_list, "--dir", ours)
    assert result.exit_code == 0, result.output
    assert "trust list version 1 in force, 1 keys (0 revoked)" in result.output

    result = run("list", "--dir", ours, "--json")
    [summary] = json.loads(result.output)
    assert summary["issuers"] == ["CN-JS"] and summary["trust_list"]["version"] == 1

    merged = tmp_path / "merged.json"
    result = run("merge", "--dir", ours, "--out", merged)
    assert result.exit_code == 0, result.output
    assert "version 2, partners 320000 v1" in result.output  # our export alone is version 1
    trust_list = load_trust_list(merged.read_bytes(), directory.root_public_key(ours), time.time())
    assert {k.issuer for k in trust_list.keys} == {"CN-SH", "CN-JS"}


def test_a_refused_list_is_one_line_naming_what_stays(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    ours, jiangsu = dirs
    run("register", "320000", "--root", jiangsu / "root.pub.pem", "--issuer", "CN-JS", "--dir", ours)
    our_list = tmp_path / "ours.json"
    run("export", "--dir", ours, "--out", our_list)  # signed by our root, not Jiangsu's
    result = run("import", "320000", our_list, "--dir", ours)
    assert result.exit_code == 2
    assert result.output.startswith("error: partner 320000 trust list refused: ")
    assert result.output.rstrip().endswith("no list from this partner is held")
    assert len(result.output.strip().splitlines()) == 1
    result = run("import", "330000", our_list, "--dir", ours)
    assert result.exit_code == 2 and "no partner registered for region 330000" in result.output
    result = run("import", "320000", tmp_path / "missing.json", "--dir", ours)
    assert result.exit_code == 2 and "error:" in result.output


def test_a_list_is_fetched_from_a_url(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    ours, jiangsu = dirs
    served = tmp_path / "www"
    served.mkdir()
    run("export", "--dir", jiangsu, "--out", served / "trust-list.json")
    run("register", "320000", "--root", jiangsu / "root.pub.pem", "--issuer", "CN-JS", "--dir", ours)
    handler = partial(SimpleHTTPRequestHandler, directory=str(served))
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/trust-list.json"
        result = run("import", "320000", url, "--dir", ours)
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 0, result.output
    assert "version 1 in force" in result.output


def test_the_registered_url_is_fetched_only_from_an_allowed_host(
    dirs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, jiangsu = dirs
    served = tmp_path / "www"
    served.mkdir()
    run("export", "--dir", jiangsu, "--out", served / "trust-list.json")
    server = HTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/trust-list.json"
        result = run(
            "register", "320000", "--root", jiangsu / "root.pub.pem", "--issuer", "CN-JS",
            "--trust-list-url", url, "--dir", ours,
        )  # fmt: skip
        assert result.exit_code == 0 and f"list from {url}" in result.output, result.output
        monkeypatch.delenv("SUISHEN_PARTNER_FETCH_ALLOW_HOSTS", raising=False)
        refused = run("import", "320000", "--dir", ours)
        monkeypatch.setenv("SUISHEN_PARTNER_FETCH_ALLOW_HOSTS", '["127.0.0.1"]')
        fetched = run("import", "320000", "--dir", ours)
    finally:
        server.shutdown()
        server.server_close()
    assert refused.exit_code == 2 and "resolves to a non-public address (127.0.0.1)" in refused.output
    assert fetched.exit_code == 0 and "version 1 in force" in fetched.output, fetched.output
    bad = run("register", "320000", "--root", jiangsu / "root.pub.pem", "--issuer", "CN-JS",
              "--trust-list-url", "file:///etc/passwd", "--replace", "--dir", ours)  # fmt: skip
    assert bad.exit_code == 2 and "must be http(s)://host/" in bad.output
