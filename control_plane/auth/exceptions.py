"""Errors of the identity domain."""

from __future__ import annotations

from control_plane.errors import AppError, Unauthenticated
from control_plane.orgs.exceptions import EmailTaken as EmailTaken  # what signup may answer

BEARER = {"WWW-Authenticate": "Bearer"}


class InvalidToken(Unauthenticated):
    code = "invalid_token"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code, headers=BEARER)


class IssuerUnavailable(AppError):
    status_code = 503
    code = "issuer_unavailable"


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"


class WebhooksNotConfigured(AppError):
    status_code = 404
    code = "webhook_not_configured"
