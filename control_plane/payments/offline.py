"""The payment provider without a Stripe key: nothing leaves the machine.

Each call is recorded (`payment_calls`, and the log) with what it would have sent, and answered
as Stripe would, with ids derived from its idempotency key, so a retried call finds its first
answer. Invoices get a local page (`/v1/invoices/{id}/page`) instead of Stripe's hosted one, and
a super-admin marks them paid; connected accounts can be paid at once.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from control_plane.payments.base import AccountState, IssuedInvoice
from control_plane.payments.models import PaymentCall

log = logging.getLogger(__name__)


class OfflineProvider:
    """Records what it would have sent to Stripe; see the module's docstring."""

    name = "offline"

    def __init__(self, sessions: sessionmaker[Session], *, public_url: str) -> None:
        self.sessions = sessions
        self.public_url = public_url

    @property
    def offline(self) -> bool:
        return True

    def _call(self, operation: str, key: str | None, prefix: str, *,
              parent: str | None = None, amount_of: int | None = None, **params: Any) -> str:
        """Record a call once per key; the id it answers (the first answer on a replay)."""
        seed = (key or operation + repr(params)).encode()
        result = f"off_{prefix}_{hashlib.sha256(seed).hexdigest()[:20]}"
        with self.sessions() as session:
            if key is not None:
                found = session.scalar(select(PaymentCall.result_id)
                                       .where(PaymentCall.idempotency_key == key))
                if found is not None:
                    return found
            session.add(PaymentCall(idempotency_key=key, operation=operation, params=params,
                                    result_id=result, parent_id=parent, amount_cents=amount_of))
            try:
                session.commit()
            except IntegrityError:  # the same key from another process, at the same moment
                session.rollback()
                found = session.scalar(select(PaymentCall.result_id)
                                       .where(PaymentCall.idempotency_key == key))
                return found or result
        log.info("payments offline: would have called %s %s", operation, params)
        return result

    def _params_of(self, result_id: str) -> dict[str, Any]:
        with self.sessions() as session:
            params = session.scalar(select(PaymentCall.params)
                                    .where(PaymentCall.result_id == result_id).limit(1))
        return dict(params or {})

    def create_customer(self, *, key: str, org_id: str, name: str, email: str | None) -> str:
        return self._call("customers.create", key, "cus", name=name, email=email,
                          metadata={"org_id": org_id})

    def create_invoice(self, *, key: str, customer_id: str, currency: str, description: str,
                       days_until_due: int, metadata: dict[str, str]) -> str:
        return self._call("invoices.create", key, "in", customer=customer_id,
                          currency=currency, description=description,
                          collection_method="send_invoice", days_until_due=days_until_due,
                          pending_invoice_items_behavior="exclude", metadata=metadata)

    def add_invoice_item(self, *, key: str, customer_id: str, invoice_id: str,
                         amount_cents: int, currency: str, description: str,
                         metadata: dict[str, str]) -> str:
        return self._call("invoiceitems.create", key, "ii", parent=invoice_id,
                          amount_of=amount_cents, customer=customer_id, invoice=invoice_id,
                          amount=amount_cents, currency=currency, description=description,
                          metadata=metadata)

    def finalize_invoice(self, *, key: str, invoice_id: str) -> IssuedInvoice:
        self._call("invoices.finalize", key, "fin", invoice=invoice_id)
        local = self._params_of(invoice_id).get("metadata", {}).get("adsbin_invoice_id")
        with self.sessions() as session:
            total = int(session.scalar(select(func.sum(PaymentCall.amount_cents)).where(
                PaymentCall.operation == "invoiceitems.create",
                PaymentCall.parent_id == invoice_id)) or 0)
        return IssuedInvoice(provider_invoice_id=invoice_id, number=None,
                             hosted_invoice_url=f"{self.public_url}/v1/invoices/{local}/page"
                             if local else None, amount_due_cents=total)

    def send_invoice(self, *, key: str, invoice_id: str) -> None:
        self._call("invoices.send", key, "send", invoice=invoice_id)

    def invoice_charge(self, *, invoice_id: str) -> str | None:
        return f"off_ch_{invoice_id.removeprefix('off_in_')}"

    def create_account(self, *, key: str, org_id: str, email: str | None, country: str) -> str:
        return self._call("accounts.create", key, "acct", email=email, country=country,
                          controller={"stripe_dashboard": {"type": "express"}},
                          metadata={"org_id": org_id})

    def account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        self._call("account_links.create", None, "link", account=account_id,
                   refresh_url=refresh_url, return_url=return_url, type="account_onboarding")
        return f"{self.public_url}/v1/payouts/onboarding/offline?account={account_id}"

    def account_state(self, *, account_id: str) -> AccountState:
        # offline, nobody can fill in Stripe's forms: the account can be paid at once
        return AccountState(account_id=account_id, payouts_enabled=True,
                            details_submitted=True)

    def create_transfer(self, *, key: str, amount_cents: int, currency: str, destination: str,
                        transfer_group: str, source_transaction: str | None,
                        metadata: dict[str, str]) -> str:
        return self._call("transfers.create", key, "tr", amount=amount_cents,
                          currency=currency, destination=destination,
                          transfer_group=transfer_group, source_transaction=source_transaction,
                          metadata=metadata)

    def reverse_transfer(self, *, key: str, transfer_id: str, amount_cents: int) -> str:
        return self._call("transfers.reversals.create", key, "trr", transfer=transfer_id,
                          amount=amount_cents)
