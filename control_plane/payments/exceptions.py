"""Errors of the payment provider, translated from the SDK's where they enter.

    AppError
    ├── ProviderUnavailable  503  5xx, 429, timeout, connection lost: the step is retried later
    ├── ProviderRefused      502  the provider refused the request (4xx): retrying will not help
    └── BadWebhookSignature  400  a webhook delivery whose signature does not verify
"""

from __future__ import annotations

from control_plane.errors import AppError, BadRequest


class ProviderUnavailable(AppError):
    status_code = 503
    code = "payment_provider_unavailable"


class ProviderRefused(AppError):
    status_code = 502
    code = "payment_provider_refused"

    def __init__(self, message: str, *, provider_code: str | None = None) -> None:
        super().__init__(message, details={"provider_code": provider_code})
        self.provider_code = provider_code


class BadWebhookSignature(BadRequest):
    code = "bad_signature"
