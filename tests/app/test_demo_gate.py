"""The demo's gate and handheld devices: registered once, their keys kept in 0600 files, replaced only when lost."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

from sqlalchemy import Engine, select

from app.api.auth import DeviceKeys
from app.cli.demo_gate import DEMO_VENUE, gate_command, prepare_demo_devices, server_url
from app.db.engine import open_database
from app.db.schema import devices

NOW = dt.datetime(2026, 11, 26, 9, 0)
ROOT_PEM = b"-----BEGIN PUBLIC KEY-----\nroot one\n-----END PUBLIC KEY-----\n"


def _active(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as db:
        rows = db.execute(select(devices.c.id, devices.c.role).where(devices.c.revoked.is_(False))).all()
    return sorted((r.role, r.id) for r in rows)


def test_the_devices_are_made_once_and_reused_with_their_key_files_untouched(tmp_path: Path) -> None:
    engine = open_database(tmp_path / "services.sqlite")
    first = prepare_demo_devices(engine, tmp_path / "serve", ROOT_PEM, NOW)
    assert first.gate.new and first.handheld.new and first.venue == DEMO_VENUE
    for device in (first.gate, first.handheld):
        assert stat.S_IMODE(device.key_file.stat().st_mode) == 0o600
        assert device.key_file.read_text().strip() == device.api_key
    assert first.root.read_bytes() == ROOT_PEM and first.images.is_dir() and first.state.is_dir()
    keys = DeviceKeys(engine, None)
    gate, handheld = keys.authenticate(first.gate.api_key, 0), keys.authenticate(first.handheld.api_key, 0)
    assert gate is not None and (gate.role, gate.venue) == ("gate", DEMO_VENUE)
    assert handheld is not None and (handheld.role, handheld.venue) == ("handheld", None)

    written = first.gate.key_file.stat().st_mtime_ns
    again = prepare_demo_devices(engine, tmp_path / "serve", ROOT_PEM, NOW)
    assert not again.gate.new and not again.handheld.new
    assert (again.gate.id, again.handheld.id) == (first.gate.id, first.handheld.id)
    assert first.gate.key_file.stat().st_mtime_ns == written
    assert len(_active(engine)) == 2


def test_a_lost_key_file_gives_a_new_device_and_revokes_the_old_one(tmp_path: Path) -> None:
    engine = open_database(tmp_path / "services.sqlite")
    first = prepare_demo_devices(engine, tmp_path / "serve", ROOT_PEM, NOW)
    first.gate.key_file.unlink()
    second = prepare_demo_devices(engine, tmp_path / "serve", ROOT_PEM, NOW)
    assert second.gate.new and second.gate.id != first.gate.id and not second.handheld.new
    assert second.gate.key_file.read_text().strip() == second.gate.api_key
    assert DeviceKeys(engine, None).authenticate(first.gate.api_key, 0) is None  # nobody holds that key any more
    assert _active(engine) == sorted([("gate", second.gate.id), ("handheld", first.handheld.id)])


def test_a_key_file_the_database_does_not_know_is_replaced_and_a_new_root_rewritten(tmp_path: Path) -> None:
    engine = open_database(tmp_path / "services.sqlite")
    first = prepare_demo_devices(engine, tmp_path / "serve", ROOT_PEM, NOW)
    fresh = open_database(tmp_path / "another.sqlite")  # a new services database, the same data folder
    other_root = ROOT_PEM.replace(b"one", b"two")
    second = prepare_demo_devices(fresh, tmp_path / "serve", other_root, NOW)
    assert second.gate.new and second.gate.api_key != first.gate.api_key
    assert second.gate.key_file.read_text().strip() == second.gate.api_key
    assert second.root.read_bytes() == other_root


def test_the_command_quotes_paths_and_an_ipv6_server_gets_brackets(tmp_path: Path) -> None:
    engine = open_database(tmp_path / "services.sqlite")
    gate = prepare_demo_devices(engine, tmp_path / "with space", ROOT_PEM, NOW)
    command = gate.command(server_url("::1", 8000))
    assert "--server 'http://[::1]:8000'" in command
    assert f"--api-key-file '{gate.gate.key_file}'" in command and gate.gate.api_key not in command
    assert gate_command("--images", Path("relative")).endswith(f"--images {Path('relative').absolute()}")
