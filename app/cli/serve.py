"""`suishen serve`: run the server; with `--demo`, first set up everything a fresh machine lacks.

Demo set-up is idempotent: dev keys (encrypted with a passphrase file kept beside the data),
a small synthetic registry, one matching run into the services database, the sample catalogue
published at start-up, a demo gate and handheld device (app/cli/demo_gate.py). Each step is
skipped when its output already exists. The server then prints the one `suishen-gate` command
that points a gate at it.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import time
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select

from app.cli.common import fail
from app.cli.demo_gate import SAMPLE_IMAGE, DemoGate, prepare_demo_devices, server_url
from app.settings import Settings
from keys import directory
from keys.algorithms import PrivateKey
from keys.errors import SuishenError
from keys.storage import PASSPHRASE_ENV, PASSPHRASE_FILE_ENV, passphrase_from_environment

DEMO_PERSONS = 20_000


def _passphrase_file(settings: Settings) -> None:
    """Demo keys are still encrypted at rest: the passphrase lives in a 0600 file, never on a command line."""
    if os.environ.get(PASSPHRASE_FILE_ENV) or os.environ.get(PASSPHRASE_ENV):
        return
    path = settings.data_dir / "key-passphrase"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
    os.environ[PASSPHRASE_FILE_ENV] = str(path.resolve())


def prepare_demo(settings: Settings, console: Console) -> DemoGate:
    """Keys, registries, one matching run and its sealed applications, the demo devices; each made only when missing."""
    import datetime as dt

    from app.catalogue import load_catalogue
    from app.db.engine import open_database
    from app.matching.applications import write_applications
    from app.matching.engine import attach_registries, connect, latest_run
    from app.matching.run import match_registries
    from app.matching.synth import synthesise

    _passphrase_file(settings)
    passphrase = passphrase_from_environment()
    if not (settings.keys_dir / directory.RING_FILE).exists():
        console.print(f"creating dev keys in {settings.keys_dir} (encrypted at rest)")
        directory.init_directory(
            settings.keys_dir, issuer="CN-SH", region="310000", passphrase=passphrase, now=int(time.time())
        )
    if not any(settings.registries_dir.glob("*.parquet")):
        console.print(f"synthesising {DEMO_PERSONS:,} persons into {settings.registries_dir}")
        settings.registries_dir.mkdir(parents=True, exist_ok=True)
        synthesise(settings.registries_dir, persons=DEMO_PERSONS, enterprises=2000, seed=1)
    if not settings.matching_db.exists():
        console.print("running the matching engine over the sample catalogue")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        policies = load_catalogue(settings.catalogue_dir)
        if policies.problems:
            raise ValueError(f"{len(policies.problems)} problem(s) in {settings.catalogue_dir}: "
                             "run `suishen catalogue validate`")  # fmt: skip
        ledger = open_database(settings.sqlalchemy_url)
        try:
            match_registries(settings.registries_dir, policies.policies, settings.matching_db, dt.date.today(),
                             ledger=ledger)  # fmt: skip
            console.print("sealing the one-click applications of confirm-mode entitlements")
            con = connect(settings.matching_db)
            try:
                run, day = latest_run(con)
                attach_registries(con, settings.registries_dir)
                def seal(department: str) -> PrivateKey:
                    return directory.seal_key(settings.keys_dir, department, passphrase)

                write_applications(con, ledger, policies.policies, day, run, seal)
            finally:
                con.close()
        finally:
            ledger.dispose()
    return demo_devices(settings)


def demo_devices(settings: Settings) -> DemoGate:
    """The demo gate and handheld devices and the files a gate needs (reused across restarts)."""
    import datetime as dt

    from app.db.engine import open_database

    engine = open_database(settings.sqlalchemy_url)
    try:
        root = (settings.keys_dir / directory.ROOT_PUBLIC_FILE).read_bytes()
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return prepare_demo_devices(engine, settings.data_dir, root, now)
    finally:
        engine.dispose()


def sample_subjects(settings: Settings, limit: int = 3) -> list[str]:
    """A few subjects with a group a gate recognises, for the printed sample code and the login box."""
    from app.db.engine import open_database
    from app.db.schema import profiles

    engine = open_database(settings.sqlalchemy_url)
    try:
        with engine.connect() as db:
            query = select(profiles.c.subject).where(profiles.c.age_over.is_not(None)).order_by(profiles.c.subject)
            return [r.subject for r in db.execute(query.limit(limit))]
    finally:
        engine.dispose()


def run_server(settings: Settings, host: str, port: int, console: Console, gate: DemoGate | None = None) -> None:
    import uvicorn

    from app.api.server import configure_logging, create_app
    from app.api.services import Services

    configure_logging()
    services = Services(settings)
    base = server_url(host, port)
    console.print(f"[bold]Suishen Pass[/bold] on {base}  (catalogue version {services.catalogued.version})")
    console.print(f"  citizen page {base}/   staff page {base}/staff   admin {base}/admin   API {base}/docs")
    if settings.demo:
        console.print(f"  demo mode: admin key {services.demo_admin_key} (staff pages take it too); dev login on /")
        subjects = sample_subjects(settings)
        if subjects:
            from app.matching.profile_store import profile_of
            from verifier.code import online_code

            profile = profile_of(services.engine, subjects[0], services.pseudonym(subjects[0], time.time()))
            if profile is not None and services.issuer is not None:
                code = online_code(services.issuer.credential(profile, int(time.time())))
                console.print(f"  sample subjects: {', '.join(subjects)}")
                console.print(f"  a sample code for {subjects[0]} (valid 60 s): {code}")
                if gate is not None:
                    from app.qr import write_png

                    write_png(code, gate.images / SAMPLE_IMAGE)
        if gate is not None:
            show_demo_gate(console, gate, base)
    if services.link is None:
        console.print("  [bold yellow]no REDIS_URL:[/bold yellow] replay cache and rate limits are this process's "
                      "own; a second process on this database is refused (set REDIS_URL to run several)")  # fmt: skip
    proxies = ",".join(settings.trusted_proxies)
    uvicorn.run(
        create_app(settings, services), host=host, port=port, log_config=None, access_log=False,
        proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None,  # X-Forwarded-For only from named proxies
    )  # fmt: skip


def show_demo_gate(console: Console, gate: DemoGate, base: str) -> None:
    """The gate command, as one line a newcomer can copy, and the handheld's key for the staff page."""
    console.print(f"  demo gate at {gate.venue} (device {gate.gate.id}, key in {gate.gate.key_file}); "
                  f"it reads the sample code's QR in {gate.images}/:", markup=False, highlight=False)  # fmt: skip
    console.print(f"    {gate.command(base)}", markup=False, highlight=False)
    console.print("    (use --camera 0 in place of --images DIR to read codes from a camera)", markup=False,
                  highlight=False)  # fmt: skip
    console.print(f"  demo handheld key {gate.handheld.api_key} (device {gate.handheld.id}; also in "
                  f"{gate.handheld.key_file}): enter it on {base}/staff", markup=False, highlight=False)  # fmt: skip


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve_command(host: str, port: int, demo: bool, init: bool = False) -> None:
    from app.api.sole_process import AnotherProcess

    console = Console(soft_wrap=True)
    if demo and not is_loopback(host):
        console.print(f"--demo hands out sign-ins for any subject: it serves on a loopback address only, not {host}")
        raise SystemExit(2)
    settings = Settings(demo=True) if demo else Settings()
    if init and not demo:  # the image's start: make what a first start lacks, check what is there
        from app.first_start import first_start

        done = first_start(settings, passphrase_from_environment())
        for line in done.created:
            console.print(f"created {line}")
    gate = prepare_demo(settings, console) if settings.demo else None
    try:
        run_server(settings, host, port, console, gate)
    except AnotherProcess as exc:
        console.print(str(exc))
        raise SystemExit(1) from None


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool, typer.Option("--demo", help="Set up dev keys, sample registries and a matching run first; dev login on.")
    ] = False,
    init: Annotated[
        bool, typer.Option("--init", help="First run `suishen init`: make missing keys and folders, check the rest.")
    ] = False,
) -> None:
    """Run the online services (signing, verify API, distribution, events, admin, pages)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        serve_command(host, port, demo, init)
    except (SuishenError, ValueError, OSError) as exc:  # ValueError: settings (pydantic) and dates
        raise fail(str(exc)) from None
    except SQLAlchemyError as exc:
        raise fail(f"the services database cannot be used: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
