"""The payment provider on Stripe, through the official SDK (`stripe.StripeClient`).

`ADSBIN_STRIPE_API_KEY` turns it on; `ADSBIN_STRIPE_API_BASE` points it elsewhere (the tests'
local server that speaks Stripe's wire format). Invoices are `send_invoice` invoices that take
only the items added to them (`pending_invoice_items_behavior=exclude`), so an item left over by
an interrupted close can never land on another invoice. Since API 2025-03-31 an invoice has no
`charge`: the charge that paid it is the `latest_charge` of the PaymentIntent its payment names.
The SDK's own retries (`max_network_retries`) reuse the idempotency key we give.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import stripe

from control_plane.payments.base import AccountState, IssuedInvoice
from control_plane.payments.exceptions import ProviderRefused, ProviderUnavailable

T = TypeVar("T")


def _translated(call: Callable[[], T], what: str) -> T:
    """Run an SDK call; its errors as ours (see `exceptions.py`)."""
    try:
        return call()
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise ProviderUnavailable(f"Stripe could not be reached to {what}; it is retried "
                                  "later") from exc
    except stripe.StripeError as exc:
        status = exc.http_status or 0
        if status >= 500 or status == 0:
            raise ProviderUnavailable(f"Stripe failed to {what} ({status or 'no answer'}); it "
                                      "is retried later") from exc
        raise ProviderRefused(f"Stripe refused to {what}: {exc.user_message or exc}",
                              provider_code=exc.code) from exc


class StripeProvider:
    """Customers, invoices, connected accounts and transfers on Stripe."""

    name = "stripe"

    def __init__(self, api_key: str, *, api_base: str | None = None, timeout_s: float = 30.0,
                 max_network_retries: int = 2) -> None:
        bases: Any = {"api": api_base, "connect": api_base, "files": api_base} \
            if api_base else None
        self.client = stripe.StripeClient(
            api_key, base_addresses=bases, max_network_retries=max_network_retries,
            http_client=stripe.new_default_http_client(timeout=timeout_s))

    @property
    def offline(self) -> bool:
        return False

    def create_customer(self, *, key: str, org_id: str, name: str, email: str | None) -> str:
        params: Any = {"name": name, "metadata": {"org_id": org_id}}
        if email:
            params["email"] = email
        return _translated(lambda: self.client.v1.customers.create(
            params, {"idempotency_key": key}), "create a customer").id

    def create_invoice(self, *, key: str, customer_id: str, currency: str, description: str,
                       days_until_due: int, metadata: dict[str, str]) -> str:
        params: Any = {"customer": customer_id, "currency": currency.lower(),
                       "collection_method": "send_invoice", "days_until_due": days_until_due,
                       "auto_advance": False, "pending_invoice_items_behavior": "exclude",
                       "description": description, "metadata": metadata}
        return str(_translated(lambda: self.client.v1.invoices.create(
            params, {"idempotency_key": key}), "create an invoice").id)

    def add_invoice_item(self, *, key: str, customer_id: str, invoice_id: str,
                         amount_cents: int, currency: str, description: str,
                         metadata: dict[str, str]) -> str:
        params: Any = {"customer": customer_id, "invoice": invoice_id, "amount": amount_cents,
                       "currency": currency.lower(), "description": description,
                       "metadata": metadata}
        return _translated(lambda: self.client.v1.invoice_items.create(
            params, {"idempotency_key": key}), "add an invoice item").id

    def finalize_invoice(self, *, key: str, invoice_id: str) -> IssuedInvoice:
        invoice = _translated(lambda: self.client.v1.invoices.retrieve(invoice_id),
                              "read an invoice")
        if invoice.status == "draft":
            invoice = _translated(lambda: self.client.v1.invoices.finalize_invoice(
                invoice_id, {"auto_advance": False}, {"idempotency_key": key}),
                "finalize an invoice")
        return IssuedInvoice(provider_invoice_id=str(invoice.id), number=invoice.number,
                             hosted_invoice_url=invoice.hosted_invoice_url,
                             amount_due_cents=int(invoice.amount_due or 0))

    def send_invoice(self, *, key: str, invoice_id: str) -> None:
        _translated(lambda: self.client.v1.invoices.send_invoice(
            invoice_id, None, {"idempotency_key": key}), "send an invoice")

    def invoice_charge(self, *, invoice_id: str) -> str | None:
        payments = _translated(lambda: self.client.v1.invoice_payments.list(
            {"invoice": invoice_id}), "read an invoice's payments")
        for payment in payments.data:
            if payment.status != "paid":
                continue
            if payment.payment.type == "charge" and payment.payment.charge:
                charge = payment.payment.charge
                return charge if isinstance(charge, str) else charge.id
            intent = payment.payment.payment_intent
            if intent:
                intent_id = intent if isinstance(intent, str) else intent.id
                found = self._payment_intent(intent_id)
                latest = found.latest_charge
                if latest:
                    return latest if isinstance(latest, str) else latest.id
        return None

    def _payment_intent(self, intent_id: str) -> Any:
        return _translated(lambda: self.client.v1.payment_intents.retrieve(intent_id),
                           "read a payment")

    def create_account(self, *, key: str, org_id: str, email: str | None, country: str) -> str:
        # Express through controller properties (`type=express` is the legacy way)
        params: Any = {"country": country, "metadata": {"org_id": org_id},
                       "controller": {"stripe_dashboard": {"type": "express"},
                                      "fees": {"payer": "application"},
                                      "losses": {"payments": "application"}},
                       "capabilities": {"transfers": {"requested": True}}}
        if email:
            params["email"] = email
        return _translated(lambda: self.client.v1.accounts.create(
            params, {"idempotency_key": key}), "create a connected account").id

    def account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        params: Any = {"account": account_id, "refresh_url": refresh_url,
                       "return_url": return_url, "type": "account_onboarding"}
        return _translated(lambda: self.client.v1.account_links.create(params),
                           "make an onboarding link").url

    def account_state(self, *, account_id: str) -> AccountState:
        account = _translated(lambda: self.client.v1.accounts.retrieve(account_id),
                              "read a connected account")
        return AccountState(account_id=account.id,
                            payouts_enabled=bool(account.payouts_enabled),
                            details_submitted=bool(account.details_submitted))

    def create_transfer(self, *, key: str, amount_cents: int, currency: str, destination: str,
                        transfer_group: str, source_transaction: str | None,
                        metadata: dict[str, str]) -> str:
        params: Any = {"amount": amount_cents, "currency": currency.lower(),
                       "destination": destination, "transfer_group": transfer_group,
                       "metadata": metadata}
        if source_transaction:
            params["source_transaction"] = source_transaction
        return _translated(lambda: self.client.v1.transfers.create(
            params, {"idempotency_key": key}), "make a transfer").id

    def reverse_transfer(self, *, key: str, transfer_id: str, amount_cents: int) -> str:
        return _translated(lambda: self.client.v1.transfers.reversals.create(
            transfer_id, {"amount": amount_cents}, {"idempotency_key": key}),
            "reverse a transfer").id
