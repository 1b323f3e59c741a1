"""The four measurements: verify against bare verifies (with its breakdown), code sizes, issuance.

Each function returns plain JSON-ready data; benchmarks.report prints it.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from app.qr import qr_image, qr_version
from benchmarks.timing import Batch, Stats, each, each_star, fresh, interleave, prepared, repeat
from benchmarks.world import NOW, PROFILES, VERIFY_AT, World, bare_sign, bare_verify, elderly
from keys.algorithms import ES256, generate_private_key, p256_verifier
from keys.trust_list import TrustedKey
from verifier import cose
from verifier.base45 import b45decode, b45encode
from verifier.claims import decode_claims
from verifier.code import PREFIX, online_code, parse_code
from verifier.errors import Reason
from verifier.verify import HOLDER_BOUND, ONLINE

VERIFY_TARGET = 1.3
SIZE_TARGETS = {ONLINE: (150, 8), HOLDER_BOUND: (280, 13)}  # (max CBOR bytes, max QR version at M)
STEP_POOL = 64  # distinct codes cycled through by the steps that keep no replay state


@dataclass(frozen=True)
class Plan:
    """How long to measure: rounds after warm-up, and operations per batch."""

    rounds: int
    warmup: int
    n_signature: int  # verify, bare verify, signature check (~60-170 µs each)
    n_decode: int  # parse_code, decode_claims (a few µs)
    n_base45: int  # base45 decode (~2 µs)
    n_issue: int  # issuing (~50-100 µs)
    n_png: int  # issuing with PNG (~2 ms)


FULL = Plan(rounds=31, warmup=3, n_signature=200, n_decode=2000, n_base45=4000, n_issue=200, n_png=10)
QUICK = Plan(rounds=5, warmup=1, n_signature=50, n_decode=200, n_base45=400, n_issue=50, n_png=3)


# 1 and 4: verify, beside the bare verifies it needs, and where its time goes.

IN_SEQUENCE_STEPS = ("parse_code", "base45 decode", "issuer signature check", "decode_claims", "device signature check")


class InSequence:
    """A batch that takes fresh codes through verify's first steps in verify's order, timing each.

    Every step sees a never-seen code and a device key object just decoded from its claims, as
    inside Verifier.verify, so the steps add up to what verify spends on them (tight loops over
    a few inputs run warmer and read lower). base45 decode, which parse_code does first, is
    timed again on its own right after parse_code (on text already in cache), not added in.
    """

    def __init__(self, codes: Iterator[str], key: TrustedKey, holder_bound: bool) -> None:
        self.codes = codes
        self.key = key
        self.holder_bound = holder_bound
        self.per_round: list[list[float]] = []  # per-op ns of each step, one list per batch

    def __call__(self, n: int) -> int:
        chunk = list(itertools.islice(self.codes, n))
        if len(chunk) < n:
            raise RuntimeError("ran out of pre-generated codes: raise the code count")
        key_check, alg, holder_bound = self.key.check, self.key.alg, self.holder_bound
        check, bad_sig, bad_device = cose.check_signature, Reason.BAD_SIGNATURE, Reason.BAD_DEVICE_SIGNATURE
        start = len(PREFIX)
        sums = [0, 0, 0, 0, 0]
        begin = perf_counter_ns()
        for text in chunk:
            t0 = perf_counter_ns()
            code = parse_code(text)
            t1 = perf_counter_ns()
            b45decode(text[start:])
            t2 = perf_counter_ns()
            check(code.credential, key_check, alg, b"", bad_sig)
            t3 = perf_counter_ns()
            claims = decode_claims(code.credential.payload)
            t4 = perf_counter_ns()
            if holder_bound:
                assert code.proof is not None and claims.device_key is not None
                check(code.proof, p256_verifier(claims.device_key), ES256, code.credential_bytes, bad_device)
            t5 = perf_counter_ns()
            sums[0] += t1 - t0
            sums[1] += t2 - t1
            sums[2] += t3 - t2
            sums[3] += t4 - t3
            sums[4] += t5 - t4
        elapsed = perf_counter_ns() - begin
        self.per_round.append([total / n for total in sums])
        return elapsed

    def stats(self, warmup: int, ops_per_batch: int) -> dict[str, Stats]:
        rounds = self.per_round[warmup:]
        names = IN_SEQUENCE_STEPS if self.holder_bound else IN_SEQUENCE_STEPS[:-1]
        return {name: Stats(tuple(r[i] for r in rounds), ops_per_batch) for i, name in enumerate(names)}


def verify_suite(world: World, kind: str, plan: Plan) -> dict[str, Any]:
    """Verifier.verify on fresh codes, bare verifies and the verify steps, interleaved in one run."""
    holder_bound = kind == HOLDER_BOUND
    batches = plan.rounds + plan.warmup
    fresh_codes = world.codes(kind, batches * plan.n_signature)
    sequence_codes = world.codes(kind, batches * plan.n_signature)
    verifier = world.verifier()

    pool = world.codes(kind, STEP_POOL)
    parsed = [parse_code(text) for text in pool]
    key = world.store.get(parsed[0].credential.kid or b"")
    assert key is not None
    in_sequence = InSequence(iter(sequence_codes), key, holder_bound)

    cases: dict[str, tuple[Batch, int]] = {
        "verify": (fresh(verifier.verify, iter(fresh_codes), VERIFY_AT), plan.n_signature),
        "bare issuer verify": (bare_verify(world.issuer_key), plan.n_signature),
        "in sequence": (in_sequence, plan.n_signature),
        "base45 decode": (each(b45decode, [text[len(PREFIX) :] for text in pool]), plan.n_base45),
        "parse_code": (each(parse_code, pool), plan.n_decode),
        "decode_claims": (each(decode_claims, [p.credential.payload for p in parsed]), plan.n_decode),
        "issuer signature check": (
            each_star(
                cose.check_signature,
                [(p.credential, key.check, key.alg, b"", Reason.BAD_SIGNATURE) for p in parsed],
            ),
            plan.n_signature,
        ),
    }
    if holder_bound:
        cases["bare ES256 verify (device)"] = (bare_verify(generate_private_key(ES256)), plan.n_signature)

        def device_check_args(i: int) -> tuple[Any, ...]:
            # The device key as Verifier.verify meets it: a new object just decoded from the claims.
            p = parsed[i % len(parsed)]
            device_key = decode_claims(p.credential.payload).device_key
            assert device_key is not None
            check = p256_verifier(device_key)
            return (p.proof, check, ES256, p.credential_bytes, Reason.BAD_DEVICE_SIGNATURE)

        cases["device signature check"] = (prepared(cose.check_signature, device_check_args), plan.n_signature)
    stats = interleave(cases, rounds=plan.rounds, warmup=plan.warmup)
    sequence = in_sequence.stats(plan.warmup, plan.n_signature)

    bare_names = ["bare issuer verify"] + (["bare ES256 verify (device)"] if holder_bound else [])
    ours = stats["verify"].median_us
    bare = sum(stats[name].median_us for name in bare_names)
    per_round_bare = [sum(v) for v in zip(*(stats[name].per_op_ns for name in bare_names), strict=True)]
    per_round_ratio = sorted(o / b for o, b in zip(stats["verify"].per_op_ns, per_round_bare, strict=True))
    # base45 is inside parse_code; the rest is what verify does beyond the timed steps.
    accounted = sum(s.median_us for name, s in sequence.items() if name != "base45 decode")
    ratio = ours / bare
    isolated = ["base45 decode", "parse_code", "decode_claims", "issuer signature check", "device signature check"]
    return {
        "alg": world.alg_name,
        "kind": kind,
        "bare_needed": " + ".join([f"1 {world.alg_name}"] + (["1 ES256"] if holder_bound else [])),
        "verify_us": ours,
        "bare_us": bare,
        "ratio": ratio,
        "ratio_per_round_p25_p75": [_quantile(per_round_ratio, 0.25), _quantile(per_round_ratio, 0.75)],
        "target_ratio": VERIFY_TARGET,
        "met": ratio <= VERIFY_TARGET,
        "verify": stats["verify"].to_json(),
        "bare": {name: stats[name].to_json() for name in bare_names},
        "steps_in_sequence": {name: s.to_json() for name, s in sequence.items()},
        "rest_us": ours - accounted,
        "steps_isolated": {name: stats[name].to_json() for name in isolated if name in stats},
    }


def _quantile(values: list[float], q: float) -> float:
    position = q * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


# 2: sizes.


def size_suite(worlds: list[World]) -> list[dict[str, Any]]:
    rows = []
    for world in worlds:
        for kind in (ONLINE, HOLDER_BOUND):
            for profile_name, make_profile in PROFILES.items():
                text = world.online(make_profile()) if kind == ONLINE else world.holder(make_profile())[0]
                raw = b45decode(text[len(PREFIX) :])
                code = parse_code(text)
                max_bytes, max_version = SIZE_TARGETS[kind]
                version = qr_version(text)
                rows.append(
                    {
                        "alg": world.alg_name,
                        "kind": kind,
                        "profile": profile_name,
                        "cbor_bytes": len(raw),
                        "credential_bytes": len(code.credential_bytes),
                        "claims_bytes": len(code.credential.payload),
                        "proof_bytes": len(raw) - 1 - len(code.credential_bytes),
                        "text_length": len(text),
                        "qr_version_m": version,
                        "target_bytes": max_bytes,
                        "target_version": max_version,
                        "largest_cbor_for_target_version": largest_for_version(max_version),
                        "bytes_met": len(raw) <= max_bytes,
                        "version_met": version <= max_version,
                        "met": len(raw) <= max_bytes and version <= max_version,
                    }
                )
    return rows


def largest_for_version(version: int) -> int:
    """The most CBOR bytes whose SP1 text still fits a QR of `version` at error correction M."""
    n = 0
    while qr_version(PREFIX + b45encode(bytes(n + 1))) <= version:
        n += 1
    return n


# 3: issuing.


def issue_suite(world: World, plan: Plan, *, with_png: bool) -> dict[str, Any]:
    issuer = world.issuer
    credential = issuer.credential
    profile = elderly()
    device_keys = []
    for _ in range(STEP_POOL):
        device = generate_private_key(ES256)
        assert isinstance(device, ec.EllipticCurvePrivateKey)
        device_keys.append(device.public_key())

    def online() -> None:
        online_code(credential(profile, NOW))

    def holder(device_key: ec.EllipticCurvePublicKey) -> None:
        credential(profile, NOW, device_key=device_key)

    cases: dict[str, tuple[Batch, int]] = {
        "online code (text)": (repeat(online), plan.n_issue),
        "holder-bound credential": (each(holder, device_keys), plan.n_issue),
        f"bare {world.alg_name} sign": (bare_sign(world.issuer_key), plan.n_issue),
    }
    if with_png:
        sample = online_code(credential(profile, NOW))

        def online_png() -> None:
            text = online_code(credential(profile, NOW))
            buffer = io.BytesIO()
            qr_image(text).save(buffer, format="PNG")

        def png_only() -> None:
            buffer = io.BytesIO()
            qr_image(sample).save(buffer, format="PNG")

        cases["online code + PNG"] = (repeat(online_png), plan.n_png)
        cases["PNG only (qr_image + save)"] = (repeat(png_only), plan.n_png)
    stats = interleave(cases, rounds=plan.rounds, warmup=plan.warmup)
    bare = stats[f"bare {world.alg_name} sign"].median_us
    return {
        "alg": world.alg_name,
        "rows": [
            {
                "what": name,
                "us_per_code": s.median_us,
                "per_second_per_core": 1e6 / s.median_us,
                "x_bare_sign": s.median_us / bare,
                "stats": s.to_json(),
            }
            for name, s in stats.items()
        ],
    }


__all__ = ["FULL", "QUICK", "Plan", "issue_suite", "size_suite", "verify_suite"]
