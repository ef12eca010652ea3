"""The advertiser's pages: campaigns (list, wizard, page with delivery), creatives, invoices.

Each page calls the services the API's routes call (`campaigns`, `media`, `reporting`,
`scheduling`, `billing`) and renders their answers; authorization is the API's policy, so a
campaign of another org answers 404 here as it does on `/v1/campaigns/{id}`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from control_plane.auth.policy import Action, Resource, authorize
from control_plane.campaigns import service as campaigns_service
from control_plane.dashboard.session import User
from control_plane.dashboard.web import PageRoute, render
from control_plane.db import DbSession
from control_plane.reporting import service as reporting_service

router = APIRouter(route_class=PageRoute, include_in_schema=False)
STATES = ("draft", "pending_review", "approved", "active", "completed", "rejected", "paused")


@router.get("/campaigns")
def campaigns(request: Request, principal: User, session: DbSession,
              state: Annotated[str | None, Query(max_length=20)] = None) -> Response:
    """The org's campaigns with their state, delivery and spend (super-admins: everyone's)."""
    authorize(principal, Resource.campaign, Action.read)
    org_id = None if principal.is_superadmin else principal.org_id
    found = campaigns_service.list_for(session=session, org_id=org_id)
    rows = [(c, campaigns_service.state(c)) for c in found]
    if state in STATES:
        rows = [(c, s) for c, s in rows if s == state]
    delivered = reporting_service.delivery(session=session, campaign_ids=[c.id for c, _ in rows])
    return render(request, "advertiser/campaigns.html", {
        "title": "Campaigns", "rows": rows, "delivered": delivered,
        "state": state if state in STATES else "", "states": STATES}, principal=principal)
