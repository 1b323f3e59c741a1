"""Issuing credentials from the active key of a key ring."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from keys.algorithms import PrivateKey
from keys.errors import SuishenError
from keys.ring import MAX_CREDENTIAL_LIFE_S, KeyEntry
from verifier.claims import Claims, Profile
from verifier.code import issue_credential
from verifier.decide import LOCAL_TIME

ONLINE_LIFETIME_S = 60
HOLDER_BOUND_LIFETIME_S = MAX_CREDENTIAL_LIFE_S
CARD_LIFETIME_S = 365 * 86400
CARD_MAX_LIFETIME_S = 730 * 86400


class IssueError(SuishenError, ValueError):
    """A credential cannot be issued as asked (a lifetime outside 1 s to MAX_CREDENTIAL_LIFE_S)."""


# Rule attributes -> the profile fields that carry them in a code.
_CARRIED_BY = {
    "age": ("age_over",),
    "disability.category": ("disability_category", "disability_grade"),
    "disability.grade": ("disability_category", "disability_grade"),
    "martyr_family": ("martyr_family",),
    "entitled_group": ("entitled_group",),
    "student.level": ("student_level", "enrolled_until"),
    "student.enrolled_until": ("student_level", "enrolled_until"),
    "residence.region": ("residence",),
    "enterprise.credit_good": ("credit_good",),  # an enterprise's code (法人随申码)
    "enterprise.region": ("enterprise_region",),
}
_EMPTY: dict[str, Any] = {
    "age_over": None, "disability_category": None, "disability_grade": None, "martyr_family": False,
    "entitled_group": False, "student_level": None, "enrolled_until": None, "residence": None,
    "credit_good": False, "enterprise_region": None,
}  # fmt: skip


def day_pseudonym(pepper: bytes, subject: str, at: float) -> bytes:
    """The subject as a code carries it: a keyed hash of the subject and the local day of `at`.

    Whoever scans codes can link a person's visits on one day (a venue's daily limit needs that)
    but not across days: tomorrow's codes carry another 8 bytes. A 24 h credential issued in the
    evening keeps its day's pseudonym into the next morning, so a holder keeping yesterday's
    credential beside today's code can pass a daily limit once more on that morning; the server's
    own tables keep the registry subject and never need this hash.
    """
    day = dt.datetime.fromtimestamp(at, LOCAL_TIME).date().isoformat()
    message = b"day-pseudonym\x00" + day.encode() + b"\x00" + subject.encode()
    return hmac.new(pepper, message, hashlib.sha256).digest()[:8]


def carried_fields(attributes: frozenset[str]) -> frozenset[str]:
    """The profile fields a code carries for these rule attributes (what the scan-mode policies read)."""
    return frozenset(field for attr in attributes for field in _CARRIED_BY.get(attr, ()))


def carried_profile(profile: Profile, attributes: frozenset[str]) -> Profile:
    """Only the group attributes some published scan-mode policy reads: a code never carries more."""
    keep = carried_fields(attributes)
    return profile._replace(**{field: empty for field, empty in _EMPTY.items() if field not in keep})


class Issuer:
    """Signs credentials for one issuer id with one key; lifetimes are capped by the ring's rules.

    With `carry` (the attributes the published scan-mode policies read), each code holds only
    those attributes of the profile.
    """

    def __init__(
        self, issuer: str, entry: KeyEntry, private_key: PrivateKey, carry: frozenset[str] | None = None
    ) -> None:
        self.issuer = issuer
        self.entry = entry
        self._private_key = private_key
        self.carry = carry

    def carrying(self, carry: frozenset[str]) -> Issuer:
        """The same issuer and key, with codes restricted to `carry`."""
        return Issuer(self.issuer, self.entry, self._private_key, carry)

    def __repr__(self) -> str:  # never show key material
        return f"Issuer({self.issuer!r}, kid={self.entry.kid.hex()})"

    def credential(
        self,
        profile: Profile,
        now: int,
        *,
        device_key: ec.EllipticCurvePublicKey | None = None,
        lifetime: int | None = None,
        card_number: int | None = None,
    ) -> bytes:
        """A signed credential; with `card_number`, a printed card (no device key, life up to two years).

        A card's life also ends with the signing key's window (`KeyEntry.not_after`), never after it.
        """
        if card_number is not None:
            if device_key is not None:
                raise IssueError("a card carries no device key")
            lifetime = min(lifetime or CARD_LIFETIME_S, self.entry.not_after - now)
            if not 0 < lifetime <= CARD_MAX_LIFETIME_S:
                raise IssueError(f"a card lives 1 s to {CARD_MAX_LIFETIME_S // 86400} days, within its key's window")
        elif lifetime is None:
            lifetime = ONLINE_LIFETIME_S if device_key is None else HOLDER_BOUND_LIFETIME_S
        if card_number is None and not 0 < lifetime <= MAX_CREDENTIAL_LIFE_S:
            raise IssueError(f"lifetime must be 1 to {MAX_CREDENTIAL_LIFE_S} seconds")
        if self.carry is not None:
            profile = carried_profile(profile, self.carry)
        claims = Claims(
            issuer=self.issuer,
            issued_at=now,
            expires_at=now + lifetime,
            cti=os.urandom(16),
            profile=profile,
            device_key=device_key,
            card_number=card_number,
        )
        try:
            return issue_credential(claims, self._private_key, self.entry.kid)
        except ValueError as exc:  # the claims' own checks (e.g. a card number out of range)
            raise IssueError(str(exc)) from None
