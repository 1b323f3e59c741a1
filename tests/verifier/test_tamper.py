"""Single-character and single-byte tampering: every change is rejected, cleanly.

For each valid code we change one character of the text (every position, every other base45
character) and one byte of the decoded CBOR (every position, every other byte value, then
re-encoded to base45). Each altered code goes to a fresh verifier, so a replay entry can never
hide an acceptance; it must raise VerificationError and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import pytest

from keys.algorithms import EDDSA, ES256
from tests.support.world import World, disabled_student, make_world
from verifier.base45 import ALPHABET, b45decode, b45encode
from verifier.errors import Reason, VerificationError
from verifier.verify import Verifier

KINDS = ["online", "holder"]
ALGS = {"ES256": ES256, "EdDSA": EDDSA}


def _code(w: World, kind: str) -> str:
    if kind == "online":
        return w.online(disabled_student())
    return w.holder(disabled_student())[0]


def _outcomes(w: World, variants: Iterator[tuple[str, str]]) -> tuple[dict[Reason, int], list[str]]:
    """Verify every variant on a fresh verifier; count reasons, list anything not a clean rejection."""
    counts: dict[Reason, int] = {}
    problems: list[str] = []
    for label, text in variants:
        try:
            Verifier(w.store).verify(text, w.now)
        except VerificationError as exc:
            counts[exc.reason] = counts.get(exc.reason, 0) + 1
        except Exception as exc:
            problems.append(f"{label}: {type(exc).__name__}: {exc}")
        else:
            problems.append(f"{label}: ACCEPTED")
    return counts, problems


def _char_flips(text: str) -> Iterator[tuple[str, str]]:
    for i, original in enumerate(text):
        for c in ALPHABET:
            if c != original:
                yield f"char {i} {original!r}->{c!r}", text[:i] + c + text[i + 1 :]


def _byte_flips(raw: bytes, values: Callable[[int], Iterable[int]]) -> Iterator[tuple[str, str]]:
    for i in range(len(raw)):
        for v in dict.fromkeys(values(raw[i])):
            if v != raw[i]:
                yield f"byte {i} {raw[i]:#04x}->{v:#04x}", "SP1:" + b45encode(raw[:i] + bytes((v,)) + raw[i + 1 :])


@pytest.mark.parametrize("alg", list(ALGS))
@pytest.mark.parametrize("kind", KINDS)
def test_every_single_character_change_is_rejected(alg: str, kind: str) -> None:
    w = make_world(ALGS[alg])
    text = _code(w, kind)
    assert Verifier(w.store).verify(text, w.now).profile.student_level == 5
    counts, problems = _outcomes(w, _char_flips(text))
    assert problems == []
    assert sum(counts.values()) == len(text) * (len(ALPHABET) - 1)
    assert counts.get(Reason.MALFORMED_PREFIX, 0) == 4 * (len(ALPHABET) - 1)
    # the signature checks, not only the parser, do real work here
    assert counts.get(Reason.BAD_SIGNATURE, 0) > 0
    if kind == "holder":
        assert counts.get(Reason.BAD_DEVICE_SIGNATURE, 0) > 0


# Every replacement value for one code; for the others the eight single-bit flips, the
# complement and zero at every position (255 values everywhere would take half a minute).
BIT_FLIPS = "bits"


@pytest.mark.parametrize(
    ("alg", "kind", "values"),
    [
        ("ES256", "online", "all"),
        ("EdDSA", "online", BIT_FLIPS),
        ("ES256", "holder", BIT_FLIPS),
        ("EdDSA", "holder", BIT_FLIPS),
    ],
)
def test_every_single_byte_change_is_rejected(alg: str, kind: str, values: str) -> None:
    w = make_world(ALGS[alg])
    text = _code(w, kind)
    raw = b45decode(text[4:])
    assert "SP1:" + b45encode(raw) == text
    if values == "all":
        variants = list(_byte_flips(raw, lambda b: range(256)))
    else:
        variants = list(_byte_flips(raw, lambda b: [b ^ (1 << k) for k in range(8)] + [b ^ 0xFF, 0]))
    counts, problems = _outcomes(w, iter(variants))
    assert problems == []
    assert sum(counts.values()) == len(variants) >= len(raw) * 9
    assert counts.get(Reason.BAD_SIGNATURE, 0) > 0
    assert counts.get(Reason.MALFORMED_COSE, 0) > 0
    if kind == "holder":
        assert counts.get(Reason.BAD_DEVICE_SIGNATURE, 0) > 0


def test_every_truncation_and_extension_is_rejected() -> None:
    w = make_world()
    for text in (w.online(), w.holder()[0]):
        raw = b45decode(text[4:])
        variants = [(f"text[:{n}]", text[:n]) for n in range(len(text))]
        variants += [(f"raw[:{n}]", "SP1:" + b45encode(raw[:n])) for n in range(len(raw))]
        variants += [(f"raw+{b:#04x}", "SP1:" + b45encode(raw + bytes((b,)))) for b in range(256)]
        variants += [(f"text+{c!r}", text + c) for c in ALPHABET]
        counts, problems = _outcomes(w, iter(variants))
        assert problems == []
        assert sum(counts.values()) == len(variants)


def test_swapping_credential_and_proof_between_holders_is_rejected() -> None:
    w = make_world()
    a, cred_a, _ = w.holder()
    b, cred_b, _ = w.holder()
    raw_a, raw_b = b45decode(a[4:]), b45decode(b[4:])
    proof_a, proof_b = raw_a[1 + len(cred_a) :], raw_b[1 + len(cred_b) :]
    mixed = ["SP1:" + b45encode(b"\x82" + cred_a + proof_b), "SP1:" + b45encode(b"\x82" + cred_b + proof_a)]
    counts, problems = _outcomes(w, iter(zip(["ab", "ba"], mixed, strict=True)))
    assert problems == []
    assert counts == {Reason.BAD_DEVICE_SIGNATURE: 2}
