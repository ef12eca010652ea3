"""Errors of the devices domain: pairing, remote commands and the broker's accounts."""

from __future__ import annotations

from control_plane.errors import AppError, Conflict, NotFound


class PairingCodeUnknown(NotFound):
    code = "pairing_code_unknown"


class PairingCodeExpired(Conflict):
    code = "pairing_code_expired"


class PairingCodeUsed(Conflict):
    code = "pairing_code_used"


class ScreenAlreadyPaired(Conflict):
    code = "screen_already_paired"


class PairingNotFound(NotFound):
    code = "pairing_not_found"


class NotPaired(NotFound):
    code = "screen_not_paired"


class CommandNotFound(NotFound):
    code = "command_not_found"


class CommandFinished(Conflict):
    code = "command_finished"


class BrokerUnavailable(AppError):
    status_code = 503
    code = "broker_unavailable"
