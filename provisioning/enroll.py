"""Installing the player agent on a display unit: its config file and a systemd service.

`enroll` writes `shared.agent.AgentConfig` (0600) and a unit that runs
`<this python> -m player_agent --config <file>`, restarts it forever, and hardens it only as far
as VLC on a real display allows. The unit is rendered as text first, so `--dry-run` shows
exactly what would be written. systemctl is run only on a machine that booted with systemd.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from shared.agent import AgentConfig, write_private_json

UNIT_PATH = Path("/etc/systemd/system/adsbin-agent.service")
WATCHDOG_S = 60
STATE_ROOT = Path("/var/lib")  # where systemd's StateDirectory= lives
SYSTEMCTL_TIMEOUT_S = 60

# Hardening that VLC on a display survives. Left out on purpose:
#   PrivateTmp     hides /tmp/.X11-unix, the X server's socket
#   ProtectHome    hides ~/.Xauthority and /run/user/<uid> (Wayland, PulseAudio, PipeWire)
#   PrivateDevices hides /dev/dri, /dev/fb0 and /dev/snd
#   ProtectClock   implies DeviceAllow=char-rtc, which before systemd 253 denies every other
#                  device (systemd#18142): the GPU and the sound card with it
#   MemoryDenyWriteExecute breaks libffi's closures (python-vlc's callbacks) and codec JITs
#   ProtectSystem=strict would make ~/.cache read-only, where VLC keeps its plugin cache
HARDENING = (
    "NoNewPrivileges=yes",
    "ProtectSystem=full",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectHostname=yes",
    "RestrictSUIDSGID=yes",
    "RestrictNamespaces=yes",
    "LockPersonality=yes",
    "SystemCallArchitectures=native",
    "UMask=0077",
)


class EnrollError(Exception):
    """The agent cannot be installed as asked."""


def unit_quote(arg: str) -> str:
    """One ExecStart argument, quoted for systemd (spaces, quotes, `%` specifiers, `$`)."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and not any(c.isspace() or c in "\"'\\;" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def state_directive(state_dir: Path) -> str:
    """StateDirectory= under /var/lib (systemd makes the dir and owns it), else ReadWritePaths=."""
    if state_dir.is_absolute() and state_dir.is_relative_to(STATE_ROOT) and state_dir != STATE_ROOT:
        return f"StateDirectory={state_dir.relative_to(STATE_ROOT)}\nStateDirectoryMode=0700"
    # "-": a missing dir must not stop the unit; the agent makes it on first start.
    return f"ReadWritePaths=-{unit_quote(str(state_dir))}"


def render_unit(*, config_path: Path, state_dir: Path, python: str = sys.executable,
                user: str | None = None, display: str | None = None) -> str:
    """The systemd unit that runs the agent with this config."""
    # sys.executable as is, not resolved: resolving a venv's python leaves the venv behind.
    exec_start = " ".join(unit_quote(a) for a in
                          (python, "-m", "player_agent", "--config", str(config_path)))
    service = [
        # The agent says READY=1 once playing, and WATCHDOG=1 only while playback advances:
        # a wedged process (not just a wedged renderer, which it restarts itself) is killed.
        "Type=notify",
        "NotifyAccess=main",
        f"WatchdogSec={WATCHDOG_S}",
        f"ExecStart={exec_start}",
        "Restart=always",
        "RestartSec=5",
        *([f"User={user}"] if user else []),
        "Environment=PYTHONUNBUFFERED=1",
        *([f"Environment={unit_quote(f'DISPLAY={display}')}"] if display else []),
        state_directive(state_dir),
        *HARDENING,
    ]
    return "\n".join([
        "# Written by `adsbin provision enroll`: run it again rather than editing this file.",
        "[Unit]",
        "Description=ADSBIN player agent",
        "After=network-online.target",
        "Wants=network-online.target",
        # A display unit has nobody to press a button: never stop trying to restart.
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        *service,
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])


def systemd_booted() -> bool:
    """Whether PID 1 is systemd (sd_booted(3): /run/systemd/system exists)."""
    return Path("/run/systemd/system").is_dir()


def systemctl_commands(unit_path: Path) -> list[list[str]]:
    """What makes systemd load the unit and start it now and at every boot."""
    return [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", unit_path.name]]


@dataclass(frozen=True)
class Enrollment:
    """What `enroll` wrote, and whether systemd already runs the agent."""

    config_path: Path
    unit_path: Path
    replaced_config: bool
    started: bool


def owner_of(user: str | None) -> tuple[int, int] | None:
    """(uid, gid) of the service's user, or None for root; EnrollError if there is no such user."""
    if not user:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise EnrollError(f"there is no user {user!r} on this machine") from None
    return entry.pw_uid, entry.pw_gid


def install(*, config: AgentConfig, config_path: Path, unit_text: str, unit_path: Path,
            user: str | None, run_systemctl: bool) -> Enrollment:
    """Write the config and the unit; start the service if asked and systemd is there."""
    owner = owner_of(user)
    replaced = config_path.exists()
    try:
        write_private_json(config_path, config)
        config.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if owner and owner != (os.geteuid(), os.getegid()):
            # The config is 0600: an agent running as `user` must own it to read it at all.
            for path in (config_path, config.state_dir):
                os.chown(path, *owner)
        unit_path.parent.mkdir(parents=True, exist_ok=True)
        unit_path.write_text(unit_text)
        unit_path.chmod(0o644)
    except PermissionError as exc:
        raise EnrollError(f"{exc.strerror}: {exc.filename} — run enroll as root (sudo)") from exc
    systemctl = shutil.which("systemctl")
    if not (run_systemctl and systemctl and systemd_booted()):
        return Enrollment(config_path, unit_path, replaced, started=False)
    for cmd in systemctl_commands(unit_path):
        try:
            done = subprocess.run([systemctl, *cmd[1:]], capture_output=True,  # noqa: S603
                                  text=True, timeout=SYSTEMCTL_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise EnrollError(f"`{' '.join(cmd)}` did not finish in {SYSTEMCTL_TIMEOUT_S} s; "
                              "see: journalctl -u adsbin-agent") from None
        if done.returncode != 0:
            raise EnrollError(f"`{' '.join(cmd)}` failed: {done.stderr.strip()}")
    return Enrollment(config_path, unit_path, replaced, started=True)
