"""The super-admin's pages: the review queue, organisations and users, the fleet, the system,
the revenue-share policy, billing and payouts.

Every page asks first what the API's `SuperAdmin` dependency asks (`require_superadmin`): anyone
else gets the 403 page. Each then calls the services the API's routes call: approving and
rejecting are `campaigns_service.approve / reject` as on `/v1/campaigns/{id}/approve`, the
policy is `revenue_service.policy_page / set_policy` validated with the API's `PolicyIn`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy.orm import Session

from control_plane.auth.dependencies import require_superadmin
from control_plane.auth.policy import Action, Principal, Resource, authorize
from control_plane.billing import service as billing_service
from control_plane.billing.dependencies import PaymentProviderDep
from control_plane.campaigns import service as campaigns_service
from control_plane.campaigns.schemas import ReviewNote
from control_plane.dashboard import admin_views as views
from control_plane.dashboard.session import Posted, User
from control_plane.dashboard.web import FormErrors, PageRoute, redirect, render, validate
from control_plane.db import DbSession, utcnow
from control_plane.dependencies import ObjectStoreDep, SettingsDep
from control_plane.devices.accounts import BrokerAccounts
from control_plane.devices.dependencies import Bridge, Broker
from control_plane.errors import AppError
from control_plane.jobs import queue as jobs
from control_plane.media import service as media_service
from control_plane.notifications.catalog import Channel
from control_plane.notifications.channels.base import ChannelBackend
from control_plane.orgs import service as orgs_service
from control_plane.ports import MqttPublisher
from control_plane.revenue import payouts
from control_plane.revenue import service as revenue_service
from control_plane.revenue.schemas import PolicyIn
from control_plane.settings import Settings
from control_plane.storage.base import ObjectStore
from control_plane.taxonomy import service as taxonomy
from control_plane.venues import service as venues_service

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Id = Annotated[str, Path(max_length=40)]
Text = Annotated[str | None, Query(max_length=100)]
REVIEW_MAX = 50  # campaigns on the queue's page at once, the longest waiting first
URL_TTL_S = 3600  # as long as the media API's own signed URLs
ORGS_MAX, USERS_MAX = 200, 100
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))  # policies' range


def superadmin(principal: User) -> Principal:
    """The signed-in user, who must be a super-admin (the API's check); the 403 page else."""
    return require_superadmin(principal)


Admin = Annotated[Principal, Depends(superadmin)]


async def get_channels(request: Request) -> dict[Channel, ChannelBackend]:
    """The app's notification channels (made in `app.py`)."""
    channels: dict[Channel, ChannelBackend] = request.app.state.channels
    return channels


Channels = Annotated[dict[Channel, ChannelBackend], Depends(get_channels)]


# --- the review queue ---------------------------------------------------------------------

def _previews(session: Session, store: ObjectStore,
              media_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each media's kind, thumbnail and renditions (signed URLs), by media id."""
    out: dict[str, dict[str, Any]] = {}
    for media in media_service.get_many(session=session, media_ids=media_ids,
                                        with_renditions=True):
        renditions = [(r, store.signed_url(r.key, expires_in_s=URL_TTL_S))
                      for r in media.renditions]
        out[media.id] = {
            "media": media, "renditions": [(r, url) for r, url in renditions
                                           if r.role in ("image", "video")],
            "thumbnail": next((url for r, url in renditions if r.role == "thumbnail"), None),
            "poster": next((url for r, url in renditions if r.role == "poster"), None)}
    return out


def _review_context(session: Session, store: ObjectStore, campaign_ids: list[str],
                    ) -> dict[str, Any]:
    campaigns = campaigns_service.get_many(session=session, campaign_ids=campaign_ids)
    campaigns.sort(key=lambda c: (c.submitted_at or c.created_at, c.id))
    return {
        "campaigns": campaigns, "states": {c.id: campaigns_service.state(c) for c in campaigns},
        "advertisers": orgs_service.org_names(session=session,
                                              org_ids=[c.org_id for c in campaigns]),
        "previews": _previews(session, store, [cr.media_id for c in campaigns
                                               for cr in c.creatives]),
        "categories": taxonomy.ad_categories(), "venue_types": taxonomy.venue_types()}


@router.get("/admin/review")
def review(request: Request, principal: Admin, session: DbSession,
           store: ObjectStoreDep) -> Response:
    """Campaigns waiting for review, the longest waiting first, with their creatives."""
    return _review_page(request, principal, session, store)


def _review_page(request: Request, principal: Principal, session: Session, store: ObjectStore,
                 errors: dict[str, FormErrors] | None = None, typed: str = "",
                 status_code: int = 200) -> Response:
    waiting = campaigns_service.list_for(session=session, org_id=None,
                                         status="pending_review")
    waiting.sort(key=lambda c: (c.submitted_at or c.created_at, c.id))
    context = _review_context(session, store, [c.id for c in waiting[:REVIEW_MAX]])
    return render(request, "admin/review.html", {
        "title": "Review", "waiting": len(waiting), "shown_max": REVIEW_MAX,
        "errors": errors or {}, "typed": typed, **context},
        principal=principal, status_code=status_code)


@router.get("/admin/review/{campaign_id}")
def reviewed(request: Request, campaign_id: Id, principal: Admin, session: DbSession,
             store: ObjectStoreDep) -> Response:
    """One campaign as the reviewer sees it: its state, the note, its creatives."""
    campaign = campaigns_service.get(session=session, campaign_id=campaign_id)
    context = _review_context(session, store, [campaign.id])
    return render(request, "admin/campaign.html", {
        "title": campaign.name, "campaign": context["campaigns"][0], "errors": {},
        **context}, principal=principal)


@router.post("/admin/review/{campaign_id}/approve")
def approve(campaign_id: Id, _form: Posted, principal: Admin, session: DbSession) -> Response:
    """Approve the campaign and its pending creatives, as the API's approve does."""
    campaign = campaigns_service.get(session=session, campaign_id=campaign_id)
    campaigns_service.approve(session=session, campaign=campaign,
                              reviewer_id=principal.user_id)
    return redirect(f"/admin/review/{campaign.id}?done=approved")


@router.post("/admin/review/{campaign_id}/reject")
def reject(request: Request, campaign_id: Id, form: Posted, principal: Admin,
           session: DbSession, store: ObjectStoreDep) -> Response:
    """Reject the campaign with a note the advertiser reads, as the API's reject does."""
    campaign = campaigns_service.get(session=session, campaign_id=campaign_id)
    typed = str(form.get("reason", ""))
    note, errors = validate(ReviewNote, {"reason": typed.strip()}, ["reason"])
    if note is None:
        return _review_page(request, principal, session, store, {campaign.id: errors},
                            typed, status_code=422)
    campaigns_service.reject(session=session, campaign=campaign,
                             reviewer_id=principal.user_id, reason=note.reason)
    return redirect(f"/admin/review/{campaign.id}?done=rejected")


# --- organisations and users --------------------------------------------------------------

@router.get("/admin/orgs")
def orgs(request: Request, principal: Admin, session: DbSession, q: Text = None) -> Response:
    """Organisations and users, found by a part of a name or an email address."""
    found = orgs_service.find_orgs(session=session, text=q, limit=ORGS_MAX)
    users = orgs_service.find_users(session=session, text=q, limit=USERS_MAX)
    return render(request, "admin/orgs.html", {
        "title": "Organisations", "q": q or "", "orgs": found, "users": users,
        "orgs_max": ORGS_MAX, "users_max": USERS_MAX,
        "members": orgs_service.member_counts(session=session, org_ids=[o.id for o in found])},
        principal=principal)


@router.get("/admin/orgs/{org_id}")
def org(request: Request, org_id: Id, principal: Admin, session: DbSession) -> Response:
    """An organisation: its members, invitations, and what it runs."""
    found = orgs_service.require_org(session=session, org_id=org_id)
    authorize(principal, Resource.member, Action.read, owner_org_id=found.id)
    context: dict[str, Any] = {
        "title": found.name, "org": found,
        "members": orgs_service.list_members(session=session, org_id=found.id),
        "invitations": orgs_service.pending_invitations(session=session, org_id=found.id)}
    if found.kind == "venue":
        venues = venues_service.list_venues(session=session, org_id=found.id)
        context["venues"] = venues
    elif found.kind == "advertiser":
        campaigns = campaigns_service.list_for(session=session, org_id=found.id)
        context["campaigns"] = [(c, campaigns_service.state(c)) for c in campaigns]
    return render(request, "admin/org.html", context, principal=principal)


# --- the fleet ------------------------------------------------------------------------------

@router.get("/admin/fleet")
def fleet(request: Request, principal: Admin, session: DbSession, settings: SettingsDep,
          status: Annotated[Literal["online", "offline", "unpaired"] | None, Query()] = None,
          q: Text = None,
          page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    """Every screen's status, filterable by status and by org, venue or screen name."""
    found = views.fleet(session=session, heartbeat_interval_s=settings.heartbeat_interval_s,
                        status=status, text=q, page=page)
    return render(request, "admin/fleet.html", {
        "title": "Fleet", "fleet": found, "status": status or "", "q": q or "",
        "statuses": views.FLEET_STATUSES, "page_size": views.FLEET_PAGE_SIZE},
        principal=principal)


# --- the system -----------------------------------------------------------------------------

def _checks(session: Session, settings: Settings, broker: BrokerAccounts,
            bridge: MqttPublisher | None) -> dict[str, Any]:
    health = jobs.health(session=session)
    embedded = settings.mqtt_url is None and settings.run_broker
    return {"health": health, "checked_at": utcnow(), "checks": [
        views.database(session), *views.queue(health=health, settings=settings),
        views.broker(broker_url=getattr(broker, "url", ""), embedded=embedded, bridge=bridge)]}


@router.get("/admin/system")
def system(request: Request, principal: Admin, session: DbSession, settings: SettingsDep,
           payments: PaymentProviderDep, channels: Channels, broker: Broker,
           bridge: Bridge) -> Response:
    """Which providers run offline, and how the database, queue, workers and broker stand."""
    return render(request, "admin/system.html", {
        "title": "System", "providers": views.providers(payments, channels),
        **_checks(session, settings, broker, bridge),
        "storage": settings.storage_url.split(":", 1)[0],
        "transcoder": "Coconut (hosted)" if settings.coconut_api_key else "ffmpeg, local"},
        principal=principal)


@router.get("/admin/system/health")
def system_health(request: Request, principal: Admin, session: DbSession,
                  settings: SettingsDep, broker: Broker, bridge: Bridge) -> Response:
    """The health table alone, which the system page fetches again every 10 s."""
    return render(request, "admin/_health.html", _checks(session, settings, broker, bridge),
                  principal=principal)


# --- the revenue-share policy, billing and payouts --------------------------------------------

def _revenue_page(request: Request, principal: Principal, session: Session,
                  settings: Settings, errors: FormErrors | None = None,
                  typed: dict[str, str] | None = None, status_code: int = 200) -> Response:
    policy = revenue_service.policy_page(session=session, settings=settings)
    cycles = billing_service.cycles_in(session=session, start=EVER[0], end=EVER[1])[-12:]
    invoices = billing_service.list_invoices(session=session, org_id=None, limit=20)
    paid_out = payouts.payouts_of(session=session, venue_org_id=None, limit=20)
    names = orgs_service.org_names(session=session, org_ids=[
        *(i.org_id for i in invoices), *(p.venue_org_id for p in paid_out)])
    venue_ids = {o.venue_id for v in (policy.current, *policy.scheduled, *policy.history)
                 for o in v.venue_overrides}
    return render(request, "admin/revenue.html", {
        "title": "Revenue share", "policy": policy, "errors": errors or FormErrors(),
        "typed": typed or {}, "cycles": list(reversed(cycles)), "invoices": invoices,
        "payouts": paid_out, "names": names, "percent": views.percent,
        "venue_names": venues_service.venue_names(session=session, venue_ids=venue_ids)},
        principal=principal, status_code=status_code)


@router.get("/admin/revenue")
def revenue(request: Request, principal: Admin, session: DbSession,
            settings: SettingsDep) -> Response:
    """The policy in force, its history, and a form for the next version; billing cycles,
    invoices and payouts lately."""
    return _revenue_page(request, principal, session, settings)


@router.post("/admin/revenue")
def set_policy(request: Request, form: Posted, principal: Admin, session: DbSession,
               settings: SettingsDep) -> Response:
    """A new version of the policy, as `PUT /v1/revenue-share/policy` makes it."""
    typed = {name: str(form.get(name, "")) for name in views.POLICY_FIELDS}
    data, errors = views.policy_data(form)
    body, invalid = validate(PolicyIn, data, views.POLICY_FIELDS)
    errors = FormErrors({**invalid, **errors})
    if body is None or errors:
        return _revenue_page(request, principal, session, settings, errors, typed, 422)
    try:
        made = revenue_service.set_policy(session=session, settings=settings, policy_in=body,
                                          user_id=principal.user_id)
    except AppError as exc:
        session.rollback()
        return _revenue_page(request, principal, session, settings, views.policy_error(exc),
                             typed, exc.status_code)
    return redirect(f"/admin/revenue?version={made.version}")
