"""Signing up, in and out, and choosing the organisation to act in.

The same services and limits as the API's `/v1/auth/signup` and `/v1/auth/token`: a page only
turns the answer into a session cookie (`session.py`) instead of a token in a body.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from control_plane.auth import service as auth_service
from control_plane.auth.dependencies import LoginLimiter, SignupLimiter, SignupTakenLimiter
from control_plane.auth.exceptions import EmailTaken
from control_plane.auth.ratelimit import check_login_rate, check_signup_rate, login_key
from control_plane.auth.schemas import SignupRequest, TokenRequest
from control_plane.dashboard.session import MaybeUser, Posted, SessionsDep, User, sign_in, sign_out
from control_plane.dashboard.web import FormErrors, PageRoute, form_dict, redirect, render, validate
from control_plane.db import DbSession
from control_plane.errors import AppError
from control_plane.orgs.service import OrgKind, Role

router = APIRouter(route_class=PageRoute, include_in_schema=False)
SIGNUP_FIELDS = ("name", "email", "password", "org_name", "org_kind")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _next(value: str | None) -> str:
    """Where to go after signing in: a path of this site only (never another site)."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


@router.get("/login")
def login_page(request: Request, principal: MaybeUser,
               next: str | None = Query(None, max_length=500)) -> Response:
    if principal is not None:
        return redirect(_next(next))
    return render(request, "login.html", {"title": "Sign in", "errors": FormErrors(),
                                          "next": _next(next), "email": ""})


@router.post("/login")
def login(request: Request, form: Posted, session: DbSession, sessions: SessionsDep,
          limiter: LoginLimiter) -> Response:
    data = form_dict(form, "email", "password")
    target = _next(str(form.get("next") or ""))
    body, errors = validate(TokenRequest, data, ("email", "password"))
    context: dict[str, Any] = {"title": "Sign in", "next": target,
                               "email": data.get("email", "")}
    if body is None:
        return render(request, "login.html", {**context, "errors": errors}, status_code=422)
    try:
        check_login_rate(_client(request), limiter, body.email)
        user, membership = auth_service.login(session=session, email=body.email,
                                              password=body.password, org_id=None)
    except AppError as exc:
        return render(request, "login.html", {**context, "errors": FormErrors.of(exc)},
                      status_code=exc.status_code)
    limiter.reset(login_key(_client(request), body.email))
    sign_in(request, sessions, user_id=user.id,
            org_id=membership.org_id if membership else None,
            role=membership.role if membership else None)
    return redirect(target)


@router.get("/signup")
def signup_page(request: Request, principal: MaybeUser,
                kind: str | None = Query(None, max_length=20)) -> Response:
    if principal is not None:
        return redirect("/")
    values = {"org_kind": kind if kind in ("advertiser", "venue") else "advertiser"}
    return render(request, "signup.html", {"title": "Sign up", "errors": FormErrors(),
                                           "values": values})


@router.post("/signup")
def signup(request: Request, form: Posted, session: DbSession, sessions: SessionsDep,
           limiter: SignupLimiter, taken_limiter: SignupTakenLimiter) -> Response:
    data = form_dict(form, *SIGNUP_FIELDS)
    values = {k: v for k, v in data.items() if k != "password"}
    body, errors = validate(SignupRequest, data, SIGNUP_FIELDS)
    if body is None:
        return render(request, "signup.html", {"title": "Sign up", "errors": errors,
                                               "values": values}, status_code=422)
    try:
        check_signup_rate(_client(request), limiter, taken_limiter)
        try:
            user, org = auth_service.signup(session=session, email=body.email,
                                            password=body.password, name=body.name,
                                            org_name=body.org_name,
                                            org_kind=OrgKind(body.org_kind))
        except EmailTaken:
            taken_limiter.hit(_client(request))
            raise
    except EmailTaken as exc:
        return render(request, "signup.html", {
            "title": "Sign up", "errors": FormErrors(email=exc.message), "values": values},
            status_code=exc.status_code)
    except AppError as exc:
        return render(request, "signup.html", {
            "title": "Sign up", "errors": FormErrors.of(exc, SIGNUP_FIELDS), "values": values},
            status_code=exc.status_code)
    sign_in(request, sessions, user_id=user.id, org_id=org.id, role=Role.admin)
    return redirect("/?welcome=1")


@router.post("/logout")
def logout(request: Request, _form: Posted) -> Response:
    sign_out(request)
    return redirect("/login")


@router.post("/org")
def switch_org(request: Request, form: Posted, principal: User, session: DbSession,
               sessions: SessionsDep) -> Response:
    """Act in another of the user's organisations."""
    org_id = str(form.get("org_id") or "")[:40]
    assert principal.user_id is not None
    membership = auth_service.switch_org(session=session, user_id=principal.user_id,
                                         org_id=org_id)
    sign_in(request, sessions, user_id=principal.user_id, org_id=membership.org_id,
            role=membership.role)
    return redirect("/")

