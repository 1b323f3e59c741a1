"""ECDSA-Sig-Value DER from COSE's fixed-width r||s, by hand (shared by the ECDSA and SM2 checks).

0.5 µs instead of 2 µs through `encode_dss_signature`; at most 2 * (2 + 49) content bytes for
P-384, so the short length form always fits.
"""

from __future__ import annotations


def der_integer(value: bytes) -> bytes:
    value = value.lstrip(b"\x00") or b"\x00"
    if value[0] & 0x80:
        value = b"\x00" + value
    return b"\x02" + bytes((len(value),)) + value


def der_signature(raw: bytes, width: int) -> bytes:
    body = der_integer(raw[:width]) + der_integer(raw[width:])
    return b"\x30" + bytes((len(body),)) + body
