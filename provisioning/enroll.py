"""Installing the player agent on a display unit: its config file and a systemd service.

`enroll` writes `shared.agent.AgentConfig` (0600) and a unit that runs
`<this python> -m player_agent --config <file>`, restarts it forever, and hardens it only as far
as VLC on a real display allows. The unit is rendered as text first, so `--dry-run` shows
exactly what would be written. systemctl is run only on a machine that booted with systemd.

The agent runs as a dedicated user, `adsbin`, not as root: it talks to the network and decodes
media from elsewhere, and needs no more than its state dir and the display's devices. Run as
root, enroll makes that user (a system user without a login, in the groups that own the GPU,
the framebuffer and the sound card) when it is missing; `--user` names another (an existing
kiosk user on an X display, say).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from shared.agent import AgentConfig, write_private_json

UNIT_PATH = Path("/etc/systemd/system/adsbin-agent.service")
WATCHDOG_S = 60
STATE_ROOT = Path("/var/lib")  # where systemd's StateDirectory= lives
SYSTEMCTL_TIMEOUT_S = 60
AGENT_USER = "adsbin"  # the dedicated user the agent runs as, unless --user names another
DEVICE_GROUPS = ("video", "render", "audio")  # /dev/dri and /dev/fb0, GPU render nodes, /dev/snd
NOLOGIN = "/usr/sbin/nologin"
USERADD_TIMEOUT_S = 60

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
    created_user: bool = False


def user_exists(user: str) -> bool:
    """Whether `user` is a user of this machine."""
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def device_groups() -> list[str]:
    """The groups owning the display's devices that this machine has."""
    return [g for g in DEVICE_GROUPS if _group_exists(g)]


def useradd_command(user: str, *, home: Path) -> list[str]:
    """What makes `user` the agent's system user: no login, `home` (the state dir, where VLC
    keeps its cache) as its home, in the device groups this machine has."""
    groups = device_groups()
    return ["useradd", "--system", "--user-group", "--home-dir", str(home), "--no-create-home",
            "--shell", NOLOGIN, *(["--groups", ",".join(groups)] if groups else []), user]


def _group_exists(group: str) -> bool:
    try:
        grp.getgrnam(group)
    except KeyError:
        return False
    return True


def check_user(user: str, *, home: Path) -> bool:
    """Raise unless the agent can run as `user`: it exists, or it is the dedicated user and
    enroll runs as root to make it; and it can get at this Python. Whether it must be made."""
    missing = not user_exists(user)
    if missing and user != AGENT_USER:  # a typo must not make a new user
        raise EnrollError(f"there is no user {user!r} on this machine")
    if missing and os.geteuid() != 0:
        raise EnrollError(f"there is no user {user!r} to run the agent as: run enroll with "
                          "sudo (it makes it), or make it with: sudo "
                          f"{' '.join(useradd_command(user, home=home))}, or pass --user")
    if (blocked := out_of_reach(user)) is not None:
        raise EnrollError(unreachable(user, blocked))
    return missing


def make_agent_user(user: str, *, home: Path) -> None:
    """Make the dedicated user (root only)."""
    command = useradd_command(user, home=home)
    useradd = shutil.which(command[0]) or shutil.which(command[0], path="/usr/sbin:/sbin")
    if useradd is None:
        raise EnrollError(f"useradd is missing: make the user {user!r} yourself, or pass --user")
    done = subprocess.run([useradd, *command[1:]], capture_output=True,  # noqa: S603
                          text=True, timeout=USERADD_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise EnrollError(f"`{' '.join(command)}` failed: {done.stderr.strip()}")


def out_of_reach(user: str, *, python: str = sys.executable,
                 prefixes: tuple[str, ...] = (sys.prefix, sys.base_prefix)) -> Path | None:
    """The first dir or file of the agent's Python that `user` cannot get at, if any: a venv
    made from a Python under /root (pyenv, say) runs as root only."""
    try:
        entry = pwd.getpwnam(user)
        uid = entry.pw_uid
        gids = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    except KeyError:  # not made yet: it will be in the device groups and a group of its own
        uid, gids = -1, {grp.getgrnam(g).gr_gid for g in device_groups()}
    if uid == 0:
        return None
    wanted = [Path(python), Path(python).resolve(), *(Path(p) for p in prefixes)]
    for target in wanted:
        for path in [*reversed(target.parents), target]:
            try:
                st = path.stat()
            except OSError:
                return path
            # the owner's, the group's or everyone's x bit: to pass a dir, to run the python
            shift = 0 if st.st_uid == uid else 3 if st.st_gid in gids else 6
            if not st.st_mode & (stat.S_IXUSR >> shift):
                return path
    return None


def unreachable(user: str, blocked: Path) -> str:
    """Why `user` could not run the agent, and what to do."""
    return (f"{user} cannot get at {blocked}, on the way to this Python ({sys.executable}): "
            "the agent would not start; install ADSBIN where other users can read it (e.g. a "
            "venv in /opt/adsbin made from the system's python3) and enroll from there, or "
            "pass --user")


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
    """Write the config and the unit (making the agent's user if it is missing); start the
    service if asked and systemd is there."""
    created = check_user(user, home=config.state_dir) if user else False
    if created and user:
        make_agent_user(user, home=config.state_dir)
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
        return Enrollment(config_path, unit_path, replaced, started=False, created_user=created)
    for cmd in systemctl_commands(unit_path):
        try:
            done = subprocess.run([systemctl, *cmd[1:]], capture_output=True,  # noqa: S603
                                  text=True, timeout=SYSTEMCTL_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise EnrollError(f"`{' '.join(cmd)}` did not finish in {SYSTEMCTL_TIMEOUT_S} s; "
                              "see: journalctl -u adsbin-agent") from None
        if done.returncode != 0:
            raise EnrollError(f"`{' '.join(cmd)}` failed: {done.stderr.strip()}")
    return Enrollment(config_path, unit_path, replaced, started=True, created_user=created)
