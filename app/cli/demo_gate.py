"""The demo's gate and handheld: what a newcomer needs to point `suishen-gate` at `suishen serve --demo`.

`prepare_demo_devices` registers one gate device (at `DEMO_VENUE`) and one handheld device in the
services database and keeps their API keys in 0600 files under `<data_dir>/demo-gate/`, beside a
copy of the trust-list root public key and a folder for the sample code's QR image. It is
idempotent across restarts: a device whose key file still matches an active device is reused and
its file left alone; otherwise a new device is registered, the earlier demo device of that name
(whose key went with its file) is revoked, and the new key written. Only key hashes are stored
in the database, so a lost key file cannot be recovered, only replaced.

`gate_command` writes a command line that works exactly as printed: absolute paths, shell
quoting, and the `suishen-gate` beside this Python when it is not the one on PATH.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select, update

from app.private_files import private_dir, private_file

DEMO_VENUE = "sh-century-park"  # a park: the 60+ half-price and 65+ free policies, no time window, no daily limit
GATE_NAME = "demo gate (suishen serve --demo)"
HANDHELD_NAME = "demo handheld (suishen serve --demo)"
FOLDER = "demo-gate"
GATE_KEY_FILE = "gate.key"
HANDHELD_KEY_FILE = "handheld.key"
ROOT_FILE = "root.pub.pem"
IMAGES = "images"
STATE = "state"
SAMPLE_IMAGE = "sample-code.png"


@dataclass(frozen=True)
class DemoDevice:
    id: str
    api_key: str
    key_file: Path
    new: bool  # registered (and its key file written) by this call


@dataclass(frozen=True)
class DemoGate:
    folder: Path  # absolute
    venue: str
    gate: DemoDevice
    handheld: DemoDevice

    @property
    def root(self) -> Path:
        return self.folder / ROOT_FILE

    @property
    def images(self) -> Path:
        return self.folder / IMAGES

    @property
    def state(self) -> Path:
        return self.folder / STATE

    def command(self, server: str) -> str:
        """The one `suishen-gate` command: this server, this root key, this venue, the gate's key file."""
        return gate_command(
            "--server", server, "--root", self.root, "--venue", self.venue, "--api-key-file", self.gate.key_file,
            "--state", self.state, "--images", self.images,
        )  # fmt: skip


def write_private_text(path: Path, text: str) -> None:
    """`text` into `path` as a 0600 file, replaced whole (a reader never sees half a key)."""
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    private_file(partial)
    partial.write_text(text + "\n", encoding="utf-8")
    os.replace(partial, path)


def _read_key(path: Path) -> str | None:
    try:
        key = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return key or None


def ensure_device(
    engine: Engine, key_file: Path, name: str, role: str, venue: str | None, now: dt.datetime
) -> DemoDevice:
    """The active device whose key is in `key_file`, else a new one: its key file rewritten, its predecessor revoked."""
    from app.api.auth import DeviceKeys, key_hash
    from app.db.schema import devices

    key = _read_key(key_file)
    if key is not None:
        with engine.connect() as db:
            row = db.execute(
                select(devices.c.id, devices.c.venue).where(
                    devices.c.key_sha256 == key_hash(key), devices.c.role == role, devices.c.revoked.is_(False)
                )
            ).first()
        if row is not None and row.venue == venue:
            return DemoDevice(row.id, key, key_file, new=False)
    with engine.begin() as db:  # its key is gone with the file (or names no active device): nobody can use it again
        db.execute(
            update(devices).where(devices.c.name == name, devices.c.role == role, devices.c.revoked.is_(False))
            .values(revoked=True)
        )  # fmt: skip
    device_id, api_key = DeviceKeys(engine, None).register(name, role, venue, now)
    write_private_text(key_file, api_key)
    return DemoDevice(device_id, api_key, key_file, new=True)


def prepare_demo_devices(engine: Engine, data_dir: Path, root_public_pem: bytes, now: dt.datetime) -> DemoGate:
    """The demo gate and handheld, their key files, the root public key file and the images folder."""
    folder = private_dir(data_dir / FOLDER).resolve()
    private_dir(folder / IMAGES)
    private_dir(folder / STATE)
    root = folder / ROOT_FILE
    if not root.exists() or root.read_bytes() != root_public_pem:  # new keys (a fresh keys folder): a new root
        partial = root.with_name(f".{ROOT_FILE}.partial")
        partial.write_bytes(root_public_pem)
        os.replace(partial, root)
    gate = ensure_device(engine, folder / GATE_KEY_FILE, GATE_NAME, "gate", DEMO_VENUE, now)
    handheld = ensure_device(engine, folder / HANDHELD_KEY_FILE, HANDHELD_NAME, "handheld", None, now)
    return DemoGate(folder, DEMO_VENUE, gate, handheld)


def gate_program() -> str:
    """`suishen-gate` when PATH finds the one installed beside this Python, else that one's full path."""
    beside = Path(sys.executable).absolute().parent / "suishen-gate"
    if not beside.exists():
        return "suishen-gate"
    found = shutil.which("suishen-gate")
    if found is not None and Path(found).resolve() == beside.resolve():
        return "suishen-gate"
    return str(beside)


def gate_command(*arguments: str | Path) -> str:
    """A `suishen-gate` command line, quoted for a POSIX shell, paths made absolute."""
    words = [str(a.absolute()) if isinstance(a, Path) else a for a in arguments]
    return shlex.join([gate_program(), *words])


def server_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
