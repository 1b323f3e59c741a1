"""Atheris (libFuzzer) harness for the SP1 decoder: `Verifier.verify` may raise VerificationError only.

Run from the repository root (see tests/fuzz/README.md):

    .venv/bin/python tests/fuzz/fuzz_decoder.py -max_total_time=60

Every input picks a mode with its first byte, so one corpus covers all of them:

    raw        the bytes as given, passed as bytes
    text       the bytes as a Python str (FuzzedDataProvider.ConsumeUnicodeNoSurrogates)
    base45     "SP1:" + base45(bytes): well-formed text, so the fuzzer works on the CBOR inside
    mutate     a real online or holder-bound code with a few bytes set, inserted or deleted
    claims     the bytes as a claims payload signed by a trusted (or revoked) issuer key
    mclaims    a real claims payload with a few bytes edited, signed by a trusted issuer key
    proof      the bytes as the payload of a device proof signed by the credential's device key
    profile    the bytes as the profile claim after real iss/exp/iat/cti (and cnf) claims, signed
    resign     the bytes are a whole code (CBOR array of COSE_Sign1); the custom mutator edits the
               credential's payload with libFuzzer's mutations and signs it again (and the proof),
               so the corpus holds validly signed codes with mutated claims

Signed modes pick the signer (our key, a partner key limited to age and Jiangsu residence, a
revoked key) and the verifying clock from the fuzz bytes, so issuer limits and time checks run
on decoded claims too. Seeds (`make_seeds.py`) are real codes, claims and profiles for every
attribute, signed by the fixed test keys of `fuzzlib.py`.

Set SUISHEN_FUZZ_MODES=raw,text,... to fuzz some modes only. Anything other than a
VerificationError leaving the verifier is a crash: libFuzzer stops, prints the traceback and
writes the input to var/fuzz/crashes/decoder-*.

File name does not start with test_, so pytest never collects it; atheris is imported here only.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
from pathlib import Path

import atheris
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["verifier", "keys"]):
    from keys.algorithms import kid_of
    from verifier import cose
    from verifier.base45 import b45encode
    from verifier.claims import Claims, encode_claims
    from verifier.code import PREFIX, device_proof, parse_code
    from verifier.errors import VerificationError
    from verifier.verify import Verifier

import fuzzlib
from fuzzlib import DEVICE_KEY, ISSUER_KEY, NOW, PARTNER_KEY, SIGNERS, STORE

NAME = "decoder"
MODES = ("raw", "text", "base45", "mutate", "claims", "mclaims", "proof", "profile", "resign")
ENABLED = frozenset(m.strip() for m in os.environ.get("SUISHEN_FUZZ_MODES", ",".join(MODES)).split(",") if m.strip())
unknown = ENABLED - set(MODES)
if unknown:
    sys.exit(f"SUISHEN_FUZZ_MODES: unknown mode(s) {sorted(unknown)}; choose from {list(MODES)}")
MODE_BYTE = {m: bytes([i]) for i, m in enumerate(MODES)}
KEY_BY_KID = {kid_of(k.public_key()): k for k in SIGNERS}
CLOCKS = (0, -30, 45, 120, -3600, 86400 + 61)  # offsets from NOW: in skew, out of skew, after a proof's life
_PROFILE_CLAIM_KEY = b"\x3a\x00\x01\x00\x00"


def _claims(issuer: str, profile_index: int = 0, *, holder: bool = False, nbf: bool = False) -> bytes:
    profile = fuzzlib.profiles()[profile_index]
    device = DEVICE_KEY.public_key() if holder else None
    life = 86400 if holder else 60
    return encode_claims(Claims(issuer, NOW, NOW + life, bytes(16), profile, NOW - 5 if nbf else None, device))


def _credential(payload: bytes, key: ec.EllipticCurvePrivateKey = ISSUER_KEY) -> bytes:
    return cose.sign1(payload, key, kid=kid_of(key.public_key()))


def _raw(credential: bytes, *, holder: bool) -> bytes:
    if not holder:
        return b"\x81" + credential
    return b"\x82" + credential + device_proof(credential, DEVICE_KEY, NOW)


VALID_CLAIMS = tuple(_claims(i, n, holder=h) for i in ("CN-SH", "CN-JS") for n in (2, 9) for h in (False, True))
VALID_RAWS = tuple(_raw(_credential(c), holder=i % 2 == 1) for i, c in enumerate(VALID_CLAIMS[:4]))
PREFIXES = tuple(
    c[: c.index(_PROFILE_CLAIM_KEY) + len(_PROFILE_CLAIM_KEY)]
    for c in (_claims("CN-SH"), _claims("CN-SH", holder=True), _claims("CN-JS", nbf=True))
)
HOLDER_CREDENTIAL = _credential(VALID_CLAIMS[1])


def _signed_code(payload: bytes, choice: int) -> str:
    """The payload signed by the key `choice` picks, shown online or (odd choices) with a device proof."""
    credential = _credential(payload, SIGNERS[(choice >> 1) % len(SIGNERS)])
    return PREFIX + b45encode(_raw(credential, holder=bool(choice & 1)))


def _input(mode: str, a: int, b: int, body: bytes) -> str | bytes:
    """The code for one input: `a` and `b` are choice bytes (base, signer, shape), `body` the fuzzed bytes."""
    if mode == "raw":
        return body
    if mode == "text":
        return atheris.FuzzedDataProvider(body).ConsumeUnicodeNoSurrogates(len(body))
    if mode in ("base45", "resign"):
        return PREFIX + b45encode(body)
    if mode == "mutate":
        edited = fuzzlib.sparse_edit(VALID_RAWS[a % len(VALID_RAWS)], atheris.FuzzedDataProvider(body))
        return PREFIX + b45encode(edited)
    if mode == "mclaims":
        edited = fuzzlib.sparse_edit(VALID_CLAIMS[a % len(VALID_CLAIMS)], atheris.FuzzedDataProvider(body))
        return _signed_code(edited, b)
    if mode == "profile":
        prefix = a % len(PREFIXES)
        return _signed_code(PREFIXES[prefix] + body, (b << 1) | (prefix == 1))
    if mode == "claims":
        return _signed_code(body, (a << 1) | (b & 1))
    # proof
    proof = cose.sign1(body, DEVICE_KEY, kid=None, external_aad=HOLDER_CREDENTIAL, tagged=False)
    return PREFIX + b45encode(b"\x82" + HOLDER_CREDENTIAL + proof)


def TestOneInput(data: bytes) -> None:
    if len(data) < 4:
        return
    mode = MODES[data[0] % len(MODES)]
    if mode not in ENABLED:
        return
    if mode == "resign":  # the whole rest is a signed code, kept signed by the custom mutator
        clock, code = NOW, _input(mode, 0, 0, data[1:])
    else:
        clock, code = NOW + CLOCKS[data[1] % len(CLOCKS)], _input(mode, data[2], data[3], data[4:])
    with contextlib.suppress(VerificationError):  # every other exception is a crash
        verified = Verifier(STORE).verify(code, clock)
        verified.to_json()  # what the gate shows and the server answers


def resign(raw: bytes, rng: random.Random) -> bytes | None:
    """`raw` with its credential payload mutated by libFuzzer and signed again (None: not a code)."""
    try:
        code = parse_code(PREFIX + b45encode(raw))
    except VerificationError:
        return None
    key = KEY_BY_KID.get(code.credential.kid or b"", ISSUER_KEY)
    payload = atheris.Mutate(code.credential.payload, max(64, 2 * len(code.credential.payload)))
    credential = cose.sign1(payload, key, kid=code.credential.kid, tagged=True)
    if code.proof is None:
        return b"\x81" + credential
    proof_payload = code.proof.payload if rng.random() < 0.8 else atheris.Mutate(code.proof.payload, 32)
    return b"\x82" + credential + cose.sign1(proof_payload, DEVICE_KEY, kid=None, external_aad=credential, tagged=False)


def CustomMutator(data: bytes, max_size: int, seed: int) -> bytes:
    """In resign mode, mostly mutate the signed claims and sign again; elsewhere libFuzzer's own mutations."""
    rng = random.Random(seed)
    if len(data) > 1 and MODES[data[0] % len(MODES)] == "resign" and rng.random() < 0.85:
        mutated = resign(data[1:], rng)
        if mutated is not None and len(mutated) < max_size:
            return data[:1] + mutated
    return atheris.Mutate(data, max_size)


def seeds() -> dict[str, bytes]:
    """Real codes, claims and profiles for every attribute, signed by the fixed keys (see make_seeds.py)."""
    out: dict[str, bytes] = {}
    clock = b"\x00"
    for n in range(len(fuzzlib.profiles())):
        for issuer, key in (("CN-SH", ISSUER_KEY), ("CN-JS", PARTNER_KEY)):
            for holder in (False, True):
                claims = _claims(issuer, n, holder=holder, nbf=n % 3 == 0)
                raw = _raw(_credential(claims, key), holder=holder)
                label = f"{n}-{issuer}-{'holder' if holder else 'online'}"
                out[f"resign-{label}"] = MODE_BYTE["resign"] + raw
                out[f"base45-{label}"] = MODE_BYTE["base45"] + clock + b"\0\0" + raw
                out[f"claims-{label}"] = MODE_BYTE["claims"] + clock + bytes([SIGNERS.index(key), holder]) + claims
        profile_map = _claims("CN-SH", n)[len(PREFIXES[0]) :]
        for prefix, signer in ((0, 0), (1, 0), (2, 1)):
            out[f"profile-{n}-{prefix}"] = MODE_BYTE["profile"] + clock + bytes([prefix, signer]) + profile_map
    for i, raw in enumerate(VALID_RAWS):
        out[f"raw-{i}"] = MODE_BYTE["raw"] + clock + b"\0\0" + (PREFIX + b45encode(raw)).encode()
        out[f"text-{i}"] = MODE_BYTE["text"] + clock + b"\0\0\0" + (PREFIX + b45encode(raw)).encode()
        out[f"mutate-{i}"] = MODE_BYTE["mutate"] + clock + bytes([i, 0]) + bytes(8)
    for i in range(len(VALID_CLAIMS)):
        out[f"mclaims-{i}"] = MODE_BYTE["mclaims"] + clock + bytes([i, 2 * (i >= 4) + i % 2]) + bytes(8)
    step = b"\x82\x1a" + (NOW // 30).to_bytes(4, "big") + b"\x48" + bytes(8)
    out["proof-0"] = MODE_BYTE["proof"] + clock + b"\0\0" + step
    return out


if __name__ == "__main__":
    fuzzlib.main(NAME, TestOneInput, seeds, defaults=("-max_len=700",), custom_mutator=CustomMutator)
