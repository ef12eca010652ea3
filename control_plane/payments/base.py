"""The payment provider: what billing and payouts need of Stripe, behind one narrow interface.

    PaymentProvider
    ├── StripeProvider   (`stripe_provider.py`) the official SDK, `stripe.StripeClient`
    └── OfflineProvider  (`offline.py`) no key: keeps everything local, records each call

Every write takes an idempotency `key` that the caller derives from what is written
(`idempotency_key`): a retried close or payout run sends the same key, so Stripe answers the
first result again instead of creating a second invoice or transfer (within Stripe's 24 hours;
beyond them, the callers store each id as soon as they have it and never redo a finished step).
Errors are translated where they enter: `ProviderUnavailable` (5xx, 429, a timeout, a lost
connection: try again later) and `ProviderRefused` (any other 4xx: a retry would fail too).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol


def idempotency_key(operation: str, **written: Any) -> str:
    """A key derived from the operation and what it writes (the same write, the same key)."""
    body = json.dumps(written, sort_keys=True, separators=(",", ":"), default=str)
    return f"adsbin-{operation}-{hashlib.sha256(body.encode()).hexdigest()[:40]}"


@dataclass(frozen=True)
class IssuedInvoice:
    """An invoice as the provider finalized it."""

    provider_invoice_id: str
    number: str | None
    hosted_invoice_url: str | None
    amount_due_cents: int


@dataclass(frozen=True)
class AccountState:
    """A connected account as the provider reports it."""

    account_id: str
    payouts_enabled: bool
    details_submitted: bool


class PaymentProvider(Protocol):
    """Customers and invoices (advertisers pay), connected accounts and transfers (venues are
    paid)."""

    name: str  # "stripe" or "offline"

    @property
    def offline(self) -> bool:
        """Whether calls are recorded instead of sent."""
        ...

    def create_customer(self, *, key: str, org_id: str, name: str,
                        email: str | None) -> str:
        """A customer for an advertiser org; its id."""
        ...

    def create_invoice(self, *, key: str, customer_id: str, currency: str, description: str,
                       days_until_due: int, metadata: dict[str, str]) -> str:
        """A draft invoice that takes only the items added to it; its id."""
        ...

    def add_invoice_item(self, *, key: str, customer_id: str, invoice_id: str,
                         amount_cents: int, currency: str, description: str,
                         metadata: dict[str, str]) -> str:
        """A line on a draft invoice; its id."""
        ...

    def finalize_invoice(self, *, key: str, invoice_id: str) -> IssuedInvoice:
        """Finalize a draft (finalizing a finalized one answers it as it is)."""
        ...

    def send_invoice(self, *, key: str, invoice_id: str) -> None:
        """Email the finalized invoice to the customer."""
        ...

    def invoice_charge(self, *, invoice_id: str) -> str | None:
        """The charge that paid the invoice (a transfer's `source_transaction`), if known."""
        ...

    def create_account(self, *, key: str, org_id: str, email: str | None,
                       country: str) -> str:
        """An Express connected account for a venue org; its id."""
        ...

    def account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        """A single-use onboarding URL for the account."""
        ...

    def account_state(self, *, account_id: str) -> AccountState:
        """Whether the account can be paid."""
        ...

    def create_transfer(self, *, key: str, amount_cents: int, currency: str, destination: str,
                        transfer_group: str, source_transaction: str | None,
                        metadata: dict[str, str]) -> str:
        """Move money to a connected account; the transfer's id."""
        ...

    def reverse_transfer(self, *, key: str, transfer_id: str, amount_cents: int) -> str:
        """Take back part of a transfer; the reversal's id."""
        ...
