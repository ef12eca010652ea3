"""What a fleet costs the machine it runs on, read from /proc: a process's CPU and memory (the
control plane's, found by the port it listens on), and the broker's connections.

The broker is asked first (`$SYS/broker/clients/connected`, Mosquitto's own count, for a broker
that lets an anonymous client read `$SYS`); the embedded broker refuses anonymous logins and
keeps `$SYS` closed, so then the kernel is asked: the TCP connections established to the
broker's port on this machine (each client's, the control plane's own included).
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

SYS_CONNECTED = "$SYS/broker/clients/connected"
SYS_TIMEOUT_S = 3.0
LISTEN, ESTABLISHED = "0A", "01"
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
TICKS_S = os.sysconf("SC_CLK_TCK")


def _sockets(state: str) -> list[tuple[int, int]]:
    """(local port, inode) of this machine's TCP sockets in `state`."""
    out = []
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == state:
                out.append((int(fields[1].rsplit(":", 1)[1], 16), int(fields[9])))
    return out


def listener_pid(port: int) -> int | None:
    """The process listening on TCP `port` on this machine, if we may see it."""
    inodes = {f"socket:[{inode}]" for p, inode in _sockets(LISTEN) if p == port and inode}
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


@dataclass(frozen=True)
class Usage:
    """A process's CPU time so far and its memory now."""

    pid: int
    name: str
    cpu_s: float  # user + system
    rss_mb: float
    at_mono: float


def usage(pid: int) -> Usage | None:
    """`pid`'s usage now, or None if it is gone."""
    import time

    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        statm = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return None
    name = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / TICKS_S  # utime, stime
    return Usage(pid, name, cpu_s, int(statm[1]) * PAGE_KB / 1024, time.monotonic())


def cpu_percent(first: Usage, last: Usage) -> float:
    """The CPU `last` used since `first`, in per cent of one core."""
    elapsed = last.at_mono - first.at_mono
    return 100 * (last.cpu_s - first.cpu_s) / elapsed if elapsed > 0 else 0.0


def tree_rss_mb(pid: int) -> float:
    """The memory of `pid` and of every process below it (e.g. a fleet's workers)."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int(Path(proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(proc.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        found = usage(current)
        total += found.rss_mb if found else 0.0
        todo += children.get(current, [])
    return total


@dataclass(frozen=True)
class Connections:
    """The broker's connected clients, and who counted them."""

    count: int
    source: str


def broker_connections(url: str) -> Connections | None:
    """The connections of the broker at `url` (mqtt://host:port): its own `$SYS` count, else the
    kernel's count of connections established to its port here; None if neither can tell."""
    parsed = urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 1883
    counted = _sys_count(host, port)
    if counted is not None:
        return Connections(counted, f"the broker's {SYS_CONNECTED}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        return None
    established = sum(1 for p, _ in _sockets(ESTABLISHED) if p == port)
    return Connections(established, f"TCP connections established to port {port} (the kernel's"
                                    " count: the broker keeps $SYS closed)")


def _sys_count(host: str, port: int) -> int | None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.reasoncodes import ReasonCode

    got: list[int] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"adsbin-simulate-{os.getpid()}")

    def on_connect(c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", True):
            done.set()
        else:
            c.subscribe(SYS_CONNECTED)

    def on_subscribe(_c: mqtt.Client, _u: object, _mid: int, reasons: list[ReasonCode],
                     _p: object) -> None:
        if any(r.is_failure for r in reasons):
            done.set()

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with contextlib.suppress(ValueError):
            got.append(int(message.payload))
        done.set()

    client.on_connect, client.on_subscribe = on_connect, on_subscribe
    client.on_message = on_message
    try:
        client.connect(host, port, keepalive=10)
    except OSError:
        return None
    client.loop_start()
    try:
        done.wait(SYS_TIMEOUT_S)
    finally:
        client.disconnect()
        client.loop_stop()
    return got[0] if got else None
