"""The trust list and catalogue snapshot a gate decides with, cached on disk and checked at every load.

Files are replaced atomically (write, fsync, rename) and only after their signature checks
out against the trust-list root key, so a torn write or a forged download can never become
the gate's trust. A document past its max age still loads: decisions then say "manual check"
(the verifier and the decider report staleness), which beats refusing to start at a gate that
has been offline for a week.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

from keys.algorithms import PublicKey
from keys.errors import SuishenError
from keys.signed_json import SignedDocumentError
from verifier.catalogue import Snapshot, load_snapshot
from verifier.trust import TrustStore


class Kind(NamedTuple):
    label: str
    route: str
    filename: str


TRUST_LIST = Kind("trust list", "/v1/trust-list", "trust-list.json")
CATALOGUE = Kind("catalogue snapshot", "/v1/catalogue/snapshot", "catalogue.json")
KINDS = (TRUST_LIST, CATALOGUE)


class DocumentError(SuishenError, ValueError):
    """A document cannot be used (unreadable, bad signature, older than the one in use)."""


class Loaded(NamedTuple):
    store: TrustStore | None
    snapshot: Snapshot | None
    problems: list[str]


def _issued_at(document: bytes) -> int:
    """The (unverified) issue time, so that the signature check does not also refuse a stale list."""
    try:
        value = json.loads(document)["payload"]["issued_at"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return 0
    return value if type(value) is int else 0


def check_trust_list(document: bytes, root: PublicKey) -> TrustStore:
    try:
        return TrustStore.from_document(document, root, _issued_at(document))
    except SignedDocumentError as exc:
        raise DocumentError(str(exc)) from None


def check_catalogue(document: bytes, root: PublicKey) -> Snapshot:
    try:
        return load_snapshot(document, root)
    except SignedDocumentError as exc:
        raise DocumentError(str(exc)) from None


class DocumentCache:
    """The two signed documents in one folder, each with the ETag it was served with."""

    def __init__(self, folder: Path, root: PublicKey) -> None:
        self.folder = folder
        self.root = root
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, kind: Kind) -> Path:
        return self.folder / kind.filename

    def etag(self, kind: Kind) -> str | None:
        try:
            return (self.folder / (kind.filename + ".etag")).read_text().strip() or None
        except OSError:
            return None

    def load(self) -> Loaded:
        problems: list[str] = []
        store = snapshot = None
        trust_bytes, catalogue_bytes = self._read(TRUST_LIST, problems), self._read(CATALOGUE, problems)
        if trust_bytes is not None:
            try:
                store = check_trust_list(trust_bytes, self.root)
            except DocumentError as exc:
                problems.append(f"cached trust list refused: {exc}")
        if catalogue_bytes is not None:
            try:
                snapshot = check_catalogue(catalogue_bytes, self.root)
            except DocumentError as exc:
                problems.append(f"cached catalogue snapshot refused: {exc}")
        return Loaded(store, snapshot, problems)

    def _read(self, kind: Kind, problems: list[str]) -> bytes | None:
        try:
            return self.path(kind).read_bytes()
        except FileNotFoundError:
            problems.append(f"no {kind.label} on this gate yet")
        except OSError as exc:
            problems.append(f"cannot read the cached {kind.label}: {exc.strerror}")
        return None

    def install(self, kind: Kind, document: bytes, etag: str | None = None) -> int:
        """Check and store a document; its version, or DocumentError (the cached one stays)."""
        version = self._check(kind, document)
        current = self.path(kind)
        if current.exists():
            try:
                in_use = self._check(kind, current.read_bytes())
            except (DocumentError, OSError):
                in_use = -1
            if version < in_use:
                raise DocumentError(f"{kind.label} version {version} is older than version {in_use} in use")
        _atomic_write(current, document)
        etag_path = self.folder / (kind.filename + ".etag")
        if etag:
            _atomic_write(etag_path, etag.encode())
        else:
            etag_path.unlink(missing_ok=True)
        return version

    def _check(self, kind: Kind, document: bytes) -> int:
        if kind is TRUST_LIST:
            return check_trust_list(document, self.root).version
        return check_catalogue(document, self.root).version


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
