"""The corpus's fixed world: test-only keys made from fixed bytes, one clock, the trust stores codes are judged by.

No key file is committed: every key is derived from a label here, so the generator and the test
make the same keys on any machine. These keys are for the corpus only and guard nothing.
Signatures made while generating are deterministic (RFC 6979 for ECDSA, Ed25519 by nature), so
running the generator twice writes the same bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from keys import algorithms, signed_json
from keys.algorithms import EDDSA, ES256, PrivateKey, alg_of
from keys.ring import ALL_PRIVILEGES, KeyEntry, KeyRing, new_entry
from keys.trust_list import payload_from_rings, sign_trust_list, trust_list_payload
from verifier import cose
from verifier.trust import TrustStore

CORPUS = Path(__file__).resolve().parent
NOW = 1_800_000_000  # the corpus clock (2027-01-15 08:00 UTC): judges never read the real time
DAY = 86400
ISSUER = "CN-SH"
REGION = "310000"
PARTNER_REGION = "320000"
PARTNER_ISSUER = "CN-JS"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def corpus_key(label: str, alg: int = ES256) -> PrivateKey:
    """A private key derived from `label` alone (corpus use only)."""
    seed = hashlib.sha256(b"suishen corpus test-only key: " + label.encode()).digest()
    if alg == EDDSA:
        return ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    if alg != ES256:
        raise ValueError(f"corpus keys are ES256 or EdDSA, not {alg}")
    return ec.derive_private_key(int.from_bytes(seed, "big") % (_P256_ORDER - 1) + 1, ec.SECP256R1())


ISSUER_KEY = corpus_key("issuer ES256")
ISSUER_ED_KEY = corpus_key("issuer EdDSA", EDDSA)
ROOT_KEY = corpus_key("our trust-list root")
PARTNER_ROOT_KEY = corpus_key("partner trust-list root")
PARTNER_ISSUER_KEY = corpus_key("partner issuer")
STRANGER_KEY = corpus_key("an issuer nobody trusts")
STRANGER_ROOT_KEY = corpus_key("a root nobody registered")


def device_key(n: int = 0) -> ec.EllipticCurvePrivateKey:
    key = corpus_key(f"phone {n}")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def entry(key: PrivateKey, **changes: object) -> KeyEntry:
    return dataclasses.replace(new_entry(key.public_key(), NOW - 30 * DAY), **changes)  # type: ignore[arg-type]


def our_ring(*, privileges: tuple[str, ...] = ALL_PRIVILEGES, **changes: object) -> KeyRing:
    """Our issuer: the ES256 key (changed as asked) and an EdDSA key beside it."""
    return KeyRing(ISSUER, REGION, privileges, (entry(ISSUER_KEY, **changes), entry(ISSUER_ED_KEY)))


def partner_entry_json(**changes: object) -> dict[str, object]:
    """The partner's issuer key as our merged list holds it: limited rights, residence in its province."""
    ring = KeyRing(PARTNER_ISSUER, PARTNER_REGION, ("age_over", "residence"), (entry(PARTNER_ISSUER_KEY),))
    key = dict(payload_from_rings([ring], version=1, issued_at=NOW)["keys"][0])
    key["residence_region"] = PARTNER_REGION
    key.update(changes)
    return key


# The trust stores a code case may name. Each is a list our root signed at NOW.
TRUST_VARIANTS = ("ours", "revoked", "key_later", "key_ended", "narrow", "with_partner")


def trust_store(variant: str = "ours") -> TrustStore:
    rings = {
        "ours": our_ring(),
        "revoked": our_ring(status="revoked"),
        "key_later": our_ring(not_before=NOW + 3600),
        "key_ended": our_ring(not_after=NOW - 3600),
        "narrow": our_ring(privileges=("residence",)),
        "with_partner": our_ring(),
    }
    ring = rings[variant]
    keys = payload_from_rings([ring], version=1, issued_at=NOW)["keys"]
    if variant == "with_partner":
        keys = [*keys, partner_entry_json()]
    document = sign_trust_list(trust_list_payload(keys, version=1, issued_at=NOW, max_age=7 * DAY), ROOT_KEY)
    return TrustStore.from_document(document, ROOT_KEY.public_key(), NOW)


def pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _deterministic_sign(private_key: PrivateKey, alg: int, data: bytes) -> bytes:
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and alg == ES256 == alg_of(private_key):
        der = private_key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return algorithms.sign(private_key, alg, data)


@contextlib.contextmanager
def deterministic_signatures() -> Iterator[None]:
    """While generating only: COSE and signed JSON sign with RFC 6979 nonces, so the output repeats."""
    saved = cose.sign, signed_json.sign
    cose.sign = signed_json.sign = _deterministic_sign  # type: ignore[assignment]
    try:
        yield
    finally:
        cose.sign, signed_json.sign = saved  # type: ignore[assignment]
