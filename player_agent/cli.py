"""`adsbin agent` (also `python -m player_agent`): run the agent, or show its state.

Running it is `player_agent.daemon`'s; `python -m player_agent` starts a plain run there without
this module (Typer and Rich stay out of a playing unit's memory) and hands everything else here.

    adsbin agent [--server URL] [--state-dir DIR] [--renderer vlc|null] [--config FILE]
    adsbin agent status [--state-dir DIR] [--config FILE] [--json]
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from player_agent import daemon
from player_agent.settings import AgentSettings
from player_agent.state import StateDir
from shared.agent import DEFAULT_STATE_DIR

app = typer.Typer(help="The player agent of a display unit.", invoke_without_command=True,
                  add_completion=False)
console = Console()
err = Console(stderr=True, soft_wrap=True)  # errors name paths and commands: never broken

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="The agent's config file "
                                                "(written by adsbin provision enroll)")]
StateOpt = Annotated[Path | None, typer.Option("--state-dir", help="Credentials, cache, journal")]


def _settings(config: Path | None, **flags: Any) -> AgentSettings:
    try:
        return daemon.settings_from(config, **flags)
    except daemon.Refused as refused:
        _refuse(refused)


def _refuse(refused: daemon.Refused) -> NoReturn:
    err.print(f"[bold red]error:[/] {refused.problem}" + (f"\n[dim]next:[/] {refused.next_step}"
                                                          if refused.next_step else ""))
    raise typer.Exit(refused.exit_code) from None


@app.callback()
def run(
    ctx: typer.Context,
    server: Annotated[str | None, typer.Option("--server", help="The control plane's URL")] = None,
    state_dir: StateOpt = None,
    renderer: Annotated[str | None, typer.Option(help="vlc, or null to simulate")] = None,
    config: ConfigOpt = None,
) -> None:
    """Run the agent until stopped (SIGTERM or Ctrl-C)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings(config, server_url=server, state_dir=state_dir, renderer=renderer)
    try:
        daemon.run(settings, say=err.print)
    except daemon.Refused as refused:
        _refuse(refused)


def _age(stamp: float | None) -> str:
    if not stamp:
        return "never"
    seconds = max(0.0, datetime.now(UTC).timestamp() - float(stamp))
    return f"{seconds:.0f} s ago"


def _check_ran_here(state: StateDir) -> None:
    """Exit 1, saying what to do, unless an agent has run on this state dir: a dir that is
    not there must not read as an unpaired unit."""
    root = state.root
    nothing_here = ("pass the --state-dir of an agent that has run (the state_dir of its "
                    f"config; enroll's default is {DEFAULT_STATE_DIR}), or start one there: "
                    f"adsbin agent --state-dir {root}")
    try:
        if not root.exists():
            problem = f"there is no agent state dir {root}"
        elif not root.is_dir():
            problem = f"{root} is not a directory"
        elif not state.used():
            problem = f"no agent has run with the state dir {root}"
        else:
            return
    except PermissionError as exc:
        err.print(f"[bold red]error:[/] cannot read {root} ({exc.strerror})\n[dim]next:[/] run "
                  "this as the agent's user (e.g. sudo -u adsbin adsbin agent status) or with "
                  "sudo")
        raise typer.Exit(1) from None
    err.print(f"[bold red]error:[/] {problem}\n[dim]next:[/] {nothing_here}")
    raise typer.Exit(1)


@app.command()
def status(
    state_dir: StateOpt = None,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable")] = False,
) -> None:
    """The agent's state: pairing code while unpaired, screen, now playing, cache, backlog."""
    settings = _settings(config, state_dir=state_dir)
    state = StateDir(settings.state_dir)
    _check_ran_here(state)
    report: dict[str, Any] = state.read_status() or {"running": False}
    if not report["running"]:  # what the disk says, without a running agent to ask
        creds = state.credentials()
        pairing = state.pairing()
        report.update({"state": "paired" if creds else "pairing",
                       "device_id": creds.device_id if creds else None,
                       "screen_id": creds.screen_id if creds else None,
                       "pairing_code": pairing[0].code if pairing and not creds else None,
                       "now_playing": None})
        if state.journal_file.exists():
            from player_agent.journal import Journal

            journal = Journal(state.journal_file)
            report["journal"] = journal.stats()
            journal.close()
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
        return
    table = Table(title=f"ADSBIN agent — {settings.state_dir}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("running", "yes" if report["running"] else "[red]no[/]")
    table.add_row("state", str(report.get("state")))
    if report.get("pairing_code"):
        table.add_row("pairing code", f"[bold yellow]{report['pairing_code']}[/]")
    table.add_row("screen", str(report.get("screen_id") or "—"))
    if report.get("mqtt_state"):
        mqtt_state = str(report["mqtt_state"])
        table.add_row("mqtt", f"[red]{mqtt_state}[/] (over HTTP; re-pair or fix the broker "
                      "login)" if mqtt_state == "refused_credentials" else mqtt_state)
    playing = report.get("now_playing") or {}
    since = playing.get("started_at")
    table.add_row("now playing", str(playing.get("label") or "—")
                  + (f" (since {_age(datetime.fromisoformat(since).timestamp())})"
                     if since else ""))
    if report["running"]:
        table.add_row("showing", str(report.get("showing") or "—"))
    sync = report.get("sync") or {}
    table.add_row("playlist", f"{sync.get('playlist_version') or '—'}"
                  f" (synced {_age(sync.get('last_sync_at'))})")
    cache = report.get("cache") or {}
    if cache:
        table.add_row("cache", f"{cache['files']} files, {cache['bytes']:,} of "
                               f"{cache['quota_bytes']:,} bytes")
        if cache.get("disk_full"):
            table.add_row("disk", f"[bold red]FULL[/]: {cache.get('disk_error') or ''} "
                                  f"{cache.get('shortfall_bytes') or 0:,} bytes short")
    backlog = report.get("journal") or {}
    if backlog:
        table.add_row("journal", f"{backlog['backlog']} not yet acknowledged, "
                                 f"{backlog['dropped']} ever dropped")
    console.print(table)


def main() -> None:
    """Entry point of `python -m player_agent`."""
    app()
