"""The issuer's key ring: one active signing key plus the previous ones and their windows.

Rotation keeps old keys verifiable until every code they signed has expired; revocation
stops them at once. Phone codes live at most a day (`MAX_CREDENTIAL_LIFE_S`), so a retired key
keeps `ROTATION_GRACE_S` of window; printed cards live up to two years, so the caller of a
rotation passes `keep_until`, the latest expiry of the cards the key signed (from the services'
cards table, `app.cards.latest_card_expiry`), and the retired key stays verifiable until then:
a rotation never turns a valid card into KEY_NOT_VALID_NOW. Either way the window never grows
past the key's own `not_after` (a card is never issued past it either). The ring itself is pure
data; `keys.directory` reads and writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from keys.algorithms import ALG_NAMES, PublicKey, alg_of, kid_of
from keys.errors import SuishenError

ACTIVE = "active"
RETIRED = "retired"
REVOKED = "revoked"
STATUSES = (ACTIVE, RETIRED, REVOKED)

# An issuer key is rotated about once a year and signs two-year printed cards until then, so its
# window is three years and a month: the last cards it signs stay verifiable to their end.
KEY_LIFETIME_S = (3 * 365 + 30) * 86400
MAX_CREDENTIAL_LIFE_S = 24 * 3600
ROTATION_GRACE_S = MAX_CREDENTIAL_LIFE_S + 60

# Everything a home issuer may assert in a profile.
ALL_PRIVILEGES = ("age_over", "disability", "martyr_family", "entitled_group", "student", "residence")


class KeyRingError(SuishenError, ValueError):
    """An operation on the ring is not possible (unknown kid, no active key, ...)."""


@dataclass(frozen=True, slots=True)
class KeyEntry:
    kid: bytes
    alg: int
    public_key: PublicKey
    not_before: int
    not_after: int
    status: str

    @property
    def alg_name(self) -> str:
        return ALG_NAMES[self.alg]


@dataclass(frozen=True, slots=True)
class KeyRing:
    issuer: str
    region: str
    privileges: tuple[str, ...]
    keys: tuple[KeyEntry, ...]
    generation: int = 1

    def active(self) -> KeyEntry:
        for entry in self.keys:
            if entry.status == ACTIVE:
                return entry
        raise KeyRingError("the key ring has no active key: run `suishen keys rotate`")

    def entry(self, kid: bytes) -> KeyEntry:
        for entry in self.keys:
            if entry.kid == kid:
                return entry
        raise KeyRingError(f"no key with kid {kid.hex()} in the ring")

    def with_new_active(self, public_key: PublicKey, now: int, *, keep_until: int | None = None) -> KeyRing:
        """Retire the active key and add a new one.

        The retired key stays verifiable for one phone credential's life, or until `keep_until`
        (the latest expiry of the printed cards it signed) when that is later; never past its own
        `not_after`.
        """
        new = new_entry(public_key, now)
        until = max(now + ROTATION_GRACE_S, keep_until or 0)
        kept = tuple(
            replace(e, status=RETIRED, not_after=min(e.not_after, until)) if e.status == ACTIVE else e
            for e in self.keys
        )
        return replace(self, keys=(*kept, new), generation=self.generation + 1)

    def with_revoked(self, kid: bytes) -> KeyRing:
        self.entry(kid)
        keys = tuple(replace(e, status=REVOKED) if e.kid == kid else e for e in self.keys)
        return replace(self, keys=keys, generation=self.generation + 1)


def new_entry(public_key: PublicKey, now: int) -> KeyEntry:
    return KeyEntry(
        kid=kid_of(public_key),
        alg=alg_of(public_key),
        public_key=public_key,
        not_before=now,
        not_after=now + KEY_LIFETIME_S,
        status=ACTIVE,
    )
