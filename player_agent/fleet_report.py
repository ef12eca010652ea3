"""What `adsbin simulate` shows: the fleet's progress as it runs (a rich progress display on a
terminal, a line every few seconds otherwise), then what it cost and whether every unit's
journal matches the server's plays."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from player_agent import fleet, fleet_figures
from player_agent.fleet_ledger import Comparison
from player_agent.settings import AgentSettings
from player_agent.simulate import SimulationError


def command(*, screens: int, server: str, email: str, password: str, state_dir: Path,
            minutes: float | None, seconds: float | None, per_process: int, every: float,
            poll_interval: float, upload_interval: float, server_pid: int | None,
            house: bool,
            console: Console, fail: Callable[[str, str], NoReturn]) -> None:
    """`adsbin simulate`: run the fleet, show its progress, report, and `fail` (exit 1) if it
    could not start or the journals and the server differ. Ctrl-C stops it, then it checks."""
    if minutes is not None and seconds is not None:
        fail("--minutes and --seconds say the same thing", "give one of them")
    settings = AgentSettings(server_url=server, state_dir=state_dir, renderer="null",
                             headless=True, poll_interval_s=poll_interval,
                             poll_jitter_s=min(10.0, poll_interval / 6),
                             pop_upload_interval_s=upload_interval)
    options = fleet.FleetOptions(server_url=server, screens=screens, settings=settings,
                                 email=email, password=password,
                                 seconds=minutes * 60 if minutes is not None else seconds,
                                 every_s=every, per_process=per_process, server_pid=server_pid,
                                 house=house)
    stop = threading.Event()
    interrupt = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        result = run(options, console, stop)
    except SimulationError as exc:
        fail(str(exc), "start the control plane (make run) and check --server, --email and "
             "--password")
    finally:
        signal.signal(signal.SIGINT, interrupt)
    if not report(result, console):
        fail("the units' journals and the server's plays differ (above)",
             f"look for the plays named in the units' logs under {state_dir}")


def run(options: fleet.FleetOptions, console: Console, stop: threading.Event) -> fleet.FleetRun:
    """Run the fleet, showing its progress on `console`."""
    def say(line: str) -> None:
        console.print(f"[green]simulate:[/] {line}")

    if not console.is_terminal:
        last = [0.0]

        def lines(snapshot: fleet.Snapshot) -> None:
            if snapshot.phase in ("pairing", "playing") and \
                    snapshot.played_s - last[0] < options.every_s and snapshot.played_s:
                return
            last[0] = snapshot.played_s
            say(describe(snapshot))

        return fleet.run(options, stop=stop, progress=lines, say=say)
    total = options.seconds
    with Progress(TextColumn("[bold]{task.fields[phase]:>8}"), BarColumn(),
                  TimeElapsedColumn(), TextColumn("{task.description}"),
                  console=console) as bar:
        task = bar.add_task("", total=total, phase="starting")

        def show(snapshot: fleet.Snapshot) -> None:
            bar.update(task, completed=snapshot.played_s, phase=snapshot.phase,
                       description=describe(snapshot, short=True))

        return fleet.run(options, stop=stop, progress=show, say=bar.console.print)


def describe(snapshot: fleet.Snapshot, *, short: bool = False) -> str:
    """The fleet's counters in a line."""
    c: dict[str, Any] = snapshot.counts or dict.fromkeys(fleet.COUNTERS, 0)
    line = (f"paired {c['paired']}/{c['units']}  online {c['mqtt']}  playing {c['playing']}  "
            f"plays journaled {c['plays']:,}  accepted {c['accepted']:,}  "
            f"backlog {c['backlog']:,}")
    if c["rejected"]:
        line += f"  rejected {c['rejected']:,}"
    if short:
        return line
    return f"{snapshot.phase} {snapshot.played_s:6.0f} s  {line}  (built-in card plays, not " \
           f"reported: {c['card_plays']:,})"


def report(result: fleet.FleetRun, console: Console) -> bool:
    """Print what the run cost and how the journals compare; whether they matched."""
    table = Table(title=f"{result.screens:,} units in {result.processes} processes, "
                        f"{result.played_s / 60:.1f} min of play", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    c = result.counts or dict.fromkeys(fleet.COUNTERS, 0)
    table.add_row("units at the end", f"paired {c['paired']:,}, online (MQTT) {c['mqtt']:,}, "
                                      f"playing {c['playing']:,}")
    if result.control_plane is not None:
        first, last = result.control_plane
        table.add_row("control plane", f"pid {last.pid} ({last.name}): CPU "
                      f"{fleet_figures.cpu_percent(first, last):.0f} % of a core over "
                      f"{last.at_mono - first.at_mono:.0f} s, RSS {last.rss_mb:.0f} MB at the end "
                      f"(peak seen {result.control_plane_peak_mb:.0f} MB)")
    elif result.server_pid is None:
        table.add_row("control plane", "not on this machine (or not found by its port): "
                      "give --server-pid")
    else:
        table.add_row("control plane", f"pid {result.server_pid}: not measured, as the fleet "
                      "never played")
    table.add_row("broker", f"{result.broker.count:,} connections ({result.broker.source})"
                  if result.broker else "not measured")
    table.add_row("the fleet itself", f"RSS {result.fleet_rss_mb:.0f} MB in all "
                  f"({result.fleet_rss_mb / max(1, result.screens):.1f} MB a unit)")
    comparison = result.comparison or Comparison()
    table.add_row("journals vs server", f"{comparison.journaled:,} plays journaled, "
                  f"{comparison.accepted:,} accepted, {len(comparison.differences):,} "
                  "differences")
    console.print(table)
    if c["rejected"] and comparison.counts()["lost"]:
        console.print(f"[yellow]the units counted {c['rejected']:,} play(s) rejected by the "
                      "server (acknowledged, so gone from their journals): the reasons are in "
                      "their logs[/]")
    if result.not_stopped:
        console.print(f"[yellow]{result.not_stopped} worker(s) did not stop in time and were "
                      "killed[/]")
    return show_comparison(comparison, console)


def show_comparison(comparison: Comparison, console: Console) -> bool:
    """Say whether every journal matched the server; whether it did."""
    if comparison.ok:
        console.print(f"[green]every unit's journal matches the server:[/] "
                      f"{comparison.accepted:,} plays journaled = accepted, none twice, "
                      "none unknown")
        return True
    console.print("[bold red]the journals and the server differ:[/]")
    for line in comparison.lines():
        console.print(f"  {line}", markup=False, highlight=False)
    return False
