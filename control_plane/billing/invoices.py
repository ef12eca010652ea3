"""Invoices once issued: what advertisers see, how they move (paid, failed, void, refunded),
and the Stripe events that move them."""


import contextlib
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_plane import events
from control_plane.auth.policy import Principal
from control_plane.billing.exceptions import (
    InvoiceNotFound,
    InvoiceState,
)
from control_plane.billing.models import (
    BillingCycle,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
)
from control_plane.billing.schemas import InvoiceLineRead, InvoiceRead
from control_plane.db import utcnow
from control_plane.errors import Forbidden
from control_plane.payments.base import PaymentProvider
from control_plane.payments.exceptions import ProviderRefused, ProviderUnavailable
from control_plane.revenue import service as revenue_service

log = logging.getLogger(__name__)


# --- invoices -----------------------------------------------------------------------------

def move(session: Session, invoice: Invoice, to: InvoiceStatus) -> bool:
    """Move an invoice to a status and record the event; whether it moved."""
    if invoice.status == to:
        return False
    previous = invoice.status
    invoice.status, invoice.status_changed_at = to, utcnow()
    if to == InvoiceStatus.paid:
        invoice.paid_at = invoice.paid_at or utcnow()
        revenue_service.invoice_paid(session=session, invoice_id=invoice.id)
    elif to in (InvoiceStatus.refunded, InvoiceStatus.void):
        revenue_service.invoice_reversed(session=session, invoice_id=invoice.id,
                                         reason=f"invoice {invoice.id} {to.value}")
    events.record(session, events.InvoiceChanged(
        invoice_id=invoice.id, org_id=invoice.org_id, status=to.value,
        previous=previous.value, amount_cents=invoice.amount_cents, currency=invoice.currency))
    return True


def get_invoice(*, session: Session, invoice_id: str, org_id: str | None) -> Invoice:
    """An invoice of `org_id` (None: any, for super-admins); `InvoiceNotFound` otherwise."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or (org_id is not None and invoice.org_id != org_id) \
            or (invoice.status == InvoiceStatus.draft and org_id is not None):
        raise InvoiceNotFound("invoice not found")
    return invoice


def lines_of(*, session: Session, invoice_id: str) -> list[InvoiceLine]:
    """An invoice's lines, in order."""
    return list(session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id)
                                .order_by(InvoiceLine.position)))


def reader_org(*, principal: Principal) -> str | None:
    """The org whose invoices the caller sees (None: all, for super-admins); 403 `no_org`
    for a caller acting in no org, or an API key."""
    if principal.is_superadmin:
        return None
    if principal.org_id is None or principal.is_api_key:
        raise Forbidden("invoices are read by a member of the org they bill",
                        code="no_org")
    return principal.org_id


def invoice_read(*, session: Session, invoice: Invoice) -> InvoiceRead:
    """The API shape of an invoice: its period (its cycle's) and its lines."""
    cycle = session.get(BillingCycle, invoice.cycle_id)
    assert cycle is not None
    lines = lines_of(session=session, invoice_id=invoice.id)
    return InvoiceRead(
        id=invoice.id, org_id=invoice.org_id, cycle_id=invoice.cycle_id,
        period_start=cycle.period_start, period_end=cycle.period_end,
        currency=invoice.currency, status=invoice.status.value,
        amount_cents=invoice.amount_cents, plays=invoice.plays,
        impressions=invoice.impressions_milli / 1000, number=invoice.number,
        hosted_invoice_url=invoice.hosted_invoice_url, provider=invoice.provider,
        created_at=invoice.created_at, issued_at=invoice.issued_at, paid_at=invoice.paid_at,
        lines=[_line_read(ln) for ln in lines])


def _line_read(ln: InvoiceLine) -> InvoiceLineRead:
    return InvoiceLineRead(id=ln.id, campaign_id=ln.campaign_id, campaign_name=ln.campaign_name,
                           kind=ln.kind.value, period_start=revenue_service.from_ms(
                               ln.started_from_ms),
                           period_end=revenue_service.from_ms(ln.started_to_ms),
                           plays=ln.plays, impressions=ln.impressions_milli / 1000,
                           cpm_cents=ln.cpm_cents, amount_cents=ln.amount_cents,
                           value_cents=ln.value_cents,
                           budget_capped_cents=ln.budget_capped_cents)


def list_invoices(*, session: Session, org_id: str | None, status: str | None = None,
                  limit: int = 100) -> list[Invoice]:
    """Invoices, newest first: an org's issued ones, or (org_id None) all."""
    query = select(Invoice).order_by(Invoice.created_at.desc(), Invoice.id).limit(limit)
    if org_id is not None:
        query = query.where(Invoice.org_id == org_id, Invoice.status != InvoiceStatus.draft)
    if status is not None:
        query = query.where(Invoice.status == status)
    return list(session.scalars(query))


def mark_paid(*, session: Session, provider: PaymentProvider, invoice_id: str) -> Invoice:
    """Record an offline invoice as paid (a super-admin's word; committed)."""
    invoice = get_invoice(session=session, invoice_id=invoice_id, org_id=None)
    if not provider.offline or invoice.provider not in ("offline", ""):
        raise InvoiceState("this invoice is collected by Stripe: it is paid when Stripe says "
                           "so (the invoice.paid webhook)")
    if invoice.status not in (InvoiceStatus.open, InvoiceStatus.payment_failed,
                              InvoiceStatus.paid):
        raise InvoiceState(f"an invoice that is {invoice.status.value} cannot be paid",
                           details={"status": invoice.status.value})
    if invoice.status != InvoiceStatus.paid:
        invoice.charge_id = provider.invoice_charge(invoice_id=invoice.provider_invoice_id or
                                                    invoice.id)
        move(session, invoice, InvoiceStatus.paid)
        session.commit()
    return invoice


def funding_charge(*, session: Session, provider: PaymentProvider,
                   invoice_id: str) -> str | None:
    """The charge that paid an invoice (learned from the provider once, then kept)."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or invoice.status != InvoiceStatus.paid:
        return None
    if invoice.charge_id is None and invoice.provider_invoice_id:
        try:
            invoice.charge_id = provider.invoice_charge(invoice_id=invoice.provider_invoice_id)
        except (ProviderUnavailable, ProviderRefused):
            return None
        session.commit()
    return invoice.charge_id


# --- webhooks -----------------------------------------------------------------------------

_INVOICE_EVENTS = {"invoice.paid": InvoiceStatus.paid,
                   "invoice.payment_succeeded": InvoiceStatus.paid,
                   "invoice.payment_failed": InvoiceStatus.payment_failed,
                   "invoice.voided": InvoiceStatus.void,
                   "invoice.marked_uncollectible": InvoiceStatus.payment_failed}


def apply_invoice_event(*, session: Session, provider: PaymentProvider, type_: str,
                        obj: dict[str, Any]) -> str:
    """Move the invoice a Stripe invoice or charge event is about; what was done."""
    if type_ in _INVOICE_EVENTS:
        invoice = session.scalar(select(Invoice).where(
            Invoice.provider_invoice_id == str(obj.get("id"))))
        if invoice is None:
            return "ignored: not an invoice of ours"
        to = _INVOICE_EVENTS[type_]
        if invoice.status in (InvoiceStatus.refunded, InvoiceStatus.void) \
                or (invoice.status == InvoiceStatus.paid and to != InvoiceStatus.void):
            return f"ignored: the invoice is {invoice.status.value}"
        if to == InvoiceStatus.paid and invoice.charge_id is None:
            # if not learned now, then when a payout needs it (`funding_charge`)
            with contextlib.suppress(ProviderUnavailable, ProviderRefused):
                invoice.charge_id = provider.invoice_charge(
                    invoice_id=invoice.provider_invoice_id or "")
        move(session, invoice, to)
        return f"invoice {invoice.id} {to.value}"
    if type_ == "charge.refunded":
        if not obj.get("refunded"):  # a partial refund: left to a person
            return "ignored: a partial refund"
        invoice = _invoice_of_charge(session, provider, obj)
        if invoice is None:
            return "ignored: not a charge of ours"
        move(session, invoice, InvoiceStatus.refunded)
        return f"invoice {invoice.id} refunded"
    return "ignored"


def _invoice_of_charge(session: Session, provider: PaymentProvider,
                       charge: dict[str, Any]) -> Invoice | None:
    """Our invoice that a charge paid. When its charge could not be learned as it was paid,
    it is learned now from the paid invoices of that amount whose charge is unknown (the
    provider unavailable: `ProviderUnavailable`, so the delivery fails and Stripe retries)."""
    charge_id = str(charge.get("id"))
    found = session.scalar(select(Invoice).where(Invoice.charge_id == charge_id))
    if found is not None or provider.offline:
        return found
    unknown = session.scalars(select(Invoice).where(
        Invoice.status == InvoiceStatus.paid, Invoice.charge_id.is_(None),
        Invoice.provider == provider.name, Invoice.provider_invoice_id.is_not(None),
        Invoice.amount_cents == charge.get("amount"),
        func.upper(Invoice.currency) == str(charge.get("currency", "")).upper())
        .order_by(Invoice.paid_at.desc()).limit(20)).all()
    for invoice in unknown:
        invoice.charge_id = provider.invoice_charge(invoice_id=invoice.provider_invoice_id or "")
        if invoice.charge_id == charge_id:
            return invoice
    return None

