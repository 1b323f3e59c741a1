"""Files that hold personal data are for the service's own user: folders 0700, files 0600.

Profiles carry disability facts, payouts carry who was paid, registries carry everyone, so none
may be readable by other local users (they were created 0644 in 0755 folders). Two layers:

- `restrict_umask()` at every entry point (`suishen`, `suishen serve` through it): files made by
  libraries we cannot pass a mode to (SQLite and its -wal/-shm, DuckDB, Parquet writers) come out
  0600 and folders 0700;
- `private_dir`, `private_file` and `tighten` where the data is made or opened, so the modes hold
  when the code runs under another entry point (an ASGI server, a test) and folders made too open
  by an earlier version are tightened on start.

A path the process does not own is left as it is: tightening is best effort, never a failure.
Nor is a shared folder tightened (sticky and open to all, as /tmp is): a results file given as
/tmp/results.duckdb once made /tmp 0700 and locked every other user out of it; the files made in
such a folder are still 0600.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def restrict_umask() -> int:
    """Make everything this process creates private from now on; returns the previous umask."""
    return os.umask(PRIVATE_UMASK)


def _chmod_private(path: Path, mode: int) -> None:
    try:
        current = stat.S_IMODE(path.lstat().st_mode)
        if path.is_symlink() or current & 0o077 == 0 or (path.is_dir() and current & stat.S_ISVTX):
            return
        path.chmod(current & ~0o077 & 0o7777 | (mode & 0o700))
    except OSError:
        pass  # not ours, or gone: nothing to tighten


def private_dir(path: Path) -> Path:
    """`path` (and missing parents) made 0700; an existing folder open to others is tightened."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _chmod_private(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """`path` created empty as 0600 if missing (its folder made private), else tightened to 0600."""
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        _chmod_private(path, FILE_MODE)
    return path


def tighten(path: Path) -> None:
    """`path` and, for a folder, everything under it: folders to 0700, files to 0600 (only ever narrower)."""
    if not path.exists():
        return
    _chmod_private(path, DIR_MODE if path.is_dir() else FILE_MODE)
    if path.is_dir() and not path.is_symlink():
        for folder, dirs, files in os.walk(path):
            for name in dirs:
                _chmod_private(Path(folder) / name, DIR_MODE)
            for name in files:
                _chmod_private(Path(folder) / name, FILE_MODE)


def private_sqlite(url: str) -> None:
    """Before SQLite opens a file URL: the file exists as 0600 (its -wal and -shm files take its mode)."""
    path = sqlite_file(url)
    if path is not None:
        private_file(path)
        for suffix in ("-wal", "-shm", "-journal"):
            _chmod_private(path.with_name(path.name + suffix), FILE_MODE)


def sqlite_file(url: str) -> Path | None:
    """The file of a `sqlite:///path` URL (None for other databases and in-memory SQLite)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[1] if "///" in url else ""
    path = path.split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


__all__ = ["private_dir", "private_file", "private_sqlite", "restrict_umask", "sqlite_file", "tighten"]
