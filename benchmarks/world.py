"""Set-up for the benchmarks: real keys, a real signed trust list, an issuer and fresh codes.

Built from the keys/verifier/app APIs directly (the same few steps as tests/conftest.py's
make_world), with a fixed clock so that no code expires while it waits to be verified.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter_ns

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from app.issuing import Issuer
from benchmarks.timing import Batch
from keys.algorithms import ALG_NAMES, EDDSA, ES256, PrivateKey, PublicKey, generate_private_key
from keys.ring import ALL_PRIVILEGES, KeyRing, new_entry
from keys.trust_list import payload_from_rings, sign_trust_list
from verifier.claims import Profile
from verifier.code import device_proof, holder_code, online_code
from verifier.replay import InMemoryReplayGuard
from verifier.trust import TrustStore
from verifier.verify import HOLDER_BOUND, ONLINE, Verifier

NOW = 1_800_000_000  # codes are issued at NOW
VERIFY_AT = NOW + 1  # and verified one second later: inside every lifetime and proof window
MESSAGE = os.urandom(100)  # the ~100-byte message of the bare sign/verify baselines
ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def elderly() -> Profile:
    return Profile(subject=os.urandom(8), age_over=65, residence=310000, version=1)


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


PROFILES: dict[str, Callable[[], Profile]] = {"elderly": elderly, "disabled student": disabled_student}


@dataclass
class World:
    """One issuer (ES256 or Ed25519 key) in a ring, a verified trust store, and code makers."""

    alg: int
    issuer_key: PrivateKey
    store: TrustStore
    issuer: Issuer

    @property
    def alg_name(self) -> str:
        return "Ed25519" if self.alg == EDDSA else ALG_NAMES[self.alg]

    @property
    def issuer_public_key(self) -> PublicKey:
        return self.issuer_key.public_key()

    def verifier(self) -> Verifier:
        """A verifier with a real in-memory replay guard (the replay check stays on)."""
        return Verifier(self.store, InMemoryReplayGuard())

    def online(self, profile: Profile | None = None) -> str:
        return online_code(self.issuer.credential(profile or elderly(), NOW))

    def holder(self, profile: Profile | None = None) -> str:
        """A holder-bound code with its own device key, credential and proof."""
        device = generate_private_key(ES256)
        assert isinstance(device, ec.EllipticCurvePrivateKey)
        cred = self.issuer.credential(profile or elderly(), NOW, device_key=device.public_key())
        return holder_code(cred, device_proof(cred, device, NOW))

    def codes(self, kind: str, count: int) -> list[str]:
        make = self.online if kind == ONLINE else self.holder
        return [make() for _ in range(count)]


def make_world(alg: int) -> World:
    issuer_key = generate_private_key(alg)
    root_key = generate_private_key(ES256)
    ring = KeyRing("CN-SH", "310000", ALL_PRIVILEGES, (new_entry(issuer_key.public_key(), NOW - 3600),))
    document = sign_trust_list(payload_from_rings([ring], version=1, issued_at=NOW, max_age=7 * 86400), root_key)
    store = TrustStore.from_document(document, root_key.public_key(), NOW)
    world = World(alg, issuer_key, store, Issuer("CN-SH", ring.active(), issuer_key))
    # A code of each kind must verify before anything is timed.
    checker = world.verifier()
    assert checker.verify(world.online(), VERIFY_AT).kind == ONLINE
    assert checker.verify(world.holder(), VERIFY_AT).kind == HOLDER_BOUND
    return world


# Bare baselines: the cryptography calls alone, in loops shaped like the ones they are compared with.


BARE_POOL = 1024  # distinct (message, signature) pairs, as verify meets a fresh code each time


def bare_verify(private_key: PrivateKey) -> Batch:
    """n bare verifies with the key's algorithm (ES256: DER signature, ECDSA(SHA256)).

    The pairs cycle through a pool of distinct messages and signatures so that the baseline
    does not verify one signature over and over with every cache warm for it.
    """
    messages = [os.urandom(100) for _ in range(BARE_POOL)]
    verify_one: Callable[[bytes, bytes], None]
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        pairs = [(private_key.sign(m), m) for m in messages]
        verify_one = private_key.public_key().verify
    else:
        assert isinstance(private_key, ec.EllipticCurvePrivateKey)
        pairs = [(private_key.sign(m, ECDSA_SHA256), m) for m in messages]
        verify_one = functools.partial(private_key.public_key().verify, signature_algorithm=ECDSA_SHA256)
    position = itertools.count()

    def batch(n: int) -> int:
        start = next(position) * n % BARE_POOL
        chunk = list(itertools.islice(itertools.cycle(pairs), start, start + n))
        t0 = perf_counter_ns()
        for signature, message in chunk:
            verify_one(signature, message)
        return perf_counter_ns() - t0

    return batch


def bare_sign(private_key: PrivateKey) -> Batch:
    """n bare signs of MESSAGE (ES256: DER out; Ed25519: raw)."""
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        sign_ed = private_key.sign

        def batch_ed(n: int) -> int:
            r = range(n)
            t0 = perf_counter_ns()
            for _ in r:
                sign_ed(MESSAGE)
            return perf_counter_ns() - t0

        return batch_ed
    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    sign_ec = private_key.sign

    def batch_ec(n: int) -> int:
        r = range(n)
        t0 = perf_counter_ns()
        for _ in r:
            sign_ec(MESSAGE, ECDSA_SHA256)
        return perf_counter_ns() - t0

    return batch_ec
