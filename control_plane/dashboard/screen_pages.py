"""The screen pages of venue owners and technicians: a screen's live status, its remote
commands and what it plays, and pairing a screen with the code its player shows.

The status is a fragment (`/screens/{id}/live`) that htmx asks for every 5 s: the device's last
heartbeat, the latest screenshot and the commands sent with their state, so a command's button
shows it go from queued to acked (or failed, or expired) without a reload. Pairing claims the
code as `POST /v1/screens/{id}/pair` does, under the same limits on wrong guesses.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from control_plane.auth.policy import Action, Principal, Resource, allowed, authorize
from control_plane.dashboard import timeline_view
from control_plane.dashboard.session import Posted, User
from control_plane.dashboard.venue_access import (
    can,
    org_of,
    screen_of,
    state_of,
    statuses,
    venue_of,
)
from control_plane.dashboard.web import FormErrors, PageRoute, form_dict, redirect, render, validate
from control_plane.db import DbSession, utcnow
from control_plane.dependencies import ObjectStoreDep, SettingsDep
from control_plane.devices import commands as commands_service
from control_plane.devices import service as devices_service
from control_plane.devices.dependencies import (
    Bridge,
    Broker,
    ClaimClientLimiter,
    ClaimScreenLimiter,
)
from control_plane.devices.messaging import send_command
from control_plane.devices.schemas import ClaimRequest, CommandCreate
from control_plane.errors import AppError
from control_plane.scheduling import preview as scheduling_preview
from control_plane.settings import Settings
from control_plane.storage.base import ObjectStore
from control_plane.venues import audience as venues_audience
from control_plane.venues import service as venues_service
from control_plane.venues.schemas import ScreenCreate

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Id = Annotated[str, Path(max_length=40)]
COMMANDS = (("screenshot", "Take a screenshot"), ("resync", "Fetch the schedule again"),
            ("identify", "Show its name on screen"), ("clear_cache", "Clear the cache"),
            ("reboot", "Restart the player"))
RECENT_COMMANDS = 8
NEW = "new"  # the pairing form's choice of a screen it adds
NEW_SCREEN_FIELDS = ("name", "width_px", "height_px")
PAIR_FIELDS = ("screen_id", "code", "new_venue_id", "new_name", "new_width_px", "new_height_px")


def _live(session: Session, settings: Settings, store: ObjectStore,
          screen: Any) -> dict[str, Any]:
    """What the live part of the screen page shows."""
    state = state_of(session, settings, screen.id)
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
        "can_command": can(principal, Resource.screen, Action.manage, screen.org_id),
        "can_delete": can(principal, Resource.screen, Action.delete, screen.org_id),
        "can_edit_audience": can(principal, Resource.screen, Action.update, screen.org_id),
        "edit_href": f"/screens/{screen.id}/audience",
        "command_error": command_error, **_live(session, settings, store, screen)},
        principal=principal, status_code=status_code)


@router.get("/screens/{screen_id}")
def screen_page(request: Request, screen_id: Id, principal: User, session: DbSession,
                settings: SettingsDep, store: ObjectStoreDep) -> Response:
    """A screen: live status, the remote commands, the audience, and (loaded after) what plays."""
    screen = screen_of(session, principal, screen_id)
    return _screen_page(request, principal, session, settings, store, screen)


@router.get("/screens/{screen_id}/live")
def screen_live(request: Request, screen_id: Id, principal: User, session: DbSession,
                settings: SettingsDep, store: ObjectStoreDep) -> Response:
    """The live part of the screen page (htmx asks for it every 5 s)."""
    screen = screen_of(session, principal, screen_id)
    return render(request, "venue/_live.html", _live(session, settings, store, screen),
                  principal=principal)


@router.post("/screens/{screen_id}/commands")
def screen_command(request: Request, screen_id: Id, form: Posted, principal: User,
                   session: DbSession, settings: SettingsDep, store: ObjectStoreDep,
                   bridge: Bridge) -> Response:
    """Send a remote command as `POST /v1/screens/{id}/commands` does; its state shows live."""
    screen = screen_of(session, principal, screen_id, Action.manage)
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
        if request.headers.get("hx-request"):  # htmx swaps only a 2xx: the refusal in it
            return render(request, "venue/_live.html", {
                **_live(session, settings, store, screen), "live_error": exc.message},
                principal=principal)
        return _screen_page(request, principal, session, settings, store, screen,
                            command_error=exc.message, status_code=exc.status_code)
    if request.headers.get("hx-request"):
        return render(request, "venue/_live.html", _live(session, settings, store, screen),
                      principal=principal)
    return redirect(f"/screens/{screen.id}")


@router.post("/screens/{screen_id}/unpair")
def screen_unpair(request: Request, screen_id: Id, form: Posted, principal: User,
                  session: DbSession, settings: SettingsDep, store: ObjectStoreDep,
                  broker: Broker) -> Response:
    """Unpair as `DELETE /v1/screens/{id}/device` does: the player's token and broker login
    stop working now, and the screen waits for a new code."""
    screen = screen_of(session, principal, screen_id, Action.manage)
    try:
        devices_service.unpair(session=session, screen_id=screen.id, broker=broker)
    except AppError as exc:
        return _screen_page(request, principal, session, settings, store, screen,
                            command_error=exc.message, status_code=exc.status_code)
    return redirect(f"/screens/{screen.id}")


@router.get("/screens/{screen_id}/delete")
def delete_screen_page(request: Request, screen_id: Id, principal: User, session: DbSession,
                       settings: SettingsDep) -> Response:
    """Ask before the screen is deleted."""
    screen = screen_of(session, principal, screen_id, Action.delete)
    venue = venues_service.get_venue(session=session, venue_id=screen.venue_id)
    paired = state_of(session, settings, screen.id).status != "unpaired"
    return render(request, "venue/delete.html", {
        "title": f"Delete {screen.name}?", "name": screen.name, "back": f"/screens/{screen.id}",
        "action": f"/screens/{screen.id}/delete", "button": "Delete the screen",
        "what": f"{screen.name} leaves {venue.name}, with its own audience profile and its "
                "commands." + (" Its player stops getting a schedule and shows a new code to "
                               "pair again." if paired else ""),
        "goes": []}, principal=principal)


@router.post("/screens/{screen_id}/delete")
def delete_screen(request: Request, screen_id: Id, _form: Posted, principal: User,
                  session: DbSession) -> Response:
    """Delete the screen as `DELETE /v1/screens/{id}` does; then its venue's page."""
    screen = screen_of(session, principal, screen_id, Action.delete)
    venue_id = screen.venue_id
    venues_service.delete_screen(session=session, screen=screen)
    return redirect(f"/venues/{venue_id}?deleted=1")


@router.get("/screens/{screen_id}/timeline")
def screen_timeline(request: Request, screen_id: Id, principal: User, session: DbSession,
                    hours: Annotated[str | None, Query(max_length=4)] = None,
                    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
                    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
                    ) -> Response:
    """What plays on the screen in the period asked for (the next 24 hours by default) and
    why, and what may not and why not (a fragment for the screen page, or a page of its own)."""
    screen = screen_of(session, principal, screen_id)
    now = utcnow()
    shown = timeline_view.period(now, hours, start, end)
    timeline = scheduling_preview.timeline(session=session, screen_id=screen.id,
                                           start=shown.start, end=shown.end)
    names = timeline_view.campaign_names(session, timeline)
    context = {"title": f"What plays on {screen.name}", "screen": screen, "period": shown,
               "hours_offered": timeline_view.HOURS, "names": names,
               "rows": timeline_view.rows(timeline, names),
               "exclusions": timeline_view.exclusions(timeline, names),
               "planned_until": now + timeline_view.PLANNED_AHEAD}
    status_code = 422 if shown.errors else 200
    if request.headers.get("hx-request"):
        return render(request, "venue/_timeline.html", context, principal=principal)
    return render(request, "venue/timeline.html", context, principal=principal,
                  status_code=status_code)


# --- pairing --------------------------------------------------------------------------------

def _pairable(session: Session, principal: Principal,
              settings: Settings) -> list[tuple[Any, Any, str]]:
    """The org's screens a user may pair: (venue, screen, status), unpaired ones first."""
    pairs = [(venue, screen)
             for venue in venues_service.list_venues(session=session, org_id=org_of(principal))
             for screen in venues_service.list_screens(session=session, venue_id=venue.id)
             if can(principal, Resource.screen, Action.manage, screen.org_id)]
    status = statuses(session, settings, [screen.id for _, screen in pairs])
    rows = [(venue, screen, status[screen.id]) for venue, screen in pairs]
    return sorted(rows, key=lambda r: (r[2] != "unpaired", r[0].name, r[1].name))


def _pair_page(request: Request, principal: Principal, session: Session, settings: Settings,
               values: dict[str, str], errors: FormErrors | None = None,
               status_code: int = 200) -> Response:
    can_add = allowed(principal, Resource.screen, Action.create)
    venues = venues_service.list_venues(session=session, org_id=org_of(principal)) \
        if can_add else []
    return render(request, "venue/pair.html", {
        "title": "Pair a screen", "screens": _pairable(session, principal, settings),
        "values": values, "errors": errors or FormErrors(), "can_add": can_add,
        "venues": [(v.id, v.name) for v in venues]}, principal=principal,
        status_code=status_code)


def _new_screen(session: Session, principal: Principal, values: dict[str, str]
                ) -> tuple[venues_service.Screen | None, FormErrors]:
    """The screen the pairing form adds (`new_*` fields), as `POST /v1/venues/{id}/screens`
    adds it; or the errors by field."""
    if not values["new_venue_id"]:
        return None, FormErrors(new_venue_id="Choose the venue of the new screen")
    venue = venue_of(session, principal, values["new_venue_id"])
    authorize(principal, Resource.screen, Action.create, owner_org_id=venue.org_id)
    data = {name: values[f"new_{name}"] for name in NEW_SCREEN_FIELDS if values[f"new_{name}"]}
    body, errors = validate(ScreenCreate, data, NEW_SCREEN_FIELDS)
    if body is None:
        return None, FormErrors({f"new_{k}" if k else k: v for k, v in errors.items()})
    return venues_service.create_screen(session=session, venue=venue, screen_in=body), errors


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
    values = {name: str(form.get(name) or "").strip()[:40] for name in PAIR_FIELDS}
    body, errors = validate(ClaimRequest, form_dict(values, "code"), ("code",))
    if not values["screen_id"]:
        errors["screen_id"] = "Choose the screen the code is shown on"
    if body is None or errors:
        return _pair_page(request, principal, session, settings, values, errors, 422)
    if values["screen_id"] == NEW:
        made, errors = _new_screen(session, principal, values)
        if made is None:
            return _pair_page(request, principal, session, settings, values, errors, 422)
        values["screen_id"] = made.id  # shown again chosen if the code is refused
    screen = screen_of(session, principal, values["screen_id"], Action.manage)
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
