"""Set-up for the benchmarks: the tests' world (tests/support/world.py), checked, and the bare baselines.

The keys, trust store, issuer, sample profiles and code makers are the ones the tests use, at
the same fixed clock, so that no code expires while it waits to be verified: codes are issued
at NOW and verified at VERIFY_AT.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable
from time import perf_counter_ns

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from benchmarks.timing import Batch
from keys.algorithms import PrivateKey
from tests.support import world as shared
from tests.support.world import NOW, World, disabled_student, elderly
from verifier.claims import Profile
from verifier.verify import HOLDER_BOUND, ONLINE

VERIFY_AT = NOW + 1  # verified one second after issue: inside every lifetime and proof window
MESSAGE = os.urandom(100)  # the ~100-byte message of the bare sign/verify baselines
ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())

PROFILES: dict[str, Callable[[], Profile]] = {"elderly": elderly, "disabled student": disabled_student}


def make_world(alg: int) -> World:
    """The tests' world with an issuer key of `alg`, once a code of each kind has verified."""
    world = shared.make_world(alg)
    # A code of each kind must verify before anything is timed.
    checker = world.verifier()
    assert checker.verify(world.online(), VERIFY_AT).kind == ONLINE
    assert checker.verify(world.holder()[0], VERIFY_AT).kind == HOLDER_BOUND
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
