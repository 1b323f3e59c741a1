"""COSE algorithm ids, kid derivation and the raw sign/verify primitives (real keys, no mocks)."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from keys import algorithms
from keys.algorithms import (
    ALG_IDS,
    ALG_NAMES,
    EDDSA,
    ES256,
    ES384,
    KeyAlgorithmError,
    alg_of,
    generate_private_key,
    kid_of,
    load_public_key,
    sign,
    spki_der,
    verify,
)

ALGS = [ES256, ES384, EDDSA]
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SIG_LENGTH = {ES256: 64, ES384: 96, EDDSA: 64}


def test_cose_algorithm_ids() -> None:
    assert (ES256, ES384, EDDSA) == (-7, -35, -8)
    assert ALG_NAMES == {-7: "ES256", -35: "ES384", -8: "EdDSA", -65600: "SM2"}  # SM2: private use
    assert ALG_IDS == {"ES256": -7, "ES384": -35, "EdDSA": -8, "SM2": -65600}


@pytest.mark.parametrize("alg", ALGS)
def test_generate_and_alg_of(alg: int) -> None:
    key = generate_private_key(alg)
    assert alg_of(key) == alg
    assert alg_of(key.public_key()) == alg


def test_default_algorithm_is_es256() -> None:
    key = generate_private_key()
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)


@pytest.mark.parametrize("alg", [-37, -257, 0, 1, -36])
def test_generate_rejects_other_algorithms(alg: int) -> None:
    with pytest.raises(KeyAlgorithmError):
        generate_private_key(alg)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(lambda: ec.generate_private_key(ec.SECP521R1()), id="P-521"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP256K1()), id="secp256k1"),
        pytest.param(lambda: ed448.Ed448PrivateKey.generate(), id="Ed448"),
    ],
)
def test_alg_of_rejects_other_key_types(key: object) -> None:
    private = key()  # type: ignore[operator]
    with pytest.raises(KeyAlgorithmError):
        alg_of(private)
    with pytest.raises(KeyAlgorithmError):
        alg_of(private.public_key())


def test_key_algorithm_error_is_value_error() -> None:
    assert issubclass(KeyAlgorithmError, ValueError)


@pytest.mark.parametrize("alg", ALGS)
def test_kid_is_first_8_bytes_of_sha256_over_spki_der(alg: int) -> None:
    public = generate_private_key(alg).public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert spki_der(public) == der
    assert kid_of(public) == hashlib.sha256(der).digest()[:8]
    assert len(kid_of(public)) == 8


def test_kids_differ_between_keys() -> None:
    kids = {kid_of(generate_private_key(alg).public_key()) for alg in ALGS for _ in range(3)}
    assert len(kids) == 9


@pytest.mark.parametrize("alg", ALGS)
def test_sign_verify_round_trip(alg: int) -> None:
    key = generate_private_key(alg)
    data = b"Sig_structure bytes" + os.urandom(32)
    sig = sign(key, alg, data)
    assert len(sig) == SIG_LENGTH[alg]
    assert verify(key.public_key(), alg, sig, data) is True
    assert verify(key.public_key(), alg, sig, data + b"x") is False
    assert verify(generate_private_key(alg).public_key(), alg, sig, data) is False
    for i in (0, len(sig) // 2, len(sig) - 1):
        bad = bytearray(sig)
        bad[i] ^= 0x01
        assert verify(key.public_key(), alg, bytes(bad), data) is False


@pytest.mark.parametrize("alg", [ES256, ES384])
def test_ecdsa_signature_is_fixed_width_r_s(alg: int) -> None:
    key = generate_private_key(alg)
    data = b"message"
    width = SIG_LENGTH[alg] // 2
    # many signatures, so that r or s with leading zero bytes or a high bit are all exercised
    for _ in range(64):
        sig = sign(key, alg, data)
        r, s = int.from_bytes(sig[:width], "big"), int.from_bytes(sig[width:], "big")
        der = encode_dss_signature(r, s)
        assert decode_dss_signature(der) == (r, s)
        hash_alg = hashes.SHA256() if alg == ES256 else hashes.SHA384()
        key.public_key().verify(der, data, ec.ECDSA(hash_alg))  # type: ignore[union-attr]
        assert verify(key.public_key(), alg, sig, data)


@pytest.mark.parametrize("alg", [ES256, ES384])
def test_hand_written_der_matches_cryptography(alg: int) -> None:
    width = SIG_LENGTH[alg] // 2
    edge_values = [
        1,
        0x7F,
        0x80,
        0xFF,
        0x0100,
        1 << (8 * width - 1),  # high bit set: needs a leading zero in DER
        (1 << (8 * width)) - 1,
        0x00FF << (8 * (width - 2)),  # leading zero byte in the fixed-width form
        0x80 << (8 * (width - 2)),
    ]
    randoms = [int.from_bytes(os.urandom(width), "big") or 1 for _ in range(50)]
    for r in edge_values + randoms[:25]:
        for s in edge_values[:3] + randoms[25:30]:
            raw = r.to_bytes(width, "big") + s.to_bytes(width, "big")
            assert algorithms._der_signature(raw, width) == encode_dss_signature(r, s)


def test_verify_accepts_high_s_which_is_why_replay_ignores_signature_bytes() -> None:
    key = generate_private_key(ES256)
    data = b"credential"
    sig = sign(key, ES256, data)
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    twin = r.to_bytes(32, "big") + (P256_N - s).to_bytes(32, "big")
    assert twin != sig
    assert verify(key.public_key(), ES256, twin, data)


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(bytes(64), id="zeros"),
        pytest.param(b"\xff" * 64, id="all-ff-above-n"),
        pytest.param(P256_N.to_bytes(32, "big") * 2, id="r-s-equal-n"),
        pytest.param(b"\x00" * 32 + b"\x01" * 32, id="r-zero"),
        pytest.param(b"", id="empty"),
        pytest.param(bytes(63), id="63-bytes"),
        pytest.param(bytes(65), id="65-bytes"),
        pytest.param(bytes(72), id="der-length"),
    ],
)
def test_verify_returns_false_for_garbage_es256(signature: bytes) -> None:
    key = generate_private_key(ES256)
    assert verify(key.public_key(), ES256, signature, b"data") is False


@pytest.mark.parametrize("signature", [bytes(64), b"", bytes(63), bytes(65)])
def test_verify_returns_false_for_garbage_eddsa(signature: bytes) -> None:
    key = generate_private_key(EDDSA)
    assert verify(key.public_key(), EDDSA, signature, b"data") is False


def test_verify_refuses_algorithm_key_mismatch() -> None:
    p256, p384, ed = (generate_private_key(a) for a in ALGS)
    data = b"data"
    es256_sig = sign(p256, ES256, data)
    ed_sig = sign(ed, EDDSA, data)
    assert verify(p256.public_key(), EDDSA, es256_sig, data) is False
    assert verify(ed.public_key(), ES256, ed_sig, data) is False
    assert verify(p384.public_key(), ES256, es256_sig, data) is False
    assert verify(p256.public_key(), ES384, es256_sig + bytes(32), data) is False
    assert verify(p256.public_key(), -37, es256_sig, data) is False
    assert verify(p256.public_key(), ES256, es256_sig, data) is True


def test_sign_refuses_algorithm_key_mismatch() -> None:
    p256, ed = generate_private_key(ES256), generate_private_key(EDDSA)
    with pytest.raises(KeyAlgorithmError):
        sign(p256, EDDSA, b"x")
    with pytest.raises(KeyAlgorithmError):
        sign(p256, ES384, b"x")
    with pytest.raises(KeyAlgorithmError):
        sign(ed, ES256, b"x")


def test_eddsa_signature_is_deterministic_raw() -> None:
    key = generate_private_key(EDDSA)
    assert sign(key, EDDSA, b"m") == sign(key, EDDSA, b"m")
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    assert sign(key, EDDSA, b"m") == key.sign(b"m")


@pytest.mark.parametrize("alg", ALGS)
def test_load_public_key_round_trip(alg: int) -> None:
    public = generate_private_key(alg).public_key()
    loaded = load_public_key(spki_der(public))
    assert spki_der(loaded) == spki_der(public)
    assert alg_of(loaded) == alg


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(lambda: ec.generate_private_key(ec.SECP521R1()), id="P-521"),
        pytest.param(lambda: ed448.Ed448PrivateKey.generate(), id="Ed448"),
    ],
)
def test_load_public_key_rejects_unsupported_keys(key: object) -> None:
    der = spki_der(key().public_key())  # type: ignore[operator]
    with pytest.raises(KeyAlgorithmError):
        load_public_key(der)


@pytest.mark.parametrize("der", [b"", b"\x30\x00", b"not a key", os.urandom(91)])
def test_load_public_key_rejects_garbage(der: bytes) -> None:
    with pytest.raises(ValueError):
        load_public_key(der)
