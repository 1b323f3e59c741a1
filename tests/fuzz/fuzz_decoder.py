"""Atheris (libFuzzer) harness for the SP1 decoder: `Verifier.verify` may raise VerificationError only.

Run from the repository root (see tests/fuzz/README.md):

    .venv/bin/python tests/fuzz/fuzz_decoder.py -max_total_time=60

Every input picks a mode with its first byte, so one corpus covers all of them:

    raw        the bytes as given, passed as bytes
    text       the bytes as a Python str (FuzzedDataProvider.ConsumeUnicodeNoSurrogates)
    base45     "SP1:" + base45(bytes): well-formed text, so the fuzzer works on the CBOR inside
    mutate     a real online or holder-bound code with a few bytes set, inserted or deleted
    claims     the bytes as a claims payload signed by the trusted issuer key (a buggy issuer)
    mclaims    a real claims payload with a few bytes edited, signed by the trusted issuer key
    proof      the bytes as the payload of a device proof signed by the credential's device key

Set SUISHEN_FUZZ_MODES=raw,text,... to fuzz some modes only. Anything other than a
VerificationError leaving the verifier is a crash: libFuzzer stops, prints the traceback and
writes the input to var/fuzz/ (unless -artifact_prefix is given).

File name does not start with test_, so pytest never collects it; atheris is imported here only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports(include=["verifier", "keys"]):
    from keys.algorithms import ES256, generate_private_key
    from verifier import cbor_strict, cose
    from verifier.base45 import b45decode, b45encode
    from verifier.claims import Claims, Profile, encode_claims
    from verifier.code import PREFIX, device_proof, holder_code, online_code
    from verifier.errors import VerificationError

from tests.conftest import make_world  # noqa: E402  (after the sys.path change, not instrumented)

MODES = ("raw", "text", "base45", "mutate", "claims", "mclaims", "proof")
ENABLED = frozenset(m.strip() for m in os.environ.get("SUISHEN_FUZZ_MODES", ",".join(MODES)).split(",") if m.strip())
unknown = ENABLED - set(MODES)
if unknown:
    sys.exit(f"SUISHEN_FUZZ_MODES: unknown mode(s) {sorted(unknown)}; choose from {list(MODES)}")

WORLD = make_world()
NOW = WORLD.now
KID = WORLD.ring.active().kid
DEVICE = generate_private_key(ES256)
PROFILE = Profile(
    subject=bytes(range(16)),
    age_over=65,
    disability_category=2,
    disability_grade=1,
    martyr_family=True,
    student_level=5,
    enrolled_until=dt.date(2030, 6, 30),
    residence=310000,
    version=3,
)
HOLDER_CREDENTIAL = WORLD.issuer.credential(PROFILE, NOW, device_key=DEVICE.public_key())  # type: ignore[arg-type]
VALID_RAWS = (
    b45decode(WORLD.online(PROFILE)[len(PREFIX) :]),
    b45decode(holder_code(HOLDER_CREDENTIAL, device_proof(HOLDER_CREDENTIAL, DEVICE, NOW))[len(PREFIX) :]),  # type: ignore[arg-type]
)
VALID_CLAIMS = (
    encode_claims(Claims(WORLD.issuer.issuer, NOW, NOW + 60, bytes(16), PROFILE)),
    encode_claims(Claims(WORLD.issuer.issuer, NOW, NOW + 86400, bytes(16), PROFILE, device_key=DEVICE.public_key())),  # type: ignore[arg-type]
)


def _mutate(base: bytes, fdp: atheris.FuzzedDataProvider) -> bytes:
    """Up to eight sparse edits of `base`: set, insert or delete a byte, or cut the rest off.

    Sparse edits keep most of a real code or payload intact, so one changed byte (a type, a
    length, a key) is a short step for libFuzzer; all-zero fuzz bytes leave `base` unchanged.
    """
    out = bytearray(base)
    for _ in range(fdp.ConsumeIntInRange(0, 8)):
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


def _input(mode: str, fdp: atheris.FuzzedDataProvider) -> str | bytes:
    if mode == "raw":
        return fdp.ConsumeBytes(fdp.remaining_bytes())
    if mode == "text":
        return fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    if mode == "base45":
        return PREFIX + b45encode(fdp.ConsumeBytes(fdp.remaining_bytes()))
    if mode == "mutate":
        base = VALID_RAWS[fdp.ConsumeIntInRange(0, len(VALID_RAWS) - 1)]
        return PREFIX + b45encode(_mutate(base, fdp))
    if mode in ("claims", "mclaims"):
        if mode == "claims":
            payload = fdp.ConsumeBytes(fdp.remaining_bytes())
        else:
            payload = _mutate(VALID_CLAIMS[fdp.ConsumeIntInRange(0, len(VALID_CLAIMS) - 1)], fdp)
        if fdp.ConsumeBool():  # holder-bound: a proof made by the device key the original claims name
            credential = cose.sign1(payload, WORLD.issuer_key, kid=KID)
            return holder_code(credential, device_proof(credential, DEVICE, NOW))  # type: ignore[arg-type]
        return online_code(cose.sign1(payload, WORLD.issuer_key, kid=KID))
    # proof
    payload = fdp.ConsumeBytes(fdp.remaining_bytes())
    proof = cose.sign1(payload, DEVICE, kid=None, external_aad=HOLDER_CREDENTIAL, tagged=False)
    return holder_code(HOLDER_CREDENTIAL, proof)


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    mode = MODES[data[0] % len(MODES)]
    if mode not in ENABLED:
        return
    fdp = atheris.FuzzedDataProvider(data[1:])
    code = _input(mode, fdp)
    with contextlib.suppress(VerificationError):  # every other exception is a crash
        WORLD.verifier().verify(code, NOW)


def _seed_corpus(directory: Path) -> None:
    """A few starting points per mode; libFuzzer adds what it finds to the same directory."""
    directory.mkdir(parents=True, exist_ok=True)
    seeds = {
        "raw": (b"\x00" + WORLD.online().encode(), b"\x00SP1:"),
        "text": (b"\x01" + WORLD.online().encode(),),
        "base45": (b"\x02" + VALID_RAWS[0], b"\x02" + VALID_RAWS[1]),
        "mutate": (b"\x03" + bytes(8), b"\x03\x01" + bytes(8)),
        "claims": (b"\x04" + VALID_CLAIMS[0], b"\x04" + VALID_CLAIMS[1]),
        "mclaims": (b"\x05" + bytes(8), b"\x05\x01" + bytes(8)),
        "proof": (b"\x06" + cbor_strict.dumps([NOW // 30, bytes(8)]),),
    }
    for name, inputs in seeds.items():
        for i, seed in enumerate(inputs):
            path = directory / f"seed-{name}-{i}"
            if not path.exists():
                path.write_bytes(seed)


def main() -> None:
    argv = list(sys.argv)
    fuzz_dir = ROOT / "var" / "fuzz"
    if not any(a.startswith("-artifact_prefix=") for a in argv[1:]):
        fuzz_dir.mkdir(parents=True, exist_ok=True)
        argv.append(f"-artifact_prefix={fuzz_dir}/")
    if not any(not a.startswith("-") for a in argv[1:]):  # no corpus directory given: use ours
        corpus = fuzz_dir / "corpus"
        _seed_corpus(corpus)
        argv.append(str(corpus))
    atheris.Setup(argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
