"""The `adsbin` command line: serve, migrate, admin, demo, agent, simulate, provision."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from control_plane.settings import get_settings

app = typer.Typer(help="ADSBIN: digital out-of-home advertising for small venues.",
                  no_args_is_help=True, add_completion=False)
admin_app = typer.Typer(help="Administration.", no_args_is_help=True)
keys_app = typer.Typer(help="The built-in token issuer's signing keys.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(keys_app, name="keys")
app.add_typer(__import__("provisioning.cli", fromlist=["app"]).app, name="provision")
app.add_typer(__import__("player_agent.cli", fromlist=["app"]).app, name="agent")
console = Console()
err = Console(stderr=True)


def _fail(message: str, hint: str) -> None:
    err.print(f"[bold red]error:[/] {message}\n[dim]next:[/] {hint}")
    raise typer.Exit(code=1)


def _sessionmaker() -> sessionmaker[Session]:
    from control_plane.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(get_settings().database_url))


def _check_migrated() -> None:
    from sqlalchemy.exc import OperationalError

    from control_plane import migrate

    try:
        behind = migrate.pending(get_settings().database_url)
    except OperationalError as exc:
        _fail(f"cannot reach the database: {exc.orig}",
              "check ADSBIN_DATABASE_URL and that the server is up")
    else:
        if behind:
            _fail("the database is not migrated to this version", "run: adsbin migrate")


@app.command()
def migrate(revision: Annotated[str, typer.Option(help="Target revision")] = "head") -> None:
    """Upgrade the database schema (Alembic) to the newest revision."""
    from sqlalchemy.exc import OperationalError

    from control_plane import migrate as migrations

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        migrations.upgrade(settings.database_url, revision)
    except OperationalError as exc:
        _fail(f"cannot reach the database: {exc.orig}",
              "check ADSBIN_DATABASE_URL and that the server is up")
    console.print(f"[green]database migrated[/] to {revision} ({_redact(settings.database_url)})")


@admin_app.command("create-superuser")
def create_superuser(
    email: Annotated[str, typer.Option(help="The super-admin's email")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True,
                                          confirmation_prompt=True)],
    name: Annotated[str, typer.Option()] = "Super-admin",
) -> None:
    """Create a super-admin, or make an existing user one (and set their password)."""
    from email_validator import EmailNotValidError, validate_email

    from control_plane.orgs import service as orgs_service

    if len(password) < 10:
        _fail("the password is too short", "use at least 10 characters")
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        _fail(f"not a valid email: {exc}", "give an address like admin@example.com")
    _check_migrated()
    with _sessionmaker()() as session:
        user, created = orgs_service.ensure_superuser(session=session, email=email,
                                                      password=password, name=name)
    console.print(f"[green]{'created' if created else 'promoted'}[/] super-admin {user.email}")


@app.command()
def demo() -> None:
    """Seed the demo orgs and logins (idempotent) and print them."""
    from control_plane.demo import seed_demo

    _check_migrated()
    with _sessionmaker()() as session:
        logins = seed_demo(session=session)
    table = Table(title="Demo logins")
    for column in ("email", "password", "what"):
        table.add_column(column)
    for login in logins:
        table.add_row(login.email, login.password, login.what)
    console.print(table)


@keys_app.command("rotate")
def rotate_keys() -> None:
    """Make a new signing key; older keys stay published until retired."""
    from control_plane.auth.keys import KeyRing

    key = KeyRing(get_settings().keys_dir).rotate()
    console.print(f"new signing key [bold]{key.kid}[/]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    log_level: Annotated[str, typer.Option()] = "info",
    demo: Annotated[bool, typer.Option(help="Also set up the demo venue, campaign and a "
                                            "paired player agent (what make run does)")] = False,
) -> None:
    """Serve the API with the worker, the scheduler and the embedded broker (unless told they
    run elsewhere)."""
    import uvicorn

    from control_plane.app import create_app

    _check_migrated()
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if "ADSBIN_PUBLIC_URL" not in os.environ:  # nobody said: it is where we listen
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        os.environ["ADSBIN_PUBLIC_URL"] = f"http://{shown}:{port}"
        get_settings.cache_clear()
    settings = get_settings()
    console.print(f"[bold green]ADSBIN control plane[/] on http://{host}:{port}  "
                  f"(API docs: http://{host}:{port}/docs, public URL {settings.public_url})")
    stop = threading.Event()
    agents: list[subprocess.Popen[bytes]] = []
    if demo:
        threading.Thread(target=_demo, args=(f"http://{host}:{port}", settings.data_dir, stop,
                                             agents), daemon=True, name="demo").start()
    # uvicorn shuts down on SIGTERM and then raises it again: with Python's default handler
    # that ends the process at once, past the `finally` that stops the demo's agent
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
    finally:
        stop.set()
        for agent in agents:
            agent.terminate()
            agent.wait(timeout=30)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _demo(url: str, data_dir: Path, stop: threading.Event,
          agents: list[subprocess.Popen[bytes]]) -> None:
    from control_plane import demo_run

    def say(message: str) -> None:
        console.print(f"[green]demo:[/] {message}")

    try:
        agent = demo_run.run(url, data_dir, stop, say=say)
    except (demo_run.DemoError, httpx.HTTPError) as exc:
        err.print(f"[bold red]demo:[/] {exc}")
        return
    if agent is not None:
        agents.append(agent)


@app.command()
def simulate(
    screens: Annotated[int, typer.Option(min=1, max=2000, help="How many display units")],
    server: Annotated[str, typer.Option(help="The control plane's URL")] =
        "http://127.0.0.1:8000",
    email: Annotated[str, typer.Option(help="The venue owner whose venue gets the screens")] =
        "venue@demo.example.com",
    password: Annotated[str, typer.Option(help="That owner's password (default: the demo's)",
                                          envvar="ADSBIN_SIMULATE_PASSWORD")] =
        "adsbin-demo",  # noqa: S107 - the published demo login
    state_dir: Annotated[Path | None, typer.Option(help="The units' state dirs go here "
                                                        "(default: <data dir>/simulate)")] = None,
    seconds: Annotated[float | None, typer.Option(min=1, help="Stop after this long "
                                                        "(default: Ctrl-C)")] = None,
    every: Annotated[float, typer.Option(min=0.5, help="Seconds between progress lines")] = 5.0,
    poll_interval: Annotated[float, typer.Option(min=1, help="Each unit's playlist poll "
                                                           "interval, s")] = 60.0,
    upload_interval: Annotated[float, typer.Option(min=0.5, help="Each unit's proof-of-play "
                                                               "upload interval, s")] = 10.0,
    log_level: Annotated[str, typer.Option()] = "warning",
) -> None:
    """Run a fleet of simulated display units (the real agent, null renderer) against a
    control plane."""
    from player_agent import simulate as fleet
    from player_agent.settings import AgentSettings

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    settings = AgentSettings(server_url=server, state_dir=state_dir or
                             get_settings().data_dir / "simulate", renderer="null",
                             headless=True, poll_interval_s=poll_interval,
                             poll_jitter_s=min(10.0, poll_interval / 6),
                             pop_upload_interval_s=upload_interval)
    stop = threading.Event()
    try:
        fleet.run(server_url=server, screens=screens, settings=settings, email=email,
                  password=password, seconds=seconds, every_s=every, stop=stop,
                  say=lambda line: console.print(f"[green]simulate:[/] {line}"))
    except fleet.SimulationError as exc:
        _fail(str(exc), "start the control plane (make run) and check --server, --email and "
              "--password")
    except KeyboardInterrupt:
        stop.set()


@app.command()
def worker(
    workers: Annotated[int, typer.Option(help="Worker threads")] = 2,
    log_level: Annotated[str, typer.Option()] = "info",
) -> None:
    """Consume background jobs (run `adsbin serve` with ADSBIN_RUN_WORKER=false beside it)."""
    from control_plane.app import create_app

    _check_migrated()
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    app_ = create_app(settings)  # the same wiring (database, object store, job kinds) as the API
    where = settings.queue_url or f"{settings.data_dir / 'queue.db'} (SQLite)"
    console.print(f"[bold green]ADSBIN worker[/]: {workers} threads on {where}; Ctrl-C stops")
    app_.state.jobs.consumer(workers=workers).run()


@app.command()
def scheduler(log_level: Annotated[str, typer.Option()] = "info") -> None:
    """Ask for the hourly pacing rebuild (run `adsbin serve` with ADSBIN_RUN_SCHEDULER=false)."""
    from control_plane.app import create_app
    from control_plane.scheduling.ticker import Ticker

    _check_migrated()
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    app_ = create_app(settings)
    console.print(f"[bold green]ADSBIN scheduler[/]: a rebuild every {settings.schedule_tick_s:g}"
                  " s, on the clock; Ctrl-C stops")
    with contextlib.suppress(KeyboardInterrupt):
        Ticker(app_.state.sessionmaker, app_.state.jobs,
               interval_s=settings.schedule_tick_s).run()


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    """Entry point of the `adsbin` console script."""
    sys.exit(app())
