"""The technicians' CLI (`adsbin provision …`, `python -m provisioning`).

On a laptop: `login`, then `venues` / `screens` to find the screen, and `claim` the code the
display shows. On the display unit: `enroll` installs the agent as a systemd service, and
`diagnose` checks network, broker, clock, disk, display and VLC. Every failure ends in one
`error:` line and a `next:` line saying what to do, with exit code 1.

Only `typer`, `rich` and stdlib are imported up front: `adsbin` mounts this app, and its other
commands should not pay for httpx, paho or libvlc. The commands import what they use.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from provisioning import session
from shared.agent import CONFIG_FILE, DEFAULT_STATE_DIR

if TYPE_CHECKING:
    from provisioning.client import ControlPlane
    from provisioning.models import Screen

app = typer.Typer(help="Field technicians' tools: pair displays to screens, install the agent, "
                       "diagnose a display unit.", no_args_is_help=True, add_completion=False)

LOGIN_HINT = "sign in: adsbin provision login --server URL --email you@example.com"
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts, not a table.")]
CLAIM_ERRORS = {  # error.code → (what happened, what to do next)
    "pairing_code_unknown": ("no display is showing code {code}",
                             "check the code on the screen and type it again (codes have no "
                             "0, O, 1 or I)"),
    "pairing_code_expired": ("code {code} has expired",
                             "the display shows a new code within seconds: claim that one"),
    "pairing_code_used": ("code {code} was claimed already",
                          "if the display still shows it, restart its agent for a new code: "
                          "sudo systemctl restart adsbin-agent"),
    "screen_already_paired": ("screen {screen} is paired with another display already",
                              "unpair it first (adsbin provision unpair --screen {screen}), "
                              "or claim the code for another screen: adsbin provision screens"),
    "rate_limited": ("too many pairing attempts",
                     "wait {retry} s, then type the code carefully"),
    "screen_not_found": ("there is no screen {screen} in your org",
                         "list your screens: adsbin provision screens"),
    "forbidden": ("your role may not pair screens",
                  "ask an admin of your org for the technician role"),
}


class Renderer(StrEnum):
    """What the agent plays through."""

    vlc = "vlc"
    null = "null"


def _out() -> Console:
    return Console(highlight=False)


def _fail(message: str, hint: str | None = None) -> NoReturn:
    """Print one error line (and what to do next) on stderr; exit 1."""
    text = f"[bold red]error:[/] {escape(message)}"
    if hint:
        text += f"\n[dim]next:[/] {escape(hint)}"
    Console(stderr=True, highlight=False).print(text)
    raise typer.Exit(code=1)


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _checked_url(value: str, option: str = "--server") -> str:
    from provisioning.client import server_url

    try:
        return server_url(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


@contextmanager
def _api() -> Iterator[ControlPlane]:
    """The control plane as the saved login; its errors end the command with a hint."""
    from provisioning.client import ApiError, ClientError, ControlPlane

    try:
        login_ = session.load()
    except session.SessionError as exc:
        _fail(str(exc), LOGIN_HINT)
    if login_ is None:
        _fail("you are not signed in", LOGIN_HINT)
    if login_.expired:
        _fail(f"your sign-in to {login_.server_url} has expired", LOGIN_HINT)
    with ControlPlane(login_.server_url, login_.access_token) as api:
        try:
            yield api
        except ApiError as exc:
            if exc.status == 401:
                _fail(f"{login_.server_url} no longer accepts your sign-in ({exc.message})",
                      LOGIN_HINT)
            _fail(str(exc))
        except ClientError as exc:
            _fail(str(exc))


@app.command()
def login(
    server: Annotated[str, typer.Option(help="The control plane, e.g. https://ads.example.com")],
    email: Annotated[str, typer.Option(help="Your email")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="Asked if omitted")],
    org: Annotated[str | None, typer.Option(help="The org id to act in (default: your first)")]
    = None,
) -> None:
    """Sign in and keep the login for the other commands."""
    from provisioning.client import ApiError, ClientError, ControlPlane

    url = _checked_url(server)
    try:
        with ControlPlane(url) as api:
            token = api.login(email, password, org)
        with ControlPlane(url, token.access_token) as api:
            me = api.me()
    except ApiError as exc:
        if exc.code == "invalid_credentials":
            _fail("the email or the password is wrong", "check both and try again")
        if exc.status == 429:
            _fail("too many sign-in attempts", f"wait {exc.retry_after_s or 60:g} s and retry")
        _fail(str(exc))
    except ClientError as exc:
        _fail(str(exc))
    expires_at = datetime.now(UTC) + timedelta(seconds=token.expires_in)
    path = session.save(session.Login(server_url=url, access_token=token.access_token,
                                      email=email, expires_at=expires_at))
    org_ = me.org
    where = f"{org_.name} ({org_.kind})" if org_ else "no org"
    role = me.role or ("super-admin" if me.user.is_superadmin else "no role")
    out = _out()
    out.print(f"[green]Signed in[/] to {escape(url)} as {escape(me.user.name)} "
              f"<{escape(me.user.email or email)}>, acting in {escape(where)} as {escape(role)}.")
    out.print(f"[dim]login kept in {escape(str(path))} until {expires_at:%Y-%m-%d %H:%M} UTC[/]")
    if me.role not in ("admin", "technician") and not me.user.is_superadmin:
        out.print("[yellow]note:[/] your role cannot pair screens; ask an org admin for the "
                  "technician role")


@app.command()
def venues(json_: JsonFlag = False) -> None:
    """List your org's venues."""
    from provisioning.render import venues_table

    with _api() as api:
        items = api.venues()
    if json_:
        _echo_json([v.model_dump(mode="json") for v in items])
    elif not items:
        _out().print("No venues in your org yet.")
    else:
        _out().print(venues_table(items))


@app.command()
def screens(
    venue: Annotated[str | None, typer.Option(help="Only this venue's screens (its id)")] = None,
    json_: JsonFlag = False,
) -> None:
    """List screens with their status (online, offline, unpaired), size and last contact."""
    from provisioning.render import screens_table

    with _api() as api:
        names = {v.id: v.name for v in api.venues()}
        items = [s for venue_id in ([venue] if venue else names) for s in api.screens(venue_id)]
    if json_:
        _echo_json([s.model_dump(mode="json") for s in items])
    elif not items:
        _out().print("No screens yet: add them to a venue first.")
    else:
        _out().print(screens_table(items, names))


@app.command()
def claim(
    code: Annotated[str, typer.Option(help="The code the display shows, e.g. K7P-4QX")],
    screen: Annotated[str, typer.Option(help="The screen's id (see: adsbin provision screens)")],
    json_: JsonFlag = False,
) -> None:
    """Pair the display showing the --code with the --screen; warn if their sizes differ."""
    from provisioning.client import ApiError, ClientError

    code = code.strip()
    with _api() as api:
        try:
            result = api.claim(screen, code)
        except ApiError as exc:
            if exc.code in CLAIM_ERRORS:
                what, hint = CLAIM_ERRORS[exc.code]
                fields = {"code": code, "screen": screen,
                          "retry": f"{exc.retry_after_s or 60:g}"}
                _fail(f"{what.format(**fields)} ({exc.code})", hint.format(**fields))
            raise
        try:
            registered: Screen | None = api.screen(screen)
        except ClientError:  # the claim went through; only the screen's name and size are missing
            registered = None
    name = registered.name if registered else screen
    mismatch = size_mismatch(registered, result.display) if registered else None
    if json_:
        _echo_json(result.model_dump(mode="json") | {"warnings": [mismatch] if mismatch else []})
    else:
        size = "×".join(str(result.display.get(k, "?")) for k in ("width_px", "height_px"))
        _out().print(f"[green]Paired[/] screen {escape(name)} ({escape(screen)}) with device "
                     f"{escape(result.device_id)} (display {size}, agent "
                     f"{escape(result.agent_version)}). The display picks up its credentials "
                     "within a few seconds.")
    if mismatch:  # on stderr in both forms: the person running it must see it
        Console(stderr=True, highlight=False).print(
            f"[bold yellow]warning:[/] {escape(mismatch['message'])}\n"
            f"[dim]next:[/] {escape(mismatch['next'])}")


def size_mismatch(screen: Screen, display: dict[str, int]) -> dict[str, str] | None:
    """A warning (code, message, next) when the screen's registered size is not the size its
    display reports: ads are prepared for the registered size."""
    width, height = display.get("width_px"), display.get("height_px")
    if width is None or height is None or (width, height) == (screen.width_px, screen.height_px):
        return None
    registered, reported = f"{screen.width_px}×{screen.height_px}", f"{width}×{height}"
    return {"code": "display_size_mismatch",
            "message": f"screen {screen.name} is registered as {registered} but its display "
                       f"reports {reported}: ads are prepared for {registered} and will be "
                       "scaled to fit",
            "next": f"correct the screen's size to {reported} (PATCH /v1/screens/{screen.id} "
                    "with width_px and height_px), or set the display to "
                    f"{registered} and the agent's display_width_px and display_height_px "
                    "to match"}


@app.command()
def unpair(
    screen: Annotated[str, typer.Option(help="The screen's id (see: adsbin provision screens)")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Unpair the display from a screen: its token and broker login stop working at once."""
    from provisioning.client import ApiError

    if not yes:
        typer.confirm(f"Unpair the display of screen {screen}? It stops playing ads", abort=True)
    with _api() as api:
        try:
            api.unpair(screen)
        except ApiError as exc:
            if exc.code == "screen_not_paired":
                _fail(f"screen {screen} has no paired display", "nothing to do")
            if exc.code == "screen_not_found":
                _fail(f"there is no screen {screen} in your org",
                      "list your screens: adsbin provision screens")
            raise
    _out().print(f"[green]Unpaired[/] screen {escape(screen)}: pair a display again with "
                 "adsbin provision claim.")


@app.command()
def enroll(
    server: Annotated[str, typer.Option(help="The control plane the agent talks to")],
    state_dir: Annotated[Path, typer.Option(help="The agent's state (credentials, cache)")]
    = DEFAULT_STATE_DIR,
    renderer: Annotated[Renderer, typer.Option(help="vlc, or null (no playback)")]
    = Renderer.vlc,
    config: Annotated[Path, typer.Option(help="Where to write the agent's config")]
    = CONFIG_FILE,
    unit_path: Annotated[Path | None, typer.Option(help="Where to write the systemd unit")]
    = None,
    user: Annotated[str | None, typer.Option(
        help="Run the agent as this existing user (default: adsbin, a system user without a "
             "login that enroll makes when run as root)")] = None,
    display: Annotated[str | None, typer.Option(help="X display for VLC, e.g. :0")] = None,
    dry_run: Annotated[bool, typer.Option(help="Print what would be written; write nothing")]
    = False,
    systemctl: Annotated[bool, typer.Option(help="Reload systemd and start the agent")] = True,
) -> None:
    """Install the player agent on this display unit as a systemd service."""
    from provisioning import enroll as enrolling
    from shared.agent import AgentConfig

    unit_path = (unit_path or enrolling.UNIT_PATH).absolute()
    config = config.absolute()
    user = user or enrolling.AGENT_USER
    agent_config = AgentConfig(server_url=_checked_url(server), state_dir=state_dir.absolute(),
                               renderer=renderer.value)
    unit = enrolling.render_unit(config_path=config, state_dir=agent_config.state_dir,
                                 user=user, display=display)
    if dry_run:
        start = " && ".join(" ".join(c) for c in enrolling.systemctl_commands(unit_path))
        if not enrolling.user_exists(user):
            made = (" ".join(enrolling.useradd_command(user, home=agent_config.state_dir))
                    if user == enrolling.AGENT_USER else None)
            typer.echo(f"# first: {made}" if made else f"# there is no user {user!r} here")
        if (blocked := enrolling.out_of_reach(user)) is not None:
            typer.echo(f"# but: {enrolling.unreachable(user, blocked)}")
        typer.echo(f"# {config} (mode 0600, owned by {user})\n"
                   f"{agent_config.model_dump_json(indent=2)}\n")
        typer.echo(f"# {unit_path}\n{unit}")
        typer.echo(f"# then: {start}\n# --dry-run: nothing was written")
        return
    try:
        done = enrolling.install(config=agent_config, config_path=config, unit_text=unit,
                                 unit_path=unit_path, user=user, run_systemctl=systemctl)
    except enrolling.EnrollError as exc:
        _fail(str(exc))
    out = _out()
    if done.created_user:
        out.print(f"[green]made[/] the system user {escape(user)} to run the agent (no login; "
                  f"home {escape(str(agent_config.state_dir))}; groups "
                  f"{escape(', '.join(enrolling.device_groups()) or 'none')})")
    out.print(f"[green]wrote[/] {escape(str(config))}"
              + (" (replacing the previous config)" if done.replaced_config else ""))
    out.print(f"the agent runs as {escape(user)}"
              + (": safer as a user of its own (leave --user out for adsbin)" if user == "root"
                 else ""))
    if display and user == enrolling.AGENT_USER:
        out.print(f"[yellow]note:[/] {escape(user)} must be let onto display {escape(display)}: "
                  f"in that X session, run xhost +SI:localuser:{escape(user)} (or enroll with "
                  "--user the session's own user)")
    out.print(f"[green]wrote[/] {escape(str(unit_path))}")
    if done.started:
        out.print("[green]adsbin-agent is enabled and running.[/]")
    else:
        out.print("systemd was not asked to start the agent; to start it now and at boot, run:")
        for cmd in enrolling.systemctl_commands(unit_path):
            typer.echo(f"  sudo {' '.join(cmd)}")  # not rich: a command must not be re-wrapped
    out.print("Next: the display shows a pairing code; claim it, then check the unit:")
    typer.echo("  adsbin provision claim --code CODE --screen SCREEN_ID\n"
               "  adsbin provision diagnose")


@app.command()
def diagnose(
    state_dir: Annotated[Path | None, typer.Option(help="The agent's state dir "
                                                        "(default: from its config)")] = None,
    config: Annotated[Path, typer.Option(help="The agent's config file")] = CONFIG_FILE,
    server: Annotated[str | None, typer.Option(help="The control plane (default: the one the "
                                                    "unit is paired with)")] = None,
    json_: JsonFlag = False,
    skip: Annotated[list[str] | None, typer.Option(help="A check not to run (repeatable)")]
    = None,
) -> None:
    """Check network, broker, clock, disk, display and VLC; exit 1 if a check fails."""
    from provisioning import checks, render

    skipped = {name.strip() for item in skip or [] for name in item.split(",") if name.strip()}
    if unknown := skipped - set(checks.CHECKS):
        raise typer.BadParameter(f"unknown check {', '.join(sorted(unknown))}; the checks are "
                                 f"{', '.join(checks.CHECKS)}", param_hint="--skip")
    target = checks.load_target(config_path=config, state_dir=state_dir,
                                server_url=_checked_url(server) if server else None)
    results = render.run_checks([n for n in checks.CHECKS if n not in skipped], target,
                                Console(stderr=True))
    if json_:
        _echo_json([r.to_json() for r in results])
    else:
        out = _out()
        out.print(render.target_header(target))
        for note in target.notes:
            out.print(f"[yellow]note:[/] {escape(note)}")
        out.print(render.checks_table(results))
        out.print(render.summary(results))
    if any(r.status is checks.Status.FAIL for r in results):
        raise typer.Exit(code=1)

