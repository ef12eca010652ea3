"""Who may see which venue or screen on the venue owner's pages: each loaded by the venues
service and checked by the API's policy as the API's routes check it (another org's answers
404), and whether a button is offered at all."""

from __future__ import annotations

from sqlalchemy.orm import Session

from control_plane.auth.policy import Action, Principal, Resource, authorize
from control_plane.devices import service as devices_service
from control_plane.errors import AppError, Forbidden
from control_plane.settings import Settings
from control_plane.venues import service as venues_service


def org_of(principal: Principal) -> str:
    """The org the user acts in; 403 `no_org` when none."""
    if principal.org_id is None:
        raise Forbidden("act in an organisation first (switch org on your account page)",
                        code="no_org")
    return principal.org_id


def venue_of(session: Session, principal: Principal, venue_id: str,
             action: Action = Action.read) -> venues_service.Venue:
    """The venue, if the user may `action` it (404 for another org's, as on the API)."""
    venue = venues_service.get_venue(session=session, venue_id=venue_id)
    authorize(principal, Resource.venue, action, owner_org_id=venue.org_id)
    return venue


def screen_of(session: Session, principal: Principal, screen_id: str,
              action: Action = Action.read) -> venues_service.Screen:
    """The screen, if the user may `action` it (404 for another org's, as on the API)."""
    screen = venues_service.get_screen(session=session, screen_id=screen_id)
    authorize(principal, Resource.screen, action, owner_org_id=screen.org_id)
    return screen


def state_of(session: Session, settings: Settings, screen_id: str) -> devices_service.ScreenState:
    """The screen's device state as the API shows it (online, offline or unpaired)."""
    return devices_service.screen_state(session=session, screen_id=screen_id,
                                        heartbeat_interval_s=settings.heartbeat_interval_s)


def statuses(session: Session, settings: Settings, screen_ids: list[str]) -> dict[str, str]:
    """Each screen's status as `state_of` says it (online, offline or unpaired), in one query
    for all of them."""
    found = devices_service.liveness(session=session, screen_ids=screen_ids,
                                     heartbeat_interval_s=settings.heartbeat_interval_s)
    return {screen_id: found[screen_id].status if screen_id in found else "unpaired"
            for screen_id in screen_ids}


def can(principal: Principal, resource: Resource, action: Action, org_id: str) -> bool:
    """Whether a button is offered: the API would let this user do `action` on the object."""
    try:
        authorize(principal, resource, action, owner_org_id=org_id)
    except AppError:
        return False
    return True
