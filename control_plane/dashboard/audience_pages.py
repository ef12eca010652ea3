"""Who watches a venue's screens, set from the venue's page and a screen's: the audience form,
saved as `PUT /v1/venues/{id}/audience` and `PUT /v1/screens/{id}/audience` save it (a new
version, in force from now), and a screen handed back to its venue's profile as
`DELETE /v1/screens/{id}/audience` does.

Who may change a profile is who may change the venue or the screen (the API's check); another
org's answers 404. What the form posts is judged by the API's schema (`audience_form.py`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy.orm import Session

from control_plane.auth.policy import Action, Principal
from control_plane.dashboard import audience_form
from control_plane.dashboard.session import Posted, User
from control_plane.dashboard.venue_access import screen_of, venue_of
from control_plane.dashboard.web import FormErrors, PageRoute, redirect, render
from control_plane.db import DbSession
from control_plane.taxonomy.demographics import AGE_BANDS, GENDERS
from control_plane.venues import audience as venues_audience
from control_plane.venues import service as venues_service

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Id = Annotated[str, Path(max_length=40)]


def _form(request: Request, principal: Principal, *, venue: Any, screen: Any,
          found: venues_audience.Audience, values: audience_form.Values,
          errors: FormErrors | None = None, status_code: int = 200) -> Response:
    of = screen if screen is not None else venue
    base = f"/screens/{screen.id}" if screen is not None else f"/venues/{venue.id}"
    return render(request, "venue/audience_form.html", {
        "title": f"Who watches {of.name}", "venue": venue, "screen": screen, "back": base,
        "action": f"{base}/audience", "audience": found, "values": values,
        "errors": errors or FormErrors(), "sources": audience_form.SOURCES,
        "days": audience_form.DAY_LETTERS, "age_bands": AGE_BANDS, "genders": GENDERS},
        principal=principal, status_code=status_code)


def _save(request: Request, principal: Principal, session: Session, form: Any, *,
          venue: Any, screen: Any) -> Response:
    """Save the posted profile as the API's PUT does, or show the form again with its errors
    (or with more empty rows, for its "more rows" button)."""
    screen_id = screen.id if screen is not None else None
    found = venues_audience.audience(session=session, venue_id=venue.id, screen_id=screen_id)
    values = audience_form.read(form)
    if form.get("action") == "more":
        return _form(request, principal, venue=venue, screen=screen, found=found,
                     values=values.padded(audience_form.MORE_ROWS))
    body, errors = audience_form.judge(values)
    if body is None:
        return _form(request, principal, venue=venue, screen=screen, found=found,
                     values=values.padded(), errors=errors, status_code=422)
    venues_audience.set_profile(session=session, venue=venue, screen=screen, profile_in=body,
                                user_id=principal.user_id)
    return redirect(f"/screens/{screen.id}?audience=saved" if screen is not None
                    else f"/venues/{venue.id}?audience=saved")


@router.get("/venues/{venue_id}/audience")
def venue_audience(request: Request, venue_id: Id, principal: User,
                   session: DbSession) -> Response:
    """The venue's audience form, filled with the profile in force."""
    venue = venue_of(session, principal, venue_id, Action.update)
    found = venues_audience.audience(session=session, venue_id=venue.id)
    return _form(request, principal, venue=venue, screen=None, found=found,
                 values=audience_form.of_profile(found.in_force))


@router.post("/venues/{venue_id}/audience")
def set_venue_audience(request: Request, venue_id: Id, form: Posted, principal: User,
                       session: DbSession) -> Response:
    """Describe who watches the venue's screens (a new version, from now on)."""
    venue = venue_of(session, principal, venue_id, Action.update)
    return _save(request, principal, session, form, venue=venue, screen=None)


@router.get("/screens/{screen_id}/audience")
def screen_audience(request: Request, screen_id: Id, principal: User,
                    session: DbSession) -> Response:
    """The screen's audience form, filled with its own profile, else its venue's."""
    screen = screen_of(session, principal, screen_id, Action.update)
    venue = venues_service.get_venue(session=session, venue_id=screen.venue_id)
    found = venues_audience.audience(session=session, venue_id=venue.id, screen_id=screen.id)
    return _form(request, principal, venue=venue, screen=screen, found=found,
                 values=audience_form.of_profile(found.in_force))


@router.post("/screens/{screen_id}/audience")
def set_screen_audience(request: Request, screen_id: Id, form: Posted, principal: User,
                        session: DbSession) -> Response:
    """Override the venue's profile for this screen (from now on)."""
    screen = screen_of(session, principal, screen_id, Action.update)
    venue = venues_service.get_venue(session=session, venue_id=screen.venue_id)
    return _save(request, principal, session, form, venue=venue, screen=screen)


@router.post("/screens/{screen_id}/audience/clear")
def clear_screen_audience(request: Request, screen_id: Id, _form: Posted, principal: User,
                          session: DbSession) -> Response:
    """Drop the screen's own profile: its venue's counts from now on."""
    screen = screen_of(session, principal, screen_id, Action.update)
    venues_audience.clear_screen_profile(session=session, screen=screen,
                                         user_id=principal.user_id)
    return redirect(f"/screens/{screen.id}?audience=cleared")
