"""The venue owner's and technician's pages: venues, screens (live status, remote commands,
the timeline), pairing, moderation, house content, earnings.

Each page calls the services the API's routes call (`venues`, `devices`, `scheduling`,
`moderation`, `revenue`) with the same `authorize(...)` checks, so another org's venue or screen
answers 404 here as on `/v1/venues/{id}`, and a technician (who may read venues, pair screens
and command them, but not change venues) is refused the same things the API refuses.

The screen page's status is a fragment (`/screens/{id}/live`) that htmx asks for every 5 s: the
device's last heartbeat, the latest screenshot and the commands sent with their state, so a
command's button shows it go from queued to acked (or failed, or expired) without a reload.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from control_plane.auth.dependencies import require_verified_email
from control_plane.auth.policy import Action, Principal, Resource, allowed, authorize
from control_plane.dashboard import venue_forms
from control_plane.dashboard.session import Posted, User
from control_plane.dashboard.web import FormErrors, PageRoute, form_dict, redirect, render, validate
from control_plane.db import DbSession, utcnow
from control_plane.dependencies import ObjectStoreDep, SettingsDep
from control_plane.devices import commands as commands_service
from control_plane.devices import service as devices_service
from control_plane.devices.dependencies import Bridge, ClaimClientLimiter, ClaimScreenLimiter
from control_plane.devices.messaging import send_command
from control_plane.devices.schemas import ClaimRequest, CommandCreate
from control_plane.errors import AppError, Forbidden
from control_plane.media import service as media_service
from control_plane.moderation import service as moderation_service
from control_plane.moderation.schemas import DecisionBody
from control_plane.orgs import service as orgs_service
from control_plane.revenue import payouts
from control_plane.revenue import service as revenue_service
from control_plane.revenue.dependencies import PaymentProviderDep
from control_plane.revenue.exceptions import NotAVenueAdmin
from control_plane.scheduling import preview as scheduling_preview
from control_plane.settings import Settings
from control_plane.storage.base import ObjectStore
from control_plane.venues import audience as venues_audience
from control_plane.venues import service as venues_service
from control_plane.venues.schemas import ScreenCreate, VenueCreate, VenueUpdate

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Id = Annotated[str, Path(max_length=40)]
ItemId = Annotated[str, Path(max_length=90, pattern=r"^[\w-]+~[\w-]+$")]
COMMANDS = (("screenshot", "Take a screenshot"), ("resync", "Fetch the schedule again"),
            ("identify", "Show its name on screen"), ("clear_cache", "Clear the cache"),
            ("reboot", "Restart the player"))
SCREEN_FIELDS = ("name", "width_px", "height_px", "orientation", "audience_multiplier")
RECENT_COMMANDS = 8


def _org(principal: Principal) -> str:
    if principal.org_id is None:
        raise Forbidden("act in an organisation first (switch org on your account page)",
                        code="no_org")
    return principal.org_id


def _venue(session: Session, principal: Principal, venue_id: str,
           action: Action = Action.read) -> venues_service.Venue:
    venue = venues_service.get_venue(session=session, venue_id=venue_id)
    authorize(principal, Resource.venue, action, owner_org_id=venue.org_id)
    return venue


def _screen(session: Session, principal: Principal, screen_id: str,
            action: Action = Action.read) -> venues_service.Screen:
    screen = venues_service.get_screen(session=session, screen_id=screen_id)
    authorize(principal, Resource.screen, action, owner_org_id=screen.org_id)
    return screen


def _state(session: Session, settings: Settings, screen_id: str) -> devices_service.ScreenState:
    return devices_service.screen_state(session=session, screen_id=screen_id,
                                        heartbeat_interval_s=settings.heartbeat_interval_s)


def _can(principal: Principal, resource: Resource, action: Action, org_id: str) -> bool:
    """Whether a button is offered: the API would let this user do `action` on the object."""
    try:
        authorize(principal, resource, action, owner_org_id=org_id)
    except AppError:
        return False
    return True


# --- venues ---------------------------------------------------------------------------------

@router.get("/venues")
def venues(request: Request, principal: User, session: DbSession,
           settings: SettingsDep) -> Response:
    """The org's venues, each with its screens and how many are online."""
    authorize(principal, Resource.venue, Action.read)
    org_id = None if principal.is_superadmin else _org(principal)
    found = venues_service.list_venues(session=session, org_id=org_id)
    rows = []
    for venue in found:
        screens = venues_service.list_screens(session=session, venue_id=venue.id)
        online = sum(1 for s in screens if _state(session, settings, s.id).status == "online")
        rows.append((venue, len(screens), online))
    return render(request, "venue/venues.html", {
        "title": "Venues", "rows": rows,
        "can_create": allowed(principal, Resource.venue, Action.create)}, principal=principal)


def _venue_form(request: Request, principal: Principal, session: Session,
                values: venue_forms.Values, *, venue: Any = None,
                errors: FormErrors | None = None, status_code: int = 200) -> Response:
    org_id = venue.org_id if venue is not None else _org(principal)
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
    org_id = _org(principal)
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
    venue = _venue(session, principal, venue_id)
    return _venue_page(request, principal, session, settings, venue)


def _venue_page(request: Request, principal: Principal, session: Session, settings: Settings,
                venue: Any, *, screen_values: dict[str, str] | None = None,
                screen_errors: FormErrors | None = None, status_code: int = 200) -> Response:
    screens = [(s, _state(session, settings, s.id))
               for s in venues_service.list_screens(session=session, venue_id=venue.id)]
    house = media_service.get_many(session=session, media_ids=venue.house_media_ids) \
        if venue.house_media_ids else []
    return render(request, "venue/venue.html", {
        "title": venue.name, "venue": venue, "screens": screens,
        "venue_type": venue_forms.venue_type_name(venue.venue_type_id),
        "blocked": venue_forms.category_names(venue.blocked_categories),
        "house": house, "days": venue_forms.DAY_NAMES,
        "can_edit": _can(principal, Resource.venue, Action.update, venue.org_id),
        "can_add_screen": _can(principal, Resource.screen, Action.create, venue.org_id),
        "can_pair": _can(principal, Resource.screen, Action.manage, venue.org_id),
        "screen_values": screen_values or {"width_px": "1920", "height_px": "1080"},
        "screen_errors": screen_errors or FormErrors()}, principal=principal,
        status_code=status_code)


@router.get("/venues/{venue_id}/edit")
def edit_venue(request: Request, venue_id: Id, principal: User, session: DbSession) -> Response:
    """The venue's form, filled in."""
    venue = _venue(session, principal, venue_id, Action.update)
    return _venue_form(request, principal, session, venue_forms.of_venue(venue), venue=venue)


@router.post("/venues/{venue_id}/edit")
def update_venue(request: Request, venue_id: Id, form: Posted, principal: User,
                 session: DbSession) -> Response:
    """Change the venue as `PATCH /v1/venues/{id}` does; then its page."""
    venue = _venue(session, principal, venue_id, Action.update)
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


@router.post("/venues/{venue_id}/screens")
def add_screen(request: Request, venue_id: Id, form: Posted, principal: User,
               session: DbSession, settings: SettingsDep) -> Response:
    """Add a screen as `POST /v1/venues/{id}/screens` does; then pair it."""
    venue = _venue(session, principal, venue_id)
    authorize(principal, Resource.screen, Action.create, owner_org_id=venue.org_id)
    data = form_dict(form, *SCREEN_FIELDS)
    body, errors = validate(ScreenCreate, data, SCREEN_FIELDS)
    if body is None:
        return _venue_page(request, principal, session, settings, venue,
                           screen_values={k: str(v)[:200] for k, v in data.items()},
                           screen_errors=errors, status_code=422)
    screen = venues_service.create_screen(session=session, venue=venue, screen_in=body)
    return redirect(f"/pair?screen={screen.id}")


# --- a screen -------------------------------------------------------------------------------

def _live(session: Session, settings: Settings, store: ObjectStore,
          screen: Any) -> dict[str, Any]:
    """What the live part of the screen page shows."""
    state = _state(session, settings, screen.id)
    device = devices_service.active_device(session=session, screen_id=screen.id)
    shot = commands_service.latest_screenshot(session=session, screen_id=screen.id)
    recent = commands_service.recent(session=session, screen_id=screen.id,
                                     limit=RECENT_COMMANDS)
    health = device.health if device is not None else {}
    return {"screen": screen, "state": state,
            "cache": health.get("cache") if isinstance(health.get("cache"), dict) else None,
            "health": health,
            "shot": commands_service.read(shot, store) if shot is not None else None,
            "commands": [commands_service.read(c, store) for c in recent],
            "labels": dict(COMMANDS), "finished": commands_service.FINAL}


def _screen_page(request: Request, principal: Principal, session: Session, settings: Settings,
                 store: ObjectStore, screen: Any, *, command_error: str = "",
                 status_code: int = 200) -> Response:
    venue = venues_service.get_venue(session=session, venue_id=screen.venue_id)
    audience = venues_audience.audience(session=session, venue_id=screen.venue_id,
                                        screen_id=screen.id)
    return render(request, "venue/screen.html", {
        "title": screen.name, "venue": venue, "audience": audience, "commands_offered": COMMANDS,
        "can_command": _can(principal, Resource.screen, Action.manage, screen.org_id),
        "command_error": command_error, **_live(session, settings, store, screen)},
        principal=principal, status_code=status_code)


@router.get("/screens/{screen_id}")
def screen_page(request: Request, screen_id: Id, principal: User, session: DbSession,
                settings: SettingsDep, store: ObjectStoreDep) -> Response:
    """A screen: live status, the remote commands, the audience, and (loaded after) what plays."""
    screen = _screen(session, principal, screen_id)
    return _screen_page(request, principal, session, settings, store, screen)


@router.get("/screens/{screen_id}/live")
def screen_live(request: Request, screen_id: Id, principal: User, session: DbSession,
                settings: SettingsDep, store: ObjectStoreDep) -> Response:
    """The live part of the screen page (htmx asks for it every 5 s)."""
    screen = _screen(session, principal, screen_id)
    return render(request, "venue/_live.html", _live(session, settings, store, screen),
                  principal=principal)


@router.post("/screens/{screen_id}/commands")
def screen_command(request: Request, screen_id: Id, form: Posted, principal: User,
                   session: DbSession, settings: SettingsDep, store: ObjectStoreDep,
                   bridge: Bridge) -> Response:
    """Send a remote command as `POST /v1/screens/{id}/commands` does; its state shows live."""
    screen = _screen(session, principal, screen_id, Action.manage)
    body, _ = validate(CommandCreate, form_dict(form, "type"), ("type",))
    if body is None:
        return _screen_page(request, principal, session, settings, store, screen,
                            command_error="Choose one of the commands offered",
                            status_code=422)
    try:
        send_command(session=session, bridge=bridge, store=store, screen_id=screen.id,
                     screen_name=screen.name, type=body.type,
                     ttl_s=body.ttl_s or settings.command_ttl_s, user_id=principal.user_id)
    except AppError as exc:
        return _screen_page(request, principal, session, settings, store, screen,
                            command_error=exc.message, status_code=exc.status_code)
    if request.headers.get("hx-request"):
        return render(request, "venue/_live.html", _live(session, settings, store, screen),
                      principal=principal)
    return redirect(f"/screens/{screen.id}")


@router.get("/screens/{screen_id}/timeline")
def screen_timeline(request: Request, screen_id: Id, principal: User,
                    session: DbSession) -> Response:
    """What plays on the screen in the next 24 hours and why, and what may not and why not
    (a fragment for the screen page, or a page of its own)."""
    screen = _screen(session, principal, screen_id)
    timeline = scheduling_preview.timeline(session=session, screen_id=screen.id)
    context = {"title": f"What plays on {screen.name}", "screen": screen,
               "timeline": timeline}
    if request.headers.get("hx-request"):
        return render(request, "venue/_timeline.html", context, principal=principal)
    return render(request, "venue/timeline.html", context, principal=principal)


# --- pairing --------------------------------------------------------------------------------

def _pairable(session: Session, principal: Principal,
              settings: Settings) -> list[tuple[Any, Any, str]]:
    """The org's screens a user may pair: (venue, screen, status), unpaired ones first."""
    rows = []
    for venue in venues_service.list_venues(session=session, org_id=_org(principal)):
        for screen in venues_service.list_screens(session=session, venue_id=venue.id):
            if _can(principal, Resource.screen, Action.manage, screen.org_id):
                rows.append((venue, screen, _state(session, settings, screen.id).status))
    return sorted(rows, key=lambda r: (r[2] != "unpaired", r[0].name, r[1].name))


def _pair_page(request: Request, principal: Principal, session: Session, settings: Settings,
               values: dict[str, str], errors: FormErrors | None = None,
               status_code: int = 200) -> Response:
    return render(request, "venue/pair.html", {
        "title": "Pair a screen", "screens": _pairable(session, principal, settings),
        "values": values, "errors": errors or FormErrors(),
        "can_add": allowed(principal, Resource.screen, Action.create)}, principal=principal,
        status_code=status_code)


@router.get("/pair")
def pair_page(request: Request, principal: User, session: DbSession, settings: SettingsDep,
              screen: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    """Pair a screen with the code its player shows."""
    authorize(principal, Resource.screen, Action.manage)
    return _pair_page(request, principal, session, settings, {"screen_id": screen or ""})


@router.post("/pair")
def pair(request: Request, form: Posted, principal: User, session: DbSession,
         settings: SettingsDep, per_client: ClaimClientLimiter,
         per_screen: ClaimScreenLimiter) -> Response:
    """Claim the code for the chosen screen as `POST /v1/screens/{id}/pair` does (the same
    limits on wrong guesses); then the screen's page."""
    authorize(principal, Resource.screen, Action.manage)
    values = {"screen_id": str(form.get("screen_id") or "")[:40],
              "code": str(form.get("code") or "").strip()[:40]}
    body, errors = validate(ClaimRequest, form_dict(values, "code"), ("code",))
    if not values["screen_id"]:
        errors["screen_id"] = "Choose the screen the code is shown on"
    if body is None or errors:
        return _pair_page(request, principal, session, settings, values, errors, 422)
    screen = _screen(session, principal, values["screen_id"], Action.manage)
    try:
        devices_service.claim_limited(
            session=session, code=body.code, screen_id=screen.id, org_id=screen.org_id,
            user_id=principal.user_id,
            client=request.client.host if request.client else "unknown",
            per_client=per_client, per_screen=per_screen)
    except AppError as exc:
        field = "screen_id" if exc.code == "screen_already_paired" else "code"
        response = _pair_page(request, principal, session, settings, values,
                              FormErrors({field: exc.message}), exc.status_code)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response
    return redirect(f"/screens/{screen.id}?paired=1")


# --- moderation -----------------------------------------------------------------------------

def _moderation_page(request: Request, principal: Principal, session: Session,
                     store: ObjectStore, errors: dict[str, FormErrors] | None = None,
                     status_code: int = 200) -> Response:
    authorize(principal, Resource.moderation, Action.read)
    items = moderation_service.queue(session=session, org_id=_org(principal), store=store)
    manual = venues_service.manual_venues(session=session, org_id=_org(principal))
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
    org_id = _org(principal)
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
    if principal.org_kind != "venue" or principal.role != "admin" or principal.org_id is None:
        raise NotAVenueAdmin("payouts are set up by an admin of a venue org")
    require_verified_email(principal)
    user = orgs_service.get_user(session=session, user_id=principal.user_id or "")
    url = payouts.onboarding_link(session=session, provider=provider, settings=settings,
                                  org_id=principal.org_id, email=user.email if user else None)
    return render(request, "venue/onboarding.html", {"title": "Set up payouts", "url": url},
                  principal=principal)

