"""The venue owner's and technician's pages: venues, screens (live status, remote commands,
the timeline), pairing, moderation, house content, earnings.

Each page calls the services the API's routes call (`venues`, `devices`, `scheduling`,
`moderation`, `revenue`) with the same `authorize(...)` checks, so another org's venue or screen
answers 404 here as on `/v1/venues/{id}`, and a technician (who may read venues, pair screens
and command them, but not change venues) is refused the same things the API refuses.

This module holds venues, moderation and earnings; a screen's pages and pairing are in
`screen_pages.py` (`venue_access.py`: the checks both share).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from control_plane.auth.policy import Action, Principal, Resource, allowed, authorize
from control_plane.dashboard import venue_forms
from control_plane.dashboard.session import Posted, User
from control_plane.dashboard.venue_access import can, org_of, state_of, statuses, venue_of
from control_plane.dashboard.web import FormErrors, PageRoute, form_dict, redirect, render, validate
from control_plane.db import DbSession, utcnow
from control_plane.dependencies import ObjectStoreDep, SettingsDep
from control_plane.errors import AppError
from control_plane.media import service as media_service
from control_plane.moderation import service as moderation_service
from control_plane.moderation.schemas import DecisionBody
from control_plane.revenue import payouts
from control_plane.revenue import service as revenue_service
from control_plane.revenue.dependencies import PaymentProviderDep, check_payout_admin
from control_plane.settings import Settings
from control_plane.storage.base import ObjectStore
from control_plane.venues import audience as venues_audience
from control_plane.venues import service as venues_service
from control_plane.venues.schemas import ScreenCreate, VenueCreate, VenueUpdate

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Id = Annotated[str, Path(max_length=40)]
ItemId = Annotated[str, Path(max_length=90, pattern=r"^[\w-]+~[\w-]+$")]
SCREEN_FIELDS = ("name", "width_px", "height_px", "orientation", "audience_multiplier")


# --- venues ---------------------------------------------------------------------------------

@router.get("/venues")
def venues(request: Request, principal: User, session: DbSession,
           settings: SettingsDep) -> Response:
    """The org's venues, each with its screens and how many are online."""
    authorize(principal, Resource.venue, Action.read)
    org_id = None if principal.is_superadmin else org_of(principal)
    found = venues_service.list_venues(session=session, org_id=org_id)
    screens = {venue.id: venues_service.list_screens(session=session, venue_id=venue.id)
               for venue in found}
    status = statuses(session, settings, [s.id for listed in screens.values() for s in listed])
    rows = [(venue, len(screens[venue.id]),
             sum(1 for s in screens[venue.id] if status[s.id] == "online")) for venue in found]
    return render(request, "venue/venues.html", {
        "title": "Venues", "rows": rows,
        "can_create": allowed(principal, Resource.venue, Action.create)}, principal=principal)


def _venue_form(request: Request, principal: Principal, session: Session,
                values: venue_forms.Values, *, venue: Any = None,
                errors: FormErrors | None = None, status_code: int = 200) -> Response:
    org_id = venue.org_id if venue is not None else org_of(principal)
    house = [m for m in media_service.list_media(session=session, org_id=org_id)
             if m.status == "ready"]
    return render(request, "venue/venue_form.html", {
        "title": f"Change {venue.name}" if venue is not None else "New venue",
        "venue": venue, "values": values, "errors": errors or FormErrors(),
        "venue_types": venue_forms.venue_types(), "categories": venue_forms.categories(),
        "days": venue_forms.DAY_NAMES, "house": house}, principal=principal,
        status_code=status_code)


@router.get("/venues/new")
def new_venue(request: Request, principal: User, session: DbSession) -> Response:
    """The form of a new venue."""
    authorize(principal, Resource.venue, Action.create)
    return _venue_form(request, principal, session, venue_forms.blank())


@router.post("/venues/new")
def create_venue(request: Request, form: Posted, principal: User,
                 session: DbSession) -> Response:
    """Register a venue as `POST /v1/venues` does; then its page."""
    authorize(principal, Resource.venue, Action.create)
    org_id = org_of(principal)
    values = venue_forms.read(form)
    body, errors = validate(VenueCreate, venue_forms.body(values, update=False),
                            venue_forms.FIELDS)
    if body is None:
        return _venue_form(request, principal, session, values, errors=errors,
                           status_code=422)
    try:
        venue = venues_service.create_venue(session=session, org_id=org_id, venue_in=body)
    except AppError as exc:
        return _venue_form(request, principal, session, values, status_code=exc.status_code,
                           errors=_venue_error(exc))
    return redirect(f"/venues/{venue.id}")


def _venue_error(exc: AppError) -> FormErrors:
    """A service's refusal at the field it is about (venue type, categories, house media)."""
    errors = FormErrors.of(exc, venue_forms.FIELDS)
    field = {"unknown_venue_type": "venue_type_id", "media_not_ready": "house_media_ids",
             "unknown_category": "blocked_categories"}.get(exc.code)
    if "" in errors and field:
        errors[field] = errors.pop("")
    return errors


@router.get("/venues/{venue_id}")
def venue_page(request: Request, venue_id: Id, principal: User, session: DbSession,
               settings: SettingsDep) -> Response:
    """A venue: its address, time zone, hours, blocked categories, house content, screens."""
    venue = venue_of(session, principal, venue_id)
    return _venue_page(request, principal, session, settings, venue)


def _venue_page(request: Request, principal: Principal, session: Session, settings: Settings,
                venue: Any, *, screen_values: dict[str, str] | None = None,
                screen_errors: FormErrors | None = None, status_code: int = 200) -> Response:
    screens = [(s, state_of(session, settings, s.id))
               for s in venues_service.list_screens(session=session, venue_id=venue.id)]
    house = media_service.get_many(session=session, media_ids=venue.house_media_ids) \
        if venue.house_media_ids else []
    return render(request, "venue/venue.html", {
        "title": venue.name, "venue": venue, "screens": screens,
        "audience": venues_audience.audience(session=session, venue_id=venue.id),
        "edit_href": f"/venues/{venue.id}/audience",
        "venue_type": venue_forms.venue_type_name(venue.venue_type_id),
        "blocked": venue_forms.category_names(venue.blocked_categories),
        "house": house, "days": venue_forms.DAY_NAMES,
        "can_edit": can(principal, Resource.venue, Action.update, venue.org_id),
        "can_delete": can(principal, Resource.venue, Action.delete, venue.org_id),
        "can_edit_audience": can(principal, Resource.venue, Action.update, venue.org_id),
        "can_add_screen": can(principal, Resource.screen, Action.create, venue.org_id),
        "can_pair": can(principal, Resource.screen, Action.manage, venue.org_id),
        "screen_values": screen_values or {"width_px": "1920", "height_px": "1080"},
        "screen_errors": screen_errors or FormErrors()}, principal=principal,
        status_code=status_code)


@router.get("/venues/{venue_id}/edit")
def edit_venue(request: Request, venue_id: Id, principal: User, session: DbSession) -> Response:
    """The venue's form, filled in."""
    venue = venue_of(session, principal, venue_id, Action.update)
    return _venue_form(request, principal, session, venue_forms.of_venue(venue), venue=venue)


@router.post("/venues/{venue_id}/edit")
def update_venue(request: Request, venue_id: Id, form: Posted, principal: User,
                 session: DbSession) -> Response:
    """Change the venue as `PATCH /v1/venues/{id}` does; then its page."""
    venue = venue_of(session, principal, venue_id, Action.update)
    values = venue_forms.read(form)
    body, errors = validate(VenueUpdate, venue_forms.body(values, update=True),
                            venue_forms.FIELDS)
    if body is None:
        return _venue_form(request, principal, session, values, venue=venue, errors=errors,
                           status_code=422)
    try:
        venues_service.update_venue(session=session, venue=venue, venue_in=body)
    except AppError as exc:
        session.rollback()
        return _venue_form(request, principal, session, values, venue=venue,
                           errors=_venue_error(exc), status_code=exc.status_code)
    return redirect(f"/venues/{venue.id}")


@router.get("/venues/{venue_id}/delete")
def delete_venue_page(request: Request, venue_id: Id, principal: User, session: DbSession,
                      settings: SettingsDep) -> Response:
    """Ask before the venue and its screens are deleted."""
    venue = venue_of(session, principal, venue_id, Action.delete)
    screens = venues_service.list_screens(session=session, venue_id=venue.id)
    status = statuses(session, settings, [s.id for s in screens])
    goes = [f"its screen {s.name} ({status[s.id]}"
            + ("; its player stops getting a schedule" if status[s.id] != "unpaired" else "")
            + ")" for s in screens]
    return render(request, "venue/delete.html", {
        "title": f"Delete {venue.name}?", "name": venue.name, "back": f"/venues/{venue.id}",
        "action": f"/venues/{venue.id}/delete", "button": "Delete the venue",
        "what": f"{venue.name} goes, and with it its opening hours, audience and moderation "
                "decisions" + (", and:" if goes else "; it has no screen."),
        "goes": goes}, principal=principal)


@router.post("/venues/{venue_id}/delete")
def delete_venue(request: Request, venue_id: Id, _form: Posted, principal: User,
                 session: DbSession) -> Response:
    """Delete the venue and its screens as `DELETE /v1/venues/{id}` does; then the venues."""
    venue = venue_of(session, principal, venue_id, Action.delete)
    venues_service.delete_venue(session=session, venue=venue)
    return redirect("/venues?deleted=1")


@router.post("/venues/{venue_id}/screens")
def add_screen(request: Request, venue_id: Id, form: Posted, principal: User,
               session: DbSession, settings: SettingsDep) -> Response:
    """Add a screen as `POST /v1/venues/{id}/screens` does; then pair it."""
    venue = venue_of(session, principal, venue_id)
    authorize(principal, Resource.screen, Action.create, owner_org_id=venue.org_id)
    data = form_dict(form, *SCREEN_FIELDS)
    body, errors = validate(ScreenCreate, data, SCREEN_FIELDS)
    if body is None:
        return _venue_page(request, principal, session, settings, venue,
                           screen_values={k: str(v)[:200] for k, v in data.items()},
                           screen_errors=errors, status_code=422)
    screen = venues_service.create_screen(session=session, venue=venue, screen_in=body)
    return redirect(f"/pair?screen={screen.id}")


# --- moderation -----------------------------------------------------------------------------

def _moderation_page(request: Request, principal: Principal, session: Session,
                     store: ObjectStore, errors: dict[str, FormErrors] | None = None,
                     status_code: int = 200) -> Response:
    authorize(principal, Resource.moderation, Action.read)
    items = moderation_service.queue(session=session, org_id=org_of(principal), store=store)
    manual = venues_service.manual_venues(session=session, org_id=org_of(principal))
    return render(request, "venue/moderation.html", {
        "title": "Moderation", "items": items, "manual": manual, "errors": errors or {},
        "can_decide": allowed(principal, Resource.moderation, Action.manage)},
        principal=principal, status_code=status_code)


@router.get("/moderation")
def moderation(request: Request, principal: User, session: DbSession,
               store: ObjectStoreDep) -> Response:
    """The ads waiting for the approval of the org's manual venues."""
    return _moderation_page(request, principal, session, store)


@router.post("/moderation/{item_id}/{decision}")
def moderation_decide(request: Request, item_id: ItemId,
                      decision: Literal["approve", "reject"], form: Posted,
                      principal: User, session: DbSession, store: ObjectStoreDep) -> Response:
    """Approve or block an ad (or all its advertiser's) as the moderation API does."""
    verdict = "approved" if decision == "approve" else "rejected"
    body, errors = validate(DecisionBody, form_dict(form, "scope", "reason"),
                            ("scope", "reason"))
    if body is None:
        return _moderation_page(request, principal, session, store, {item_id: errors}, 422)
    try:
        moderation_service.decide_item(session=session, principal=principal, item_id=item_id,
                                       decision=verdict, scope=body.scope, reason=body.reason)
    except AppError as exc:
        if exc.status_code in (403, 404):
            raise
        return _moderation_page(request, principal, session, store,
                                {item_id: FormErrors(reason=exc.message)}, exc.status_code)
    return redirect("/moderation?decided=1")


# --- earnings -------------------------------------------------------------------------------

def _by_venue(lines: list[Any]) -> list[tuple[str, str, int, int, int]]:
    """Statement lines summed by venue and currency: (venue id, currency, plays, revenue,
    earnings)."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for ln in lines:
        found = sums[(ln.venue_id, ln.currency)]
        found[0] += ln.plays
        found[1] += ln.revenue_cents
        found[2] += ln.earnings_cents
    return [(v, c, *s) for (v, c), s in sorted(sums.items())]  # type: ignore[misc]


@router.get("/earnings")
def earnings(request: Request, principal: User, session: DbSession,
             days: Annotated[int, Query(ge=1, le=366)] = 90) -> Response:
    """The org's earnings by venue over the closed periods of the last `days`, its statement
    lines, its payouts, and setting payouts up."""
    authorize(principal, Resource.payout, Action.read)  # its admins and members
    org_id = org_of(principal)
    end = utcnow()
    lines = revenue_service.statements(session=session, venue_org_id=org_id,
                                       start=end - timedelta(days=days), end=end)
    names = {v.id: v.name for v in venues_service.list_venues(session=session, org_id=org_id)}
    totals: dict[str, int] = defaultdict(int)
    for ln in lines:
        totals[ln.currency] += ln.earnings_cents
    return render(request, "venue/earnings.html", {
        "title": "Earnings", "days": days, "lines": lines[:500], "by_venue": _by_venue(lines),
        "totals": sorted(totals.items()), "names": names,
        "payouts": payouts.payouts_of(session=session, venue_org_id=org_id, limit=50),
        "account": payouts.connect_account(session=session, org_id=org_id),
        "can_onboard": principal.role == "admin"}, principal=principal)


@router.post("/earnings/payouts")
def payout_setup(request: Request, _form: Posted, principal: User, session: DbSession,
                 settings: SettingsDep, provider: PaymentProviderDep) -> Response:
    """Where the org's admin sets up payouts (as `POST /v1/payouts/onboarding-link`): a link to
    the provider's onboarding, followed by the user."""
    url = payouts.onboarding_link_for(session=session, provider=provider, settings=settings,
                                      org_id=check_payout_admin(principal),
                                      user_id=principal.user_id)
    return render(request, "venue/onboarding.html", {"title": "Set up payouts", "url": url},
                  principal=principal)

