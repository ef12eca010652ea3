"""The unsubscribe link of every email (`unsubscribe.py`): no login, the signed token is the
authority. GET shows a page with a confirm button, so that a link scanner following it changes
nothing; POST (that button, or a mail client's RFC 8058 one-click `List-Unsubscribe=One-Click`)
switches that kind's email off for that user. Mounted without the strict query check: mail
clients may add parameters of their own."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from sqlalchemy.exc import IntegrityError

from control_plane.db import DbSession
from control_plane.dependencies import SettingsDep
from control_plane.notifications import service as notifications_service
from control_plane.notifications.catalog import KINDS
from control_plane.notifications.channels.email import TEMPLATES
from control_plane.notifications.schemas import ChannelSwitches, PreferencesIn
from control_plane.notifications.unsubscribe import PATH, UnsubscribeTokens

router = APIRouter(tags=["notifications"])

Token = Annotated[str | None, Query(max_length=1000, description="from the email's link")]
BAD_TOKEN: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid_unsubscribe_token: not a link we made"}}


def _page(kind: str, **values: object) -> HTMLResponse:
    found = KINDS.get(kind)
    title = found.title if found else kind
    return HTMLResponse(TEMPLATES.get_template("unsubscribe.html").render(
        kind_title=title, **values))


@router.get(PATH, response_class=HTMLResponse, responses=BAD_TOKEN,
            summary="The unsubscribe page of an email's link (asks to confirm)")
def unsubscribe_page(settings: SettingsDep, token: Token = None) -> HTMLResponse:
    found = UnsubscribeTokens.from_settings(settings).read(token)
    return _page(found.kind, done=False, action=f"{PATH}?{urlencode({'token': token})}")


@router.post(PATH, response_class=HTMLResponse, responses=BAD_TOKEN,
             summary="Stop this kind of notification by email (one-click, RFC 8058)")
def unsubscribe(session: DbSession, settings: SettingsDep, token: Token = None) -> HTMLResponse:
    found = UnsubscribeTokens.from_settings(settings).read(token)
    if found.kind in KINDS:  # a kind that no longer exists sends nothing anyway
        try:
            notifications_service.set_preferences(
                session=session, user_id=found.user_id, preferences_in=PreferencesIn(
                    preferences={found.kind: ChannelSwitches(email=False)}))
        except IntegrityError:  # the user is gone: there is nobody left to email
            session.rollback()
    return _page(found.kind, done=True)
