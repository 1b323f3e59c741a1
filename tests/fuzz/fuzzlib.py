"""What every harness shares: fixed test keys, the var/fuzz layout, sparse edits and the libFuzzer start.

The keys are derived from constants, so a seed written by `make_seeds.py` in one process is a
validly signed code or document in the next: the fuzzer starts past the signature check.
They are test keys only (their private values are in this file).

Layout, all under var/fuzz/ (git-ignored):
    var/fuzz/<harness>/seeds/     written by make_seeds.py, read only by libFuzzer
    var/fuzz/<harness>/corpus/    what libFuzzer finds (first corpus directory: written)
    var/fuzz/crashes/<harness>-*  crashing, timing-out or memory-hungry inputs

Importing this module imports keys and verifier modules: a harness imports it after its own
`atheris.instrument_imports` block, so those modules are instrumented already.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import atheris
from cryptography.hazmat.primitives.asymmetric import ec

from keys.algorithms import ALG_NAMES, alg_of, kid_of, sign
from keys.ring import ALL_PRIVILEGES, REVOKED, KeyRing, new_entry
from keys.signed_json import b64url, canonical_json
from keys.trust_list import payload_from_rings, sign_trust_list
from verifier.claims import Profile
from verifier.trust import TrustStore

ROOT = Path(__file__).resolve().parents[2]
FUZZ_DIR = ROOT / "var" / "fuzz"
CRASH_DIR = FUZZ_DIR / "crashes"
NOW = 1_800_000_000


def _p256(secret: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(secret, ec.SECP256R1())


ROOT_KEY = _p256(0x5E15_0001)  # trust-list and catalogue root
ISSUER_KEY = _p256(0x5E15_0002)  # our issuer CN-SH: every privilege
PARTNER_KEY = _p256(0x5E15_0003)  # partner CN-JS: age and residence only, residence in Jiangsu only
REVOKED_KEY = _p256(0x5E15_0004)  # a revoked key of ours
DEVICE_KEY = _p256(0x5E15_0005)  # the holder's phone
ISSUERS = {"CN-SH": ISSUER_KEY, "CN-JS": PARTNER_KEY}
SIGNERS = (ISSUER_KEY, PARTNER_KEY, REVOKED_KEY)


def trust_payload(now: int = NOW) -> dict[str, Any]:
    """Our ring (one active and one revoked key) and a partner's limited key, as a trust-list payload."""
    revoked = replace(new_entry(REVOKED_KEY.public_key(), now - 86400), status=REVOKED)
    ours = KeyRing("CN-SH", "310000", ALL_PRIVILEGES, (new_entry(ISSUER_KEY.public_key(), now - 3600), revoked))
    partner = KeyRing("CN-JS", "320000", ("age_over", "residence"), (new_entry(PARTNER_KEY.public_key(), now - 3600),))
    payload = payload_from_rings([ours, partner], version=7, issued_at=now)
    for entry in payload["keys"]:
        if entry["issuer"] == "CN-JS":
            entry["residence_region"] = "320000"
    return payload


TRUST_DOCUMENT = sign_trust_list(trust_payload(), ROOT_KEY)
STORE = TrustStore.from_document(TRUST_DOCUMENT, ROOT_KEY.public_key(), NOW)


def sign_any(payload: Any, key: ec.EllipticCurvePrivateKey = ROOT_KEY) -> bytes:
    """A signed-JSON document around any JSON value (not only objects), signed as keys.signed_json signs.

    A payload that cannot be put in canonical UTF-8 JSON (a lone surrogate, say) gets a
    signature over its ASCII form instead: the loader must still refuse it cleanly.
    """
    try:
        signed = canonical_json(payload)
    except (UnicodeEncodeError, ValueError):
        signed = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    alg = alg_of(key)
    signature = {"alg": ALG_NAMES[alg], "kid": kid_of(key.public_key()).hex(), "value": b64url(sign(key, alg, signed))}
    return json.dumps({"payload": payload, "signature": signature}, sort_keys=True).encode()


def profiles() -> list[Profile]:
    """Profiles asserting each attribute alone and all together: seeds for every branch of the profile claim."""
    base = Profile(subject=bytes(range(16)))
    return [
        base,
        base._replace(age_over=60),
        base._replace(age_over=80, residence=310000, version=1),
        base._replace(disability_category=7, disability_grade=4),
        base._replace(martyr_family=True),
        base._replace(entitled_group=True),
        base._replace(student_level=6, enrolled_until=dt.date(2030, 6, 30)),
        base._replace(residence=320500),
        base._replace(subject=bytes(8), version=(1 << 32) - 1),
        Profile(bytes(32), 65, 2, 1, True, True, 5, dt.date(2027, 6, 30), 310000, 3),
    ]


def sparse_edit(base: bytes, fdp: atheris.FuzzedDataProvider, edits: int = 8) -> bytes:
    """Up to `edits` edits of `base`: set, insert or delete a byte, or cut the rest off.

    Sparse edits keep most of a real input intact, so one changed byte (a type, a length, a
    key) is a short step for libFuzzer; all-zero fuzz bytes leave `base` unchanged.
    """
    out = bytearray(base)
    for _ in range(fdp.ConsumeIntInRange(0, edits)):
        if not out:
            break
        op = fdp.ConsumeIntInRange(0, 8)
        pos = fdp.ConsumeIntInRange(0, len(out) - 1)
        value = fdp.ConsumeIntInRange(0, 255)
        if op <= 3:
            out[pos] = value
        elif op <= 5:
            out.insert(pos, value)
        elif op <= 7:
            del out[pos]
        else:
            del out[pos:]
    return bytes(out)


def write_seeds(name: str, seeds: dict[str, bytes]) -> Path:
    """Write seeds as var/fuzz/<name>/seeds/<label>; returns the folder."""
    folder = FUZZ_DIR / name / "seeds"
    folder.mkdir(parents=True, exist_ok=True)
    for label, data in seeds.items():
        (folder / label).write_bytes(data)
    return folder


def main(
    name: str,
    test_one_input: Callable[[bytes], None],
    make_seeds: Callable[[], dict[str, bytes]],
    *,
    defaults: tuple[str, ...] = (),
    custom_mutator: Callable[[bytes, int, int], bytes] | None = None,
) -> None:
    """Start libFuzzer with our layout unless the command line names its own corpus or artefact prefix.

    Given a file (not a folder) as argument, libFuzzer runs just that input: a reproducer.
    `--seeds-only` writes the seeds and stops (what make_seeds.py runs).
    """
    argv = list(sys.argv)
    if "--seeds-only" in argv:  # make_seeds.py: write this harness's seeds afresh, do not fuzz
        shutil.rmtree(FUZZ_DIR / name / "seeds", ignore_errors=True)
        print(f"{name}: {len(list(write_seeds(name, make_seeds()).iterdir()))} seeds")
        return
    flags = [a for a in argv[1:] if a.startswith("-")]
    if not any(a.startswith("-artifact_prefix=") for a in flags):
        CRASH_DIR.mkdir(parents=True, exist_ok=True)
        argv.append(f"-artifact_prefix={CRASH_DIR}/{name}-")
    for flag in defaults:
        if not any(a.split("=")[0] == flag.split("=")[0] for a in flags):
            argv.append(flag)
    if not any(not a.startswith("-") for a in argv[1:]):  # no corpus or input named: ours, seeded
        corpus = FUZZ_DIR / name / "corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        seeds = FUZZ_DIR / name / "seeds"
        if not seeds.is_dir() or not any(seeds.iterdir()):
            write_seeds(name, make_seeds())
        argv += [str(corpus), str(seeds)]
    if custom_mutator is not None:
        atheris.Setup(argv, test_one_input, custom_mutator=custom_mutator)
    else:
        atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
