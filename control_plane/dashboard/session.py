"""Who is signed in to the dashboard, and the CSRF check of its forms.

The session is the API's own access token (`auth/tokens.py`), kept in an HttpOnly cookie
(`Secure` when the public address is https, `SameSite=Lax` so that a link from an email opens
the dashboard signed in, while a cross-site form post carries no cookie in today's browsers).
It is read as the API reads a bearer token, against current users and memberships, so a member
removed from an org loses its pages at once. A token past half its life is renewed on the next
page (`PageRoute` sets the cookie), so a session lasts while it is used and ends an hour
(`ADSBIN_ACCESS_TOKEN_TTL_S`) after the last page.

CSRF: every browser gets a random `adsbin_csrf` cookie; every form carries the HMAC of it
(with a secret of this installation) and every post must carry it back, as a field or as the
`X-CSRF-Token` header htmx sends. A site that makes a browser post cannot read the cookie, so
it cannot make the token; the cookie is made anew at sign-in and sign-out, so a token seen
before a sign-in is worth nothing after it. A post whose `Origin` is another site is refused
too, before the token is looked at.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.datastructures import FormData

from control_plane.auth import service as auth_service
from control_plane.auth.dependencies import Tokens
from control_plane.auth.policy import Principal
from control_plane.auth.tokens import TokenService
from control_plane.db import DbSession
from control_plane.errors import AppError, Forbidden
from control_plane.settings import Settings
from control_plane.storage.signing import load_or_create_secret

SESSION_COOKIE = "adsbin_session"
CSRF_COOKIE = "adsbin_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SECRET_FILE = "dashboard-csrf.secret"  # noqa: S105 - a file name
MAX_FORM_FIELDS = 200


class SignInFirst(Exception):  # a signal, not an error: the page redirects
    """The page needs a signed-in user; `PageRoute` sends the browser to the sign-in page."""


class BadCsrf(Forbidden):
    code = "csrf_failed"


@dataclass
class Cookies:
    """What a page sets or clears on its way out (`PageRoute` applies it)."""

    session: str | None = None  # a new session token
    session_ttl_s: int = 0
    csrf: str | None = None  # a new CSRF cookie
    clear_session: bool = False


class Sessions:
    """The dashboard's cookies: made and read with this installation's secret and tokens."""

    def __init__(self, settings: Settings, tokens: TokenService, secret: bytes) -> None:
        self.tokens = tokens
        self.secure = settings.public_url.startswith("https://")
        self._secret = secret
        self._origin = _origin(settings.public_url)

    @classmethod
    def from_settings(cls, settings: Settings, tokens: TokenService) -> Sessions:
        """With the installation's secret (made on first use)."""
        return cls(settings, tokens, load_or_create_secret(settings.keys_dir / SECRET_FILE))

    def csrf_token(self, cookie: str) -> str:
        """The token a form of the browser holding `cookie` carries."""
        mac = hmac.new(self._secret, f"adsbin.csrf.v1\n{cookie}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:24]).rstrip(b"=").decode()

    def same_origin(self, request: Request) -> bool:
        """Whether a post comes from a page of this site (or says nothing of where)."""
        origin = request.headers.get("origin")  # every browser of today sends it on a post
        return origin is None or origin in (self._origin, _origin(str(request.base_url)))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _cookies(request: Request) -> Cookies:
    found: Cookies | None = getattr(request.state, "dashboard_cookies", None)
    if found is None:
        found = request.state.dashboard_cookies = Cookies()
    return found


async def get_sessions(request: Request) -> Sessions:
    """The app's dashboard sessions."""
    sessions: Sessions = request.app.state.dashboard_sessions
    return sessions


SessionsDep = Annotated[Sessions, Depends(get_sessions)]


def csrf_cookie(request: Request, sessions: Sessions) -> str:
    """The browser's CSRF cookie; a new one (set on the way out) when it has none."""
    cookies = _cookies(request)
    if cookies.csrf is not None:
        return cookies.csrf
    found = request.cookies.get(CSRF_COOKIE)
    if found and 20 <= len(found) <= 100:
        return found
    cookies.csrf = secrets.token_urlsafe(24)
    return cookies.csrf


async def csrf_for_page(request: Request, sessions: SessionsDep) -> str:
    """The CSRF token to put in the page's forms."""
    return sessions.csrf_token(csrf_cookie(request, sessions))


Csrf = Annotated[str, Depends(csrf_for_page)]


async def checked_form(request: Request, sessions: SessionsDep) -> FormData:
    """The posted form, once its CSRF token and origin check out; 403 `csrf_failed`."""
    if not sessions.same_origin(request):
        raise BadCsrf("this form was sent from another site")
    form = await request.form(max_fields=MAX_FORM_FIELDS)
    sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    cookie = request.cookies.get(CSRF_COOKIE)
    if not isinstance(sent, str) or not cookie \
            or not hmac.compare_digest(sent, sessions.csrf_token(cookie)):
        raise BadCsrf("this form has expired: reload the page and send it again")
    return form


Posted = Annotated[FormData, Depends(checked_form)]


def checked_header(request: Request, sessions: SessionsDep) -> None:
    """For a post of a script's own body (JSON): its `X-CSRF-Token` header and origin check
    out, as a form's would; 403 `csrf_failed` otherwise."""
    if not sessions.same_origin(request):
        raise BadCsrf("this request was sent from another site")
    sent = request.headers.get(CSRF_HEADER)
    cookie = request.cookies.get(CSRF_COOKIE)
    if not sent or not cookie or not hmac.compare_digest(sent, sessions.csrf_token(cookie)):
        raise BadCsrf("this page has expired: reload it and try again")


def sign_in(request: Request, sessions: Sessions, *, user_id: str, org_id: str | None,
            role: str | None) -> None:
    """Open a session (the cookie is set on the way out), with a new CSRF cookie."""
    token, ttl = sessions.tokens.issue(user_id=user_id, org_id=org_id, org_role=role)
    cookies = _cookies(request)
    cookies.session, cookies.session_ttl_s = token, ttl
    cookies.csrf = secrets.token_urlsafe(24)


def sign_out(request: Request) -> None:
    """End the session: the cookie is cleared, and the CSRF cookie made anew."""
    cookies = _cookies(request)
    cookies.clear_session, cookies.csrf = True, secrets.token_urlsafe(24)


def _principal(request: Request, session: DbSession, tokens: Tokens,
               sessions: SessionsDep) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        verified = tokens.verify(token)
        principal = auth_service.principal_from_token(session=session, token=verified)
    except AppError:
        _cookies(request).clear_session = True
        return None
    request.state.dashboard_principal = principal  # for the menu of an error page
    if principal.user_id is not None:
        issued = int(verified.claims.get("iat", 0))
        expires = int(verified.claims.get("exp", 0))
        if time.time() > issued + (expires - issued) / 2:
            sign_in_again(request, sessions, principal)
    return principal


def sign_in_again(request: Request, sessions: Sessions, principal: Principal) -> None:
    """Renew the session's token (same user and org), keeping the CSRF cookie."""
    assert principal.user_id is not None
    token, ttl = sessions.tokens.issue(user_id=principal.user_id, org_id=principal.org_id,
                                       org_role=principal.role)
    cookies = _cookies(request)
    cookies.session, cookies.session_ttl_s = token, ttl


def maybe_user(request: Request, session: DbSession, tokens: Tokens,
               sessions: SessionsDep) -> Principal | None:
    """The signed-in user, or None."""
    return _principal(request, session, tokens, sessions)


def signed_in(request: Request, session: DbSession, tokens: Tokens,
              sessions: SessionsDep) -> Principal:
    """The signed-in user; the sign-in page otherwise."""
    principal = _principal(request, session, tokens, sessions)
    if principal is None:
        raise SignInFirst
    return principal


MaybeUser = Annotated[Principal | None, Depends(maybe_user)]
User = Annotated[Principal, Depends(signed_in)]

