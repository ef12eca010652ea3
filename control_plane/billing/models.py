"""Billing's tables: cycles, invoices and their lines, Stripe customers, webhook events seen.

A cycle is closed once, at a watermark: the highest `pop_records.seq` committed when it closed.
What it billed is exactly the billable plays that started before its end, were stored at or
below its watermark, and no earlier close billed (see `service.py`); each line keeps the range
of play start times and of `seq` it covers, so the plays behind it can be listed again (the
trace export) and no play is ever on two lines.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.db import Base, UTCDateTime, id_column_type, new_id, utcnow


class CycleStatus(enum.StrEnum):
    closing = "closing"  # its invoices exist; some are not issued by the provider yet
    closed = "closed"


class InvoiceStatus(enum.StrEnum):
    draft = "draft"  # made locally; not issued by the provider yet (a close in progress)
    open = "open"  # finalized and sent: waiting for payment
    paid = "paid"
    payment_failed = "payment_failed"
    void = "void"
    refunded = "refunded"


class LineKind(enum.StrEnum):
    delivery = "delivery"  # plays of the cycle's own period
    late_delivery = "late_delivery"  # plays of an earlier period that arrived after its close


class BillingCycle(Base):
    """A closed (or closing) billing period."""

    __tablename__ = "billing_cycles"

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("cyc"))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    start_ms: Mapped[int] = mapped_column(BigInteger, unique=True)
    end_ms: Mapped[int] = mapped_column(BigInteger, unique=True)
    seq_after: Mapped[int] = mapped_column(BigInteger)  # the previous close's watermark
    seq_upto: Mapped[int] = mapped_column(BigInteger)  # this close's watermark
    prior_end_ms: Mapped[int | None] = mapped_column(BigInteger)  # the previous close's end
    status: Mapped[CycleStatus] = mapped_column(Enum(CycleStatus, native_enum=False,
                                                     length=20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by: Mapped[str | None] = mapped_column(String(40))


class Invoice(Base):
    """What one advertiser org owes for one cycle, in one currency."""

    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("cycle_id", "org_id", "currency"),)

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("inv"))
    cycle_id: Mapped[str] = mapped_column(ForeignKey("billing_cycles.id"), index=True)
    org_id: Mapped[str] = mapped_column(String(40), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[InvoiceStatus] = mapped_column(Enum(InvoiceStatus, native_enum=False,
                                                       length=20), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    plays: Mapped[int] = mapped_column(BigInteger)
    impressions_milli: Mapped[int] = mapped_column(BigInteger)
    provider: Mapped[str] = mapped_column(String(20))
    provider_customer_id: Mapped[str | None] = mapped_column(String(80))
    provider_invoice_id: Mapped[str | None] = mapped_column(String(80), index=True)
    number: Mapped[str | None] = mapped_column(String(80))
    hosted_invoice_url: Mapped[str | None] = mapped_column(String(500))
    charge_id: Mapped[str | None] = mapped_column(String(80))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InvoiceLine(Base):
    """One campaign's billable plays of one period on an invoice."""

    __tablename__ = "invoice_lines"

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("inl"))
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"),
                                            index=True)
    position: Mapped[int] = mapped_column(Integer)
    campaign_id: Mapped[str] = mapped_column(String(64), index=True)
    campaign_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[LineKind] = mapped_column(Enum(LineKind, native_enum=False, length=20))
    # the plays behind the line: started in [started_from_ms, started_to_ms), stored with
    # seq in (seq_after, seq_upto]
    started_from_ms: Mapped[int] = mapped_column(BigInteger)
    started_to_ms: Mapped[int] = mapped_column(BigInteger)
    seq_after: Mapped[int] = mapped_column(BigInteger)
    seq_upto: Mapped[int] = mapped_column(BigInteger)
    plays: Mapped[int] = mapped_column(BigInteger)
    impressions_milli: Mapped[int] = mapped_column(BigInteger)
    cpm_cents: Mapped[int] = mapped_column(BigInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    value_cents: Mapped[int] = mapped_column(BigInteger)  # at the CPM, were there no budget
    budget_capped_cents: Mapped[int] = mapped_column(BigInteger)  # delivered free
    venue_cents: Mapped[int] = mapped_column(BigInteger)
    platform_cents: Mapped[int] = mapped_column(BigInteger)
    provider_item_id: Mapped[str | None] = mapped_column(String(80))


class BillingCustomer(Base):
    """An advertiser org's customer at the payment provider."""

    __tablename__ = "billing_customers"

    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(80))


class WebhookEvent(Base):
    """A Stripe event id seen once: a replayed delivery is recognised and ignored."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
