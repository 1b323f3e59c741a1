"""The trust list, catalogue snapshot and revocation list a gate decides with, cached on disk.

Files are replaced atomically (write, fsync, rename) and only after their signature checks
out against the trust-list root key, so a torn write or a forged download can never become
the gate's trust. A document past its max age still loads: decisions then say "manual check"
(the verifier and the decider report staleness), which beats refusing to start at a gate that
has been offline for a week.

The revocation list is kept as the signed documents it came in: the whole list
(`revocations.json`) and the deltas applied on it since, each named by the version it applies
to (`revocations.since-V.json`), so every entry the gate holds is still signed by the root on
disk. Loading verifies the whole chain; a list of a million entries takes seconds to verify, so
the verified chain is remembered in this process while its files are unchanged. A delta whose
`since` is not the version held is refused and changes nothing. After `MAX_DELTAS` deltas the
next refresh asks for the whole list again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

from keys.algorithms import PublicKey
from keys.errors import SuishenError
from keys.revocation_list import RevocationList, load_revocation_list
from keys.signed_json import SignedDocumentError
from verifier.catalogue import Snapshot, load_snapshot
from verifier.trust import TrustStore


class Kind(NamedTuple):
    label: str
    route: str
    filename: str


TRUST_LIST = Kind("trust list", "/v1/trust-list", "trust-list.json")
CATALOGUE = Kind("catalogue snapshot", "/v1/catalogue/snapshot", "catalogue.json")
REVOCATIONS = Kind("revocation list", "/v1/revocations", "revocations.json")
KINDS = (TRUST_LIST, CATALOGUE)  # refreshed by ETag alone; the revocation list also by version (refresh.py)
MAX_DELTAS = 32  # past this many deltas the next refresh asks for the whole list
_MAX_CHAIN = 1000  # deltas read at most (a guard: refresh keeps the chain to MAX_DELTAS)


class DocumentError(SuishenError, ValueError):
    """A document cannot be used (unreadable, bad signature, older than the one in use)."""


class Loaded(NamedTuple):
    store: TrustStore | None
    snapshot: Snapshot | None
    problems: list[str]
    revocations: RevocationList | None = None


class HeldChain(NamedTuple):
    """The revocation list on disk: the whole list's file and the deltas applied on it, in order."""

    files: list[Path]
    version: int  # as the files say (read without checking; the checked list is `DocumentCache.revocations`)


def _payload_field(document: bytes, name: str) -> object:
    try:
        return json.loads(document)["payload"].get(name)
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, RecursionError):
        return None


def _issued_at(document: bytes) -> int:
    """The (unverified) issue time, so that the signature check does not also refuse a stale list."""
    try:
        value = json.loads(document)["payload"]["issued_at"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
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


def check_revocations(document: bytes, root: PublicKey, held: RevocationList | None = None) -> RevocationList:
    """A whole list, or a delta applied on `held` (never changed); checked as of its own issue time."""
    try:
        return load_revocation_list(document, root, _issued_at(document), held=held)
    except SignedDocumentError as exc:
        raise DocumentError(str(exc)) from None


class DocumentCache:
    """The signed documents in one folder, each with the ETag it was served with."""

    def __init__(self, folder: Path, root: PublicKey) -> None:
        self.folder = folder
        self.root = root
        folder.mkdir(parents=True, exist_ok=True)
        self._checked: tuple[tuple[tuple[str, int, int], ...], RevocationList | None] | None = None

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
        revocations = self.revocations(problems)
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
        return Loaded(store, snapshot, problems, revocations)

    # -- the revocation list --------------------------------------------------------------------
    def _delta_path(self, since: int) -> Path:
        return self.folder / f"revocations.since-{since}.json"

    def held_chain(self) -> HeldChain | None:
        """The files of the list held, without checking them (for the version to ask a delta since)."""
        full = self.path(REVOCATIONS)
        try:
            document = full.read_bytes()
        except OSError:
            return None
        version = _payload_field(document, "version")
        if type(version) is not int:
            return HeldChain([full], -1)
        files = [full]
        while len(files) <= _MAX_CHAIN and (delta := self._delta_path(version)).exists():
            try:
                after = _payload_field(delta.read_bytes(), "version")
            except OSError:
                break
            if type(after) is not int or after <= version:
                break
            files.append(delta)
            version = after
        return HeldChain(files, version)

    def revocations(self, problems: list[str] | None = None) -> RevocationList | None:
        """The revocation list held, every document of it checked; None (and a problem) when there is none."""
        problems = problems if problems is not None else []
        chain = self.held_chain()
        if chain is None:
            problems.append(f"no {REVOCATIONS.label} on this gate yet")
            return None
        try:
            stamp = _stamp(chain.files)
            if self._checked is not None and self._checked[0] == stamp:
                return self._checked[1]
            held = None
            for path in chain.files:
                held = check_revocations(path.read_bytes(), self.root, held)
        except DocumentError as exc:
            problems.append(f"cached revocation list refused: {exc}")
            return None
        except OSError as exc:
            problems.append(f"cannot read the cached revocation list: {exc.strerror}")
            return None
        self._checked = (stamp, held)
        return held

    def _install_revocations(self, document: bytes, etag: str | None) -> int:
        since = _payload_field(document, "since")
        if since is None:
            checked = check_revocations(document, self.root)
            chain = self.held_chain()
            held_version = chain.version if chain is not None else -1
            if checked.version < held_version:
                raise DocumentError(
                    f"revocation list version {checked.version} is older than version {held_version} in use"
                )
            _atomic_write(self.path(REVOCATIONS), document)
            for old in self.folder.glob("revocations.since-*.json"):
                old.unlink(missing_ok=True)
        else:
            held = self.revocations()
            if held is None:
                raise DocumentError(f"revocation list delta since version {since!r}, but no usable list is held")
            checked = check_revocations(document, self.root, held)  # refuses a delta that is not on `held`
            _atomic_write(self._delta_path(held.version), document)
        self._write_etag(REVOCATIONS, etag)
        chain = self.held_chain()  # remembered as checked: a million entries are not verified twice
        same = chain is not None and chain.version == checked.version
        self._checked = (_stamp(chain.files), checked) if chain is not None and same else None
        return checked.version

    def _read(self, kind: Kind, problems: list[str]) -> bytes | None:
        try:
            return self.path(kind).read_bytes()
        except FileNotFoundError:
            problems.append(f"no {kind.label} on this gate yet")
        except OSError as exc:
            problems.append(f"cannot read the cached {kind.label}: {exc.strerror}")
        return None

    def install(self, kind: Kind, document: bytes, etag: str | None = None) -> int:
        """Check and store a document; its version, or DocumentError (the cached one stays).

        A revocation list may be a delta: it is applied on the list held, or refused.
        """
        if kind is REVOCATIONS:
            return self._install_revocations(document, etag)
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
        self._write_etag(kind, etag)
        return version

    def _write_etag(self, kind: Kind, etag: str | None) -> None:
        etag_path = self.folder / (kind.filename + ".etag")
        if etag:
            _atomic_write(etag_path, etag.encode())
        else:
            etag_path.unlink(missing_ok=True)

    def _check(self, kind: Kind, document: bytes) -> int:
        if kind is TRUST_LIST:
            return check_trust_list(document, self.root).version
        return check_catalogue(document, self.root).version


def _stamp(files: list[Path]) -> tuple[tuple[str, int, int], ...]:
    """What identifies the files of a chain as verified: names, sizes and modification times."""
    return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
