"""`suishen devices`: list and revoke gate, handheld and admin device keys in the services database.

A revocation is written to the database and pushed to the running servers over Redis when
`REDIS_URL` is set; a server that misses the push looks the key up again within 30 s
(`DeviceKeys.CACHE_S`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from app.cli.common import fail

if TYPE_CHECKING:
    from app.api.auth import DeviceKeys
    from app.settings import Settings

devices_app = typer.Typer(no_args_is_help=True, help="Gate, handheld and admin device keys.")
DatabaseOption = Annotated[
    Optional[str], typer.Option("--database", help="SQLAlchemy URL (default: the server's settings).")
]


def _keys(database: str | None) -> tuple[DeviceKeys, Settings]:
    from app.api.auth import DeviceKeys
    from app.db.engine import open_database as engine_for
    from app.settings import Settings

    settings = Settings()
    engine = engine_for(database or settings.sqlalchemy_url)
    return DeviceKeys(engine, None), settings


@devices_app.command("list")
def devices_list(database: DatabaseOption = None) -> None:
    keys, _ = _keys(database)
    for d in keys.listing():
        state = "revoked" if d["revoked"] else "active"
        typer.echo(f"{d['id']}  {d['role']:8s} {state:8s} {d['venue'] or '-':24s} {d['name']}")


@devices_app.command("revoke")
def devices_revoke(device_id: str, database: DatabaseOption = None) -> None:
    from app.api.shared_state import RedisLink, UpdateChannel

    keys, settings = _keys(database)
    if not keys.revoke(device_id):
        raise fail(f"no device {device_id}")
    if settings.redis_url:
        UpdateChannel(RedisLink(settings.redis_url, 1.0, 1.0)).publish(f"device:{device_id}")
    typer.echo(f"revoked device {device_id}; running servers refuse it at once (Redis) or within 30 s")
