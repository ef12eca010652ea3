"""Request and response models of billing: closing periods, invoices, reconciliation."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    period_start: AwareDatetime
    period_end: AwareDatetime


class InvoiceLineRead(BaseModel):
    id: str
    campaign_id: str
    campaign_name: str
    kind: str = Field(description="`delivery`, or `late_delivery`: plays of an earlier period "
                                  "that arrived after it was closed")
    period_start: datetime = Field(description="the plays' own period")
    period_end: datetime
    plays: int
    impressions: float
    cpm_cents: int
    amount_cents: int
    value_cents: int = Field(description="the impressions at the CPM, were there no budget")
    budget_capped_cents: int = Field(description="delivered free: the budget was spent")


class InvoiceRead(BaseModel):
    id: str
    org_id: str
    cycle_id: str
    period_start: datetime
    period_end: datetime
    currency: str
    status: str
    amount_cents: int
    plays: int
    impressions: float
    number: str | None
    hosted_invoice_url: str | None
    provider: str
    created_at: datetime
    issued_at: datetime | None
    paid_at: datetime | None
    lines: list[InvoiceLineRead]


class InvoicePage(BaseModel):
    invoices: list[InvoiceRead]


class CycleRead(BaseModel):
    id: str
    period_start: datetime
    period_end: datetime
    status: str = Field(description="`closing` while invoices wait for the payment provider")
    created: bool = Field(description="false: the period was closed before; nothing more "
                                      "was billed")
    invoices: int
    invoiced_cents: dict[str, int] = Field(description="per currency")
    pending_invoices: int = Field(description="not issued by the provider yet (retried)")
    last_error: str | None = None


class ReconciliationRow(BaseModel):
    currency: str
    invoiced_cents: int
    plays_spend_cents: int = Field(description="the plays behind the lines, summed again")
    venue_earnings_cents: int
    platform_cents: int
    difference_cents: int = Field(description="invoiced − venue earnings − platform share")


class ReconciliationRead(BaseModel):
    period_start: datetime
    period_end: datetime
    cycles: int
    currencies: list[ReconciliationRow]
    trace_url: str
