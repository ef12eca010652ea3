"""sd_notify(3) without libsystemd: a datagram to $NOTIFY_SOCKET (a path, or `@` for the
abstract namespace). Outside systemd there is no socket and every call is a no-op."""

from __future__ import annotations

import os
import socket


def notify(*lines: str) -> bool:
    """Send `READY=1`, `WATCHDOG=1`, `STATUS=...` and the like; whether systemd listens."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(lines).encode())
    except OSError:
        return False
    return True


def watchdog_interval_s() -> float | None:
    """Half the watchdog timeout systemd set for us (WATCHDOG_USEC), if it is for this process."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1_000_000 / 2
    except ValueError:
        return None
