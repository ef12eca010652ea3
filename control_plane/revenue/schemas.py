"""Request and response models of the revenue-share policy, statements and payouts."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class VenueShare(BaseModel):
    model_config = ConfigDict(extra="forbid")
    venue_id: str = Field(min_length=1, max_length=40)
    bps: int = Field(ge=0, le=10_000)


class PolicyIn(BaseModel):
    """A new version of the policy. Without `effective_from`: from the next whole UTC hour."""

    model_config = ConfigDict(extra="forbid")
    default_bps: int = Field(ge=0, le=10_000, description="venues' share, in basis points")
    venue_overrides: list[VenueShare] = Field(default_factory=list, max_length=10_000)
    effective_from: AwareDatetime | None = None


class PolicyRead(BaseModel):
    version: int
    default_bps: int
    venue_overrides: list[VenueShare]
    effective_from: datetime
    created_at: datetime | None
    source: str = Field(description="`policy` (set by a super-admin) or `default` (the "
                                    "ADSBIN_REVENUE_DEFAULT_BPS setting, before any policy)")


class PolicyPage(BaseModel):
    """The version in force now, the versions scheduled after it, and (super-admins) all."""

    current: PolicyRead
    scheduled: list[PolicyRead]
    history: list[PolicyRead]


class StatementScreen(BaseModel):
    screen_id: str
    plays: int
    impressions: float
    revenue_cents: int
    earnings_cents: int
    policy_versions: list[int]


class StatementVenue(BaseModel):
    venue_id: str
    earnings_cents: int
    screens: list[StatementScreen]


class StatementLineRead(BaseModel):
    id: str
    cycle_id: str
    invoice_id: str
    venue_id: str
    screen_id: str
    campaign_id: str
    policy_version: int
    bps: int
    plays: int
    impressions: float
    revenue_cents: int
    earnings_cents: int
    status: str
    payout_id: str | None


class Statement(BaseModel):
    """A venue org's earnings for a period, per currency."""

    venue_org_id: str
    currency: str
    period_start: datetime
    period_end: datetime
    earnings_cents: int
    by_status: dict[str, int]
    venues: list[StatementVenue]
    lines: list[StatementLineRead]


class StatementPage(BaseModel):
    statements: list[Statement]


class OnboardingLink(BaseModel):
    """Where a venue org's admin fills in Stripe's forms (offline: a local page)."""

    url: str
    account_id: str
    payouts_enabled: bool


class PayoutRunIn(BaseModel):
    """The billing period whose closed cycle is paid out."""

    model_config = ConfigDict(extra="forbid")
    period_start: AwareDatetime
    period_end: AwareDatetime


class PayoutRead(BaseModel):
    id: str
    venue_org_id: str
    cycle_id: str
    currency: str
    amount_cents: int
    reversed_cents: int
    status: str
    transfer_group: str
    source_transaction: str | None
    transfer_id: str | None
    last_error: str | None
    lines: int
    created_at: datetime
    paid_at: datetime | None


class SkippedBalance(BaseModel):
    """A balance a run left for a later one."""

    venue_org_id: str
    currency: str
    balance_cents: int
    reason: str


class PayoutRunResult(BaseModel):
    payouts: list[PayoutRead] = Field(description="the payouts made or finished by this run")
    skipped: list[SkippedBalance] = Field(description="balances carried over, and why")


class PayoutPage(BaseModel):
    payouts: list[PayoutRead]
