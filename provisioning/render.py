"""How the technicians' CLI shows things to a person: rich tables, progress, relative times.

Kept apart from the commands so the commands read as what they do. Everything that comes from
the server or the machine goes into a cell as text, never as rich markup: a venue called
"[bold]Bar" is shown as typed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text

from provisioning import checks
from provisioning.checks.base import CheckResult, Status, Target
from provisioning.models import Screen, Venue

SCREEN_STATUS_STYLES = {"online": "green", "offline": "red", "unpaired": "yellow"}
CHECK_STATUS = {Status.PASS: ("✔ pass", "green"), Status.WARN: ("! warn", "yellow"),
                Status.FAIL: ("✘ fail", "bold red")}


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """'never', '12 s ago', '5 min ago', '3 h ago' or '4 d ago'."""
    if when is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def venues_table(venues: Sequence[Venue]) -> Table:
    """The org's venues."""
    table = Table(title=f"Venues ({len(venues)})")
    for column in ("id", "name", "address", "timezone"):
        table.add_column(column, overflow="fold")
    for venue in venues:
        table.add_row(Text(venue.id), Text(venue.name), Text(venue.address),
                      Text(venue.timezone))
    return table


def screens_table(screens: Iterable[Screen], venue_names: Mapping[str, str]) -> Table:
    """Screens with their device's state, the way a technician scans for the one to pair."""
    table = Table(title="Screens")
    for column in ("id", "name", "venue", "status", "size", "last seen", "agent"):
        table.add_column(column, overflow="fold")
    for screen in screens:
        table.add_row(Text(screen.id), Text(screen.name),
                      Text(venue_names.get(screen.venue_id, screen.venue_id)),
                      Text(screen.status, style=SCREEN_STATUS_STYLES.get(screen.status, "")),
                      f"{screen.width_px}×{screen.height_px}", ago(screen.last_seen_at),
                      Text(screen.agent_version or "—"))
    return table


def checks_table(results: Sequence[CheckResult]) -> Table:
    """The diagnose verdicts."""
    table = Table(title="Diagnosis")
    table.add_column("check")
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for result in results:
        label, style = CHECK_STATUS[result.status]
        table.add_row(result.check, Text(label, style=style), Text(result.detail))
    return table


def summary(results: Sequence[CheckResult]) -> Text:
    """One line: all passed, or how many warnings and failures."""
    fails = sum(r.status is Status.FAIL for r in results)
    warns = sum(r.status is Status.WARN for r in results)
    if not fails and not warns:
        return Text(f"All {len(results)} checks passed.", style="green")
    parts = [f"{n} {word}{'s' if n != 1 else ''}"
             for n, word in ((fails, "failure"), (warns, "warning")) if n]
    return Text(", ".join(parts) + ".", style="bold red" if fails else "yellow")


def run_checks(names: Sequence[str], target: Target, console: Console) -> list[CheckResult]:
    """Run the checks in order behind a progress bar (on terminals only: logs stay clean)."""
    results = []
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task("diagnosing", total=len(names))
        for name in names:
            progress.update(task, description=f"checking {name}…")
            results.append(checks.run(name, target))
            progress.advance(task)
    return results


def target_header(target: Target) -> Text:
    """One line naming the unit under diagnosis: server, state dir, pairing."""
    creds = target.credentials
    paired = f"device {creds.device_id} on screen {creds.screen_id}" if creds else "not paired"
    header = Text(target.server_url or "no server", style="bold")
    header.append(f" · state dir {target.state_dir} · {paired}", style="")
    return header
