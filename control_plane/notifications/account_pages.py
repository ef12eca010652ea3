"""The pages the account emails link to: confirm an address, choose a new password, accept an
invitation. Plain HTML forms, no script and no login: the link's token is the authority.

Each GET shows what the link is for and a form, and changes nothing, so that a mail scanner
following the link uses up nothing; the form POSTs back to the same path, which does what the
JSON API does (`/v1/auth/verify-email`, `/v1/auth/password-reset/confirm`,
`/v1/auth/invitations/accept`) through the same services, with the same limits. Errors are shown
on the page with their status (422 for a link that is not valid, 429 past the limit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from control_plane.auth import service as auth_service
from control_plane.auth.dependencies import LinkLimiter, Links
from control_plane.auth.links import INVITATION_PATH, RESET_PATH, VERIFY_PATH
from control_plane.db import DbSession
from control_plane.errors import AppError
from control_plane.notifications.channels.email import TEMPLATES
from control_plane.orgs import service as orgs_service
from control_plane.orgs.service import UserStatus

router = APIRouter(tags=["account pages"], include_in_schema=False)

Token = Annotated[str, Query(max_length=300, description="from the email's link")]
FormToken = Annotated[str, Form(max_length=300)]
FormText = Annotated[str, Form(max_length=256)]
MIN_PASSWORD = 10  # as the API's (`auth/schemas.py`)


@dataclass
class Field:
    name: str
    label: str
    type: str = "text"
    value: str = ""
    autocomplete: str | None = None
    required: bool = True
    minlength: int | None = None


@dataclass
class PageForm:
    action: str
    token: str
    button: str
    fields: list[Field] = field(default_factory=list)


def _page(heading: str, paragraphs: Sequence[str] = (), *, form: PageForm | None = None,
          error: str | None = None, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(TEMPLATES.get_template("account.html").render(
        heading=heading, paragraphs=paragraphs, form=form, error=error),
        status_code=status_code, headers={"Referrer-Policy": "no-referrer",
                                          "Cache-Control": "no-store"})


def _failed(heading: str, exc: AppError) -> HTMLResponse:
    return _page(heading, [exc.message], status_code=exc.status_code)


def _limited(request: Request, limiter: LinkLimiter) -> HTMLResponse | None:
    client = request.client.host if request.client else "unknown"
    if limiter.hit(client) is None:
        return None
    return _page("Too many tries", ["Wait a few minutes and try again."], status_code=429)


def _new_password() -> list[Field]:
    return [Field("password", "New password (at least 10 characters)", "password",
                  autocomplete="new-password", minlength=MIN_PASSWORD),
            Field("password_again", "The same again", "password", autocomplete="new-password",
                  minlength=MIN_PASSWORD)]


def _password_problem(password: str, again: str | None) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"Choose a password of at least {MIN_PASSWORD} characters."
    if again is not None and again != password:
        return "The two passwords differ."
    return None


# --- the address -----------------------------------------------------------------------------

@router.get(VERIFY_PATH, response_class=HTMLResponse)
def verify_page(token: Token = "") -> HTMLResponse:
    return _page("Confirm your address", ["Confirm that this email address is yours."],
                 form=PageForm(VERIFY_PATH, token, "Confirm my address"))


@router.post(VERIFY_PATH, response_class=HTMLResponse)
def verify(request: Request, session: DbSession, links: Links, limiter: LinkLimiter,
           token: FormToken = "") -> HTMLResponse:
    if (limited := _limited(request, limiter)) is not None:
        return limited
    try:
        user = auth_service.verify_email(session=session, links=links, token=token)
    except AppError as exc:
        return _failed("This link does not work", exc)
    return _page("Your address is confirmed",
                 [f"{user.email} is confirmed. You can buy campaigns and be paid now."])


# --- the password ----------------------------------------------------------------------------

@router.get(RESET_PATH, response_class=HTMLResponse)
def reset_page(token: Token = "") -> HTMLResponse:
    return _page("Choose a new password", form=PageForm(RESET_PATH, token, "Save the password",
                                                        _new_password()))


@router.post(RESET_PATH, response_class=HTMLResponse)
def reset(request: Request, session: DbSession, links: Links, limiter: LinkLimiter,
          token: FormToken = "", password: FormText = "",
          password_again: FormText = "") -> HTMLResponse:
    if (limited := _limited(request, limiter)) is not None:
        return limited
    problem = _password_problem(password, password_again)
    if problem:
        return _page("Choose a new password", error=problem, status_code=422,
                     form=PageForm(RESET_PATH, token, "Save the password", _new_password()))
    try:
        auth_service.reset_password(session=session, links=links, token=token,
                                    password=password)
    except AppError as exc:
        return _failed("This link does not work", exc)
    return _page("Your password is changed", ["Sign in with your new password."])


# --- invitations -----------------------------------------------------------------------------

def _invitation_form(token: str, new_account: bool, name: str = "") -> PageForm:
    if new_account:
        return PageForm(INVITATION_PATH, token, "Join", [
            Field("name", "Your name", value=name, autocomplete="name", required=False),
            *_new_password()])
    return PageForm(INVITATION_PATH, token, "Join", [
        Field("password", "The password of your ADSBIN account", "password",
              autocomplete="current-password")])


@router.get(INVITATION_PATH, response_class=HTMLResponse)
def invitation_page(session: DbSession, token: Token = "") -> HTMLResponse:
    try:
        invitation, user = orgs_service.open_invitation(session=session, token=token)
    except AppError as exc:
        return _failed("This invitation does not work", exc)
    found = orgs_service.get_invitation(session=session, invitation_id=invitation.id)
    assert found is not None
    new_account = user.status == UserStatus.invited
    return _page(f"Join {found[2].name}",
                 [f"You are invited to join {found[2].name} on ADSBIN as {invitation.role}, "
                  f"as {user.email}.",
                  "Choose your password to join." if new_account
                  else "This address has an ADSBIN account: give its password to join."],
                 form=_invitation_form(token, new_account))


@router.post(INVITATION_PATH, response_class=HTMLResponse)
def accept(request: Request, session: DbSession, limiter: LinkLimiter, token: FormToken = "",
           password: FormText = "", password_again: FormText | None = None,
           name: Annotated[str, Form(max_length=200)] = "") -> HTMLResponse:
    if (limited := _limited(request, limiter)) is not None:
        return limited
    try:
        _, user = orgs_service.open_invitation(session=session, token=token)
    except AppError as exc:
        return _failed("This invitation does not work", exc)
    new_account = user.status == UserStatus.invited
    problem = _password_problem(password, password_again) if new_account else None
    if problem:
        return _page("Join", error=problem, status_code=422,
                     form=_invitation_form(token, new_account, name))
    try:
        _, membership = orgs_service.accept_invitation(session=session, token=token,
                                                       password=password, name=name or None)
    except AppError as exc:
        if exc.status_code == 401:  # a wrong password: let them try again
            return _page("Join", error=exc.message, status_code=401,
                         form=_invitation_form(token, new_account))
        return _failed("This invitation does not work", exc)
    return _page("You joined", [f"You are a member of {membership.org.name} now. Sign in to "
                                "start."])
