"""The `adsbin` command line: serve, migrate, admin, demo, agent, simulate, provision, billing,
payouts."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import httpx
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from control_plane.settings import Settings, get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from control_plane.demo_run import Processes

app = typer.Typer(help="ADSBIN: digital out-of-home advertising for small venues.",
                  no_args_is_help=True, add_completion=False)
admin_app = typer.Typer(help="Administration.", no_args_is_help=True)
keys_app = typer.Typer(help="The built-in token issuer's signing keys.", no_args_is_help=True)
billing_app = typer.Typer(help="Billing: closing periods into invoices, reconciliation.",
                          no_args_is_help=True)
payouts_app = typer.Typer(help="Payouts to venue orgs (Stripe Connect).", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(keys_app, name="keys")
app.add_typer(billing_app, name="billing")
app.add_typer(payouts_app, name="payouts")
app.add_typer(__import__("provisioning.cli", fromlist=["app"]).app, name="provision")
app.add_typer(__import__("player_agent.cli", fromlist=["app"]).app, name="agent")
console = Console()
err = Console(stderr=True)


def _fail(message: str, hint: str) -> NoReturn:
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


@admin_app.command("verify-email")
def verify_email(email: Annotated[str, typer.Argument(help="The user's address")]) -> None:
    """Take a user's address as confirmed without the emailed link (e.g. when support has
    checked it another way): they may buy and be paid from now on."""
    from control_plane.orgs import service as orgs_service

    _check_migrated()
    with _sessionmaker()() as session:
        user = orgs_service.get_user_by_email(session=session, email=email)
        if user is None:
            _fail(f"no account has the address {email}", "check the spelling, or sign up first")
        changed = orgs_service.mark_email_verified(session=session, user=user)
        session.commit()
    console.print(f"[green]{'confirmed' if changed else 'already confirmed'}[/] {user.email}")


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
    console.print(f"[bold green]ADSBIN[/]: the dashboard on {settings.public_url}/  "
                  f"(listening on {host}:{port}; API docs: {settings.public_url}/docs)")
    from control_plane import demo_run

    processes = demo_run.Processes()  # the demo's player agent: stopped with the server
    if demo:
        threading.Thread(target=_demo, args=(f"http://{host}:{port}", settings.data_dir,
                                             processes), daemon=True, name="demo").start()
    # uvicorn shuts down on SIGTERM and then raises it again: with Python's default handler
    # that ends the process at once, past the `finally` that stops the demo's agent
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
    finally:
        processes.stop()


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _demo(url: str, data_dir: Path, processes: Processes) -> None:
    from control_plane import demo_run

    def say(message: str) -> None:
        console.print(f"[green]demo:[/] {message}")

    try:
        demo_run.run(url, data_dir, processes, say=say)
    except (demo_run.DemoError, httpx.HTTPError) as exc:
        if not processes.stopped:
            err.print(f"[bold red]demo:[/] {exc}")


@app.command()
def simulate(
    screens: Annotated[int, typer.Option(min=1, max=5000, help="How many display units")],
    server: Annotated[str, typer.Option(help="The control plane's URL")] =
        "http://127.0.0.1:8000",
    email: Annotated[str, typer.Option(help="The venue owner whose venue gets the screens")] =
        "venue@demo.example.com",
    password: Annotated[str, typer.Option(help="That owner's password (default: the demo's)",
                                          envvar="ADSBIN_SIMULATE_PASSWORD")] =
        "adsbin-demo",  # noqa: S107 - the published demo login
    state_dir: Annotated[Path | None, typer.Option(help="The units' state dirs and the workers' "
                                                        "logs go here (default: <data "
                                                        "dir>/simulate)")] = None,
    minutes: Annotated[float | None, typer.Option(min=0, help="Play this long once paired, "
                                                        "then stop and check (default: Ctrl-C)")]
        = None,
    seconds: Annotated[float | None, typer.Option(min=1, help="The same, in seconds")] = None,
    per_process: Annotated[int, typer.Option(min=1, max=400, help="Units per worker process")]
        = 200,
    every: Annotated[float, typer.Option(min=0.5, help="Seconds between progress updates")] =
        5.0,
    poll_interval: Annotated[float, typer.Option(min=1, help="Each unit's playlist poll "
                                                           "interval, s")] = 60.0,
    upload_interval: Annotated[float, typer.Option(min=0.5, help="Each unit's proof-of-play "
                                                               "upload interval, s")] = 10.0,
    server_pid: Annotated[int | None, typer.Option(help="The control plane's process, for its "
                                                        "CPU and memory (default: whoever "
                                                        "listens on --server's port here)")] =
        None,
    house: Annotated[bool, typer.Option(help="Give the fleet venue house content (reported "
                                             "as proof of play in every slot no campaign "
                                             "fills); --no-house plays only what is bought")]
        = True,
) -> None:
    """Run a fleet of simulated display units (the real agent, null renderer) in worker
    processes against a control plane, then check every unit's journal against the server."""
    from player_agent import fleet_report

    fleet_report.command(screens=screens, server=server, email=email, password=password,
                         state_dir=state_dir or get_settings().data_dir / "simulate",
                         minutes=minutes, seconds=seconds, per_process=per_process,
                         every=every, poll_interval=poll_interval,
                         upload_interval=upload_interval, server_pid=server_pid, house=house,
                         console=console, fail=_fail)


@app.command()
def worker(
    workers: Annotated[int, typer.Option(help="Worker threads")] = 2,
    log_level: Annotated[str, typer.Option()] = "info",
) -> None:
    """Consume background jobs (run `adsbin serve` with ADSBIN_RUN_WORKER=false beside it)."""
    from control_plane.app import create_app, start_messaging, stop_messaging

    _check_migrated()
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    app_ = create_app(settings)  # the same wiring (database, object store, job kinds) as the API
    where = settings.queue_url or f"{settings.data_dir / 'queue.db'} (SQLite)"
    console.print(f"[bold green]ADSBIN worker[/]: {workers} threads on {where}; Ctrl-C stops")
    if settings.mqtt_url:  # the playlists it builds are announced on the external broker
        start_messaging(app_)
    try:
        app_.state.jobs.consumer(workers=workers).run()
    finally:
        stop_messaging(app_)


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
        Ticker(app_.state.sessionmaker, app_.state.jobs, interval_s=settings.schedule_tick_s,
               minor_interval_s=settings.minor_tick_s).run()

# --- money ---------------------------------------------------------------------------------

PeriodStart = Annotated[str | None, typer.Option(
    "--period-start", help="The period's start, RFC 3339 on a whole UTC hour "
                           "(e.g. 2026-11-01T00:00:00Z)")]
PeriodEnd = Annotated[str | None, typer.Option(
    "--period-end", help="The period's end (exclusive), RFC 3339 on a whole UTC hour")]
PERIOD_HINT = "give both, as RFC 3339 times with a zone, e.g. --period-start " \
              "2026-11-01T00:00:00Z --period-end 2026-12-01T00:00:00Z"


def _instant(value: str, option: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{option} is not a date and time: {value!r}", PERIOD_HINT)
    if at.tzinfo is None:
        _fail(f"{option} has no time zone: {value!r}", "add one, e.g. Z (UTC) or +01:00")
    return at


def _period(settings: Settings, start: str | None, end: str | None,
            default: bool) -> tuple[datetime, datetime]:
    """The period the options name; without them (if `default`), the last full billing period
    before now (`ADSBIN_BILLING_CYCLE`)."""
    if start is not None and end is not None:
        return _instant(start, "--period-start"), _instant(end, "--period-end")
    if start is None and end is None and default:
        from control_plane.billing import service as billing_service
        from control_plane.db import utcnow

        current = billing_service.period_of(settings, utcnow())[0]
        return billing_service.period_of(settings, current - timedelta(milliseconds=1))
    _fail("a period needs --period-start and --period-end", PERIOD_HINT)


def _money_app() -> tuple[Settings, FastAPI]:
    """The settings and an app built on them (its sessions, its payment provider), as
    `adsbin serve` would build it."""
    from control_plane.app import create_app

    _check_migrated()
    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    return settings, create_app(settings)


def _cents(cents: int, currency: str) -> str:
    return f"{cents / 100:,.2f} {currency}"


def _money_error(exc: Exception) -> NoReturn:
    """Say what went wrong with a billing or payout command, and what to do next."""
    from control_plane.billing.exceptions import InvalidPeriod, PeriodOverlaps
    from control_plane.errors import AppError
    from control_plane.payments.exceptions import ProviderRefused, ProviderUnavailable

    if isinstance(exc, InvalidPeriod):
        _fail(exc.message, "a period starts and ends on whole UTC hours and is over: "
              + PERIOD_HINT)
    if isinstance(exc, PeriodOverlaps):
        closed = exc.details or {}
        _fail(f"{exc.message} ({closed})" if closed else exc.message,
              "periods close in order, each starting at or after the end of the last one "
              "closed; `adsbin billing close` without options closes the last full period")
    if isinstance(exc, ProviderUnavailable):
        _fail(f"the payment provider cannot be reached: {exc.message}",
              "nothing is lost and nothing is sent twice: run the same command again later "
              "(a running worker's job also retries); check ADSBIN_STRIPE_API_KEY and the network")
    if isinstance(exc, ProviderRefused):
        _fail(f"the payment provider refused: {exc.message}",
              "fix what it names (Stripe dashboard, the org's details), then run the same "
              "command again")
    if isinstance(exc, AppError) and exc.code == "cycle_not_closed":
        _fail(exc.message, "payouts follow a closed period: run adsbin billing close with the "
              "same --period-start and --period-end first")
    if isinstance(exc, AppError):
        _fail(exc.message, "check the options (adsbin billing --help, adsbin payouts --help)")
    raise exc


@billing_app.command("close")
def billing_close(start: PeriodStart = None, end: PeriodEnd = None) -> None:
    """Close a billing period into draft invoices and statement lines, then issue the invoices
    with the payment provider. Run again, it bills nothing twice and issues what is left."""
    from control_plane.billing import service as billing_service
    from control_plane.errors import AppError
    from control_plane.payments.exceptions import ProviderUnavailable

    settings, app_ = _money_app()
    period_start, period_end = _period(settings, start, end, default=True)
    provider = app_.state.payments
    shown = f"{period_start.isoformat()} – {period_end.isoformat()}"
    with app_.state.sessionmaker() as session:
        try:
            with console.status(f"closing {shown} (reading the billable plays)…"):
                result = billing_service.close(session=session, settings=settings,
                                               period_start=period_start,
                                               period_end=period_end)
            cycle = result.cycle
            console.print(f"[green]{'closed' if result.created else 'already closed'}[/] "
                          f"{shown}: cycle {cycle.id} (plays up to seq {cycle.seq_upto:,})")
            with console.status(f"issuing the invoices with {provider.name}…"):
                billing_service.issue(session=session, settings=settings, provider=provider,
                                      cycle_id=cycle.id)
        except (AppError, ProviderUnavailable) as exc:
            session.rollback()
            _money_error(exc)
        session.refresh(cycle)
        invoices = [i for i in billing_service.list_invoices(session=session, org_id=None,
                                                             limit=1_000_000)
                    if i.cycle_id == cycle.id]
        table = Table(title=f"Invoices of {shown} ({provider.name})")
        for column in ("currency", "invoices", "plays", "amount", "drafts left"):
            table.add_column(column, justify="left" if column == "currency" else "right")
        per: dict[str, list[int]] = {}
        for invoice in invoices:
            sums = per.setdefault(invoice.currency, [0, 0, 0, 0])
            sums[0] += 1
            sums[1] += invoice.plays
            sums[2] += invoice.amount_cents
            sums[3] += invoice.status.value == "draft"
        for currency, (n, plays, amount, left) in sorted(per.items()):
            table.add_row(currency, f"{n:,}", f"{plays:,}", _cents(amount, currency),
                          f"{left:,}")
        console.print(table if invoices else "no billable plays: no invoice")
        drafts = [i for i in invoices if i.status.value == "draft"]
        if drafts:
            for invoice in drafts[:10]:
                err.print(f"  {invoice.id} ({invoice.org_id}): {invoice.last_error or '?'}")
            _fail(f"{len(drafts)} invoice(s) of cycle {cycle.id} are not issued yet",
                  "fix what the provider said above, then run the same command again "
                  "(it issues only what is left)")
    console.print(f"cycle {cycle.id} is [bold]{cycle.status.value}[/]")


@billing_app.command("reconcile")
def billing_reconcile(
    start: PeriodStart = None,
    end: PeriodEnd = None,
    trace: Annotated[Path | None, typer.Option(
        help="Also write every invoice line and statement line to the plays behind it: "
             "FILE.csv or FILE.ndjson")] = None,
) -> None:
    """Per currency, what the closed cycles within a period invoiced and how it was shared
    (invoiced = venues' earnings + platform, and = the plays' spend summed again)."""
    import csv
    import json

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from control_plane.billing import service as billing_service
    from control_plane.billing.router import TRACE_COLUMNS
    from control_plane.errors import AppError

    if trace is not None and trace.suffix not in (".csv", ".ndjson"):
        _fail(f"cannot tell the trace's format from {trace.name!r}",
              "name the file FILE.csv or FILE.ndjson")
    settings, app_ = _money_app()
    period_start, period_end = _period(settings, start, end, default=False)
    shown = f"{period_start.isoformat()} – {period_end.isoformat()}"
    with app_.state.sessionmaker() as session:
        try:
            cycles = billing_service.cycles_in(session=session, start=period_start,
                                               end=period_end)
            with console.status("summing the invoices, statements and plays…"):
                rows = billing_service.reconciliation(session=session, start=period_start,
                                                      end=period_end)
        except AppError as exc:
            _money_error(exc)
        if not cycles:
            console.print(f"no closed billing cycle lies within {shown}: nothing to reconcile "
                          "(next: adsbin billing close)")
        else:
            table = Table(title=f"Reconciliation of {shown} ({len(cycles)} cycle(s))")
            for column in ("currency", "invoiced", "plays' spend", "venues' earnings",
                           "platform", "difference"):
                table.add_column(column, justify="left" if column == "currency" else "right")
            for r in rows:
                table.add_row(r.currency, _cents(r.invoiced_cents, r.currency),
                              _cents(r.plays_spend_cents, r.currency),
                              _cents(r.venue_earnings_cents, r.currency),
                              _cents(r.platform_cents, r.currency),
                              _cents(r.difference_cents, r.currency))
            console.print(table if rows else f"{len(cycles)} cycle(s), no invoice")
        if trace is not None:
            written = 0
            trace.parent.mkdir(parents=True, exist_ok=True)
            with trace.open("w", newline="", encoding="utf-8") as f, Progress(
                    SpinnerColumn(), TextColumn("writing {task.description}"),
                    TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                    console=console, transient=True) as progress:
                task = progress.add_task(str(trace), total=None)
                writer = csv.DictWriter(f, fieldnames=TRACE_COLUMNS, lineterminator="\r\n")
                if trace.suffix == ".csv":
                    writer.writeheader()
                for row in billing_service.trace(session=session, start=period_start,
                                                 end=period_end):
                    if trace.suffix == ".csv":
                        writer.writerow(row)
                    else:
                        f.write(json.dumps(row, separators=(",", ":")) + "\n")
                    written += 1
                    if written % 10_000 == 0:
                        progress.update(task, completed=written)
            console.print(f"trace: {written:,} rows written to {trace}")
    unbalanced = [r.currency for r in rows
                  if r.difference_cents or r.invoiced_cents != r.plays_spend_cents]
    if unbalanced:
        _fail(f"the reconciliation does not balance in {', '.join(unbalanced)}",
              "keep the trace (--trace FILE.csv) and report it: every billed play should be on "
              "exactly one line")


@payouts_app.command("run")
def payouts_run(start: PeriodStart = None, end: PeriodEnd = None) -> None:
    """Transfer to venue orgs what the closed period's paid invoices earned them (Stripe
    Connect; recorded only when payments are offline). Run again, it transfers nothing twice
    and finishes what an outage left."""
    from control_plane.errors import AppError
    from control_plane.payments.exceptions import ProviderUnavailable
    from control_plane.revenue import payouts

    run = getattr(payouts, "run_detailed", None) or getattr(payouts, "run", None)
    if run is None:
        _fail("payout runs are not part of this version of ADSBIN yet",
              "pay venues from the statements (GET /v1/payouts/statements) until an upgrade "
              "brings them")
    settings, app_ = _money_app()
    period_start, period_end = _period(settings, start, end, default=False)
    shown = f"{period_start.isoformat()} – {period_end.isoformat()}"
    provider = app_.state.payments
    with app_.state.sessionmaker() as session:
        try:
            with console.status(f"paying out {shown} with {provider.name}…"):
                result = run(session=session, settings=settings, provider=provider,
                             period_start=period_start, period_end=period_end)
        except (AppError, ProviderUnavailable) as exc:
            session.rollback()
            _money_error(exc)
        made = list(getattr(result, "payouts", result))
        skipped = list(getattr(result, "skipped", []))
        console.print(f"[green]payout run of {shown}[/] ({provider.name}): "
                      f"{len(made):,} payout(s), {len(skipped):,} balance(s) left for later")
        if made:
            table = Table(title="Payouts")
            for column in ("venue org", "amount", "status", "transfer", "error"):
                table.add_column(column, justify="right" if column == "amount" else "left")
            for payout in made:
                table.add_row(payout.venue_org_id, _cents(payout.amount_cents, payout.currency),
                              str(getattr(payout.status, "value", payout.status)),
                              payout.transfer_id or "", payout.last_error or "")
            console.print(table)
        if skipped:
            table = Table(title="Left for a later run")
            for column in ("venue org", "balance", "why"):
                table.add_column(column, justify="right" if column == "balance" else "left")
            for s in skipped:
                table.add_row(s.venue_org_id, _cents(s.balance_cents, s.currency), s.reason)
            console.print(table)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    """Entry point of the `adsbin` console script."""
    sys.exit(app())
