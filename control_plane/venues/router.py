"""HTTP routes of venues and screens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from control_plane.auth.dependencies import CurrentPrincipal, require_org_context
from control_plane.auth.policy import Action, Principal, Resource, authorize
from control_plane.db import DbSession
from control_plane.dependencies import ObjectStoreDep, SettingsDep
from control_plane.devices import commands as commands_service
from control_plane.devices import service as devices_service
from control_plane.settings import Settings
from control_plane.storage.base import ObjectStore
from control_plane.venues import audience as venues_audience
from control_plane.venues import service as venues_service
from control_plane.venues.models import Orientation, Screen, Venue
from control_plane.venues.schemas import (
    AudienceProfileIn,
    AudienceProfileRead,
    AudienceRead,
    ScreenCreate,
    ScreenPage,
    ScreenRead,
    ScreenUpdate,
    VenueCreate,
    VenuePage,
    VenueRead,
    VenueUpdate,
)

router = APIRouter(prefix="/v1", tags=["venues"])
Id = Annotated[str, Path(max_length=40)]


def screen_read(session: DbSession, screen: Screen, *, settings: Settings,
                store: ObjectStore) -> ScreenRead:
    """The API shape of a screen, with its device's state."""
    state = devices_service.screen_state(
        session=session, screen_id=screen.id,
        heartbeat_interval_s=settings.heartbeat_interval_s)
    shot = commands_service.latest_screenshot(session=session, screen_id=screen.id)
    shot_url = store.signed_url(shot.screenshot_key) \
        if shot is not None and shot.screenshot_key else None
    return ScreenRead(id=screen.id, venue_id=screen.venue_id, org_id=screen.org_id,
                      name=screen.name, width_px=screen.width_px, height_px=screen.height_px,
                      orientation=Orientation(screen.orientation),
                      audience_multiplier=screen.audience_multiplier,
                      audience_source=screen.audience_source, status=state.status,
                      last_seen_at=state.last_seen_at, now_playing=state.now_playing,
                      agent_version=state.agent_version, last_screenshot_url=shot_url,
                      created_at=screen.created_at)


def _venue(venue_id: Id, session: DbSession, principal: CurrentPrincipal,
           action: Action) -> Venue:
    venue = venues_service.get_venue(session=session, venue_id=venue_id)
    authorize(principal, Resource.venue, action, owner_org_id=venue.org_id)
    return venue


def _screen(screen_id: Id, session: DbSession, principal: CurrentPrincipal,
            action: Action) -> Screen:
    screen = venues_service.get_screen(session=session, screen_id=screen_id)
    authorize(principal, Resource.screen, action, owner_org_id=screen.org_id)
    return screen


@router.post("/venues", response_model=VenueRead, status_code=status.HTTP_201_CREATED,
             summary="Register a venue")
def create_venue(body: VenueCreate, session: DbSession,
                 principal: Principal = Depends(require_org_context)) -> VenueRead:
    authorize(principal, Resource.venue, Action.create)
    assert principal.org_id is not None
    venue = venues_service.create_venue(session=session, org_id=principal.org_id, venue_in=body)
    return VenueRead.model_validate(venue)


@router.get("/venues", response_model=VenuePage, summary="The org's venues")
def list_venues(session: DbSession,
                principal: Principal = Depends(require_org_context)) -> VenuePage:
    authorize(principal, Resource.venue, Action.read)
    org_id = None if principal.is_superadmin else principal.org_id
    return VenuePage(items=[VenueRead.model_validate(v) for v in
                            venues_service.list_venues(session=session, org_id=org_id)])


@router.get("/venues/{venue_id}", response_model=VenueRead, summary="One venue")
def get_venue(venue_id: Id, session: DbSession, principal: CurrentPrincipal) -> VenueRead:
    return VenueRead.model_validate(_venue(venue_id, session, principal, Action.read))


@router.patch("/venues/{venue_id}", response_model=VenueRead, summary="Change a venue")
def update_venue(venue_id: Id, body: VenueUpdate, session: DbSession,
                 principal: CurrentPrincipal) -> VenueRead:
    venue = _venue(venue_id, session, principal, Action.update)
    venue = venues_service.update_venue(session=session, venue=venue, venue_in=body)
    return VenueRead.model_validate(venue)


@router.delete("/venues/{venue_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a venue and its screens")
def delete_venue(venue_id: Id, session: DbSession, principal: CurrentPrincipal) -> None:
    venues_service.delete_venue(session=session,
                                venue=_venue(venue_id, session, principal, Action.delete))


@router.post("/venues/{venue_id}/screens", response_model=ScreenRead,
             status_code=status.HTTP_201_CREATED, summary="Add a screen to a venue")
def create_screen(venue_id: Id, body: ScreenCreate, session: DbSession,
                  principal: CurrentPrincipal, settings: SettingsDep,
                  store: ObjectStoreDep) -> ScreenRead:
    venue = _venue(venue_id, session, principal, Action.read)
    authorize(principal, Resource.screen, Action.create, owner_org_id=venue.org_id)
    screen = venues_service.create_screen(session=session, venue=venue, screen_in=body)
    return screen_read(session, screen, settings=settings, store=store)


@router.get("/venues/{venue_id}/screens", response_model=ScreenPage,
            summary="The venue's screens")
def list_screens(venue_id: Id, session: DbSession, principal: CurrentPrincipal,
                 settings: SettingsDep, store: ObjectStoreDep) -> ScreenPage:
    venue = _venue(venue_id, session, principal, Action.read)
    authorize(principal, Resource.screen, Action.read, owner_org_id=venue.org_id)
    return ScreenPage(items=[screen_read(session, s, settings=settings, store=store) for s in
                             venues_service.list_screens(session=session, venue_id=venue.id)])


@router.get("/screens/{screen_id}", response_model=ScreenRead, summary="One screen")
def get_screen(screen_id: Id, session: DbSession, principal: CurrentPrincipal,
               settings: SettingsDep, store: ObjectStoreDep) -> ScreenRead:
    return screen_read(session, _screen(screen_id, session, principal, Action.read),
                       settings=settings, store=store)


@router.patch("/screens/{screen_id}", response_model=ScreenRead, summary="Change a screen")
def update_screen(screen_id: Id, body: ScreenUpdate, session: DbSession,
                  principal: CurrentPrincipal, settings: SettingsDep,
                  store: ObjectStoreDep) -> ScreenRead:
    screen = _screen(screen_id, session, principal, Action.update)
    screen = venues_service.update_screen(session=session, screen=screen, screen_in=body)
    return screen_read(session, screen, settings=settings, store=store)


@router.delete("/screens/{screen_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a screen")
def delete_screen(screen_id: Id, session: DbSession, principal: CurrentPrincipal) -> None:
    venues_service.delete_screen(session=session,
                                 screen=_screen(screen_id, session, principal, Action.delete))


# --- audience profiles ------------------------------------------------------------------------

def _audience_read(found: venues_audience.Audience) -> AudienceRead:
    return AudienceRead(
        in_force=AudienceProfileRead.model_validate(found.in_force) if found.in_force else None,
        inherited=found.inherited,
        history=[AudienceProfileRead.model_validate(p) for p in found.history])


@router.get("/venues/{venue_id}/audience", response_model=AudienceRead,
            summary="The venue's audience profile and its versions")
def get_venue_audience(venue_id: Id, session: DbSession,
                       principal: CurrentPrincipal) -> AudienceRead:
    venue = _venue(venue_id, session, principal, Action.read)
    return _audience_read(venues_audience.audience(session=session, venue_id=venue.id))


@router.put("/venues/{venue_id}/audience", response_model=AudienceRead,
            summary="Describe who watches the venue's screens (a new version, from now on)")
def set_venue_audience(venue_id: Id, body: AudienceProfileIn, session: DbSession,
                       principal: CurrentPrincipal) -> AudienceRead:
    venue = _venue(venue_id, session, principal, Action.update)
    venues_audience.set_profile(session=session, venue=venue, screen=None, profile_in=body,
                                user_id=principal.user_id)
    return _audience_read(venues_audience.audience(session=session, venue_id=venue.id))


@router.get("/screens/{screen_id}/audience", response_model=AudienceRead,
            summary="The screen's audience profile: its own, or its venue's")
def get_screen_audience(screen_id: Id, session: DbSession,
                        principal: CurrentPrincipal) -> AudienceRead:
    screen = _screen(screen_id, session, principal, Action.read)
    return _audience_read(venues_audience.audience(session=session, venue_id=screen.venue_id,
                                                   screen_id=screen.id))


@router.put("/screens/{screen_id}/audience", response_model=AudienceRead,
            summary="Override the venue's audience profile for this screen (from now on)")
def set_screen_audience(screen_id: Id, body: AudienceProfileIn, session: DbSession,
                        principal: CurrentPrincipal) -> AudienceRead:
    screen = _screen(screen_id, session, principal, Action.update)
    venue = venues_service.get_venue(session=session, venue_id=screen.venue_id)
    venues_audience.set_profile(session=session, venue=venue, screen=screen, profile_in=body,
                                user_id=principal.user_id)
    return _audience_read(venues_audience.audience(session=session, venue_id=screen.venue_id,
                                                   screen_id=screen.id))


@router.delete("/screens/{screen_id}/audience", response_model=AudienceRead,
               summary="Drop the screen's own profile: its venue's counts from now on")
def clear_screen_audience(screen_id: Id, session: DbSession,
                          principal: CurrentPrincipal) -> AudienceRead:
    screen = _screen(screen_id, session, principal, Action.update)
    venues_audience.clear_screen_profile(session=session, screen=screen,
                                         user_id=principal.user_id)
    return _audience_read(venues_audience.audience(session=session, venue_id=screen.venue_id,
                                                   screen_id=screen.id))
