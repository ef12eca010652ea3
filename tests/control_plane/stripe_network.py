"""The proof-of-play network with payments on the Stripe fake, and signed webhook deliveries:
what the billing and payout tests against Stripe share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import SecretStr

from tests.control_plane.reporting.conftest import Network, make_network
from tests.stripe_fake import StripeFake

SECRET = "whsec_test"


@contextmanager
def stripe_network(settings: Any, tmp_path: Any, fake: StripeFake,
                   **changes: Any) -> Iterator[Network]:
    """A network whose payment provider is Stripe's SDK pointed at the fake (no SDK
    retries), taking webhooks signed with `SECRET`."""
    with make_network(settings, tmp_path, stripe_api_key=SecretStr("sk_test_x"),
                      stripe_api_base=fake.url, stripe_webhook_secret=SecretStr(SECRET),
                      stripe_max_network_retries=0, **changes) as net:
        yield net


def latest_event(fake: StripeFake, type_: str) -> dict[str, Any]:
    """The fake's latest event of a type."""
    return next(e for e in reversed(fake.events) if e["type"] == type_)


def deliver(net: Network, fake: StripeFake, event: dict[str, Any], **signing: Any) -> Any:
    """POST the event to the webhook as Stripe would, signed; the response."""
    payload, header = fake.signed(event, SECRET, **signing)
    return net.client.post("/v1/webhooks/stripe", content=payload,
                           headers={"Stripe-Signature": header,
                                    "Content-Type": "application/json"})
