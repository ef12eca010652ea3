"""HTTP routes of billing: closing periods (super-admins), invoices (advertisers), the offline
invoice page, reconciliation and its trace."""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy import select

from control_plane.auth.dependencies import CurrentPrincipal, SuperAdmin
from control_plane.billing import service as billing_service
from control_plane.billing.dependencies import PaymentProviderDep
from control_plane.billing.models import BillingCycle, Invoice, InvoiceStatus
from control_plane.billing.schemas import (
    CloseIn,
    CycleRead,
    InvoicePage,
    InvoiceRead,
    ReconciliationRead,
    ReconciliationRow,
)
from control_plane.db import DbSession
from control_plane.dependencies import JobQueueDep, SettingsDep

router = APIRouter(prefix="/v1", tags=["billing"])
InvoiceId = Annotated[str, Path(max_length=40)]
AwareDatetimeQ = Annotated[datetime, Query(description="RFC 3339 with a time zone")]
TRACE_COLUMNS = ("line_type", "line_id", "invoice_id", "campaign_id", "currency", "play_id",
                 "seq", "impressions", "spend_cents")


def _cycle_read(session: DbSession, cycle: BillingCycle, created: bool) -> CycleRead:
    invoices = session.scalars(select(Invoice).where(Invoice.cycle_id == cycle.id)).all()
    totals: dict[str, int] = {}
    for inv in invoices:
        totals[inv.currency] = totals.get(inv.currency, 0) + inv.amount_cents
    pending = [inv for inv in invoices if inv.status == InvoiceStatus.draft]
    return CycleRead(id=cycle.id, period_start=cycle.period_start,
                     period_end=cycle.period_end, status=cycle.status.value, created=created,
                     invoices=len(invoices), invoiced_cents=totals,
                     pending_invoices=len(pending),
                     last_error=next((i.last_error for i in pending if i.last_error), None))


@router.post("/billing/cycles/close", response_model=CycleRead,
             summary="Close a billing period: an invoice per advertiser org (idempotent)")
def close_cycle(body: CloseIn, session: DbSession, principal: SuperAdmin,
                settings: SettingsDep, provider: PaymentProviderDep,
                queue: JobQueueDep) -> CycleRead:
    result = billing_service.close(session=session, settings=settings,
                                   period_start=body.period_start, period_end=body.period_end,
                                   user_id=principal.user_id)
    billing_service.issue_or_retry(session=session, settings=settings, provider=provider,
                                   queue=queue, cycle_id=result.cycle.id)
    session.refresh(result.cycle)
    return _cycle_read(session, result.cycle, result.created)


def _invoice_read(session: DbSession, invoice: Invoice) -> InvoiceRead:
    return billing_service.invoice_read(session=session, invoice=invoice)


def _org_of(principal: CurrentPrincipal) -> str | None:
    return billing_service.reader_org(principal=principal)


@router.get("/invoices", response_model=InvoicePage, summary="The caller's invoices")
def list_invoices(session: DbSession, principal: CurrentPrincipal,
                  status: Annotated[Literal["open", "paid", "payment_failed", "void",
                                            "refunded", "draft"] | None, Query()] = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 100) -> InvoicePage:
    invoices = billing_service.list_invoices(session=session, org_id=_org_of(principal),
                                             status=status, limit=limit)
    return InvoicePage(invoices=[_invoice_read(session, i) for i in invoices])


@router.get("/invoices/{invoice_id}", response_model=InvoiceRead, summary="One invoice")
def get_invoice(invoice_id: InvoiceId, session: DbSession,
                principal: CurrentPrincipal) -> InvoiceRead:
    return _invoice_read(session, billing_service.get_invoice(
        session=session, invoice_id=invoice_id, org_id=_org_of(principal)))


@router.post("/invoices/{invoice_id}/mark-paid", response_model=InvoiceRead,
             summary="Record an offline invoice as paid (payments offline only)")
def mark_paid(invoice_id: InvoiceId, session: DbSession, principal: SuperAdmin,
              provider: PaymentProviderDep) -> InvoiceRead:
    return _invoice_read(session, billing_service.mark_paid(session=session, provider=provider,
                                                            invoice_id=invoice_id))


@router.get("/invoices/{invoice_id}/page", response_class=HTMLResponse,
            summary="The invoice as a page (what Stripe's hosted page is when offline)")
def invoice_page(invoice_id: InvoiceId, session: DbSession,
                 principal: CurrentPrincipal) -> HTMLResponse:
    invoice = _invoice_read(session, billing_service.get_invoice(
        session=session, invoice_id=invoice_id, org_id=_org_of(principal)))
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(ln.campaign_name)}</td><td>{esc(ln.kind)}</td>"
        f"<td>{ln.period_start:%Y-%m-%d} – {ln.period_end:%Y-%m-%d}</td>"
        f"<td>{ln.plays:,}</td><td>{ln.impressions:,.1f}</td>"
        f"<td>{ln.cpm_cents / 100:.2f}</td><td>{ln.amount_cents / 100:.2f}</td></tr>"
        for ln in invoice.lines)
    body = (f"<!doctype html><html lang=en><meta charset=utf-8><title>Invoice "
            f"{esc(invoice.id)}</title><h1>Invoice {esc(invoice.id)}</h1>"
            f"<p>Status: {esc(invoice.status)} · {invoice.period_start:%Y-%m-%d} – "
            f"{invoice.period_end:%Y-%m-%d} · payments offline: no card is charged</p>"
            "<table><thead><tr><th>Campaign</th><th>Kind</th><th>Period</th><th>Plays</th>"
            "<th>Impressions</th><th>CPM</th><th>Amount</th></tr></thead>"
            f"<tbody>{rows}</tbody></table><p>Total: {invoice.amount_cents / 100:.2f} "
            f"{esc(invoice.currency)}</p></html>")
    return HTMLResponse(body)


@router.get("/billing/reconciliation", response_model=ReconciliationRead,
            summary="What the cycles of a period invoiced, and how it was shared")
def reconciliation(session: DbSession, principal: SuperAdmin, period_start: AwareDatetimeQ,
                   period_end: AwareDatetimeQ) -> ReconciliationRead:
    rows = billing_service.reconciliation(session=session, start=period_start, end=period_end)
    return ReconciliationRead(
        period_start=period_start, period_end=period_end,
        cycles=len(billing_service.cycles_in(session=session, start=period_start,
                                              end=period_end)),
        currencies=[ReconciliationRow(currency=r.currency, invoiced_cents=r.invoiced_cents,
                                      plays_spend_cents=r.plays_spend_cents,
                                      venue_earnings_cents=r.venue_earnings_cents,
                                      platform_cents=r.platform_cents,
                                      difference_cents=r.difference_cents) for r in rows],
        trace_url=(f"/v1/billing/reconciliation/trace?period_start={period_start.isoformat()}"
                   f"&period_end={period_end.isoformat()}"))


@router.get("/billing/reconciliation/trace", response_class=StreamingResponse,
            summary="Every invoice line and statement line to the play ids behind it",
            responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}})
def reconciliation_trace(session: DbSession, principal: SuperAdmin,
                         period_start: AwareDatetimeQ, period_end: AwareDatetimeQ,
                         format: Literal["csv", "ndjson"] = "csv") -> StreamingResponse:
    rows = billing_service.trace(session=session, start=period_start, end=period_end)
    if format == "ndjson":
        def ndjson() -> Iterator[bytes]:
            for row in rows:
                yield json.dumps(row, separators=(",", ":")).encode() + b"\n"
        return StreamingResponse(ndjson(), media_type="application/x-ndjson")

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=TRACE_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            if buffer.tell() > 65536:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="reconciliation-trace.csv"'})

