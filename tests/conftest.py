"""Shared fixtures: real keys, a real signed trust list, and helpers to make codes."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.issuing import Issuer
from keys.algorithms import ES256, PrivateKey, generate_private_key
from keys.ring import ALL_PRIVILEGES, KeyRing, new_entry
from keys.trust_list import payload_from_rings, sign_trust_list
from verifier.claims import Profile
from verifier.code import device_proof, holder_code, online_code
from verifier.trust import TrustStore
from verifier.verify import DEFAULT_CLOCK_SKEW_S, DEFAULT_PROOF_MAX_AGE_S, Verifier

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

    def verifier(
        self, *, clock_skew: int = DEFAULT_CLOCK_SKEW_S, proof_max_age: int = DEFAULT_PROOF_MAX_AGE_S
    ) -> Verifier:
        return Verifier(self.store, clock_skew=clock_skew, proof_max_age=proof_max_age)

    def online(self, profile: Profile | None = None, *, at: int | None = None, lifetime: int = 60) -> str:
        cred = self.issuer.credential(profile or elderly(), at if at is not None else self.now, lifetime=lifetime)
        return online_code(cred)

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


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture(params=["ES256", "EdDSA"])
def any_alg_world(request: pytest.FixtureRequest) -> World:
    from keys.algorithms import ALG_IDS

    return make_world(ALG_IDS[request.param])


WorldFactory = Callable[..., World]


@pytest.fixture
def world_factory() -> WorldFactory:
    return make_world


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Environment for running the installed commands: a passphrase file, no other SUISHEN_ settings."""
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple\n")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SUISHEN_")}
    environment["SUISHEN_KEY_PASSPHRASE_FILE"] = str(secret)
    return environment
