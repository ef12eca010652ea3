"""The short link itself, `GET /r/{code}`: no login, a redirect to the campaign's landing URL.

The target is the landing URL stored and checked when it was set, and nothing else: no query
parameter, path or header of the request can change it (no open redirect), and query
parameters are ignored, not forwarded. Mounted without the strict query check, since QR
scanner apps and messengers add parameters of their own. The answer is 302 with
`Cache-Control: no-store` (a cached redirect would skip the count, and a disabled link must
stop at once) and `Referrer-Policy: no-referrer`; an unknown or disabled code answers a small
404 page. Requests that are counted as scans, and those that are not, are in `scans.py`.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from control_plane.db import DbSession
from control_plane.engagement import service as engagement_service

# not in the OpenAPI document: people scanning a QR code follow it, API clients do not, and its
# answers are pages and redirects, not the API's JSON
router = APIRouter(tags=["engagement"], include_in_schema=False)
CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
           "X-Robots-Tag": "noindex"}
GONE_PAGE = ("<!doctype html><html lang=en><meta charset=utf-8><title>Link not found</title>"
             "<p>This link does not exist or is no longer active.</p></html>")
MAX_AGENT = 512  # hashed only; a longer one is cut (never stored either way)


def _gone() -> Response:
    return HTMLResponse(GONE_PAGE, status_code=404, headers=HEADERS)


PATH = f"{engagement_service.SHORT_PATH}{{code}}"


@router.get(PATH, response_class=RedirectResponse, status_code=302,
            summary="A tracked link: redirect to the campaign's landing URL",
            responses={302: {"description": "to the landing URL (and only there)"},
                       404: {"description": "unknown or disabled link (an HTML page)"}})
def follow(code: str, request: Request, session: DbSession) -> Response:
    if not CODE.fullmatch(code):  # not one we make: the same page as an unknown one
        return _gone()
    link = engagement_service.active_link(session=session, code=code)
    if link is None:
        return _gone()
    target = link.landing_url  # read before the count commits (and expires nothing we need)
    engagement_service.record_scan(
        session=session, link=link, method=request.method,
        client=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", "")[:MAX_AGENT])
    return RedirectResponse(target, status_code=302, headers=HEADERS)


# HEAD (link checkers, some previews) answers the same redirect, uncounted (`scans.py`)
router.add_api_route(PATH, follow, methods=["HEAD"], include_in_schema=False)
