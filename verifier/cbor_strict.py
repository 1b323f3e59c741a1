"""Deterministic CBOR (RFC 8949 §4.2) on top of cbor2's C decoder.

cbor2 is fast but lenient: it ignores trailing bytes, accepts non-shortest heads, indefinite
lengths and duplicate map keys, and turns many tags into Python objects. Rather than
re-encode (several µs per call), we compute the size the value would have in deterministic
form and require it to equal the input length: any of those deviations makes the input
longer, a duplicate key makes the value smaller, and a stripped tag leaves bytes unaccounted.
Map key order is checked against the deterministic order as the size is summed.
"""

from __future__ import annotations

import re
from typing import Any

import cbor2

from keys.errors import SuishenError

_MAX_UINT64 = (1 << 64) - 1


class CborError(SuishenError, ValueError):
    pass


def _head(n: int) -> int:
    if n < 24:
        return 1
    if n < 0x100:
        return 2
    if n < 0x10000:
        return 3
    if n < 0x100000000:
        return 5
    if n <= _MAX_UINT64:
        return 9
    raise CborError("integer out of 64-bit range")


def key_bytes(key: Any) -> bytes:
    """Deterministic encoding of a map key, used only to check ordering."""
    return cbor2.dumps(key)


def encoded_size(obj: Any) -> int:
    """Length of `obj` in deterministic CBOR; raises CborError for anything we never accept."""
    return _size(obj)


def _scalar(obj: Any, kind: type) -> int:
    if kind is int:
        return _head(obj if obj >= 0 else -1 - obj)
    if kind is bytes:
        n = len(obj)
        return _head(n) + n
    if kind is str:
        n = len(obj.encode("utf-8"))
        return _head(n) + n
    if kind is bool:
        return 1
    return _size(obj)


def _key_rank(key: Any) -> tuple[int, int | bytes]:
    """Sort rank of a map key, matching bytewise order of deterministic encodings.

    Integers (major types 0 and 1) sort before byte strings (2), which sort before text (3);
    within integers, non-negative ascending and then negative by magnitude.
    """
    kind = type(key)
    if kind is int:
        return (0, key if key >= 0 else _MAX_UINT64 + 1 - key)
    if kind is bytes:
        return (1, key_bytes(key))
    if kind is str:
        return (2, key_bytes(key))
    raise CborError(f"map key of type {kind.__name__} not allowed")


def _size(obj: Any) -> int:
    kind = type(obj)
    if kind is dict:
        total = _head(len(obj))
        previous: tuple[int, int | bytes] | None = None
        for key, value in obj.items():
            rank = _key_rank(key)
            if previous is not None and rank <= previous:  # type: ignore[operator]
                raise CborError("map keys out of deterministic order")
            previous = rank
            total += _scalar(key, type(key)) + _scalar(value, type(value))
        return total
    if kind is list:
        total = _head(len(obj))
        for item in obj:
            total += _scalar(item, type(item))
        return total
    if kind is cbor2.CBORTag:
        return _head(obj.tag) + _size(obj.value)
    if kind in _SCALARS:
        return _scalar(obj, kind)
    raise CborError(f"CBOR item of type {kind.__name__} not allowed")


_SCALARS = frozenset({int, bytes, str, bool})


def loads_unchecked(data: bytes) -> Any:
    """cbor2's decode with its many exception types turned into CborError; no strictness."""
    try:
        return cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several types (and RecursionError on deep nesting)
        raise CborError(f"not CBOR: {type(exc).__name__}") from None


def loads(data: bytes) -> Any:
    """Decode one deterministic CBOR item that fills `data` exactly, or raise CborError."""
    obj = loads_unchecked(data)
    try:
        size = _size(obj)
    except RecursionError:
        raise CborError("CBOR nested too deeply") from None
    if size != len(data):
        raise CborError("CBOR not in deterministic encoding (or trailing bytes)")
    check_no_references(obj, data)
    return obj


# Every head of tag 29 (shared value) or tag 256 (string-reference namespace), in any width.
_REFERENCE_TAG = re.compile(
    rb"\xd8\x1d|\xd9(?:\x00\x1d|\x01\x00)|\xda\x00\x00(?:\x00\x1d|\x01\x00)|\xdb\x00{6}(?:\x00\x1d|\x01\x00)"
)


def may_hold_references(data: bytes) -> bool:
    """Whether `data` could hold tag 29 (shared value) or 256 (string references).

    cbor2 resolves those tags silently, and a reference is shorter than what it stands for,
    so with padding elsewhere the size check alone could be fooled. Random bytes match the
    pattern rarely (about 1 in 3,000 codes); only those pay for the exact re-encoding check.
    """
    return _REFERENCE_TAG.search(data) is not None


def check_no_references(obj: Any, data: bytes) -> None:
    """Raise unless `obj` re-encodes to exactly `data` when `data` might hold references."""
    if may_hold_references(data):
        try:
            exact = cbor2.dumps(obj) == data
        except Exception:
            exact = False
        if not exact:
            raise CborError("CBOR holds shared-value or string references (or is not deterministic)")


def _deterministic(obj: Any) -> Any:
    if type(obj) is dict:
        items = sorted(obj.items(), key=lambda kv: _key_rank(kv[0]))
        return {k: _deterministic(v) for k, v in items}
    if type(obj) is list:
        return [_deterministic(v) for v in obj]
    if type(obj) is cbor2.CBORTag:
        return cbor2.CBORTag(obj.tag, _deterministic(obj.value))
    return obj


def dumps(obj: Any) -> bytes:
    """Deterministic encoding: shortest heads, definite lengths, keys in bytewise order."""
    return cbor2.dumps(_deterministic(obj))
