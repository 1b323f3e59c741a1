"""Server settings: environment variables (or a settings file), with embedded defaults.

With nothing set, the server runs on one machine with a SQLite file and in-process replay cache
and rate limits. `REDIS_URL` and `DATABASE_URL` move that state to Redis and PostgreSQL so that
several processes behave as one service. Secrets are read from files or the environment, never
from the command line.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.db.engine import DEFAULT_DATA_DIR

ROOT = Path(__file__).resolve().parent.parent
SECRETS_DIR_ENV = "SUISHEN_SECRETS_DIR"
SETTINGS_FILE_ENV = "SUISHEN_SETTINGS_FILE"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SUISHEN_", env_file=os.environ.get(SETTINGS_FILE_ENV, ".env"), extra="ignore",
        # Secrets as files, one a setting (compose and Kubernetes mount them under /run/secrets): a file
        # named like the variable (suishen_token_secret, database_url, ...) holds its value.
        secrets_dir=os.environ.get(SECRETS_DIR_ENV) or None,
    )  # fmt: skip

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Where the SQLite file, secrets and caches live.")
    keys_dir: Path = Field(Path("var/keys"), description="Issuer and trust-list keys (encrypted at rest).")
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("DATABASE_URL", "SUISHEN_DATABASE_URL"),
        description="SQLAlchemy URL; default: a SQLite file in data_dir.",
    )  # fmt: skip
    redis_url: str | None = Field(
        None, validation_alias=AliasChoices("REDIS_URL", "SUISHEN_REDIS_URL"),
        description="Redis for replay cache, rate limits and catalogue pushes; default: in-process.",
    )  # fmt: skip
    redis_timeout_s: float = Field(0.05, description="Redis socket timeout; slower answers count as Redis down.")
    redis_retry_s: float = Field(5.0, description="After a Redis failure, seconds on the fallback before retrying.")
    demo: bool = Field(
        False, description="Demo mode: dev login, a generated admin key. Only from `suishen serve --demo` (on a "
        "loopback address); never from the environment or a settings file.",
    )  # fmt: skip
    request_body_deadline_s: float = Field(
        10.0, gt=0, le=120, description="A request body must arrive within this; a slow drip is a 408."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list, description="Addresses of reverse proxies whose X-Forwarded-For is believed; "
        "none by default, so a per-IP limit counts the connecting address.",
    )  # fmt: skip
    admin_key: str | None = Field(None, description="The first admin API key (demo mode writes one to data_dir).")
    token_secret: str | None = Field(None, description="HMAC secret for citizen bearer tokens (default: file).")
    subject_pepper: str | None = Field(None, description="Key of the subject pseudonym hash (default: file).")
    token_life_s: int = Field(3600, ge=60, le=86400)
    catalogue_dir: Path = Field(ROOT / "data" / "catalogue")
    venues_file: Path = Field(ROOT / "data" / "venues.json")
    matching_db: Path = Field(Path("var/match/matching.duckdb"), description="Results of the matching runs.")
    registries_dir: Path = Field(Path("var/registries"), description="The registries the latest run read.")
    online_code_life_s: int = Field(60, ge=10, le=300)
    catalogue_max_age_s: int = Field(86400, ge=60)
    trust_list_max_age_s: int = Field(86400, ge=60)
    revocation_list_max_age_s: int = Field(
        2 * 86400, ge=600, description="Past this age a gate's revocation list gives manual check; the server "
        "re-signs it every half of it.",
    )  # fmt: skip
    devices_per_subject: int = Field(
        1, ge=1, le=10, description="Active phones (holder-bound device keys) per person: registering one more "
        "replaces the one registered longest ago and withdraws its credentials.",
    )  # fmt: skip
    fresh_sign_in_s: int = Field(
        600, ge=60, le=86400, description="A phone that replaces another is registered only with a sign-in this recent."
    )
    log_requests: bool = Field(True, description="One JSON log line per request (route, status, ms; no personal data).")
    log_answered_verifies: bool = Field(
        False, description="Also a line per answered POST /v1/verify (the busiest route; /metrics counts them anyway)."
    )
    codes_per_minute: int = Field(30, ge=1, description="Issuance limit per account (and per device key).")
    requests_per_minute_per_ip: int = Field(600, ge=1)
    device_requests_per_minute: int = Field(6000, ge=1, description="Verify and event uploads per device key.")
    partner_fetch_allow_hosts: list[str] = Field(
        default_factory=list,
        description="Host names whose partner trust lists may be fetched even from non-public addresses.",
    )
    partner_fetch_deadline_s: float = Field(10.0, gt=0, le=60, description="Whole-fetch deadline of a trust list.")
    notify_webhook_url: str | None = Field(
        None, description="The SMS/push gateway's webhook (app/matching/delivery.py); unset: the inbox alone."
    )
    notify_webhook_secret: str | None = Field(
        None, description="HMAC key of the webhook's X-Suishen-Signature (default: a file in data_dir)."
    )
    notify_every_s: float = Field(5.0, ge=0.2, le=3600, description="How often a server posts due notices.")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:  # fmt: skip
        """Demo mode hands out tokens for any subject, so a stray SUISHEN_DEMO in a .env file must not turn it on."""
        return init_settings, _Without(env_settings, "demo"), _Without(dotenv_settings, "demo"), file_secret_settings

    @field_validator("admin_key")
    @classmethod
    def _admin_key_shape(cls, value: str | None) -> str | None:
        """An admin key that could never authenticate is refused at start, not found out at the first 401."""
        if value is not None and (not value.startswith("sk_") or len(value) < 24):
            raise ValueError("the admin key must start with sk_ and be at least 24 characters (e.g. sk_ and "
                             "`openssl rand -hex 24`)")
        return value

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'suishen.sqlite'}"

    def secret(self, name: str, configured: str | None) -> bytes:
        """A configured secret, else one kept in data_dir (made once, readable by the owner only)."""
        if configured:
            return configured.encode()
        path = self.data_dir / f"{name}.secret"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made earlier, or by a second server process starting beside this one
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32))
        for _ in range(50):
            if value := path.read_text().strip():
                return value.encode()
            time.sleep(0.01)  # the other process is still writing it
        raise RuntimeError(f"secret file {path} is empty")


class _Without(PydanticBaseSettingsSource):
    """A settings source with some fields taken out."""

    def __init__(self, source: PydanticBaseSettingsSource, *names: str) -> None:
        super().__init__(source.settings_cls)
        self.source = source
        self.names = names

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.source.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        values = self.source()
        return {k: v for k, v in values.items() if k not in self.names}
