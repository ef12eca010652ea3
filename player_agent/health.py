"""Facts about the display unit for heartbeats: free disk, temperature where the kernel exposes
one, uptime. Each is None when this machine cannot tell, never a made-up number."""

from __future__ import annotations

import shutil
from pathlib import Path

THERMAL_ZONES = Path("/sys/class/thermal")


def disk_free_bytes(path: Path) -> int | None:
    """Free bytes on the filesystem holding `path`."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def temperature_c(zones: Path = THERMAL_ZONES) -> float | None:
    """The hottest thermal zone in °C (a Raspberry Pi's SoC, a NUC's CPU), if any is readable."""
    readings = []
    for zone in sorted(zones.glob("thermal_zone*/temp")):
        try:
            readings.append(int(zone.read_text().strip()) / 1000)
        except (OSError, ValueError):
            continue
    plausible = [t for t in readings if -40 <= t <= 150]
    return round(max(plausible), 1) if plausible else None


def uptime_s(proc_uptime: Path = Path("/proc/uptime")) -> float | None:
    """Seconds since the machine booted."""
    try:
        return float(proc_uptime.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
