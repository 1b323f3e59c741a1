"""Who is calling: citizens with signed bearer tokens, devices with API keys, and their roles.

`Authenticator` is the seam a real single sign-on plugs into; the built-in `TokenAuthority`
signs short-lived tokens with HMAC-SHA256 (issued by the dev login in demo mode). Device keys
are random, shown once, and stored only as SHA-256 hashes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from typing import NamedTuple, Protocol

from sqlalchemy import Engine, insert, select

from app.service_tables import devices

CITIZEN, GATE, HANDHELD, ADMIN = "citizen", "gate", "handheld", "admin"
DEVICE_ROLES = (GATE, HANDHELD, ADMIN)
_TOKEN_PREFIX = "st1."
_DEVICE_PREFIX = "sk_"


class Principal(NamedTuple):
    role: str
    id: str  # the registry subject for a citizen, the device id for a device
    venue: str | None = None


class Authenticator(Protocol):
    def authenticate(self, token: str, now: float) -> Principal | None: ...


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenAuthority:
    """Citizen tokens: `st1.` + base64url(JSON {sub, exp}) + `.` + base64url(HMAC)."""

    def __init__(self, secret: bytes, life_s: int) -> None:
        self._secret = secret
        self.life_s = life_s

    def issue(self, subject: str, now: float) -> tuple[str, int]:
        expires = int(now) + self.life_s
        body = _b64(json.dumps({"sub": subject, "exp": expires}, separators=(",", ":")).encode())
        return f"{_TOKEN_PREFIX}{body}.{self._mac(body)}", expires

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())

    def authenticate(self, token: str, now: float) -> Principal | None:
        if not token.startswith(_TOKEN_PREFIX) or token.count(".") != 2:
            return None
        body, mac = token[len(_TOKEN_PREFIX) :].split(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            claims = json.loads(_unb64(body))
        except ValueError:
            return None
        if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str) or type(claims.get("exp")) is not int:
            return None
        if claims["exp"] <= now:
            return None
        return Principal(CITIZEN, claims["sub"])


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class DeviceKeys:
    """Device API keys in the services database, with an in-process cache of the ones seen."""

    def __init__(self, engine: Engine, admin_key: str | None) -> None:
        self.engine = engine
        self._admin_hash = key_hash(admin_key) if admin_key else None
        self._cache: dict[str, Principal] = {}

    def register(self, name: str, role: str, venue: str | None, now: dt.datetime) -> tuple[str, str]:
        if role not in DEVICE_ROLES:
            raise ValueError(f"role must be one of {list(DEVICE_ROLES)}")
        api_key = _DEVICE_PREFIX + secrets.token_urlsafe(32)
        device_id = secrets.token_hex(8)
        with self.engine.begin() as db:
            db.execute(
                insert(devices).values(
                    id=device_id, name=name, role=role, venue=venue, key_sha256=key_hash(api_key),
                    created_at=now, revoked=False,
                )
            )  # fmt: skip
        return device_id, api_key

    def authenticate(self, token: str, now: float) -> Principal | None:
        if not token.startswith(_DEVICE_PREFIX):
            return None
        digest = key_hash(token)
        if self._admin_hash is not None and hmac.compare_digest(digest, self._admin_hash):
            return Principal(ADMIN, "bootstrap-admin")
        if (cached := self._cache.get(digest)) is not None:
            return cached
        with self.engine.connect() as db:
            query = select(devices).where(devices.c.key_sha256 == digest, devices.c.revoked.is_(False))
            row = db.execute(query).first()
        if row is None:
            return None
        principal = Principal(row.role, row.id, row.venue)
        self._cache[digest] = principal
        return principal


class Authenticators:
    """Tries each authenticator in turn (citizen tokens, device keys, any single sign-on added)."""

    def __init__(self, *authenticators: Authenticator) -> None:
        self.authenticators = authenticators

    def authenticate(self, token: str, now: float) -> Principal | None:
        for authenticator in self.authenticators:
            if (principal := authenticator.authenticate(token, now)) is not None:
                return principal
        return None
