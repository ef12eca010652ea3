"""Running the agent as a display unit's daemon: `python -m player_agent`, what the systemd unit
runs on every screen, without a command-line framework in its memory.

A plain run (only `--server`, `--state-dir`, `--renderer` and `--config`, as the unit's
`ExecStart` has it) is parsed here and starts the agent; anything else (`status`, `--help`, a flag
this does not know) goes to the Typer CLI of `player_agent.cli`, which answers it as before.
Typer, Click and Rich cost some 4 MB that a playing unit would carry for nothing.

An optional import of paho-mqtt is kept out too, for a feature a unit never uses: paho imports
dnspython (4 MB with what it loads) when it is installed, for `connect_srv` (brokers found by DNS
SRV records), and it is installed beside the control plane's email-validator. Marked absent in
`sys.modules`, `import dns.resolver` raises ImportError and paho carries on without it, as it does
where dnspython is not installed. That is only done in this process, which is the agent's alone.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from player_agent.settings import AgentSettings, load_settings

NEVER_USED = ("dns",)
RUN_FLAGS = {"--server": "server_url", "--state-dir": "state_dir", "--renderer": "renderer",
             "--config": "config"}

Say = Callable[[str], None]


class Refused(Exception):
    """The agent cannot start: what is wrong, what to do, and the exit code."""

    def __init__(self, problem: str, next_step: str | None = None, *, exit_code: int) -> None:
        super().__init__(problem)
        self.problem = problem
        self.next_step = next_step
        self.exit_code = exit_code

    def lines(self) -> str:
        """The message as the user reads it (`error: …` and `next: …`)."""
        return f"error: {self.problem}" + (f"\nnext: {self.next_step}" if self.next_step else "")


def keep_out_unused() -> None:
    """Make the optional imports in NEVER_USED fail, unless something already imported them."""
    for name in NEVER_USED:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None: "not installed"


def settings_from(config: Path | None, **flags: Any) -> AgentSettings:
    """The agent's settings from the config file, the environment and the flags, or Refused."""
    if config is not None and not config.is_file():
        raise Refused(f"no config file at {config}", "run adsbin provision enroll, or pass "
                      "--server and --state-dir", exit_code=2)
    try:
        return load_settings(config, **flags)
    except (ValidationError, ValueError) as exc:
        raise Refused(f"invalid agent settings: {exc}", "fix the config file or the "
                      "ADSBIN_AGENT_* variables", exit_code=2) from None


def run(settings: AgentSettings, *, say: Say) -> int:
    """Run the agent until SIGTERM or SIGINT; the exit code. `say` prints to the user."""
    under_systemd = "JOURNAL_STREAM" in os.environ  # journald stamps the time itself
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(levelname)s %(name)s: %(message)s" if under_systemd else
                        "%(asctime)s %(levelname)s %(name)s: %(message)s")
    from player_agent.agent import Agent
    from player_agent.render import RendererUnavailable
    from player_agent.state import StateDirBusy

    try:
        agent = Agent(settings)
    except StateDirBusy as exc:
        raise Refused(str(exc), exit_code=1) from None
    except RendererUnavailable as exc:
        raise Refused(str(exc), "install it, or run with --renderer null to simulate",
                      exit_code=1) from None
    except PermissionError as exc:
        raise Refused(str(exc), "pass a --state-dir you can write", exit_code=1) from None
    signal.signal(signal.SIGTERM, lambda *_: agent.stop())
    signal.signal(signal.SIGINT, lambda *_: agent.stop())
    say(f"ADSBIN agent: server {settings.server_url}, state {settings.state_dir}, "
        f"renderer {settings.renderer}{' (headless)' if settings.is_headless() else ''}")
    agent.run()
    return 0


def run_flags(argv: Sequence[str]) -> dict[str, str] | None:
    """The flags of a plain run (`--flag value` or `--flag=value`; the last one counts), or
    None when `argv` asks for anything else."""
    flags: dict[str, str] = {}
    args = list(argv)
    while args:
        name, eq, value = args.pop(0).partition("=")
        if name not in RUN_FLAGS:
            return None
        if not eq:
            if not args or args[0].startswith("-"):
                return None  # a missing value: the CLI says so
            value = args.pop(0)
        flags[RUN_FLAGS[name]] = value
    return flags


def main() -> None:
    """Entry point of `python -m player_agent`."""
    flags = run_flags(sys.argv[1:])
    if flags is None:
        from player_agent.cli import main as cli_main

        cli_main()
        return
    keep_out_unused()

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    config = flags.pop("config", None)
    state_dir = flags.pop("state_dir", None)
    try:
        settings = settings_from(Path(config) if config is not None else None,
                                 state_dir=Path(state_dir) if state_dir is not None else None,
                                 **flags)
        sys.exit(run(settings, say=say))
    except Refused as refused:
        say(refused.lines())
        sys.exit(refused.exit_code)
