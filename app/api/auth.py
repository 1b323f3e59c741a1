"""Who is calling: citizens and enterprises with signed bearer tokens, devices with API keys, and their roles.

`Authenticator` is the seam a real single sign-on plugs into; the built-in `TokenAuthority`
signs short-lived tokens with HMAC-SHA256 (issued by the dev login in demo mode). Device keys
are random, shown once, and stored only as SHA-256 hashes.

An enterprise account (法人, the 企业专属网页) signs in with its unified social credit code and gets a
token whose `role` is `enterprise`; a citizen's token has no role (every token issued before there
were enterprises is a citizen's). Neither role can use the other's routes, and a token that would
make a credit code a citizen is refused, whoever minted it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from typing import NamedTuple, Protocol

from sqlalchemy import Engine, insert, select, update

from app.credit_code import is_credit_code
from app.db.schema import devices

CITIZEN, GATE, HANDHELD, ADMIN = "citizen", "gate", "handheld", "admin"
ENTERPRISE = "enterprise"  # an enterprise account, signed in with its unified social credit code
TOKEN_ROLES = (CITIZEN, ENTERPRISE)
COUNTER = "counter"  # a service counter's desk: issues printed cards and takes card loss reports, nothing else
REGISTRY_FEED = "registry_feed"  # a department's system: sends registry change records, nothing else
DEVICE_ROLES = (GATE, HANDHELD, ADMIN, COUNTER, REGISTRY_FEED)
_TOKEN_PREFIX = "st1."
_DEVICE_PREFIX = "sk_"
MAX_TOKEN_CHARS = 512  # longer bearer values are refused before any hashing or parsing
MAX_TOKEN_LIFE_S = 86400  # a citizen token is never trusted for longer, whatever it says


class Principal(NamedTuple):
    role: str
    id: str  # the registry subject for a citizen, the credit code for an enterprise, the device id for a device
    venue: str | None = None
    signed_in_at: int | None = None  # a citizen token's issue time (a phone replacing another needs a fresh one)


class Authenticator(Protocol):
    def authenticate(self, token: str, now: float) -> Principal | None: ...


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenAuthority:
    """Citizen and enterprise tokens: `st1.` + base64url(JSON {sub, iat, exp[, role]}) + `.` + base64url(HMAC).

    `role` is present only on an enterprise's token (`enterprise`, whose `sub` is a credit code).

    A token is accepted only while `exp - iat` is within this authority's life (at most a day),
    so a token minted with a far expiry (a leaked secret, a single sign-on misconfigured) is refused.
    """

    def __init__(self, secret: bytes, life_s: int) -> None:
        if not 0 < life_s <= MAX_TOKEN_LIFE_S:
            raise ValueError(f"a citizen token lives at most {MAX_TOKEN_LIFE_S} s")
        self._secret = secret
        self.life_s = life_s

    def issue(self, subject: str, now: float, role: str = CITIZEN) -> tuple[str, int]:
        if role not in TOKEN_ROLES:
            raise ValueError(f"a token's role is one of {list(TOKEN_ROLES)}")
        if (role == ENTERPRISE) != is_credit_code(subject):
            raise ValueError("an enterprise token is for a unified social credit code, and only for one")
        expires = int(now) + self.life_s
        claims: dict[str, object] = {"sub": subject, "iat": int(now), "exp": expires}
        if role == ENTERPRISE:
            claims["role"] = ENTERPRISE
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{_TOKEN_PREFIX}{body}.{self._mac(body)}", expires

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())

    def authenticate(self, token: str, now: float) -> Principal | None:
        if not token.startswith(_TOKEN_PREFIX) or token.count(".") != 2 or len(token) > MAX_TOKEN_CHARS:
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
        issued = claims.get("iat")
        if type(issued) is not int or issued > now + 60 or claims["exp"] - issued > min(self.life_s, MAX_TOKEN_LIFE_S):
            return None  # no issue time, one in the future, or a life longer than tokens are given
        role = claims.get("role", CITIZEN)
        if role not in TOKEN_ROLES or (role == ENTERPRISE) != is_credit_code(claims["sub"]):
            return None  # an unknown role, or a credit code as a citizen (or a person as an enterprise)
        return Principal(role, claims["sub"], signed_in_at=issued)


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class DeviceKeys:
    """Device API keys in the services database, with an in-process cache of the ones seen.

    A cached key is trusted for at most `CACHE_S` seconds, so a device revoked in another process
    (or straight in the database) stops working here within that time even if the revocation's
    push never arrives; the push (`forget`) makes it immediate. The cache holds at most
    `CACHE_SIZE` keys, so made-up keys cannot grow it.
    """

    CACHE_S = 30.0
    CACHE_SIZE = 10_000

    def __init__(self, engine: Engine, admin_key: str | None) -> None:
        self.engine = engine
        self._admin_hash = key_hash(admin_key) if admin_key else None
        self._cache: dict[str, tuple[float, Principal]] = {}  # key hash -> (looked up at, principal)

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

    def revoke(self, device_id: str) -> bool:
        """Revoke a device's key for good; False when there is no such device."""
        with self.engine.begin() as db:
            done = db.execute(update(devices).where(devices.c.id == device_id).values(revoked=True)).rowcount
        self.forget(device_id)
        return bool(done)

    def forget(self, device_id: str) -> None:
        """Drop a device from the cache (its revocation was pushed from another process)."""
        for digest, (_, principal) in list(self._cache.items()):
            if principal.id == device_id:
                self._cache.pop(digest, None)

    def listing(self) -> list[dict[str, object]]:
        with self.engine.connect() as db:
            rows = db.execute(select(devices).order_by(devices.c.created_at)).all()
        return [
            {"id": r.id, "name": r.name, "role": r.role, "venue": r.venue, "created_at": r.created_at.isoformat(),
             "revoked": bool(r.revoked)}
            for r in rows
        ]  # fmt: skip

    def authenticate(self, token: str, now: float) -> Principal | None:
        if not token.startswith(_DEVICE_PREFIX) or len(token) > MAX_TOKEN_CHARS:
            return None
        digest = key_hash(token)
        if self._admin_hash is not None and hmac.compare_digest(digest, self._admin_hash):
            return Principal(ADMIN, "bootstrap-admin")
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self.CACHE_S:
            return cached[1]
        with self.engine.connect() as db:
            query = select(devices).where(devices.c.key_sha256 == digest, devices.c.revoked.is_(False))
            row = db.execute(query).first()
        if row is None:
            self._cache.pop(digest, None)
            return None
        principal = Principal(row.role, row.id, row.venue)
        if len(self._cache) >= self.CACHE_SIZE:
            self._cache.clear()
        self._cache[digest] = (now, principal)
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
