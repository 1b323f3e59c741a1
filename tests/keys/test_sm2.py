"""SM2 with SM3 (private COSE alg -65600): keys, signatures, storage, and codes verified end to end."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cbor2
import gmssl_pyx
import pytest
from typer.testing import CliRunner

from app.cli import app
from keys import directory, sm2
from keys.algorithms import (
    ALG_IDS,
    ES256,
    SM2,
    KeyAlgorithmError,
    alg_of,
    generate_private_key,
    kid_of,
    load_public_key,
    raw_verifier,
    sign,
    spki_der,
    verify,
)
from keys.der import der_signature
from keys.ring import ALL_PRIVILEGES, KeyRing, new_entry
from keys.sm2 import SM2Error, SM2PrivateKey, SM2PublicKey
from keys.storage import (
    DEV_MODE_ENV,
    PASSPHRASE_ENV,
    PASSPHRASE_FILE_ENV,
    KeyStorageError,
    public_key_pem,
    read_private_key,
    read_public_key,
    write_private_key,
)
from keys.trust_list import TrustListError, load_trust_list, payload_from_rings, sign_trust_list
from tests.support.world import NOW, World, elderly, make_world
from verifier import cose
from verifier.base45 import b45decode, b45encode
from verifier.code import online_code
from verifier.errors import Reason, VerificationError
from verifier.verify import Verifier

PASS = b"correct horse battery staple"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (DEV_MODE_ENV, PASSPHRASE_ENV, PASSPHRASE_FILE_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def key() -> SM2PrivateKey:
    k = generate_private_key(SM2)
    assert isinstance(k, SM2PrivateKey)
    return k


@pytest.fixture(scope="module")
def sm2_world() -> World:
    return make_world(SM2)


# --- algorithm and keys ----------------------------------------------------------------------


def test_sm2_is_a_private_use_cose_algorithm(key: SM2PrivateKey) -> None:
    assert SM2 == -65600 and SM2 < -65536
    assert ALG_IDS["SM2"] == SM2
    assert alg_of(key) == SM2 and alg_of(key.public_key()) == SM2


def test_sign_verify_round_trip(key: SM2PrivateKey) -> None:
    signature = sign(key, SM2, b"payload")
    assert len(signature) == 64  # r||s, like ES256
    assert verify(key.public_key(), SM2, signature, b"payload")
    check = raw_verifier(key.public_key(), SM2)
    assert check(signature, b"payload")
    assert not check(signature, b"payloaD")
    assert not check(signature[:-1] + bytes((signature[-1] ^ 1,)), b"payload")
    assert not check(signature[:63], b"payload")
    assert not check(bytes(64), b"payload")
    assert not check(b"\xff" * 64, b"payload")
    other = generate_private_key(SM2)
    assert not verify(other.public_key(), SM2, signature, b"payload")


def test_signatures_are_standard_gm_t_0009_with_the_default_signer_id(key: SM2PrivateKey) -> None:
    """Another SM2 implementation (gmssl's own message API, Z with id 1234567812345678) agrees both ways."""
    point = key.public_key().point
    theirs = gmssl_pyx.sm2_sign(key.secret_bytes(), point, b"interop")
    r_len = theirs[3]
    r = theirs[4 : 4 + r_len].lstrip(b"\x00").rjust(32, b"\x00")
    s = theirs[6 + r_len :].lstrip(b"\x00").rjust(32, b"\x00")
    assert verify(key.public_key(), SM2, r + s, b"interop")
    ours = sign(key, SM2, b"interop")
    assert gmssl_pyx.sm2_verify(point, b"interop", der_signature(ours, 32))


def test_the_key_and_algorithm_must_agree(key: SM2PrivateKey) -> None:
    with pytest.raises(KeyAlgorithmError):
        sign(key, ES256, b"x")
    with pytest.raises(KeyAlgorithmError):
        raw_verifier(key.public_key(), ES256)
    es = generate_private_key(ES256)
    assert not verify(es.public_key(), SM2, sign(es, ES256, b"x"), b"x")


def test_spki_and_kid(key: SM2PrivateKey) -> None:
    der = spki_der(key.public_key())
    assert der.startswith(sm2.SPKI_PREFIX) and len(der) == 91
    assert load_public_key(der) == key.public_key()
    assert len(kid_of(key.public_key())) == 8
    with pytest.raises(SM2Error):
        load_public_key(sm2.SPKI_PREFIX + bytes(64))  # not on the curve
    with pytest.raises(SM2Error):
        SM2PublicKey(b"\x01" * 64)


def test_a_stored_scalar_must_belong_to_its_point(key: SM2PrivateKey) -> None:
    other = generate_private_key(SM2)
    assert isinstance(other, SM2PrivateKey)
    assert SM2PrivateKey.from_pair(key.secret_bytes(), key.public_key().point).public_key() == key.public_key()
    with pytest.raises(SM2Error, match="does not match"):
        SM2PrivateKey.from_pair(key.secret_bytes(), other.public_key().point)


# --- storage -------------------------------------------------------------------------------


def test_sm2_keys_are_encrypted_at_rest(tmp_path: Path, key: SM2PrivateKey) -> None:
    path = tmp_path / "issuer.pem"
    write_private_key(path, key, PASS)
    text = path.read_bytes()
    assert text.startswith(b"-----BEGIN SUISHEN ENCRYPTED SM2 PRIVATE KEY-----")
    assert key.secret_bytes() not in base64.b64decode(b"".join(text.splitlines()[1:-1]))
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    loaded = read_private_key(path, PASS)
    assert isinstance(loaded, SM2PrivateKey) and loaded.public_key() == key.public_key()
    assert verify(key.public_key(), SM2, sign(loaded, SM2, b"m"), b"m")
    with pytest.raises(KeyStorageError, match="wrong passphrase or damaged file"):
        read_private_key(path, b"wrong")
    with pytest.raises(KeyStorageError, match="is encrypted"):
        read_private_key(path, None)


def test_a_damaged_sm2_container_is_refused(tmp_path: Path, key: SM2PrivateKey) -> None:
    path = tmp_path / "issuer.pem"
    write_private_key(path, key, PASS)
    lines = path.read_bytes().splitlines()
    body = bytearray(base64.b64decode(b"".join(lines[1:-1])))
    for position in (40, 70, len(body) - 1):  # nonce, public point, tag
        damaged = bytearray(body)
        damaged[position] ^= 1
        path.write_bytes(lines[0] + b"\n" + base64.b64encode(bytes(damaged)) + b"\n" + lines[-1] + b"\n")
        with pytest.raises(KeyStorageError):
            read_private_key(path, PASS)


def test_unencrypted_sm2_keys_only_in_dev_mode(
    tmp_path: Path, key: SM2PrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "dev.pem"
    with pytest.raises(KeyStorageError, match="refusing to write an unencrypted"):
        write_private_key(path, key, None)
    monkeypatch.setenv(DEV_MODE_ENV, "1")
    write_private_key(path, key, None)
    assert path.read_bytes().startswith(b"-----BEGIN SUISHEN SM2 PRIVATE KEY-----")
    assert read_private_key(path, None).public_key() == key.public_key()


def test_sm2_public_keys_are_standard_pem(tmp_path: Path, key: SM2PrivateKey) -> None:
    path = tmp_path / "pub.pem"
    path.write_bytes(public_key_pem(key.public_key()))
    assert path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert read_public_key(path) == key.public_key()


def test_a_keys_directory_with_an_sm2_issuer(tmp_path: Path) -> None:
    ring = directory.init_directory(tmp_path, issuer="CN-SH", region="310000", passphrase=PASS, now=NOW, alg=SM2)
    assert ring.active().alg == SM2 and ring.active().alg_name == "SM2"
    assert directory.load_ring(tmp_path) == ring
    entry, private_key = directory.signing_key(tmp_path, PASS)
    assert entry.kid == kid_of(private_key.public_key())
    rotated = directory.rotate(tmp_path, passphrase=PASS, now=NOW + 10)
    assert rotated.active().alg == SM2 and rotated.active().kid != entry.kid
    document = directory.export_trust_list(tmp_path, passphrase=PASS, now=NOW + 20)
    trust_list = load_trust_list(document, directory.root_public_key(tmp_path), NOW + 20)
    assert {k.alg for k in trust_list.keys} == {SM2}


# --- codes end to end ----------------------------------------------------------------------


def test_sm2_codes_verify_end_to_end(sm2_world: World) -> None:
    verified = sm2_world.verifier().verify(sm2_world.online(elderly()), NOW)
    assert verified.alg == SM2 and verified.to_json()["alg"] == "SM2"
    text, _, _ = sm2_world.holder()
    assert sm2_world.verifier().verify(text, NOW).kind == "holder_bound"


def test_sm2_header_carries_the_private_alg_id(sm2_world: World) -> None:
    credential = sm2_world.issuer.credential(elderly(), NOW)
    assert cose.parse_header(cose.protected_header(SM2, sm2_world.ring.active().kid)) == (
        SM2,
        sm2_world.ring.active().kid,
    )
    assert b"\x3a\x00\x01\x00\x3f" in credential  # -65600 as CBOR: major type 1, 4-byte argument 65599


def test_tampered_sm2_codes_are_refused(sm2_world: World) -> None:
    credential = sm2_world.issuer.credential(elderly(), NOW)
    raw = b45decode(online_code(credential)[4:])
    seen: set[Reason] = set()
    # every byte of the payload and signature (the tail of the code), one bit each
    for i in range(len(raw) - 100, len(raw)):
        damaged = raw[:i] + bytes((raw[i] ^ 0x01,)) + raw[i + 1 :]
        with pytest.raises(VerificationError) as caught:
            Verifier(sm2_world.store).verify("SP1:" + b45encode(damaged), NOW)
        seen.add(caught.value.reason)
    assert Reason.BAD_SIGNATURE in seen


def test_alg_is_checked_against_the_keys_own_algorithm(sm2_world: World) -> None:
    """An SM2 key in the trust list never checks a code whose header claims ES256, and the other way round."""
    entry = sm2_world.ring.active()
    credential = cose.sign1(b"\xa0", generate_private_key(ES256), kid=entry.kid)
    with pytest.raises(VerificationError) as caught:
        Verifier(sm2_world.store).verify(online_code(credential), NOW)
    assert caught.value.reason is Reason.UNSUPPORTED_ALG

    es_world = make_world(ES256)
    sm2_key = generate_private_key(SM2)
    protected = cose.protected_header(SM2, es_world.ring.active().kid)
    payload = b"\xa0"
    signature = sign(sm2_key, SM2, cose.sig_structure(protected, b"", payload))
    forged = cose.encode_sign1(protected, payload, signature, tagged=True)
    with pytest.raises(VerificationError) as caught:
        Verifier(es_world.store).verify(online_code(forged), NOW)
    assert caught.value.reason is Reason.UNSUPPORTED_ALG


def test_sm2_and_es256_issuers_in_one_trust_list() -> None:
    root = generate_private_key(ES256)
    sm2_key, es_key = generate_private_key(SM2), generate_private_key(ES256)
    rings = [
        KeyRing("CN-SH", "310000", ALL_PRIVILEGES, (new_entry(es_key.public_key(), NOW - 10),)),
        KeyRing("CN-SH-GM", "310000", ALL_PRIVILEGES, (new_entry(sm2_key.public_key(), NOW - 10),)),
    ]
    document = sign_trust_list(payload_from_rings(rings, version=1, issued_at=NOW), root)
    trust_list = load_trust_list(document, root.public_key(), NOW)
    assert sorted(k.alg for k in trust_list.keys) == sorted([SM2, ES256])


def test_the_cli_makes_and_uses_an_sm2_issuer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`suishen keys init --alg SM2`, then issue and verify through the same commands as ES256."""
    secret = tmp_path / "passphrase"
    secret.write_bytes(PASS + b"\n")
    monkeypatch.setenv(PASSPHRASE_FILE_ENV, str(secret))
    keys_dir = tmp_path / "keys"
    runner = CliRunner()
    result = runner.invoke(app, ["keys", "init", "--dir", str(keys_dir), "--alg", "SM2"])
    assert result.exit_code == 0, result.output
    assert directory.load_ring(keys_dir).active().alg_name == "SM2"
    assert (keys_dir / f"issuer-{directory.load_ring(keys_dir).active().kid.hex()}.pem").read_bytes().startswith(
        b"-----BEGIN SUISHEN ENCRYPTED SM2 PRIVATE KEY-----"
    )
    trust = tmp_path / "trust.json"
    exported = runner.invoke(app, ["keys", "trust-list", "export", "--dir", str(keys_dir), "--out", str(trust)])
    assert exported.exit_code == 0, exported.output
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"subject": "0102030405060708", "age_over": 65, "residence": 310000}))
    issued = runner.invoke(app, ["issue", "--keys", str(keys_dir), "--profile", str(profile)])
    assert issued.exit_code == 0, issued.output
    text = issued.output.strip()
    checked = runner.invoke(
        app, ["verify", "--trust-list", str(trust), "--root", str(keys_dir / "root.pub.pem"), "--json", text]
    )
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output)["result"] == "VALID"


def test_national_algorithms_throughout_with_an_sm2_root(tmp_path: Path) -> None:
    directory.init_directory(
        tmp_path, issuer="CN-SH", region="310000", passphrase=PASS, now=NOW, alg=SM2, root_alg=SM2
    )
    root = directory.root_public_key(tmp_path)
    assert isinstance(root, SM2PublicKey)
    document = directory.export_trust_list(tmp_path, passphrase=PASS, now=NOW)
    assert json.loads(document)["signature"]["alg"] == "SM2"
    assert load_trust_list(document, root, NOW).keys[0].alg == SM2
    tampered = document.replace(b'"version": 1', b'"version": 2')
    assert tampered != document
    with pytest.raises(TrustListError, match="signature is not valid"):
        load_trust_list(tampered, root, NOW)


def test_an_sm2_credential_checks_with_another_sm2_library(sm2_world: World) -> None:
    """A partner needs only COSE's Sig_structure and any GM/T 0009 SM2 verify (default signer id)."""
    credential = sm2_world.issuer.credential(elderly(), NOW)
    protected, _, payload, signature = cbor2.loads(credential).value
    assert cbor2.loads(protected) == {1: -65600, 4: sm2_world.ring.active().kid}
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    point = sm2.public_key_from_spki(spki_der(sm2_world.issuer_key.public_key()))
    assert point is not None
    assert gmssl_pyx.sm2_verify(point.point, to_be_signed, der_signature(signature, 32))


def test_a_verifier_without_sm2_leaves_sm2_keys_out_but_keeps_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    from keys import trust_list as trust_list_module

    root = generate_private_key(ES256)
    rings = [
        KeyRing("CN-SH", "310000", ALL_PRIVILEGES, (new_entry(generate_private_key(ES256).public_key(), NOW - 10),)),
        KeyRing("CN-ZJ", "330000", ALL_PRIVILEGES, (new_entry(generate_private_key(SM2).public_key(), NOW - 10),)),
    ]
    document = sign_trust_list(payload_from_rings(rings, version=1, issued_at=NOW), root)
    without_sm2 = {name: alg for name, alg in ALG_IDS.items() if name != "SM2"}
    monkeypatch.setattr(trust_list_module, "ALG_IDS", without_sm2)
    trust_list = load_trust_list(document, root.public_key(), NOW)
    assert [k.issuer for k in trust_list.keys] == ["CN-SH"]


def test_any_cose_sign1_with_sm2_verifies_through_the_partner_path(key: SM2PrivateKey) -> None:
    message = cose.sign1(b"partner object", key, kid=None, tagged=False)
    assert cose.verify_sign1(message, key.public_key()) == b"partner object"
    with pytest.raises(VerificationError) as caught:
        cose.verify_sign1(message[:-1] + bytes((message[-1] ^ 1,)), key.public_key())
    assert caught.value.reason is Reason.BAD_SIGNATURE


def test_a_container_cannot_ask_for_a_huge_scrypt(tmp_path: Path, key: SM2PrivateKey) -> None:
    path = tmp_path / "issuer.pem"
    write_private_key(path, key, PASS)
    lines = path.read_bytes().splitlines()
    body = bytearray(base64.b64decode(b"".join(lines[1:-1])))
    body[5] = 30  # log2(N): 2^30 * 128 * 8 bytes of memory
    path.write_bytes(lines[0] + b"\n" + base64.b64encode(bytes(body)) + b"\n" + lines[-1] + b"\n")
    with pytest.raises(KeyStorageError, match="unacceptable scrypt parameters"):
        read_private_key(path, PASS)
