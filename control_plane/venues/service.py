"""Venues and screens: create, read, change, delete, always within the owning org.

A screen's display size (its pixels turned by its orientation) is a rendition target: a size
the network has not had before sends the media lacking it back through the media pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from control_plane import events
from control_plane.db import utcnow
from control_plane.errors import Invalid
from control_plane.media import service as media_service
from control_plane.taxonomy import service as taxonomy
from control_plane.venues import audience
from control_plane.venues.audience import CompiledProfile as CompiledProfile
from control_plane.venues.audience import Split as Split
from control_plane.venues.audience import Timeline as Timeline
from control_plane.venues.exceptions import ScreenNotFound, VenueNotFound
from control_plane.venues.models import Orientation, ScreenAudience
from control_plane.venues.models import Screen as Screen
from control_plane.venues.models import Venue as Venue
from control_plane.venues.schemas import ScreenCreate, ScreenUpdate, VenueCreate, VenueUpdate


def display_size(screen: Screen) -> tuple[int, int]:
    """(width, height) as the audience sees it: the panel turned to its orientation."""
    w, h = screen.width_px, screen.height_px
    portrait = screen.orientation == Orientation.portrait
    return (min(w, h), max(w, h)) if portrait else (max(w, h), min(w, h))


def _check_house(session: Session, org_id: str, media_ids: list[str]) -> list[str]:
    for media_id in media_ids:
        if not media_service.is_ready_media_of(session=session, media_id=media_id,
                                               org_id=org_id):
            raise Invalid("house content must be ready media of the venue's org",
                          code="media_not_ready", details={"media_id": media_id})
    return list(dict.fromkeys(media_ids))


def create_venue(*, session: Session, org_id: str, venue_in: VenueCreate) -> Venue:
    """A new venue of the org; committed."""
    taxonomy.check_venue_type(venue_in.venue_type_id)
    data = venue_in.model_dump()
    data["blocked_categories"] = taxonomy.check_categories(venue_in.blocked_categories)
    data["house_media_ids"] = _check_house(session, org_id, venue_in.house_media_ids)
    venue = Venue(org_id=org_id, **data)
    session.add(venue)
    session.commit()
    return venue


def get_venue(*, session: Session, venue_id: str) -> Venue:
    """The venue, or `VenueNotFound`."""
    venue = session.get(Venue, venue_id)
    if venue is None:
        raise VenueNotFound("venue not found")
    return venue


def list_venues(*, session: Session, org_id: str | None) -> list[Venue]:
    """The org's venues (all when None), oldest first."""
    query = select(Venue).order_by(Venue.created_at, Venue.id)
    if org_id is not None:
        query = query.where(Venue.org_id == org_id)
    return list(session.scalars(query))


def manual_venues(*, session: Session, org_id: str) -> list[Venue]:
    """The org's venues that moderate ads by hand."""
    return list(session.scalars(select(Venue).where(Venue.org_id == org_id,
                                                    Venue.moderation == "manual")))


def update_venue(*, session: Session, venue: Venue, venue_in: VenueUpdate) -> Venue:
    """Change the fields given; committed."""
    changes: dict[str, Any] = venue_in.model_dump(exclude_unset=True)
    if changes.get("venue_type_id") is not None:
        taxonomy.check_venue_type(changes["venue_type_id"])
    if changes.get("blocked_categories") is not None:
        changes["blocked_categories"] = taxonomy.check_categories(changes["blocked_categories"])
    if changes.get("house_media_ids") is not None:
        changes["house_media_ids"] = _check_house(session, venue.org_id,
                                                  changes["house_media_ids"])
    for field, value in changes.items():
        if value is not None:
            setattr(venue, field, value)
    _changed(session, venue.id, [s.id for s in venue.screens], "venue_updated")
    session.commit()
    return venue


def delete_venue(*, session: Session, venue: Venue) -> None:
    """Delete the venue and its screens; committed."""
    _changed(session, venue.id, [s.id for s in venue.screens], "venue_deleted")
    session.delete(venue)
    session.commit()


def _changed(session: Session, venue_id: str, screen_ids: list[str], change: str,
             sizes: Iterable[tuple[int, int]] = ()) -> None:
    """Tell the other domains, in this transaction, that these screens changed."""
    events.record(session, events.ScreensChanged(venue_id=venue_id, screen_ids=screen_ids,
                                                 change=change, display_sizes=list(sizes)))


def create_screen(*, session: Session, venue: Venue, screen_in: ScreenCreate) -> Screen:
    """A new screen in the venue; committed."""
    screen = Screen(venue_id=venue.id, org_id=venue.org_id, **screen_in.model_dump())
    session.add(screen)
    session.flush()
    _note_audience(session, screen)
    _changed(session, venue.id, [screen.id], "screen_created", [display_size(screen)])
    session.commit()
    return screen


def get_screen(*, session: Session, screen_id: str, with_venue: bool = False) -> Screen:
    """The screen (`with_venue`: its venue read in the same query), or `ScreenNotFound`."""
    screen = session.get(Screen, screen_id,
                         options=[joinedload(Screen.venue)] if with_venue else ())
    if screen is None:
        raise ScreenNotFound("screen not found")
    return screen


def all_screens(*, session: Session) -> list[Screen]:
    """Every screen of the network, by id, with its venue (the schedule's build reads every
    one: loaded with the screens, in a few queries, not one query per venue)."""
    return list(session.scalars(select(Screen).options(selectinload(Screen.venue))
                                .order_by(Screen.id)))


class ScreenListing(NamedTuple):
    """A screen with its venue's name, for lists of many screens."""

    id: str
    name: str
    venue_id: str
    venue_name: str
    org_id: str
    width_px: int
    height_px: int


def screen_count(*, session: Session) -> int:
    """How many screens the network has."""
    return int(session.scalar(select(func.count()).select_from(Screen)) or 0)


def find_screens(*, session: Session, text: str | None = None, org_ids: Iterable[str] = (),
                 offset: int = 0, limit: int | None = None) -> list[str]:
    """Ids of every screen, by venue name and screen name; with `text`, of those whose id is
    it, whose own or venue's name contains it (case-insensitive), or whose org is among
    `org_ids`; `limit` of them from `offset`."""
    query = select(Screen.id).join(Venue, Venue.id == Screen.venue_id) \
        .order_by(Venue.name, Screen.venue_id, Screen.name, Screen.id).offset(offset) \
        .limit(limit)
    if text:
        orgs = list(org_ids)
        query = query.where((Screen.id == text) | Screen.name.icontains(text, autoescape=True)
                            | Venue.name.icontains(text, autoescape=True)
                            | (Screen.org_id.in_(orgs) if orgs else false()))
    return list(session.scalars(query))


def screen_listings(*, session: Session, screen_ids: list[str]) -> list[ScreenListing]:
    """These screens with their venue's name, in the order of `screen_ids` (those that exist)."""
    found: dict[str, ScreenListing] = {}
    for i in range(0, len(screen_ids), 1000):
        found.update((row[0], ScreenListing(*row)) for row in session.execute(
            select(Screen.id, Screen.name, Screen.venue_id, Venue.name, Screen.org_id,
                   Screen.width_px, Screen.height_px).join(Venue, Venue.id == Screen.venue_id)
            .where(Screen.id.in_(screen_ids[i:i + 1000]))))
    return [found[i] for i in screen_ids if i in found]


def list_screens(*, session: Session, venue_id: str) -> list[Screen]:
    """The venue's screens, oldest first."""
    return list(session.scalars(select(Screen).where(Screen.venue_id == venue_id)
                                .order_by(Screen.created_at, Screen.id)))


def update_screen(*, session: Session, screen: Screen, screen_in: ScreenUpdate) -> Screen:
    """Change the fields given (a new multiplier counts from now on); committed."""
    before = (screen.audience_multiplier, screen.audience_source)
    size = display_size(screen)
    for field, value in screen_in.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(screen, field, value)
    if (screen.audience_multiplier, screen.audience_source) != before:
        _note_audience(session, screen)
    _changed(session, screen.venue_id, [screen.id], "screen_updated",
             [display_size(screen)] if display_size(screen) != size else [])
    session.commit()
    return screen


def _note_audience(session: Session, screen: Screen) -> None:
    session.add(ScreenAudience(screen_id=screen.id, multiplier=screen.audience_multiplier,
                               source=screen.audience_source, effective_from=utcnow()))


def audience_history(*, session: Session, screen_id: str) -> list[tuple[datetime, float]]:
    """The screen's multipliers as (effective from, multiplier), oldest first."""
    rows = session.execute(select(ScreenAudience.effective_from, ScreenAudience.multiplier)
                           .where(ScreenAudience.screen_id == screen_id)
                           .order_by(ScreenAudience.effective_from, ScreenAudience.id)).all()
    return [(at, multiplier) for at, multiplier in rows]


def audience_timeline(*, session: Session, screen: Screen) -> Timeline:
    """The screen's audience profiles over time (`audience.py`): what each play counts."""
    venue = screen.venue
    return audience.timeline(session=session, screen=screen, tz=venue.timezone)


def audience_profiles_now(*, session: Session,
                          screens: Iterable[Screen]) -> dict[str, CompiledProfile | None]:
    """The audience profile in force now on each screen (`audience.py`), or None: what
    targeting by audience judges screens and dayparts by."""
    found = list(screens)
    zones = {venue_id: tz for venue_id, tz in session.execute(
        select(Venue.id, Venue.timezone).where(
            Venue.id.in_(sorted({s.venue_id for s in found}))))} if found else {}
    return audience.profiles_now(session=session, screens=found, tz_of=zones)


def audience_splits(*, session: Session, audience_keys: Iterable[str]) -> dict[str, Split]:
    """Who watched the plays counted with each audience key ("<profile>:<daypart>", as
    reporting keeps them); keys of no profile (the flat multiplier) are left out."""
    return audience.splits_of(session=session, audience_keys=sorted(set(audience_keys)))


def delete_screen(*, session: Session, screen: Screen) -> None:
    """Delete the screen; committed."""
    _changed(session, screen.venue_id, [screen.id], "screen_deleted")
    session.delete(screen)
    session.commit()


def screen_names(*, session: Session, screen_ids: Iterable[str]) -> dict[str, str]:
    """The names of these screens, by id (unknown ids left out)."""
    return _names(session, Screen, screen_ids)


def venue_names(*, session: Session, venue_ids: Iterable[str]) -> dict[str, str]:
    """The names of these venues, by id (unknown ids left out)."""
    return _names(session, Venue, venue_ids)


def _names(session: Session, model: type[Screen] | type[Venue],
           ids: Iterable[str]) -> dict[str, str]:
    wanted = list(set(ids))
    found: dict[str, str] = {}
    for i in range(0, len(wanted), 1000):
        found.update(session.execute(select(model.id, model.name)
                                     .where(model.id.in_(wanted[i:i + 1000]))).all())
    return found


@media_service.display_sizes.provide  # media makes a rendition of each
def display_sizes(*, session: Session) -> set[tuple[int, int]]:
    """Every distinct display size of the network's screens."""
    rows = session.execute(select(Screen.width_px, Screen.height_px, Screen.orientation)
                           .distinct()).all()
    return {display_size(Screen(width_px=w, height_px=h, orientation=o)) for w, h, o in rows}


def venues_of(*, session: Session, screen_ids: Iterable[str]) -> dict[str, str]:
    """The venue of each screen that still exists (screen id → venue id)."""
    return _of_screens(session, Screen.venue_id, screen_ids)


def _of_screens(session: Session, column: Any, screen_ids: Iterable[str]) -> dict[str, str]:
    ids = list(set(screen_ids))
    found: dict[str, str] = {}
    for i in range(0, len(ids), 1000):
        found.update((s, v) for s, v in session.execute(
            select(Screen.id, column).where(Screen.id.in_(ids[i:i + 1000]))))
    return found


def venue_ids_of(*, session: Session, org_id: str | None = None,
                 venue_ids: Iterable[str] | None = None) -> set[str]:
    """Ids of the venues that exist among `venue_ids` (or all of an org's)."""
    query = select(Venue.id)
    if org_id is not None:
        query = query.where(Venue.org_id == org_id)
    if venue_ids is not None:
        query = query.where(Venue.id.in_(list(venue_ids)))
    return set(session.scalars(query))


def venue_orgs_of(*, session: Session, screen_ids: Iterable[str]) -> dict[str, str]:
    """The org of each screen that still exists (screen id → the org of its venue)."""
    return _of_screens(session, Screen.org_id, screen_ids)
