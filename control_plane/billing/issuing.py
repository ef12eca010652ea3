"""Issuing closed invoices with the payment provider, step by step, and the jobs that retry.

Each draft invoice goes to the provider as customer, invoice, its items, finalize, send — every
step with an idempotency key derived from what it writes, and each id stored the moment it is
known, so a retry after a crash or an outage skips what is done and repeats the rest without
creating anything twice. The invoice is `open` (visible, payable) only when all its steps are
done. No database transaction is held while the provider is called.
"""


import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_plane.billing.closing import close, due_period
from control_plane.billing.exceptions import (
    InvoiceNotFound,
)
from control_plane.billing.invoices import move
from control_plane.billing.models import (
    BillingCustomer,
    BillingCycle,
    CycleStatus,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
)
from control_plane.db import utcnow
from control_plane.jobs.queue import JobContext, JobQueue, registry
from control_plane.orgs import service as orgs_service
from control_plane.payments.base import PaymentProvider, idempotency_key
from control_plane.payments.exceptions import ProviderRefused, ProviderUnavailable
from control_plane.revenue.service import from_ms
from control_plane.settings import Settings

log = logging.getLogger(__name__)


# --- issuing ------------------------------------------------------------------------------

def _customer(session: Session, provider: PaymentProvider, org_id: str) -> str:
    found = session.get(BillingCustomer, (org_id, provider.name))
    if found is not None:
        return found.customer_id
    org = orgs_service.get_org(session=session, org_id=org_id)
    admins = orgs_service.admin_emails(session=session, org_id=org_id)
    name = org.name if org else org_id
    session.commit()  # no transaction is held while the provider is called
    customer_id = provider.create_customer(
        key=idempotency_key("customer", org_id=org_id, provider=provider.name), org_id=org_id,
        name=name, email=admins[0] if admins else None)
    session.add(BillingCustomer(org_id=org_id, provider=provider.name,
                                customer_id=customer_id))
    session.commit()
    return customer_id


def _describe(line: InvoiceLine) -> str:
    what = f"{line.campaign_name}: {line.plays:,} plays, {line.impressions_milli / 1000:,.1f} " \
           f"impressions at {line.cpm_cents / 100:.2f} CPM"
    if line.kind == LineKind.late_delivery:
        what += (f" (late delivery of {from_ms(line.started_from_ms).date()} – "
                 f"{from_ms(line.started_to_ms).date()})")
    if line.budget_capped_cents:
        what += f"; {line.budget_capped_cents / 100:.2f} delivered free over budget"
    return what


def _issue_one(session: Session, settings: Settings, provider: PaymentProvider,
               invoice: Invoice) -> None:
    """Take one draft invoice through the provider's steps (each stored once done)."""
    if invoice.amount_cents == 0:  # nothing to collect: settled at once
        move(session, invoice, InvoiceStatus.paid)
        invoice.provider, invoice.issued_at, invoice.paid_at = provider.name, utcnow(), utcnow()
        session.commit()
        return
    invoice.provider = provider.name
    session.commit()  # each step's result is stored before the next call
    customer = invoice.provider_customer_id or _customer(session, provider, invoice.org_id)
    invoice.provider_customer_id = customer
    session.commit()
    if invoice.provider_invoice_id is None:
        invoice.provider_invoice_id = provider.create_invoice(
            key=idempotency_key("invoice", invoice=invoice.id, customer=customer,
                                amount=invoice.amount_cents),
            customer_id=customer, currency=invoice.currency,
            description=f"ADSBIN advertising, invoice {invoice.id}",
            days_until_due=settings.invoice_days_until_due,
            metadata={"adsbin_invoice_id": invoice.id, "org_id": invoice.org_id,
                      "cycle_id": invoice.cycle_id})
        session.commit()
    lines = session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)
                            .order_by(InvoiceLine.position)).all()
    for line in lines:
        if line.provider_item_id is not None or line.amount_cents == 0:
            continue
        line.provider_item_id = provider.add_invoice_item(
            key=idempotency_key("invoice-item", line=line.id, amount=line.amount_cents,
                                invoice=invoice.provider_invoice_id),
            customer_id=customer, invoice_id=invoice.provider_invoice_id,
            amount_cents=line.amount_cents, currency=invoice.currency,
            description=_describe(line),
            metadata={"adsbin_invoice_line_id": line.id, "campaign_id": line.campaign_id})
        session.commit()
    issued = provider.finalize_invoice(key=idempotency_key("finalize",
                                                           invoice=invoice.provider_invoice_id),
                                       invoice_id=invoice.provider_invoice_id)
    if issued.amount_due_cents != invoice.amount_cents:
        raise ProviderRefused(f"the provider's invoice {issued.provider_invoice_id} is for "
                              f"{issued.amount_due_cents}, ours for {invoice.amount_cents}")
    invoice.number, invoice.hosted_invoice_url = issued.number, issued.hosted_invoice_url
    session.commit()
    provider.send_invoice(key=idempotency_key("send", invoice=invoice.provider_invoice_id),
                          invoice_id=invoice.provider_invoice_id)
    invoice.issued_at = utcnow()
    move(session, invoice, InvoiceStatus.open)
    session.commit()


def issue(*, session: Session, settings: Settings, provider: PaymentProvider,
          cycle_id: str) -> BillingCycle:
    """Issue a cycle's draft invoices with the provider; the cycle is `closed` once all are.
    `ProviderUnavailable` (the rest is retried later) when the provider cannot be reached."""
    cycle = session.get(BillingCycle, cycle_id)
    if cycle is None:
        raise InvoiceNotFound(f"no billing cycle {cycle_id}")
    drafts = session.scalars(select(Invoice).where(Invoice.cycle_id == cycle_id,
                                                   Invoice.status == InvoiceStatus.draft)
                             .order_by(Invoice.id)).all()
    unavailable: ProviderUnavailable | None = None
    for invoice in drafts:
        try:
            _issue_one(session, settings, provider, invoice)
        except ProviderUnavailable as exc:
            session.rollback()
            invoice.last_error = exc.message
            session.commit()
            unavailable = exc
            break
        except ProviderRefused as exc:
            session.rollback()
            invoice.last_error = exc.message
            session.commit()
            log.error("billing: the provider refused invoice %s: %s", invoice.id, exc.message)
    if unavailable is not None:
        raise unavailable
    left = session.scalar(select(func.count()).select_from(Invoice).where(
        Invoice.cycle_id == cycle_id, Invoice.status == InvoiceStatus.draft))
    if not left and cycle.status != CycleStatus.closed:
        cycle.status, cycle.closed_at = CycleStatus.closed, utcnow()
        session.commit()
    return cycle




# --- jobs ---------------------------------------------------------------------------------

ISSUE_JOB = "billing.issue"
CLOSE_DUE_JOB = "billing.close_due"


def issue_or_retry(*, session: Session, settings: Settings, provider: PaymentProvider,
                   queue: JobQueue | None, cycle_id: str) -> None:
    """Issue a cycle's invoices now; when the provider is unavailable, leave the rest to the
    `billing.issue` job, which retries with the queue's backoff."""
    try:
        issue(session=session, settings=settings, provider=provider, cycle_id=cycle_id)
    except ProviderUnavailable:
        log.warning("billing: the payment provider is unavailable; cycle %s is issued later",
                    cycle_id)
        if queue is not None:
            queue.enqueue(ISSUE_JOB, subject=cycle_id, cycle_id=cycle_id)


def _provider(context: JobContext) -> PaymentProvider:
    provider = context.payments
    if provider is None:
        raise RuntimeError("this process has no payment provider")
    return provider


class IssueLater(RuntimeError):
    """The provider is unavailable: the `billing.issue` job is to be tried again. Not an
    `AppError`, which the queue takes for a wrong input and never retries."""


@registry.job(ISSUE_JOB, max_attempts=12)
def _issue_job(context: JobContext, payload: dict[str, Any]) -> None:
    with context.sessionmaker() as session:
        try:
            issue(session=session, settings=context.settings, provider=_provider(context),
                  cycle_id=str(payload["cycle_id"]))
        except ProviderUnavailable as exc:
            raise IssueLater(exc.message) from exc


@registry.job(CLOSE_DUE_JOB, max_attempts=3, hourly=True)
def _close_due_job(context: JobContext, payload: dict[str, Any]) -> None:
    """The scheduler's hourly look: close the period that ended (plus the grace) if due,
    and finish issuing any cycle still closing."""
    with context.sessionmaker() as session:
        if context.settings.billing_auto_close:
            due = due_period(session=session, settings=context.settings)
            if due is not None:
                close(session=session, settings=context.settings, period_start=due[0],
                      period_end=due[1])
        closing = session.scalars(select(BillingCycle.id).where(
            BillingCycle.status == CycleStatus.closing)).all()
        for cycle_id in closing:
            issue_or_retry(session=session, settings=context.settings,
                           provider=_provider(context), queue=context.queue,
                           cycle_id=cycle_id)

