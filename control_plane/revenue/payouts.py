"""Payouts to venue orgs through Stripe Connect (Express): onboarding, transfers, reversals.

(Being built: connected accounts' state from `account.updated` is here; the payout run, the
transfers and their reversals follow.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.db import utcnow
from control_plane.payments.base import PaymentProvider
from control_plane.revenue.models import ConnectAccount
from control_plane.upcalls import NotProvided, Upcall


@Upcall
def funding_charge(*, session: Session, provider: PaymentProvider,
                   invoice_id: str) -> str | None:
    """The charge that paid an invoice (a transfer's `source_transaction`), if known."""
    raise NotProvided("control_plane.billing.service provides invoices' funding charges")


@Upcall
def closed_cycle(*, session: Session, start_ms: int, end_ms: int) -> tuple[str, int] | None:
    """The billing cycle of exactly this period, as (id, end ms), if it was closed."""
    raise NotProvided("control_plane.billing.service provides the billing cycles")


def apply_connect_event(*, session: Session, type_: str, obj: dict[str, Any]) -> str:
    """Apply a Stripe Connect event (`account.updated`, `transfer.*`); what was done (not
    committed)."""
    if type_ == "account.updated":
        account = session.scalar(select(ConnectAccount).where(
            ConnectAccount.account_id == str(obj.get("id"))))
        if account is None:
            return "ignored: not an account of ours"
        account.payouts_enabled = bool(obj.get("payouts_enabled"))
        account.details_submitted = bool(obj.get("details_submitted"))
        account.updated_at = utcnow()
        return f"account {account.account_id} payouts_enabled={account.payouts_enabled}"
    return "ignored"
