"""Partner regions: their trust-list roots, the lists they send us, and the merged list our gates load.

Layout inside the keys directory (this module's job is that storage):

    partners/<region>/partner.json     who the partner is, its trust-list root public key (registered by
                                       an admin), which issuer ids it uses, what it may assert, and
                                       where its list is published (the only URL the server fetches)
    partners/<region>/root.pub.pem     a copy of that root key, for people and other tools
    partners/<region>/trust-list.json  the last list we accepted from it, byte for byte
    partners/<region>/trust-list.root.pub.pem  the root that list was verified with (kept across a root change)
    partners/merged.json               the merged list's version and the digest of its keys

A partner list is accepted only when its root signed it, it is fresh, its version is newer than
the one held (the same version is accepted only as a re-issue with the same keys and a later
issue time), and every key names one of the partner's registered issuer ids and its province.
Anything else raises `TrustListError` and leaves the held list in force.

The merged list holds our ring's keys and every partner's keys, each partner key limited to the
privileges the admin allowed that partner, its residence claims tied to the partner's province,
and its validity cut at the partner list's own expiry, so a partner who stops publishing fades out
of our gates by itself. It is signed by our root; our own export stays the ring's keys alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from keys.algorithms import PublicKey, kid_of
from keys.directory import RING_FILE, ROOT_KEY_FILE, export_trust_list, load_ring
from keys.ring import ALL_PRIVILEGES, KeyRing
from keys.signed_json import canonical_json
from keys.storage import KeyStorageError, public_key_from_pem, public_key_pem, read_private_key
from keys.trust_list import (
    DEFAULT_MAX_AGE_S,
    TrustList,
    TrustListError,
    key_entry,
    load_trust_list,
    payload_from_rings,
    sign_trust_list,
    trust_list_payload,
)

PARTNERS_DIR = "partners"
PARTNER_FILE = "partner.json"
PARTNER_ROOT_FILE = "root.pub.pem"
PARTNER_LIST_FILE = "trust-list.json"
PARTNER_LIST_ROOT_FILE = "trust-list.root.pub.pem"
MERGE_STATE_FILE = "merged.json"
PARTNER_FORMAT = "suishen-partner/1"
MAX_DOCUMENT_BYTES = 1 << 20
_REGION = re.compile(r"[1-9][0-9]{5}")  # used with fullmatch: "$" would let a trailing newline through
_ISSUER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_URL_CHARS = 2048


class PartnerError(TrustListError):
    """A partner cannot be registered or found; the message says why."""


@dataclass(frozen=True, slots=True)
class Partner:
    region: str  # six-digit province code, e.g. "320000"
    name: str
    issuers: tuple[str, ...]  # the `iss` values its codes may carry
    privileges: tuple[str, ...]  # what its issuers may assert at our gates
    root: PublicKey = field(compare=False)
    registered_at: int = 0
    trust_list_url: str = ""  # where the partner publishes its signed list; "" = imported by hand only

    @property
    def root_kid(self) -> bytes:
        return kid_of(self.root)

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "name": self.name,
            "issuers": list(self.issuers),
            "privileges": list(self.privileges),
            "root_kid": self.root_kid.hex(),
            "registered_at": self.registered_at,
            "trust_list_url": self.trust_list_url or None,
        }


def partner_dir(keys_dir: Path, region: str) -> Path:
    if not _REGION.fullmatch(region):
        raise PartnerError(f"a partner region is a six-digit region code such as 320000, not {region!r}")
    return keys_dir / PARTNERS_DIR / region


def _write_atomic(path: Path, data: bytes) -> None:
    """Write then rename; the temporary name is unique, as several server workers may write at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_trust_list_url(url: str) -> str:
    """An http(s) URL with a host and no user info (its addresses are checked when it is fetched)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a bad port
    except ValueError:
        raise PartnerError(f"trust-list URL {url[:80]!r} is not a valid URL") from None
    if len(url) > MAX_URL_CHARS or parts.scheme not in ("http", "https") or not parts.hostname:
        raise PartnerError(f"the trust-list URL must be http(s)://host/... of at most {MAX_URL_CHARS} characters")
    if parts.username is not None or parts.password is not None or any(c.isspace() for c in url):
        raise PartnerError("the trust-list URL must not carry user info or spaces")
    return url


def _own_ring(keys_dir: Path) -> KeyRing | None:
    return load_ring(keys_dir) if (keys_dir / RING_FILE).exists() else None


# --- registry --------------------------------------------------------------------------------


def register_partner(
    keys_dir: Path,
    region: str,
    root_public_pem: bytes,
    *,
    issuers: tuple[str, ...] | list[str],
    now: int,
    name: str = "",
    privileges: tuple[str, ...] | list[str] = ALL_PRIVILEGES,
    replace: bool = False,
    trust_list_url: str | None = None,
) -> Partner:
    """Record a partner region's trust-list root, what its issuers may assert and where it publishes.

    Replacing a registration (a new root after the partner rotated it) keeps the held list in
    force; the next import must then verify under the new root.
    """
    folder = partner_dir(keys_dir, region)
    if (folder / PARTNER_FILE).exists() and not replace:
        raise PartnerError(f"partner {region} is already registered (use replace to change its root or rights)")
    try:
        root = public_key_from_pem(root_public_pem)
    except KeyStorageError as exc:
        raise PartnerError(f"partner {region} root key: {exc}") from None
    issuers = tuple(dict.fromkeys(issuers))
    if not issuers or not all(_ISSUER.fullmatch(i) for i in issuers):
        raise PartnerError(f"partner {region} needs one or more issuer ids (letters, digits, . _ -), got {issuers}")
    unknown = sorted(set(privileges) - set(ALL_PRIVILEGES))
    if unknown:
        raise PartnerError(f"unknown privileges {unknown}: choose from {list(ALL_PRIVILEGES)}")
    url = check_trust_list_url(trust_list_url) if trust_list_url else ""
    ring = _own_ring(keys_dir)
    if ring is not None:
        if region == ring.region:
            raise PartnerError(f"{region} is our own region: a partner must be another region")
        if ring.issuer in issuers:
            raise PartnerError(f"issuer id {ring.issuer} is our own")
        if ring.region[:2] == region[:2]:
            raise PartnerError(f"{region} lies in our own province ({ring.region})")
        if kid_of(root) in {e.kid for e in ring.keys}:
            raise PartnerError("the partner root key is one of our issuer keys")
    for other in list_partners(keys_dir):
        if other.region == region:
            continue
        taken = sorted(set(issuers) & set(other.issuers))
        if taken:
            raise PartnerError(f"issuer ids {taken} are already registered for partner {other.region}")
        if other.region[:2] == region[:2]:
            raise PartnerError(f"partner {other.region} already covers province {region[:2]}xxxx")
    partner = Partner(region, name, issuers, tuple(p for p in ALL_PRIVILEGES if p in privileges), root, now, url)
    record = {"format": PARTNER_FORMAT, **partner.to_json(), "root_public_pem": public_key_pem(root).decode()}
    _write_atomic(folder / PARTNER_FILE, json.dumps(record, ensure_ascii=False, indent=2).encode())  # the record
    _write_atomic(folder / PARTNER_ROOT_FILE, public_key_pem(root))  # a copy for people and other tools
    return partner


def load_partner(keys_dir: Path, region: str) -> Partner:
    folder = partner_dir(keys_dir, region)
    try:
        doc = json.loads((folder / PARTNER_FILE).read_bytes())
    except FileNotFoundError:
        raise PartnerError(f"no partner registered for region {region}: register its root key first") from None
    except (OSError, ValueError) as exc:
        raise PartnerError(f"cannot read partner {region}: {exc}") from None
    try:
        root = public_key_from_pem(str(doc["root_public_pem"]).encode())
        if doc["format"] != PARTNER_FORMAT or doc["region"] != region or doc["root_kid"] != kid_of(root).hex():
            raise PartnerError(f"partner {region}: {PARTNER_FILE} does not match its folder or root key")
        return Partner(
            region,
            str(doc["name"]),
            tuple(str(i) for i in doc["issuers"]),
            tuple(str(p) for p in doc["privileges"]),
            root,
            int(doc["registered_at"]),
            str(doc.get("trust_list_url") or ""),  # absent in registrations made before it existed
        )
    except (OSError, KeyError, TypeError, ValueError, KeyStorageError) as exc:
        if isinstance(exc, PartnerError):
            raise
        raise PartnerError(f"partner {region} registration is damaged: {exc!r}") from None


def list_partners(keys_dir: Path) -> list[Partner]:
    base = keys_dir / PARTNERS_DIR
    if not base.is_dir():
        return []
    return [load_partner(keys_dir, d.name) for d in sorted(base.iterdir()) if (d / PARTNER_FILE).exists()]


# --- import ----------------------------------------------------------------------------------


def held_trust_list(keys_dir: Path, partner: Partner, now: float) -> TrustList | None:
    """The partner list in force (possibly stale by now), or None if none is held or it is damaged."""
    held, _ = _read_held(keys_dir, partner, now)
    return held


def _read_held(keys_dir: Path, partner: Partner, now: float) -> tuple[TrustList | None, str | None]:
    """(the held list, or None; why a held file could not be used, or None).

    It was verified when imported; here only its signature and form are checked again, never its
    age or issue time (our clock may have moved either way since).
    """
    folder = partner_dir(keys_dir, partner.region)
    try:
        document = (folder / PARTNER_LIST_FILE).read_bytes()
        roots = [partner.root]
        if (folder / PARTNER_LIST_ROOT_FILE).exists():  # the partner's root may have changed since
            roots.insert(0, public_key_from_pem((folder / PARTNER_LIST_ROOT_FILE).read_bytes()))
    except FileNotFoundError:
        return None, None
    except (OSError, KeyStorageError) as exc:
        return None, f"cannot read {folder / PARTNER_LIST_FILE}: {exc}"
    problem = "no root key"
    for root in roots:
        try:
            return load_trust_list(document, root, now, allow_stale=True), None
        except TrustListError as exc:
            problem = str(exc)
    return None, f"{folder / PARTNER_LIST_FILE} no longer verifies ({problem})"


def keys_digest(trust_list: TrustList) -> str:
    """What a list says, apart from when it was issued: equal digests mean the same keys and rights."""
    entries = sorted((key_entry(k) for k in trust_list.keys), key=lambda e: str(e["kid"]))
    return hashlib.sha256(canonical_json(entries)).hexdigest()


def import_partner_trust_list(keys_dir: Path, region: str, document: bytes, now: float) -> TrustList:
    """Verify a partner's signed list and hold it; raise TrustListError (previous list kept) otherwise.

    Returns the list now in force: the new one, or the held one when `document` adds nothing.
    """
    partner = load_partner(keys_dir, region)
    held, damaged = _read_held(keys_dir, partner, now)
    if damaged is not None:  # never treat an unreadable list as none: that would let an old list back in
        raise TrustListError(f"partner {region} trust list refused: the held list is unusable: {damaged}")
    kept = f"; version {held.version} stays in force" if held is not None else "; no list from this partner is held"

    def refuse(why: str) -> TrustListError:
        return TrustListError(f"partner {region} trust list refused: {why}{kept}")

    if len(document) > MAX_DOCUMENT_BYTES:
        raise refuse(f"the document is over {MAX_DOCUMENT_BYTES} bytes")
    try:
        incoming = load_trust_list(document, partner.root, now)
    except TrustListError as exc:
        raise refuse(str(exc)) from None
    if held is not None:
        if incoming.version < held.version:
            raise refuse(f"version {incoming.version} is older than the held version {held.version}")
        if incoming.version == held.version:
            if keys_digest(incoming) != keys_digest(held):
                raise refuse(f"version {incoming.version} is already held with different keys")
            if incoming.issued_at <= held.issued_at:
                return held  # the same list again, or an older issue of it: nothing to do
    _check_keys(keys_dir, partner, incoming, refuse)
    folder = partner_dir(keys_dir, region)
    _write_atomic(folder / PARTNER_LIST_ROOT_FILE, public_key_pem(partner.root))
    _write_atomic(folder / PARTNER_LIST_FILE, document)
    return incoming


def _check_keys(keys_dir: Path, partner: Partner, incoming: TrustList, refuse: Callable[[str], TrustListError]) -> None:
    """Every key names a registered issuer id and the partner's province, and no kid is anyone else's."""
    province = partner.region[:2]
    for key in incoming.keys:
        if key.issuer not in partner.issuers:
            raise refuse(f"key {key.kid.hex()} names issuer {key.issuer!r}, not one of {list(partner.issuers)}")
        if not key.region.startswith(province):
            raise refuse(f"key {key.kid.hex()} names region {key.region}, outside province {partner.region}")
    incoming_kids = {k.kid for k in incoming.keys}
    ring = _own_ring(keys_dir)
    clashes = incoming_kids & ({e.kid for e in ring.keys} if ring else set())
    for other in list_partners(keys_dir):
        if other.region != partner.region:
            other_list = held_trust_list(keys_dir, other, incoming.issued_at)
            clashes |= incoming_kids & ({k.kid for k in other_list.keys} if other_list else set())
    if clashes:
        raise refuse(f"kids {sorted(k.hex() for k in clashes)} already belong to another issuer")


# --- merge and export ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MergeResult:
    """The merged payload, and what went into it: partner -> list version, or why it was left out."""

    payload: dict[str, Any]
    included: dict[str, int]
    skipped: dict[str, str]
    digest: str  # over the merged keys: the version goes up exactly when it changes

    @property
    def version(self) -> int:
        return int(self.payload["version"])


def partner_entries(partner: Partner, trust_list: TrustList) -> list[dict[str, Any]]:
    """A partner's keys as our gates should hold them: rights limited, province bound, validity cut."""
    allowed = frozenset(partner.privileges)
    entries = []
    for key in trust_list.keys:
        entry = key_entry(key)
        entry["privileges"] = sorted(key.privileges & allowed)
        entry["region"] = partner.region
        entry["residence_region"] = partner.region
        entry["not_after"] = min(key.not_after, trust_list.expires_at)
        entries.append(entry)
    return entries


def merge_payload(
    ring: KeyRing,
    partners: list[tuple[Partner, TrustList | None]],
    *,
    now: int,
    previous: tuple[int, str] | None = None,
    max_age: int = DEFAULT_MAX_AGE_S,
) -> MergeResult:
    """Pure: our keys plus every fresh partner list's keys. `previous` = (version, keys digest) last signed.

    The version goes up by one whenever the keys differ from the previous merge, and never falls
    below our ring's generation (the version our own export carries).
    """
    own = payload_from_rings([ring], version=0, issued_at=now, max_age=max_age)["keys"]
    entries: list[dict[str, Any]] = list(own)
    included: dict[str, int] = {}
    skipped: dict[str, str] = {}
    seen = {e["kid"] for e in own}
    for partner, trust_list in partners:
        if trust_list is None:
            skipped[partner.region] = "no usable trust list held (none imported yet, or damaged)"
            continue
        if now > trust_list.expires_at:
            skipped[partner.region] = f"its list version {trust_list.version} is past its max age"
            continue
        mine = partner_entries(partner, trust_list)
        clash = seen & {e["kid"] for e in mine}
        if clash:
            raise TrustListError(f"partner {partner.region} keys {sorted(clash)} clash with keys already merged")
        seen |= {e["kid"] for e in mine}
        entries.extend(mine)
        included[partner.region] = trust_list.version
    entries.sort(key=lambda e: (e["issuer"] != ring.issuer, e["issuer"], e["not_before"], e["kid"]))
    digest = hashlib.sha256(canonical_json(entries)).hexdigest()
    version = ring.generation + (len(entries) > len(own))  # a first merge with partners differs from our export
    if previous is not None:
        version = max(version, previous[0] + (previous[1] != digest))
    payload = trust_list_payload(entries, version=version, issued_at=now, max_age=max_age)
    return MergeResult(payload, included, skipped, digest)


def _read_merge_state(keys_dir: Path) -> tuple[int, str] | None:
    try:
        doc = json.loads((keys_dir / PARTNERS_DIR / MERGE_STATE_FILE).read_bytes())
        return int(doc["version"]), str(doc["digest"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrustListError(f"cannot read {PARTNERS_DIR}/{MERGE_STATE_FILE}: {exc!r}") from None


def merge(
    keys_dir: Path, now: int, *, passphrase: bytes | None, max_age: int = DEFAULT_MAX_AGE_S
) -> tuple[bytes, MergeResult]:
    """Sign the merged list with our root and remember its version; (document, what went in)."""
    ring = load_ring(keys_dir)
    partners = [(p, held_trust_list(keys_dir, p, now)) for p in list_partners(keys_dir)]
    result = merge_payload(ring, partners, now=now, previous=_read_merge_state(keys_dir), max_age=max_age)
    document = sign_trust_list(result.payload, read_private_key(keys_dir / ROOT_KEY_FILE, passphrase))
    if partners or (keys_dir / PARTNERS_DIR / MERGE_STATE_FILE).exists():
        # With no partner ever registered the list is our export, versioned by the ring alone:
        # nothing to remember, so a read-only keys directory still serves.
        state = {"version": result.version, "digest": result.digest}
        _write_atomic(keys_dir / PARTNERS_DIR / MERGE_STATE_FILE, json.dumps(state).encode() + b"\n")
    return document, result


def merged_trust_list(keys_dir: Path, now: int, *, passphrase: bytes | None, max_age: int = DEFAULT_MAX_AGE_S) -> bytes:
    """The signed list our gates load: our issuers and every partner's, limited as registered."""
    return merge(keys_dir, now, passphrase=passphrase, max_age=max_age)[0]


def export_own_trust_list(
    keys_dir: Path, now: int, *, passphrase: bytes | None, max_age: int = DEFAULT_MAX_AGE_S
) -> bytes:
    """Our ring's keys alone, signed by our root, for partners (they verify it with root.pub.pem)."""
    return export_trust_list(keys_dir, passphrase=passphrase, now=now, max_age=max_age)


def partner_summaries(keys_dir: Path, now: float) -> list[dict[str, Any]]:
    """Every partner and the list held from it, as JSON (for `GET /v1/admin/partners` and the CLI)."""
    out = []
    for partner in list_partners(keys_dir):
        held = held_trust_list(keys_dir, partner, now)
        summary = partner.to_json()
        summary["trust_list"] = None
        if held is not None:
            summary["trust_list"] = {
                "version": held.version,
                "issued_at": held.issued_at,
                "expires_at": held.expires_at,
                "stale": now > held.expires_at,
                "keys": [
                    {"kid": k.kid.hex(), "issuer": k.issuer, "status": k.status, "not_after": k.not_after}
                    for k in held.keys
                ],
            }
        out.append(summary)
    return out


__all__ = [
    "MergeResult",
    "Partner",
    "PartnerError",
    "TrustListError",
    "check_trust_list_url",
    "export_own_trust_list",
    "held_trust_list",
    "import_partner_trust_list",
    "list_partners",
    "load_partner",
    "merge",
    "merge_payload",
    "merged_trust_list",
    "partner_summaries",
    "register_partner",
]
