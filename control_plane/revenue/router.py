"""HTTP routes of revenue sharing: the policy (super-admins write, venue orgs read theirs) and
venue orgs' statements."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from control_plane.auth.dependencies import CurrentPrincipal, CurrentUser, SuperAdmin
from control_plane.auth.policy import Action, Resource, authorize
from control_plane.db import DbSession
from control_plane.dependencies import SettingsDep
from control_plane.errors import Forbidden, Invalid
from control_plane.revenue import service as revenue_service
from control_plane.revenue.models import StatementLine
from control_plane.revenue.schemas import (
    PolicyIn,
    PolicyPage,
    PolicyRead,
    Statement,
    StatementLineRead,
    StatementPage,
    StatementScreen,
    StatementVenue,
)

router = APIRouter(prefix="/v1", tags=["revenue"])
AwareQ = Annotated[datetime, Query(description="RFC 3339 with a time zone")]


@router.get("/revenue-share/policy", response_model=PolicyPage,
            summary="The revenue-share policy (a venue org sees the share of its own venues)")
def get_policy(session: DbSession, principal: CurrentUser,
               settings: SettingsDep) -> PolicyPage:
    if principal.is_superadmin:
        return revenue_service.policy_page(session=session, settings=settings)
    if principal.org_kind != "venue" or principal.org_id is None:
        raise Forbidden("the revenue-share policy is read by venue orgs and super-admins",
                        code="forbidden")
    authorize(principal, Resource.revenue_policy, Action.read)  # its admins and members
    return revenue_service.policy_page(session=session, settings=settings,
                                       venue_org_id=principal.org_id)


@router.put("/revenue-share/policy", response_model=PolicyRead,
            summary="A new version of the policy, for plays from its effective time on")
def put_policy(body: PolicyIn, session: DbSession, principal: SuperAdmin,
               settings: SettingsDep) -> PolicyRead:
    return revenue_service.set_policy(session=session, settings=settings, policy_in=body,
                                      user_id=principal.user_id)


def _statement(org_id: str, currency: str, start: datetime, end: datetime,
               lines: list[StatementLine]) -> Statement:
    venues: dict[str, dict[str, list[StatementLine]]] = defaultdict(lambda: defaultdict(list))
    by_status: dict[str, int] = defaultdict(int)
    for ln in lines:
        venues[ln.venue_id][ln.screen_id].append(ln)
        by_status[ln.status.value] += ln.earnings_cents
    return Statement(
        venue_org_id=org_id, currency=currency, period_start=start, period_end=end,
        earnings_cents=sum(ln.earnings_cents for ln in lines), by_status=dict(by_status),
        venues=[StatementVenue(
            venue_id=venue_id,
            earnings_cents=sum(ln.earnings_cents for s in screens.values() for ln in s),
            screens=[StatementScreen(
                screen_id=screen_id, plays=sum(ln.plays for ln in s),
                impressions=sum(ln.impressions_milli for ln in s) / 1000,
                revenue_cents=sum(ln.revenue_cents for ln in s),
                earnings_cents=sum(ln.earnings_cents for ln in s),
                policy_versions=sorted({ln.policy_version for ln in s}))
                for screen_id, s in sorted(screens.items())])
            for venue_id, screens in sorted(venues.items())],
        lines=[StatementLineRead(
            id=ln.id, cycle_id=ln.cycle_id, invoice_id=ln.invoice_id, venue_id=ln.venue_id,
            screen_id=ln.screen_id, campaign_id=ln.campaign_id,
            policy_version=ln.policy_version, bps=ln.bps, plays=ln.plays,
            impressions=ln.impressions_milli / 1000, revenue_cents=ln.revenue_cents,
            earnings_cents=ln.earnings_cents, status=ln.status.value, payout_id=ln.payout_id)
            for ln in lines])


@router.get("/payouts/statements", response_model=StatementPage,
            summary="Earnings per venue and screen for the closed periods within a period")
def statements(session: DbSession, principal: CurrentPrincipal, period_start: AwareQ,
               period_end: AwareQ) -> StatementPage:
    for value in (period_start, period_end):
        if value.tzinfo is None:
            raise Invalid("period_start and period_end need a time zone (RFC 3339)",
                          code="invalid_period")
    if period_end <= period_start:
        raise Invalid("period_end must be after period_start", code="invalid_period")
    if principal.is_superadmin:
        org_id = None
    elif principal.org_kind == "venue" and principal.org_id is not None:
        # its admins and members: not its technicians, nor its API keys (analytics only)
        authorize(principal, Resource.payout, Action.read)
        org_id = principal.org_id
    else:
        raise Forbidden("statements are read by venue orgs and super-admins",
                        code="forbidden")
    lines = revenue_service.statements(session=session, venue_org_id=org_id,
                                       start=period_start, end=period_end)
    grouped: dict[tuple[str, str], list[StatementLine]] = defaultdict(list)
    for ln in lines:
        grouped[(ln.venue_org_id, ln.currency)].append(ln)
    return StatementPage(statements=[_statement(o, c, period_start, period_end, ls)
                                     for (o, c), ls in sorted(grouped.items())])
