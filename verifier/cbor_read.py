"""Reading deterministic CBOR items at a position, for layouts we know in advance.

On the gate's hot path the code, the claims and the profile have rigid layouts, so reading
them field by field is both faster than a generic decoder (no intermediate objects, no
second pass to prove determinism) and strict by construction: only shortest-form heads
and definite lengths are read, and a tag or float simply is not what is expected.
Positions past the end raise IndexError; callers turn both errors into their reason code.
"""

from __future__ import annotations

from verifier.cbor_strict import CborError


def read_uint(data: bytes, i: int) -> tuple[int, int]:
    """(value, next position) of an unsigned integer in shortest form."""
    head = data[i]
    if head < 24:
        return head, i + 1
    if head == 0x18:
        value = data[i + 1]
        if value >= 24:
            return value, i + 2
    elif head == 0x19:
        value = (data[i + 1] << 8) | data[i + 2]
        if value >= 0x100:
            return value, i + 3
    elif head == 0x1A:
        value = int.from_bytes(data[i + 1 : i + 5], "big")
        if value >= 0x10000 and i + 5 <= len(data):
            return value, i + 5
    elif head == 0x1B:
        value = int.from_bytes(data[i + 1 : i + 9], "big")
        if value >= 0x100000000 and i + 9 <= len(data):
            return value, i + 9
    else:
        raise CborError("expected an unsigned integer")
    raise CborError("integer not in shortest form (or cut short)")


def _length(data: bytes, i: int, major: int) -> tuple[int, int]:
    head = data[i]
    info = head - major
    if 0 <= info < 24:
        return info, i + 1
    if info == 24 and data[i + 1] >= 24:
        return data[i + 1], i + 2
    if info == 25 and data[i + 1] != 0:
        return (data[i + 1] << 8) | data[i + 2], i + 3
    raise CborError("expected a string in shortest form")


def read_bytes(data: bytes, i: int) -> tuple[bytes, int]:
    n, start = _length(data, i, 0x40)
    end = start + n
    if end > len(data):
        raise IndexError(end)
    return data[start:end], end


def read_ascii(data: bytes, i: int) -> tuple[str, int]:
    n, start = _length(data, i, 0x60)
    end = start + n
    if end > len(data):
        raise IndexError(end)
    try:
        return data[start:end].decode("ascii"), end
    except UnicodeDecodeError:
        raise CborError("expected ASCII text") from None
