"""The checks `adsbin provision diagnose` runs, in the order a technician would think of them.

Each is a function `Target -> CheckResult` (see `base`): `network` holds those that talk to the
server and the broker, `machine` those about the unit itself. `run` shields the table from a
check that crashes: the crash becomes that check's failure, the other checks still run.
"""

from __future__ import annotations

from collections.abc import Callable

from provisioning.checks import machine, network
from provisioning.checks.base import CheckResult, Status, Target, load_target

Check = Callable[[Target], CheckResult]

CHECKS: dict[str, Check] = {
    "control_plane": network.control_plane,
    "broker": network.broker,
    "clock": network.clock,
    "disk": machine.disk,
    "display": machine.display,
    "vlc": machine.vlc_playback,
    "download": network.download,
}

__all__ = ["CHECKS", "Check", "CheckResult", "Status", "Target", "load_target", "run"]


def run(name: str, target: Target) -> CheckResult:
    """Run one check by name; an unexpected exception becomes its failure."""
    try:
        return CHECKS[name](target)
    except Exception as exc:  # diagnose must finish its table whatever one check does
        return CheckResult(name, Status.FAIL, f"the check itself failed: "
                                              f"{type(exc).__name__}: {exc}")
