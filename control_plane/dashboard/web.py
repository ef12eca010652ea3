"""How a page is made: its template, its menu, its answer when something goes wrong.

Every page route is a `PageRoute`: what a service raises (`AppError`) becomes a page with the
error's status and message, not the API's JSON; a page that needs a session sends the browser to
the sign-in page and back; every answer carries the security headers (a CSP without inline
script or style, no framing) and the session and CSRF cookies the request renewed.

Form errors: a page validates a posted form with the API's own schema (`validate`), and the
errors come back by field name (`FormErrors`), shown next to the field that caused them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ValidationError

from control_plane.auth.policy import Principal
from control_plane.dashboard.session import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Cookies,
    Sessions,
    SignInFirst,
    csrf_cookie,
)
from control_plane.errors import AppError

HERE = Path(__file__).parent
STATIC_PATH = "/static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: "
       "https: http:; media-src 'self' blob: https: http:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
           "Cache-Control": "no-store", "Permissions-Policy": "camera=(), microphone=()"}
M = TypeVar("M", bound=BaseModel)


def _money(cents: int | None, currency: str | None = "") -> str:
    if cents is None:
        return "—"
    return f"{cents / 100:,.2f} {(currency or '').upper()}".strip()


def _number(value: float | int | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "—"


templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                        autoescape=select_autoescape(("html", "svg")), trim_blocks=True,
                        lstrip_blocks=True)
templates.filters.update(money=_money, number=_number, when=_when)


@dataclass(frozen=True)
class Link:
    """An entry of the menu."""

    href: str
    label: str


def menu(principal: Principal | None) -> list[Link]:
    """The menu of what this user may do, by the kind of org they act in and their role."""
    if principal is None:
        return [Link("/login", "Sign in"), Link("/signup", "Sign up")]
    links = [Link("/", "Home")]
    if principal.is_superadmin:
        links += [Link("/admin/review", "Review"), Link("/admin/fleet", "Fleet"),
                  Link("/admin/orgs", "Organisations"), Link("/admin/revenue", "Revenue share"),
                  Link("/admin/system", "System")]
    if principal.org_kind == "advertiser":
        links += [Link("/campaigns", "Campaigns"), Link("/media", "Creatives"),
                  Link("/invoices", "Invoices")]
    elif principal.org_kind == "venue":
        links += [Link("/venues", "Venues"), Link("/pair", "Pair a screen")]
        if principal.role != "technician":
            links += [Link("/moderation", "Moderation"), Link("/earnings", "Earnings")]
    links.append(Link("/account", "Account"))
    return links


def render(request: Request, template: str, context: Mapping[str, Any] | None = None, *,
           principal: Principal | None = None, status_code: int = 200) -> HTMLResponse:
    """The page `template` with `context`, the menu and the form token."""
    sessions: Sessions = request.app.state.dashboard_sessions
    html = templates.get_template(template).render(
        request=request, principal=principal, menu=menu(principal), path=request.url.path,
        csrf=sessions.csrf_token(csrf_cookie(request, sessions)), static=STATIC_PATH,
        **(context or {}))
    return HTMLResponse(html, status_code=status_code)


def redirect(url: str) -> Response:
    """After a post: see `url` (303, so the browser GETs it)."""
    return RedirectResponse(url, status_code=303)


class FormErrors(dict[str, str]):
    """Messages by field name; "" is for the form as a whole."""

    @classmethod
    def of(cls, exc: ValidationError | AppError, fields: Sequence[str] = ()) -> FormErrors:
        """The errors of a failed validation, or a service's refusal, by field."""
        errors = cls()
        if isinstance(exc, AppError):
            field = _field_of(exc.details, fields)
            errors[field] = exc.message
            return errors
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            name = next((part for part in loc if part in fields), loc[0] if loc else "")
            errors.setdefault(name if name in fields else "", _sentence(error["msg"]))
        return errors


def _field_of(details: Any, fields: Sequence[str]) -> str:
    if isinstance(details, dict):
        for key in ("field", "fields"):
            value = details.get(key)
            if isinstance(value, str) and value in fields:
                return value
    return ""


def _sentence(message: str) -> str:
    message = message.removeprefix("Value error, ")
    return message[:1].upper() + message[1:]


def validate(model: type[M], data: Mapping[str, Any], fields: Sequence[str] = ()
             ) -> tuple[M | None, FormErrors]:
    """The posted data as the API's schema, or the errors by field."""
    try:
        return model.model_validate(data), FormErrors()
    except ValidationError as exc:
        return None, FormErrors.of(exc, fields or list(model.model_fields))


def form_dict(form: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """The non-empty text fields of a form (an empty field is a field left out)."""
    out: dict[str, Any] = {}
    for name in names:
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            out[name] = value.strip()
    return out


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    """A page saying what went wrong and what to do next."""
    principal = getattr(request.state, "dashboard_principal", None)
    titles = {400: "That did not work", 401: "Sign in", 403: "Not allowed",
              404: "Not found", 409: "That clashes", 413: "Too large", 422: "That did not work",
              429: "Too many tries", 503: "Not available now"}
    return render(request, "error.html", {
        "title": titles.get(status_code, "Something went wrong"), "message": message,
        "status": status_code}, principal=principal, status_code=status_code)


def _apply(request: Request, response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    cookies: Cookies | None = getattr(request.state, "dashboard_cookies", None)
    if cookies is None:
        return response
    sessions: Sessions = request.app.state.dashboard_sessions
    if cookies.clear_session:
        response.delete_cookie(SESSION_COOKIE, path="/", secure=sessions.secure,
                               httponly=True, samesite="lax")
    if cookies.session is not None:
        response.set_cookie(SESSION_COOKIE, cookies.session, max_age=cookies.session_ttl_s,
                            path="/", secure=sessions.secure, httponly=True, samesite="lax")
    if cookies.csrf is not None:
        response.set_cookie(CSRF_COOKIE, cookies.csrf, path="/", secure=sessions.secure,
                            httponly=True, samesite="lax")
    return response


class PageRoute(APIRoute):
    """A route that answers as a page: errors as pages, the session's cookies, the headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                response = await handle(request)
            except SignInFirst:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"/login?next={quote(target, safe='')}",
                                            status_code=303)
                if request.headers.get("hx-request"):
                    response = Response(status_code=204, headers={"HX-Redirect": "/login"})
            except AppError as exc:
                response = error_page(request, exc.status_code, exc.message)
                for name, value in (exc.headers or {}).items():
                    if name.lower() == "retry-after":
                        response.headers[name] = value
            except RequestValidationError:
                response = error_page(request, 422, "This address asks for something that "
                                      "does not exist: go back and follow a link instead.")
            return _apply(request, response)

        return page
