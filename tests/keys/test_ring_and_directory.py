"""The key ring (pure data) and a keys directory on disk, through to codes a gate verifies."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from app.issuing import Issuer
from keys import directory as keydir
from keys.algorithms import EDDSA, ES256, generate_private_key, kid_of, spki_der
from keys.ring import (
    ACTIVE,
    ALL_PRIVILEGES,
    KEY_LIFETIME_S,
    RETIRED,
    REVOKED,
    ROTATION_GRACE_S,
    KeyRing,
    KeyRingError,
    new_entry,
)
from keys.storage import DEV_MODE_ENV, PASSPHRASE_ENV, PASSPHRASE_FILE_ENV, KeyStorageError, passphrase_from_environment
from keys.trust_list import TrustListError, load_trust_list
from tests.support.world import NOW, elderly
from verifier.code import device_proof, holder_code, online_code
from verifier.errors import Reason, VerificationError
from verifier.trust import TrustStore
from verifier.verify import Verifier

# --- the ring -----------------------------------------------------------------------------


def _ring(now: int = NOW) -> KeyRing:
    return KeyRing("CN-SH", "310000", ALL_PRIVILEGES, (new_entry(generate_private_key().public_key(), now),))


def test_new_entry() -> None:
    public = generate_private_key(EDDSA).public_key()
    entry = new_entry(public, NOW)
    assert entry.kid == kid_of(public)
    assert entry.alg == EDDSA
    assert entry.alg_name == "EdDSA"
    assert (entry.not_before, entry.not_after) == (NOW, NOW + KEY_LIFETIME_S)
    assert entry.status == ACTIVE


def test_grace_covers_one_credential_life_plus_skew() -> None:
    assert ROTATION_GRACE_S == 24 * 3600 + 60


def test_with_new_active_retires_old_key() -> None:
    ring = _ring()
    old = ring.active()
    new_public = generate_private_key().public_key()
    rotated = ring.with_new_active(new_public, NOW + 100)
    assert rotated.generation == ring.generation + 1
    assert rotated.active().kid == kid_of(new_public)
    assert rotated.active().not_before == NOW + 100
    retired = rotated.entry(old.kid)
    assert retired.status == RETIRED
    assert retired.not_after == NOW + 100 + ROTATION_GRACE_S
    assert retired.not_before == old.not_before
    assert [e.status for e in rotated.keys] == [RETIRED, ACTIVE]
    # the original ring is unchanged (frozen data)
    assert ring.active() == old
    assert ring.generation == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        ring.generation = 5  # type: ignore[misc]


def test_rotation_never_extends_a_key_life() -> None:
    ring = _ring(NOW - KEY_LIFETIME_S + 10)  # active key ends at NOW + 10
    rotated = ring.with_new_active(generate_private_key().public_key(), NOW)
    assert rotated.keys[0].not_after == NOW + 10


def test_rotation_keeps_revoked_and_retired_keys() -> None:
    ring = _ring()
    first = ring.active().kid
    ring = ring.with_new_active(generate_private_key().public_key(), NOW + 1)
    second = ring.active().kid
    ring = ring.with_revoked(first)
    ring = ring.with_new_active(generate_private_key().public_key(), NOW + 2)
    statuses = {e.kid: e.status for e in ring.keys}
    assert statuses[first] == REVOKED
    assert statuses[second] == RETIRED
    assert list(statuses.values()).count(ACTIVE) == 1
    assert ring.generation == 4


def test_with_revoked() -> None:
    ring = _ring()
    kid = ring.active().kid
    revoked = ring.with_revoked(kid)
    assert revoked.entry(kid).status == REVOKED
    assert revoked.generation == 2
    with pytest.raises(KeyRingError, match="no active key"):
        revoked.active()


def test_unknown_kid() -> None:
    ring = _ring()
    with pytest.raises(KeyRingError, match="00" * 8):
        ring.entry(bytes(8))
    with pytest.raises(KeyRingError):
        ring.with_revoked(bytes(8))


# --- a keys directory on disk -------------------------------------------------------------


@pytest.fixture
def passphrase(monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.delenv(DEV_MODE_ENV, raising=False)
    monkeypatch.delenv(PASSPHRASE_FILE_ENV, raising=False)
    monkeypatch.setenv(PASSPHRASE_ENV, "test passphrase \u7a57")
    value = passphrase_from_environment()
    assert value is not None
    return value


def _init(path: Path, passphrase: bytes, alg: int = ES256) -> KeyRing:
    return keydir.init_directory(path, issuer="CN-SH", region="310000", passphrase=passphrase, now=NOW, alg=alg)


def _store(path: Path, passphrase: bytes, now: int) -> TrustStore:
    doc = keydir.export_trust_list(path, passphrase=passphrase, now=now)
    return TrustStore.from_document(doc, keydir.root_public_key(path), now)


def test_init_creates_encrypted_keys_and_ring(tmp_path: Path, passphrase: bytes) -> None:
    d = tmp_path / "keys"
    ring = _init(d, passphrase)
    entry = ring.active()
    files = sorted(p.name for p in d.iterdir())
    assert files == sorted(["ring.json", "root.pem", "root.pub.pem", f"issuer-{entry.kid.hex()}.pem"])
    for name in ("root.pem", f"issuer-{entry.kid.hex()}.pem"):
        assert (d / name).read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert (d / "root.pub.pem").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert b"PRIVATE" not in (d / "ring.json").read_bytes()

    entry2, key = keydir.signing_key(d, passphrase)
    assert entry2 == entry
    der = spki_der(key.public_key())
    assert entry.kid == hashlib.sha256(der).digest()[:8]
    assert kid_of(key.public_key()) == entry.kid

    loaded = keydir.load_ring(d)
    assert loaded.issuer == "CN-SH" and loaded.region == "310000"
    assert loaded.privileges == ALL_PRIVILEGES
    assert loaded.keys == ring.keys
    doc = json.loads((d / "ring.json").read_text())
    assert doc["format"] == "suishen-keyring/1"
    assert doc["keys"][0]["kid"] == entry.kid.hex()
    assert doc["keys"][0]["alg"] == "ES256"


def test_init_refuses_to_overwrite(tmp_path: Path, passphrase: bytes) -> None:
    _init(tmp_path, passphrase)
    before = (tmp_path / "ring.json").read_bytes()
    with pytest.raises(KeyRingError, match="already exists"):
        _init(tmp_path, passphrase)
    assert (tmp_path / "ring.json").read_bytes() == before


def test_init_without_passphrase_refuses_unencrypted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEV_MODE_ENV, raising=False)
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    monkeypatch.delenv(PASSPHRASE_FILE_ENV, raising=False)
    with pytest.raises(KeyStorageError, match="refusing to write an unencrypted private key"):
        keydir.init_directory(tmp_path / "k", issuer="CN-SH", region="310000", passphrase=None, now=NOW)
    assert not (tmp_path / "k" / "ring.json").exists()


def test_init_in_dev_mode_writes_plain_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEV_MODE_ENV, "1")
    ring = keydir.init_directory(tmp_path, issuer="CN-SH", region="310000", passphrase=None, now=NOW)
    assert (tmp_path / "root.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert keydir.signing_key(tmp_path, None)[0] == ring.active()


def test_wrong_passphrase_gives_key_storage_error(tmp_path: Path, passphrase: bytes) -> None:
    _init(tmp_path, passphrase)
    with pytest.raises(KeyStorageError, match="wrong passphrase"):
        keydir.signing_key(tmp_path, b"not it")
    with pytest.raises(KeyStorageError):
        keydir.export_trust_list(tmp_path, passphrase=b"not it", now=NOW)
    with pytest.raises(KeyStorageError, match="encrypted"):
        keydir.signing_key(tmp_path, None)


def test_rotate_and_revoke_on_disk(tmp_path: Path, passphrase: bytes) -> None:
    first = _init(tmp_path, passphrase).active()
    ring = keydir.rotate(tmp_path, passphrase=passphrase, now=NOW + 10)
    second = ring.active()
    assert second.kid != first.kid
    assert ring.entry(first.kid).status == RETIRED
    assert ring.entry(first.kid).not_after == NOW + 10 + ROTATION_GRACE_S
    assert (tmp_path / f"issuer-{second.kid.hex()}.pem").read_bytes().startswith(
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
    )
    assert (tmp_path / f"issuer-{first.kid.hex()}.pem").exists()
    assert keydir.load_ring(tmp_path) == ring
    assert keydir.signing_key(tmp_path, passphrase)[0].kid == second.kid

    ring = keydir.rotate(tmp_path, passphrase=passphrase, now=NOW + 20, alg=EDDSA)
    assert ring.active().alg == EDDSA
    assert ring.generation == 3

    ring = keydir.revoke(tmp_path, first.kid)
    assert ring.entry(first.kid).status == REVOKED
    assert keydir.load_ring(tmp_path).entry(first.kid).status == REVOKED
    with pytest.raises(KeyRingError):
        keydir.revoke(tmp_path, bytes(8))


def test_export_trust_list(tmp_path: Path, passphrase: bytes) -> None:
    ring = _init(tmp_path, passphrase)
    keydir.rotate(tmp_path, passphrase=passphrase, now=NOW + 5)
    doc = keydir.export_trust_list(tmp_path, passphrase=passphrase, now=NOW + 5, max_age=3600)
    assert b"PRIVATE" not in doc
    tl = load_trust_list(doc, keydir.root_public_key(tmp_path), NOW + 5)
    assert tl.version == 2
    assert tl.max_age == 3600
    assert tl.expires_at == NOW + 5 + 3600
    assert tl.keys[0].kid == ring.active().kid
    assert [k.status for k in tl.keys] == [RETIRED, ACTIVE]
    assert all(k.issuer == "CN-SH" and k.region == "310000" for k in tl.keys)
    assert all(k.privileges == frozenset(ALL_PRIVILEGES) for k in tl.keys)


def _exported(tmp_path: Path, passphrase: bytes) -> bytes:
    _init(tmp_path, passphrase)
    return keydir.export_trust_list(tmp_path, passphrase=passphrase, now=NOW, max_age=3600)


def test_load_trust_list_rejects_tampered_payload(tmp_path: Path, passphrase: bytes) -> None:
    doc = json.loads(_exported(tmp_path, passphrase))
    doc["payload"]["keys"][0]["privileges"].append("martyr_family_plus")
    with pytest.raises(TrustListError, match="signature is not valid"):
        load_trust_list(json.dumps(doc).encode(), keydir.root_public_key(tmp_path), NOW)


def test_load_trust_list_rejects_wrong_root_key(tmp_path: Path, passphrase: bytes) -> None:
    doc = _exported(tmp_path, passphrase)
    other = generate_private_key(ES256).public_key()
    with pytest.raises(TrustListError, match="not by the root key"):
        load_trust_list(doc, other, NOW)


def test_load_trust_list_rejects_stale_list(tmp_path: Path, passphrase: bytes) -> None:
    doc = _exported(tmp_path, passphrase)
    root = keydir.root_public_key(tmp_path)
    assert load_trust_list(doc, root, NOW + 3600).version == 1
    with pytest.raises(TrustListError, match="stale"):
        load_trust_list(doc, root, NOW + 3601)


@pytest.mark.parametrize("document", [b"", b"{", b"\xff\xfe", b"[1, 2", b"not json"])
def test_load_trust_list_rejects_bad_json(tmp_path: Path, passphrase: bytes, document: bytes) -> None:
    _init(tmp_path, passphrase)
    with pytest.raises(TrustListError, match="not valid JSON"):
        load_trust_list(document, keydir.root_public_key(tmp_path), NOW)


def test_load_ring_errors(tmp_path: Path, passphrase: bytes) -> None:
    with pytest.raises(KeyRingError, match="no key ring"):
        keydir.load_ring(tmp_path)
    _init(tmp_path, passphrase)
    path = tmp_path / "ring.json"
    good = json.loads(path.read_text())

    def broken(change: dict[str, object]) -> None:
        doc = json.loads(json.dumps(good))
        doc["keys"][0].update(change)
        path.write_text(json.dumps(doc))
        with pytest.raises(KeyRingError):
            keydir.load_ring(tmp_path)

    broken({"kid": "00" * 8})
    broken({"alg": "EdDSA"})
    broken({"status": "lost"})
    broken({"public_key": "AAAA"})
    broken({"not_after": "soon"})
    path.write_text("{not json")
    with pytest.raises(KeyRingError):
        keydir.load_ring(tmp_path)
    path.write_text(json.dumps({**good, "format": "other/1"}))
    with pytest.raises(KeyRingError, match="format"):
        keydir.load_ring(tmp_path)


# --- from the directory to the gate -------------------------------------------------------


def _reason(verifier: Verifier, text: str, now: int) -> Reason:
    with pytest.raises(VerificationError) as info:
        verifier.verify(text, now)
    return info.value.reason


def test_codes_through_rotation_and_revocation(tmp_path: Path, passphrase: bytes) -> None:
    _init(tmp_path, passphrase)
    entry, key = keydir.signing_key(tmp_path, passphrase)
    issued = NOW + 10
    old_issuer = Issuer("CN-SH", entry, key)
    device = generate_private_key(ES256)
    old_cred = old_issuer.credential(elderly(), issued, device_key=device.public_key())  # type: ignore[arg-type]

    def old_code(at: int) -> str:
        return holder_code(old_cred, device_proof(old_cred, device, at))  # type: ignore[arg-type]

    store = _store(tmp_path, passphrase, issued)
    assert Verifier(store).verify(old_code(issued), issued).kid == entry.kid

    keydir.rotate(tmp_path, passphrase=passphrase, now=issued)
    new_entry_, new_key = keydir.signing_key(tmp_path, passphrase)
    assert new_entry_.kid != entry.kid
    new_issuer = Issuer("CN-SH", new_entry_, new_key)
    store = _store(tmp_path, passphrase, issued)
    assert store.version == 2

    # new codes carry the new kid; old codes still verify until the old key's not_after
    assert Verifier(store).verify(online_code(new_issuer.credential(elderly(), issued)), issued).kid == new_entry_.kid
    assert Verifier(store).verify(old_code(issued + 3600), issued + 3600).kid == entry.kid
    not_after = issued + ROTATION_GRACE_S
    assert store.get(entry.kid) is not None
    assert store.get(entry.kid).not_after == not_after  # type: ignore[union-attr]
    assert Verifier(store).verify(old_code(not_after), not_after).kid == entry.kid
    assert _reason(Verifier(store), old_code(not_after + 61), not_after + 61) is Reason.KEY_NOT_VALID_NOW

    # revocation: the next trust list stops the old key at once
    keydir.revoke(tmp_path, entry.kid)
    store = _store(tmp_path, passphrase, issued + 60)
    assert store.version == 3
    assert _reason(Verifier(store), old_code(issued + 60), issued + 60) is Reason.KEY_REVOKED
    fresh = online_code(new_issuer.credential(elderly(), issued + 60))
    assert Verifier(store).verify(fresh, issued + 60).kind == "online"


def test_a_rotation_keeps_the_old_key_verifiable_until_its_last_card_expires(tmp_path: Path, passphrase: bytes) -> None:
    """Cards live a year: a rotation told their latest expiry keeps them VALID; without it they would fail."""
    _init(tmp_path, passphrase)
    entry, key = keydir.signing_key(tmp_path, passphrase)
    issued = NOW + 10
    card = online_code(Issuer("CN-SH", entry, key).credential(elderly(), issued, card_number=12345))
    card_expires = issued + 365 * 86400
    half_year = issued + 180 * 86400

    ring = keydir.rotate(tmp_path, passphrase=passphrase, now=issued + 20, keep_until=card_expires)
    assert ring.entry(entry.kid).status == RETIRED and ring.entry(entry.kid).not_after == card_expires
    assert keydir.load_ring(tmp_path).entry(entry.kid).not_after == card_expires
    for at in (half_year, card_expires):
        assert Verifier(_store(tmp_path, passphrase, at)).verify(card, at, "sh-museum").kind == "card"
    late = card_expires + 61
    assert _reason(Verifier(_store(tmp_path, passphrase, late)), card, late) is Reason.KEY_NOT_VALID_NOW

    # a rotation not told of the cards retires the key after a day: the card fails, as before this rule
    other = tmp_path / "other"
    _init(other, passphrase)
    entry, key = keydir.signing_key(other, passphrase)
    card = online_code(Issuer("CN-SH", entry, key).credential(elderly(), issued, card_number=12345))
    keydir.rotate(other, passphrase=passphrase, now=issued + 20)
    assert _reason(Verifier(_store(other, passphrase, half_year)), card, half_year) is Reason.KEY_NOT_VALID_NOW


def test_keep_until_never_stretches_a_key_past_its_own_window() -> None:
    ring = _ring()
    old = ring.active()
    rotated = ring.with_new_active(generate_private_key().public_key(), NOW + 5, keep_until=old.not_after + 86400)
    assert rotated.entry(old.kid).not_after == old.not_after
    early = ring.with_new_active(generate_private_key().public_key(), NOW + 5, keep_until=NOW + 100)
    assert early.entry(old.kid).not_after == NOW + 5 + ROTATION_GRACE_S  # a day at least, for phone codes


def test_gate_with_another_directory_root_refuses_the_list(tmp_path: Path, passphrase: bytes) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _init(a, passphrase)
    _init(b, passphrase)
    doc = keydir.export_trust_list(a, passphrase=passphrase, now=NOW)
    with pytest.raises(TrustListError):
        TrustStore.from_document(doc, keydir.root_public_key(b), NOW)
