"""Unit tests for the strict base45 codec (RFC 9285) and the deterministic CBOR layer."""

from __future__ import annotations

import os

import cbor2
import pytest

from verifier import cbor_strict
from verifier.base45 import ALPHABET, Base45Error, b45decode, b45encode
from verifier.cbor_strict import CborError

# --- base45 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"AB", "BB8"),
        (b"Hello!!", "%69 VD92EX0"),
        (b"base-45", "UJCLQE7W581"),
        (b"ietf!", "QED8WEX0"),
        (b"", ""),
        (b"\x00", "00"),
        (b"\xff", "U5"),
        (b"\x00\x00", "000"),
        (b"\xff\xff", "FGW"),
    ],
)
def test_rfc9285_vectors_and_edges(data: bytes, text: str) -> None:
    assert b45encode(data) == text
    assert b45decode(text) == data


def test_rfc9285_decode_vector() -> None:
    assert b45decode("QED8WEX0") == b"ietf!"


@pytest.mark.parametrize("length", range(0, 40))
def test_round_trip_every_length(length: int) -> None:
    data = os.urandom(length)
    text = b45encode(data)
    assert len(text) == 3 * (length // 2) + 2 * (length % 2)
    assert set(text) <= set(ALPHABET)
    assert b45decode(text) == data


def test_round_trip_every_byte_pair_boundary() -> None:
    # Every single byte and a spread of 16-bit values, including the extremes.
    for value in range(256):
        assert b45decode(b45encode(bytes([value]))) == bytes([value])
    for value in (*range(0, 65536, 257), 65535, 65534, 2024, 2025, 44, 45):
        data = value.to_bytes(2, "big")
        assert b45decode(b45encode(data)) == data


def test_long_input_round_trip() -> None:
    data = os.urandom(3001)
    assert b45decode(b45encode(data)) == data


@pytest.mark.parametrize(
    "text",
    [
        "GGW",  # 65536: one above the largest 16-bit chunk
        ":::",  # 91124: the largest three-character value
        "BB8GGW",  # a bad chunk after a good one
        "GGWBB8",
        "V5",  # final pair 256
        "::",  # final pair 2024
        "BB8V5",
        "0",  # length % 3 == 1
        "0000",
        "BB8B",
        "bb8",  # lowercase is outside the alphabet
        "BB#",
        "BB\u00e9",  # non-ASCII
        "BB\x00",
        "BB8\n",
    ],
)
def test_rejects_non_canonical_and_foreign_text(text: str) -> None:
    with pytest.raises(Base45Error):
        b45decode(text)


def test_base45_error_is_a_value_error() -> None:
    assert issubclass(Base45Error, ValueError)


def test_canonical_decoding_is_injective_on_pairs() -> None:
    # Every valid two-character text decodes to a byte that re-encodes to the same text.
    seen: dict[bytes, str] = {}
    for a in ALPHABET:
        for b in ALPHABET:
            text = a + b
            try:
                data = b45decode(text)
            except Base45Error:
                assert ALPHABET.index(a) + 45 * ALPHABET.index(b) > 255
                continue
            assert b45encode(data) == text
            assert data not in seen
            seen[data] = text
    assert len(seen) == 256


# --- deterministic CBOR -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "size"),
    [
        (0, 1),
        (23, 1),
        (24, 2),
        (255, 2),
        (256, 3),
        (65535, 3),
        (65536, 5),
        ((1 << 32) - 1, 5),
        (1 << 32, 9),
        ((1 << 64) - 1, 9),
    ],
)
def test_head_size(n: int, size: int) -> None:
    assert cbor_strict.encoded_size(n) == size
    assert len(cbor2.dumps(n)) == size


def test_head_size_beyond_64_bits() -> None:
    with pytest.raises(CborError):
        cbor_strict.encoded_size(1 << 64)


SAMPLES = [
    0,
    23,
    24,
    -1,
    -24,
    -25,
    -(1 << 64),
    (1 << 64) - 1,
    b"",
    b"x" * 23,
    b"x" * 24,
    b"x" * 300,
    "",
    "\u7a57\u795e",
    True,
    False,
    [],
    [1, [2, [3, b"\x00"]]],
    {},
    {1: 2, 3: [4], -1: b"k", -65537: {1: b"s"}},
    {"a": 1, "b": 2, "aa": 3},
    cbor2.CBORTag(18, [b"\xa1\x01\x26", {}, b"payload", b"sig"]),
    ["x" * 70000],
]


@pytest.mark.parametrize("value", SAMPLES, ids=range(len(SAMPLES)))
def test_dumps_loads_round_trip_and_size(value: object) -> None:
    data = cbor_strict.dumps(value)
    assert cbor_strict.loads(data) == value
    assert cbor_strict.encoded_size(value) == len(data)


def test_dumps_sorts_keys_in_bytewise_order_of_encoding() -> None:
    assert cbor_strict.dumps({-1: 0, 10: 0, 1: 0, 256: 0, -100: 0}) == cbor2.dumps(
        {1: 0, 10: 0, 256: 0, -1: 0, -100: 0}
    )
    # "b" (0x61 0x62) sorts before "aa" (0x62 0x61 0x61): shorter encodings first.
    assert list(cbor_strict.loads(cbor_strict.dumps({"aa": 1, "b": 2}))) == ["b", "aa"]
    nested = cbor_strict.dumps([{2: 0, 1: 0}])
    assert nested == bytes.fromhex("81a2") + bytes.fromhex("0100") + bytes.fromhex("0200")


@pytest.mark.parametrize(
    ("label", "hex_data"),
    [
        ("trailing byte", "0100"),
        ("two items", "8000"),
        ("non-shortest uint 1-byte", "1801"),
        ("non-shortest uint 2-byte", "190017"),
        ("non-shortest uint 4-byte", "1a000000ff"),
        ("non-shortest uint 8-byte", "1b0000000000010000"),
        ("non-shortest negative int", "3800"),
        ("non-shortest bytes length", "580161"),
        ("non-shortest text length", "780161"),
        ("non-shortest array length", "9800"),
        ("non-shortest map length", "b800"),
        ("non-shortest tag", "d81201"),
        ("indefinite array", "9f01ff"),
        ("indefinite map", "bf0101ff"),
        ("indefinite bytes", "5f4161ff"),
        ("indefinite text", "7f6161ff"),
        ("duplicate int keys", "a201010101"),
        ("duplicate keys, different values", "a201010102"),
        ("int keys out of order", "a202000100"),
        ("negative key before positive", "a2200001 00".replace(" ", "")),
        ("text keys out of order", "a2626161006162 00".replace(" ", "")),
        ("text key before int key", "a2616100 0100".replace(" ", "")),
        ("text key before bytes key", "a2616100 416100".replace(" ", "")),
        ("bool key", "a1f501"),
        ("float key", "a1f93c0001"),
        ("half float", "f93c00"),
        ("double", "fb3ff0000000000000"),
        ("null", "f6"),
        ("undefined", "f7"),
        ("simple value", "f0"),
        ("bignum tag 2 for a small int", "c24101"),
        ("bignum above 64 bits", "c249010000000000000000"),
        ("epoch date tag", "c11a00000000"),
        ("set tag 258", "d9010282 0102".replace(" ", "")),
        ("truncated", "5820aa"),
        ("empty input", ""),
        ("break alone", "ff"),
        ("invalid utf-8 text", "61ff"),
    ],
)
def test_loads_rejects_non_deterministic_or_unexpected(label: str, hex_data: str) -> None:
    with pytest.raises(CborError):
        cbor_strict.loads(bytes.fromhex(hex_data))


def test_loads_rejects_deep_nesting_with_cbor_error() -> None:
    with pytest.raises(CborError):
        cbor_strict.loads(b"\x81" * 100_000 + b"\x00")
    with pytest.raises(CborError):
        cbor_strict.loads(b"\x81" * 2000 + b"\x00")


def test_loads_accepts_deterministic_map_with_string_keys() -> None:
    assert cbor_strict.loads(bytes.fromhex("a261620162616102")) == {"b": 1, "aa": 2}


def test_loads_rejects_value_sharing_tags() -> None:
    # [28("abcd"), 29(0)]: tag 28 marks a shareable value and tag 29 refers back to it. cbor2
    # resolves both to ["abcd", "abcd"], whose deterministic size (11) equals the input's size
    # (11), so a size-only check cannot see that these tags were there. Deterministic CBOR
    # has no such tags: the input must be rejected.
    data = bytes.fromhex("82" + "d81c" + "6461626364" + "d81d00")
    assert cbor_strict.dumps(["abcd", "abcd"]) != data
    with pytest.raises(CborError):
        cbor_strict.loads(data)


def test_loads_rejects_value_sharing_compensating_non_shortest_ints() -> None:
    # The bytes a shared reference saves can pay for non-shortest integer heads elsewhere.
    data = bytes.fromhex("84" + "d81c" + "6a" + "61" * 10 + "d81d00" + "1a00000000" + "190000")
    with pytest.raises(CborError):
        cbor_strict.loads(data)


def test_encoded_size_rejects_types_never_accepted() -> None:
    for value in (1.5, None, {1.0: 1}, {True: 1}, {"a": 1, 1: 2}, object(), {(1,): 2}, {None: 1}):
        with pytest.raises(CborError):
            cbor_strict.encoded_size(value)


def test_keys_of_different_major_types_in_deterministic_order() -> None:
    # RFC 8949 §4.2.1: bytewise order of encodings puts ints (major 0, 1) before byte
    # strings (2) before text (3).
    value = {1: 0, -1: 0, b"a": 0, "a": 0}
    data = cbor_strict.dumps(value)
    assert data == bytes.fromhex("a4" + "0100" + "2000" + "416100" + "616100")
    assert cbor_strict.loads(data) == value
    assert cbor_strict.encoded_size(value) == len(data)


def test_encoded_size_rejects_unordered_dict() -> None:
    with pytest.raises(CborError):
        cbor_strict.encoded_size({2: 0, 1: 0})


def test_cbor_error_is_a_value_error() -> None:
    assert issubclass(CborError, ValueError)
