"""Revenue's tables: the share policy's versions, statement lines, connected accounts, payouts.

A policy version is never edited: a change is a new version with an effective time, applied to
plays that start at or after it. A statement line is one screen's earnings from one invoice
line under one policy version; it moves accrued → payable (its invoice was paid) → paid (a
transfer carried it) or reversed (its invoice was refunded).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.db import Base, UTCDateTime, id_column_type, new_id, utcnow


class RevenuePolicy(Base):
    """One version of the revenue-share policy: venues' default share, from a time on."""

    __tablename__ = "revenue_policies"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    default_bps: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime())
    effective_ms: Mapped[int] = mapped_column(BigInteger, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(40))


class RevenueOverride(Base):
    """A venue's own share under one policy version."""

    __tablename__ = "revenue_overrides"

    version: Mapped[int] = mapped_column(ForeignKey("revenue_policies.version",
                                                    ondelete="CASCADE"), primary_key=True)
    venue_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    bps: Mapped[int] = mapped_column(Integer)


class LineStatus(enum.StrEnum):
    accrued = "accrued"  # earned; the invoice that carries it is not paid yet
    payable = "payable"  # the invoice was paid: the next payout run transfers it
    paid = "paid"
    reversed = "reversed"  # the invoice was refunded (or voided) before or after the payout


class StatementLine(Base):
    """One screen's earnings from one invoice line, under one policy version."""

    __tablename__ = "statement_lines"
    __table_args__ = (Index("ix_statement_lines_venue_org_id_status", "venue_org_id",
                            "status"),)

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("stl"))
    cycle_id: Mapped[str] = mapped_column(String(40), index=True)
    invoice_id: Mapped[str] = mapped_column(String(40), index=True)
    invoice_line_id: Mapped[str] = mapped_column(String(40))
    venue_org_id: Mapped[str] = mapped_column(String(40))
    venue_id: Mapped[str] = mapped_column(String(40))
    screen_id: Mapped[str] = mapped_column(String(40))
    campaign_id: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    policy_version: Mapped[int] = mapped_column(Integer)
    bps: Mapped[int] = mapped_column(Integer)
    # the plays behind it: this screen's, of the invoice line's campaign, started in
    # [started_from_ms, started_to_ms) with seq in (seq_after, seq_upto]
    started_from_ms: Mapped[int] = mapped_column(BigInteger)
    started_to_ms: Mapped[int] = mapped_column(BigInteger)
    seq_after: Mapped[int] = mapped_column(BigInteger)
    seq_upto: Mapped[int] = mapped_column(BigInteger)
    plays: Mapped[int] = mapped_column(BigInteger)
    impressions_milli: Mapped[int] = mapped_column(BigInteger)
    revenue_cents: Mapped[int] = mapped_column(BigInteger)  # what the advertiser paid for them
    earnings_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[LineStatus] = mapped_column(Enum(LineStatus, native_enum=False, length=20))
    payout_id: Mapped[str | None] = mapped_column(String(40), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ConnectAccount(Base):
    """A venue org's Stripe Connect (Express) account."""

    __tablename__ = "connect_accounts"

    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    account_id: Mapped[str] = mapped_column(String(80), unique=True)
    payouts_enabled: Mapped[bool] = mapped_column(default=False)
    details_submitted: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PayoutStatus(enum.StrEnum):
    pending = "pending"  # made locally; the transfer is not confirmed yet
    paid = "paid"
    failed = "failed"
    reversed = "reversed"


class Payout(Base):
    """One transfer to a venue org for a period: its payable balance, carried-over included."""

    __tablename__ = "payouts"
    __table_args__ = (UniqueConstraint("venue_org_id", "cycle_id", "currency"),)

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("po"))
    venue_org_id: Mapped[str] = mapped_column(String(40), index=True)
    cycle_id: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reversed_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[PayoutStatus] = mapped_column(Enum(PayoutStatus, native_enum=False,
                                                      length=20))
    transfer_group: Mapped[str] = mapped_column(String(80))
    source_transaction: Mapped[str | None] = mapped_column(String(80))
    transfer_id: Mapped[str | None] = mapped_column(String(80), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Adjustment(Base):
    """Money a venue org owes back (a refund after its transfer left), taken from its next
    payout; `payout_id` once it was."""

    __tablename__ = "payout_adjustments"

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("adj"))
    venue_org_id: Mapped[str] = mapped_column(String(40), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_cents: Mapped[int] = mapped_column(BigInteger)  # negative: owed back
    reason: Mapped[str] = mapped_column(String(300))
    statement_line_id: Mapped[str | None] = mapped_column(String(40))
    payout_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
