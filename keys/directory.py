"""A keys directory on disk: the ring (ring.json), encrypted issuer keys and the trust-list root.

Layout: ring.json, issuer-<kid>.pem (encrypted PKCS#8), root.pem (encrypted PKCS#8) and
root.pub.pem (the trust-list root public key that verifiers are configured with).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from keys.algorithms import (
    ALG_IDS,
    ES256,
    KeyAlgorithmError,
    PrivateKey,
    PublicKey,
    generate_private_key,
    load_public_key,
    spki_der,
)
from keys.ring import ALL_PRIVILEGES, STATUSES, KeyEntry, KeyRing, KeyRingError, new_entry
from keys.storage import (
    public_key_pem,
    read_private_key,
    read_public_key,
    write_private_key,
)
from keys.trust_list import DEFAULT_MAX_AGE_S, payload_from_rings, sign_trust_list

RING_FILE = "ring.json"
ROOT_KEY_FILE = "root.pem"
ROOT_PUBLIC_FILE = "root.pub.pem"
RING_FORMAT = "suishen-keyring/1"


def issuer_key_path(directory: Path, kid: bytes) -> Path:
    return directory / f"issuer-{kid.hex()}.pem"


def init_directory(
    directory: Path,
    *,
    issuer: str,
    region: str,
    passphrase: bytes | None,
    now: int,
    alg: int = ES256,
    privileges: tuple[str, ...] = ALL_PRIVILEGES,
    root_alg: int = ES256,
) -> KeyRing:
    """Create an issuer key and a trust-list root key; refuse to overwrite an existing ring.

    `root_alg` SM2 gives a deployment on national algorithms throughout (trust lists and
    catalogue snapshots are then SM2-signed too); gates need gmssl-pyx to read them.
    """
    if (directory / RING_FILE).exists():
        raise KeyRingError(f"{directory / RING_FILE} already exists: use `suishen keys rotate`")
    directory.mkdir(parents=True, exist_ok=True)
    issuer_key = generate_private_key(alg)
    root_key = generate_private_key(root_alg)
    entry = new_entry(issuer_key.public_key(), now)
    write_private_key(issuer_key_path(directory, entry.kid), issuer_key, passphrase)
    write_private_key(directory / ROOT_KEY_FILE, root_key, passphrase)
    (directory / ROOT_PUBLIC_FILE).write_bytes(public_key_pem(root_key.public_key()))
    ring = KeyRing(issuer=issuer, region=region, privileges=privileges, keys=(entry,))
    save_ring(directory, ring)
    return ring


def rotate(
    directory: Path, *, passphrase: bytes | None, now: int, alg: int | None = None, keep_until: int | None = None
) -> KeyRing:
    """A new active key; the old one stays verifiable for a day, or until `keep_until` (its cards' latest expiry)."""
    ring = load_ring(directory)
    new_key = generate_private_key(alg if alg is not None else ring.active().alg)
    ring = ring.with_new_active(new_key.public_key(), now, keep_until=keep_until)
    write_private_key(issuer_key_path(directory, ring.active().kid), new_key, passphrase)
    save_ring(directory, ring)
    return ring


def revoke(directory: Path, kid: bytes) -> KeyRing:
    ring = load_ring(directory).with_revoked(kid)
    save_ring(directory, ring)
    return ring


def signing_key(directory: Path, passphrase: bytes | None) -> tuple[KeyEntry, PrivateKey]:
    ring = load_ring(directory)
    entry = ring.active()
    return entry, read_private_key(issuer_key_path(directory, entry.kid), passphrase)


def seal_slug(department: str) -> str:
    """A file-name-safe id for a department's seal key (department names are Chinese text)."""
    return hashlib.sha256(department.encode()).hexdigest()[:12]


def seal_key(directory: Path, department: str, passphrase: bytes | None) -> PrivateKey:
    """The department's seal key (电子印章), made on first use and stored encrypted like every key."""
    path = directory / f"seal-{seal_slug(department)}.pem"
    if not path.exists():
        key = generate_private_key(ES256)
        write_private_key(path, key, passphrase)
        (directory / f"seal-{seal_slug(department)}.pub.pem").write_bytes(public_key_pem(key.public_key()))
        return key
    return read_private_key(path, passphrase)


def seal_public_key(directory: Path, department: str) -> PublicKey:
    return read_public_key(directory / f"seal-{seal_slug(department)}.pub.pem")


def root_public_key(directory: Path) -> PublicKey:
    return read_public_key(directory / ROOT_PUBLIC_FILE)


def export_trust_list(
    directory: Path, *, passphrase: bytes | None, now: int, max_age: int = DEFAULT_MAX_AGE_S
) -> bytes:
    ring = load_ring(directory)
    root_key = read_private_key(directory / ROOT_KEY_FILE, passphrase)
    payload = payload_from_rings([ring], version=ring.generation, issued_at=now, max_age=max_age)
    return sign_trust_list(payload, root_key)


def save_ring(directory: Path, ring: KeyRing) -> None:
    doc = {
        "format": RING_FORMAT,
        "issuer": ring.issuer,
        "region": ring.region,
        "privileges": list(ring.privileges),
        "generation": ring.generation,
        "keys": [
            {
                "kid": e.kid.hex(),
                "alg": e.alg_name,
                "public_key": base64.b64encode(spki_der(e.public_key)).decode(),
                "not_before": e.not_before,
                "not_after": e.not_after,
                "status": e.status,
            }
            for e in ring.keys
        ],
    }
    path = directory / RING_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)


def load_ring(directory: Path) -> KeyRing:
    path = directory / RING_FILE
    try:
        doc: Any = json.loads(path.read_text())
    except FileNotFoundError:
        raise KeyRingError(f"no key ring at {path}: run `suishen keys init --dir {directory}`") from None
    except (OSError, ValueError) as exc:
        raise KeyRingError(f"cannot read {path}: {exc}") from None
    try:
        if doc["format"] != RING_FORMAT:
            raise KeyRingError(f"{path}: format must be {RING_FORMAT!r}")
        entries = []
        for raw in doc["keys"]:
            public_key = load_public_key(base64.b64decode(raw["public_key"]))
            entry = new_entry(public_key, int(raw["not_before"]))
            if raw["kid"] != entry.kid.hex() or ALG_IDS.get(raw["alg"]) != entry.alg:
                raise KeyRingError(f"{path}: key {raw['kid']} does not match its public key")
            if raw["status"] not in STATUSES:
                raise KeyRingError(f"{path}: key {raw['kid']} has unknown status {raw['status']!r}")
            entries.append(
                KeyEntry(entry.kid, entry.alg, public_key, int(raw["not_before"]), int(raw["not_after"]), raw["status"])
            )
        return KeyRing(
            issuer=str(doc["issuer"]),
            region=str(doc["region"]),
            privileges=tuple(doc["privileges"]),
            keys=tuple(entries),
            generation=int(doc["generation"]),
        )
    except (KeyError, TypeError, ValueError, KeyAlgorithmError) as exc:
        if isinstance(exc, KeyRingError):
            raise
        raise KeyRingError(f"{path} is damaged: {exc!r}") from None
