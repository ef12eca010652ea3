"""Choosing the payment provider: Stripe with `ADSBIN_STRIPE_API_KEY`, offline without."""

from __future__ import annotations

import json
import logging

import stripe
from sqlalchemy.orm import Session, sessionmaker

from control_plane.payments.base import PaymentProvider
from control_plane.payments.exceptions import BadWebhookSignature
from control_plane.payments.offline import OfflineProvider
from control_plane.payments.stripe_provider import StripeProvider
from control_plane.settings import Settings

log = logging.getLogger(__name__)


def make_payment_provider(settings: Settings,
                          sessions: sessionmaker[Session]) -> PaymentProvider:
    """The provider the settings name (offline, and said so in the log, without a key)."""
    if settings.stripe_api_key is None:
        log.warning("payments run offline (no ADSBIN_STRIPE_API_KEY): invoices and transfers "
                    "are recorded, not sent")
        return OfflineProvider(sessions, public_url=settings.public_url)
    return StripeProvider(settings.stripe_api_key.get_secret_value(),
                          api_base=settings.stripe_api_base,
                          timeout_s=settings.stripe_timeout_s,
                          max_network_retries=settings.stripe_max_network_retries)


def verify_webhook(settings: Settings, payload: bytes, signature: str | None) -> dict[str, object]:
    """The event of a Stripe webhook delivery whose signature verifies (`BadWebhookSignature`
    otherwise: bad, missing, stale, or no `ADSBIN_STRIPE_WEBHOOK_SECRET` to check it with)."""
    secret = settings.stripe_webhook_secret
    if secret is None:
        raise BadWebhookSignature("Stripe webhooks are not accepted: set "
                                  "ADSBIN_STRIPE_WEBHOOK_SECRET")
    if not signature:
        raise BadWebhookSignature("the Stripe-Signature header is missing")
    try:
        stripe.WebhookSignature.verify_header(payload.decode("utf-8", "replace"), signature,
                                              secret.get_secret_value(),
                                              tolerance=settings.stripe_webhook_tolerance_s)
    except stripe.SignatureVerificationError as exc:
        raise BadWebhookSignature(f"the Stripe signature does not verify: {exc}") from exc
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise BadWebhookSignature("the webhook body is not JSON") from exc
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) \
            or not isinstance(event.get("type"), str):
        raise BadWebhookSignature("the webhook body is not a Stripe event")
    return event
