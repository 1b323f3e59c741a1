"""The world most tests and the benchmarks stand in: real keys, a real signed trust list, an issuer.

One implementation for both, so that a benchmark times exactly what the tests check: one issuer
key in a ring, a root key that signs the trust list, a verified trust store and an issuer, at a
fixed clock (tests never sleep; no benchmark code expires while it waits to be verified).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from app.issuing import Issuer
from keys.algorithms import ALG_NAMES, EDDSA, ES256, PrivateKey, alg_of, generate_private_key
from keys.ring import ALL_PRIVILEGES, KeyRing, new_entry
from keys.trust_list import payload_from_rings, sign_trust_list
from verifier.claims import Profile
from verifier.code import device_proof, holder_code, online_code
from verifier.trust import TrustStore
from verifier.verify import DEFAULT_CLOCK_SKEW_S, DEFAULT_PROOF_MAX_AGE_S, ONLINE, Verifier

NOW = 1_800_000_000  # a fixed clock: tests never sleep


@dataclass
class World:
    """One issuer with a ring, its root key, a verified trust store and a verifier."""

    now: int
    issuer_key: PrivateKey
    root_key: PrivateKey
    ring: KeyRing
    trust_document: bytes
    store: TrustStore
    issuer: Issuer

    @property
    def alg(self) -> int:
        """The COSE algorithm of the issuer key."""
        return alg_of(self.issuer_key)

    @property
    def alg_name(self) -> str:
        """The algorithm as figures and reports name it (Ed25519 rather than COSE's EdDSA)."""
        return "Ed25519" if self.alg == EDDSA else ALG_NAMES[self.alg]

    def verifier(
        self, *, clock_skew: int = DEFAULT_CLOCK_SKEW_S, proof_max_age: int = DEFAULT_PROOF_MAX_AGE_S
    ) -> Verifier:
        """A verifier over the trust store, with its own in-memory replay guard (the replay check stays on)."""
        return Verifier(self.store, clock_skew=clock_skew, proof_max_age=proof_max_age)

    def online(self, profile: Profile | None = None, *, at: int | None = None, lifetime: int = 60) -> str:
        cred = self.issuer.credential(profile or elderly(), at if at is not None else self.now, lifetime=lifetime)
        return online_code(cred)

    def card(
        self, profile: Profile | None = None, *, number: int = 1, at: int | None = None, lifetime: int | None = None
    ) -> str:
        """A printed card's code text (no device key, a year's life unless `lifetime` says otherwise)."""
        issued = at if at is not None else self.now
        return online_code(self.issuer.credential(profile or elderly(), issued, card_number=number, lifetime=lifetime))

    def holder(
        self,
        profile: Profile | None = None,
        *,
        at: int | None = None,
        proof_at: int | None = None,
        device: PrivateKey | None = None,
    ) -> tuple[str, bytes, PrivateKey]:
        """(code text, credential bytes, device key) for a holder-bound code."""
        device = device or generate_private_key(ES256)
        issued = at if at is not None else self.now
        cred = self.issuer.credential(profile or elderly(), issued, device_key=device.public_key())  # type: ignore[arg-type]
        proof = device_proof(cred, device, proof_at if proof_at is not None else self.now)  # type: ignore[arg-type]
        return holder_code(cred, proof), cred, device

    def codes(self, kind: str, count: int) -> list[str]:
        """`count` fresh code texts of one kind (ONLINE or HOLDER_BOUND), each with its own cti (and device key)."""
        if kind == ONLINE:
            return [self.online() for _ in range(count)]
        return [self.holder()[0] for _ in range(count)]


def elderly(**changes: object) -> Profile:
    base = Profile(subject=os.urandom(8), age_over=65, residence=310000, version=1)
    return base._replace(**changes)  # type: ignore[arg-type]


def disabled_student() -> Profile:
    return Profile(
        subject=os.urandom(8),
        disability_category=2,
        disability_grade=1,
        student_level=5,
        enrolled_until=dt.date(2027, 6, 30),
        residence=320000,
        version=4,
    )


def make_world(alg: int = ES256, *, now: int = NOW, issuer: str = "CN-SH", max_age: int = 7 * 86400) -> World:
    issuer_key = generate_private_key(alg)
    root_key = generate_private_key(ES256)
    ring = KeyRing(issuer, "310000", ALL_PRIVILEGES, (new_entry(issuer_key.public_key(), now - 3600),))
    doc = sign_trust_list(payload_from_rings([ring], version=1, issued_at=now, max_age=max_age), root_key)
    store = TrustStore.from_document(doc, root_key.public_key(), now)
    return World(now, issuer_key, root_key, ring, doc, store, Issuer(issuer, ring.active(), issuer_key))
