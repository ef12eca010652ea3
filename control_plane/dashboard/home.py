"""The first page after signing in: what needs doing, for the kind of org the user acts in."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Request, Response

from control_plane.auth import service as auth_service
from control_plane.auth.dependencies import VerificationLimiter
from control_plane.campaigns import service as campaigns_service
from control_plane.dashboard.session import MaybeUser, Posted, User
from control_plane.dashboard.web import PageRoute, redirect, render
from control_plane.db import DbSession
from control_plane.errors import RateLimited
from control_plane.orgs import service as orgs_service
from control_plane.reporting import service as reporting_service
from control_plane.venues import service as venues_service

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/")
def home(request: Request, principal: MaybeUser, session: DbSession) -> Response:
    if principal is None:
        return render(request, "welcome.html", {"title": "Advertising on screens in small venues"})
    context: dict[str, Any] = {"title": "Home", "welcome": "welcome" in request.query_params}
    org = orgs_service.get_org(session=session, org_id=principal.org_id) \
        if principal.org_id else None
    context["org"] = org
    if principal.org_kind == "advertiser" or principal.is_superadmin:
        campaigns = campaigns_service.list_for(
            session=session, org_id=None if principal.is_superadmin else principal.org_id)
        states = Counter(campaigns_service.state(c) for c in campaigns)
        context["campaign_states"] = sorted(states.items())
        if principal.org_kind == "advertiser":
            delivered = reporting_service.delivery(session=session,
                                                   campaign_ids=[c.id for c in campaigns])
            context["spend"] = sorted(_by_currency(campaigns, delivered).items())
    if principal.org_kind == "venue":
        venues = venues_service.list_venues(session=session, org_id=principal.org_id)
        context["venues"] = len(venues)
        context["screens"] = len(venues_service.find_screens(
            session=session, org_ids=[principal.org_id or ""]))  # one query, not one a venue
    return render(request, "home.html", context, principal=principal)


def _by_currency(campaigns: list[Any], delivered: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for campaign in campaigns:
        found = delivered.get(campaign.id)
        if found is not None:
            out[campaign.currency] = out.get(campaign.currency, 0) + found.spend_cents
    return out


@router.post("/verify-email/resend")
def resend_verification(request: Request, _form: Posted, principal: User, session: DbSession,
                        limiter: VerificationLimiter) -> Response:
    """Mail the link that confirms the address again (3 per 10 minutes)."""
    assert principal.user_id is not None
    wait_s = limiter.hit(principal.user_id)
    if wait_s is not None:
        raise RateLimited.after(wait_s, "verification links asked for")
    auth_service.request_verification(session=session, user_id=principal.user_id)
    return redirect("/?sent=1")
