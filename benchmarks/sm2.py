"""`python -m benchmarks.sm2 [--quick] [--json]`: SM2 (gmssl-pyx) verify cost as a ratio beside ES256.

Every figure comes from the same run, cases interleaved round by round (benchmarks.timing), so
the ratios hold whatever the machine. Measured, each on a 100-byte message or a fresh code:

- bare verify: `cryptography` ES256 (`public_key.verify(der, data, ECDSA(SHA256))`) against
  gmssl-pyx SM2 (`sm2_verify(point, data, der)`, which recomputes Z on every call);
- our checks (`keys.algorithms.raw_verifier`, r||s in, Z precomputed for SM2);
- a whole `Verifier.verify` of an online code (decode, signature, claims, replay guard);
- sign, for the issuing side.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import gmssl_pyx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from benchmarks.timing import Batch, Stats, each, fresh, interleave
from benchmarks.world import VERIFY_AT, make_world
from keys.algorithms import ES256, SM2, PrivateKey, generate_private_key, raw_verifier, sign
from keys.der import der_signature
from keys.sm2 import SM2PrivateKey

FULL = {"rounds": 15, "batch": 200}
QUICK = {"rounds": 3, "batch": 30}


def _message() -> bytes:
    return os.urandom(100)


def _codes(world: Any, count: int) -> Iterator[str]:
    return iter(world.codes("online", count))


def cases(rounds: int, batch: int) -> dict[str, tuple[Batch, int]]:
    data = _message()
    es_key = generate_private_key(ES256)
    sm_key = generate_private_key(SM2)
    assert isinstance(es_key, ec.EllipticCurvePrivateKey) and isinstance(sm_key, SM2PrivateKey)
    es_pub, sm_pub = es_key.public_key(), sm_key.public_key()
    es_der = es_key.sign(data, ec.ECDSA(hashes.SHA256()))
    es_raw = sign(es_key, ES256, data)
    sm_raw = sign(sm_key, SM2, data)
    sm_der = der_signature(sm_raw, 32)
    es_check, sm_check = raw_verifier(es_pub, ES256), raw_verifier(sm_pub, SM2)
    assert es_check(es_raw, data) and sm_check(sm_raw, data)

    ecdsa = ec.ECDSA(hashes.SHA256())
    needed = (rounds + 2) * batch + batch
    es_world, sm_world = make_world(ES256), make_world(SM2)
    es_verifier, sm_verifier = es_world.verifier(), sm_world.verifier()

    def signer(key: PrivateKey, alg: int) -> Batch:
        return each(lambda m: sign(key, alg, m), [data])

    return {
        "ES256 bare verify": (each(lambda _: es_pub.verify(es_der, data, ecdsa), [0]), batch),
        "SM2 bare verify (gmssl-pyx)": (
            each(lambda _: gmssl_pyx.sm2_verify(sm_pub.point, data, sm_der), [0]),
            batch,
        ),
        "ES256 raw_verifier": (each(lambda _: es_check(es_raw, data), [0]), batch),
        "SM2 raw_verifier": (each(lambda _: sm_check(sm_raw, data), [0]), batch),
        "ES256 Verifier.verify (online code)": (fresh(es_verifier.verify, _codes(es_world, needed), VERIFY_AT), batch),
        "SM2 Verifier.verify (online code)": (fresh(sm_verifier.verify, _codes(sm_world, needed), VERIFY_AT), batch),
        "ES256 sign": (signer(es_key, ES256), batch),
        "SM2 sign": (signer(sm_key, SM2), batch),
    }


RATIOS = (
    ("SM2 / ES256, bare verify", "SM2 bare verify (gmssl-pyx)", "ES256 bare verify"),
    ("SM2 / ES256, our signature check", "SM2 raw_verifier", "ES256 raw_verifier"),
    ("SM2 / ES256, whole Verifier.verify", "SM2 Verifier.verify (online code)", "ES256 Verifier.verify (online code)"),
    ("SM2 Verifier.verify / SM2 bare verify", "SM2 Verifier.verify (online code)", "SM2 bare verify (gmssl-pyx)"),
    ("SM2 / ES256, sign", "SM2 sign", "ES256 sign"),
)


def run(quick: bool = False) -> dict[str, Any]:
    settings = QUICK if quick else FULL
    stats: dict[str, Stats] = interleave(cases(**settings), rounds=settings["rounds"])
    ratios = {label: round(stats[a].median_ns / stats[b].median_ns, 2) for label, a, b in RATIOS}
    return {"cases": {name: s.to_json() for name, s in stats.items()}, "ratios": ratios}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sm2", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few rounds: checks it runs, figures are rough")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    result = run(args.quick)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{'case':44s} {'median µs':>10s} {'p25':>9s} {'p75':>9s}")
    for name, figures in result["cases"].items():
        print(f"{name:44s} {figures['median_us']:10.1f} {figures['p25_us']:9.1f} {figures['p75_us']:9.1f}")
    print()
    for label, ratio in result["ratios"].items():
        print(f"{label:44s} {ratio:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
