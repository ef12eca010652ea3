"""Everyone's own pages: profile, notification preferences and push, members and invitations,
API keys, the organisation to act in, a forgotten password.

The same services, limits and policy as the API's routes (`/v1/me`, `/v1/me/...`,
`/v1/notifications`, `/v1/orgs/{id}/members`, `/v1/api-keys`, `/v1/auth/password-reset`): the
members and API keys of a page are those of the org the user acts in, and a member or key of
another org answers 404. The pages the account emails link to (`/account/verify-email`,
`/account/reset-password`, `/account/invitation`) are `notifications/account_pages.py`'s.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from control_plane.auth import service as auth_service
from control_plane.auth.dependencies import (
    InvitationLimiter,
    Links,
    ResetClientLimiter,
    ResetEmailLimiter,
)
from control_plane.auth.policy import Action, Principal, Resource, allowed, authorize
from control_plane.auth.ratelimit import check_invitation_rate, check_reset_rate
from control_plane.auth.schemas import ApiKeyCreate, PasswordResetRequest
from control_plane.dashboard.session import MaybeUser, Posted, User, checked_header
from control_plane.dashboard.web import (
    HERE,
    FormErrors,
    PageRoute,
    form_dict,
    redirect,
    render,
    validate,
)
from control_plane.db import DbSession
from control_plane.dependencies import SettingsDep
from control_plane.errors import AppError, NotFound, Unauthenticated
from control_plane.notifications import phones, push_service, vapid
from control_plane.notifications import service as notifications_service
from control_plane.notifications.dependencies import CodeLimiter, SmsBackend
from control_plane.notifications.exceptions import PhoneNotFound
from control_plane.notifications.schemas import (
    ChannelSwitches,
    PhoneConfirmIn,
    PhoneIn,
    PreferencesIn,
    PushSubscriptionIn,
)
from control_plane.orgs import service as orgs_service
from control_plane.orgs.schemas import MemberCreate, MemberUpdate
from control_plane.orgs.service import Org, Role
from control_plane.settings import Settings

router = APIRouter(route_class=PageRoute, include_in_schema=False)
# an object's id in a path: one that cannot be an id answers 404 as an unknown one does
ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
CHANNELS = ("email", "sms", "push")
INVITE_FIELDS = ("email", "role", "name")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _page(request: Request, template: str, principal: Principal | None,
          context: dict[str, Any], status_code: int = 200) -> Response:
    """An account page, with the links to the org pages the user's role opens."""
    manages = {"members": principal is not None and allowed(principal, Resource.member,
                                                            Action.update),
               "api_keys": principal is not None and allowed(principal, Resource.api_key,
                                                             Action.read)}
    return render(request, template, {**context, "manages": manages}, principal=principal,
                  status_code=status_code)


def _known(value: str, what: str) -> str:
    if not ID.fullmatch(value):
        raise NotFound(f"{what} not found", code=f"{what.replace(' ', '_')}_not_found")
    return value


def _user_id(principal: Principal) -> str:
    assert principal.user_id is not None  # pages are for people, never API keys
    return principal.user_id


# --- profile and the org to act in --------------------------------------------------------


@router.get("/account")
def profile(request: Request, principal: User, session: DbSession) -> Response:
    """Who I am, whether my address is confirmed, the orgs I may act in."""
    user = orgs_service.get_user(session=session, user_id=_user_id(principal))
    assert user is not None  # the session was read against current users
    memberships = orgs_service.memberships_of(session=session, user_id=user.id)
    return _page(request, "account/profile.html", principal, {
        "title": "Account", "user": user, "memberships": memberships,
        "current": next((m for m in memberships if m.org_id == principal.org_id), None),
        "org_options": [(m.org_id, f"{m.org.name} ({m.org.kind}, {m.role})")
                        for m in memberships]})


# --- notifications: preferences, phone, push, what was sent --------------------------------


def _phone(session: DbSession, user_id: str) -> Any:
    try:
        return phones.get_phone(session=session, user_id=user_id)
    except PhoneNotFound:
        return None


def _notifications_page(request: Request, principal: Principal, session: DbSession,
                        settings: Settings, *, errors: FormErrors | None = None,
                        number: str = "", status_code: int = 200) -> Response:
    user_id = _user_id(principal)
    found, unread = notifications_service.notifications_of(session=session, user_id=user_id)
    phone = _phone(session, user_id)
    return _page(request, "account/notifications.html", principal, {
        "title": "Notifications", "errors": errors or FormErrors(),
        "preferences": notifications_service.preferences(session=session, user_id=user_id),
        "channels": CHANNELS, "phone": phone, "number": number or (phone.e164 if phone else ""),
        "vapid_key": vapid.public_key(settings),
        "browsers": push_service.subscriptions_of(session=session, user_id=user_id),
        "notifications": found, "unread": unread}, status_code)


@router.get("/account/notifications")
def notifications(request: Request, principal: User, session: DbSession,
                  settings: SettingsDep) -> Response:
    """What was sent to me, and how I want to be told: per kind and channel, SMS, push."""
    return _notifications_page(request, principal, session, settings)


@router.post("/account/notifications/preferences")
def save_preferences(form: Posted, principal: User, session: DbSession) -> Response:
    """Every kind's channels as ticked (a box left unticked is a channel switched off)."""
    user_id = _user_id(principal)
    kinds = [p.kind for p in notifications_service.preferences(session=session, user_id=user_id)]
    chosen = PreferencesIn(preferences={kind: ChannelSwitches(**{
        channel: form.get(f"{kind}:{channel}") == "on" for channel in CHANNELS})
        for kind in kinds})
    notifications_service.set_preferences(session=session, user_id=user_id,
                                           preferences_in=chosen)
    return redirect("/account/notifications?saved=1")


@router.post("/account/notifications/{notification_id}/read")
def read_notification(notification_id: str, _form: Posted, principal: User,
                      session: DbSession) -> Response:
    notifications_service.mark_read(session=session, user_id=_user_id(principal),
                                    notification_id=_known(notification_id, "notification"))
    return redirect("/account/notifications")


@router.post("/account/phone")
def give_phone(request: Request, form: Posted, principal: User, session: DbSession,
               settings: SettingsDep, sms: SmsBackend, limiter: CodeLimiter) -> Response:
    """Give a number for SMS: a code is texted to it, to confirm below."""
    data = form_dict(form, "number")
    body, errors = validate(PhoneIn, data, ("number",))
    try:
        if body is not None:
            phones.request_code(session=session, sms=sms, limits=limiter,
                                user_id=_user_id(principal), number=body.number)
            return redirect("/account/notifications?code_sent=1#phone")
    except AppError as exc:
        errors = FormErrors(number=exc.message)
        return _notifications_page(request, principal, session, settings, errors=errors,
                                   number=data.get("number", ""), status_code=exc.status_code)
    return _notifications_page(request, principal, session, settings, errors=errors,
                               number=data.get("number", ""), status_code=422)


@router.post("/account/phone/confirm")
def confirm_phone(request: Request, form: Posted, principal: User, session: DbSession,
                  settings: SettingsDep) -> Response:
    """Confirm the number with the code texted to it."""
    body, errors = validate(PhoneConfirmIn, form_dict(form, "code"), ("code",))
    status_code = 422
    if body is not None:
        try:
            phones.confirm(session=session, user_id=_user_id(principal), code=body.code)
            return redirect("/account/notifications?confirmed=1#phone")
        except AppError as exc:
            errors, status_code = FormErrors(code=exc.message), exc.status_code
    return _notifications_page(request, principal, session, settings, errors=errors,
                               status_code=status_code)


@router.post("/account/phone/remove")
def remove_phone(_form: Posted, principal: User, session: DbSession) -> Response:
    phones.remove(session=session, user_id=_user_id(principal))
    return redirect("/account/notifications#phone")


@router.post("/account/push", status_code=201, dependencies=[Depends(checked_header)])
def push_subscribe(body: PushSubscriptionIn, principal: MaybeUser, session: DbSession,
                   settings: SettingsDep) -> Response:
    """This browser's `PushSubscription.toJSON()`, posted by `app.js` (the CSRF header)."""
    if principal is None:  # a script's post: an answer, not the sign-in page
        raise Unauthenticated("sign in first")
    found = push_service.subscribe(session=session, user_id=_user_id(principal),
                                   subscription_in=body,
                                   allow_insecure=settings.push_allow_insecure_endpoints,
                                   allow_private=settings.push_allow_private_endpoints)
    return JSONResponse({"id": found.id, "endpoint": found.endpoint}, status_code=201)


@router.post("/account/push/{subscription_id}/remove")
def push_unsubscribe(subscription_id: str, _form: Posted, principal: User,
                     session: DbSession) -> Response:
    """Stop pushing to one of my browsers."""
    push_service.unsubscribe(session=session, user_id=_user_id(principal),
                             subscription_id=_known(subscription_id, "push subscription"))
    return redirect("/account/notifications#push")


@router.get("/sw.js")
def service_worker() -> Response:
    """The service worker that shows pushes; served at the root so that it may control
    every page (`Service-Worker-Allowed`)."""
    return FileResponse(HERE / "static" / "sw.js", media_type="text/javascript",
                        headers={"Service-Worker-Allowed": "/"})


# --- members and invitations (org admins) --------------------------------------------------


def _managed_org(principal: Principal, session: DbSession, action: Action = Action.update
                 ) -> Org:
    """The org the user acts in, if their role may manage its members (as `member_manager`)."""
    if principal.org_id is None:
        raise NotFound("org not found", code="org_not_found")
    org = orgs_service.require_org(session=session, org_id=principal.org_id)
    authorize(principal, Resource.org, Action.read, owner_org_id=org.id)
    authorize(principal, Resource.member, action, owner_org_id=org.id)
    return org


def _members_page(request: Request, principal: Principal, session: DbSession, org: Org, *,
                  errors: FormErrors | None = None, values: dict[str, str] | None = None,
                  row: str = "", status_code: int = 200) -> Response:
    roles = [r.value for r in Role if org.kind == "venue" or r != Role.technician]
    return _page(request, "account/members.html", principal, {
        "title": "Members", "org": org, "roles": roles, "role_options": [(r, r) for r in roles],
        "members": orgs_service.list_members(session=session, org_id=org.id),
        "invitations": orgs_service.pending_invitations(session=session, org_id=org.id),
        "errors": errors or FormErrors(), "values": values or {"role": "member"},
        "row": row}, status_code)


@router.get("/account/members")
def members(request: Request, principal: User, session: DbSession) -> Response:
    """The org's members and pending invitations."""
    return _members_page(request, principal, session, _managed_org(principal, session))


@router.post("/account/members/invite")
def invite(request: Request, form: Posted, principal: User, session: DbSession, links: Links,
           limiter: InvitationLimiter) -> Response:
    """Invite an address with a role: mailed; they join when they accept."""
    org = _managed_org(principal, session)
    data = form_dict(form, *INVITE_FIELDS)
    body, errors = validate(MemberCreate, data, INVITE_FIELDS)
    if body is not None:
        try:
            check_invitation_rate(org.id, limiter)
            orgs_service.invite_member(session=session, org_id=org.id, email=body.email,
                                       role=body.role, name=body.name,
                                       invited_by=principal.user_id,
                                       token_of=links.invitation_token)
            return redirect("/account/members?invited=1")
        except AppError as exc:
            answer = _members_page(request, principal, session, org, values=data,
                                   errors=FormErrors(email=exc.message),
                                   status_code=exc.status_code)
            answer.headers.update(exc.headers or {})  # Retry-After, past the limit
            return answer
    return _members_page(request, principal, session, org, errors=errors, values=data,
                         status_code=422)


@router.post("/account/members/{user_id}/role")
def change_role(request: Request, user_id: str, form: Posted, principal: User,
                session: DbSession) -> Response:
    org, user_id = _managed_org(principal, session), _known(user_id, "member")
    body, errors = validate(MemberUpdate, form_dict(form, "role"), ("role",))
    status_code = 422
    if body is not None:
        try:
            orgs_service.change_role(session=session, org_id=org.id, user_id=user_id,
                                     role=body.role)
            return redirect("/account/members?changed=1")
        except AppError as exc:
            if exc.status_code == 404:
                raise
            errors, status_code = FormErrors(role=exc.message), exc.status_code
    return _members_page(request, principal, session, org, errors=errors, row=user_id,
                         status_code=status_code)


@router.post("/account/members/{user_id}/remove")
def remove_member(request: Request, user_id: str, _form: Posted, principal: User,
                  session: DbSession) -> Response:
    org, user_id = _managed_org(principal, session), _known(user_id, "member")
    try:
        orgs_service.remove_member(session=session, org_id=org.id, user_id=user_id)
    except AppError as exc:
        if exc.status_code == 404:
            raise
        return _members_page(request, principal, session, org, row=user_id,
                             errors=FormErrors(role=exc.message), status_code=exc.status_code)
    if user_id == principal.user_id:  # they left the org: its pages are not theirs any more
        return redirect("/account")
    return redirect("/account/members?removed=1")


@router.post("/account/invitations/{invitation_id}/withdraw")
def withdraw_invitation(invitation_id: str, _form: Posted, principal: User,
                        session: DbSession) -> Response:
    """Withdraw a pending invitation: its link stops working."""
    org = _managed_org(principal, session)
    orgs_service.revoke_invitation(session=session, org_id=org.id,
                                   invitation_id=_known(invitation_id, "invitation"))
    return redirect("/account/members?withdrawn=1")


# --- API keys (org admins) -----------------------------------------------------------------


def _keys_page(request: Request, principal: Principal, session: DbSession, *,
               errors: FormErrors | None = None, name: str = "",
               status_code: int = 200) -> Response:
    assert principal.org_id is not None
    return _page(request, "account/api_keys.html", principal, {
        "title": "API keys", "errors": errors or FormErrors(), "name": name,
        "key_prefix": auth_service.API_KEY_PREFIX,
        "keys": auth_service.list_api_keys(session=session, org_id=principal.org_id)},
        status_code)


def _key_org(principal: Principal, action: Action) -> str:
    authorize(principal, Resource.api_key, action)
    if principal.org_id is None:
        raise NotFound("org not found", code="org_not_found")
    return principal.org_id


@router.get("/account/api-keys")
def api_keys(request: Request, principal: User, session: DbSession) -> Response:
    """The org's read-only API keys for analytics consumers."""
    _key_org(principal, Action.read)
    return _keys_page(request, principal, session)


@router.post("/account/api-keys")
def create_api_key(request: Request, form: Posted, principal: User,
                   session: DbSession) -> Response:
    """A new key; its secret is on the answer to this post, and never shown again."""
    org_id = _key_org(principal, Action.create)
    data = form_dict(form, "name")
    body, errors = validate(ApiKeyCreate, data, ("name",))
    if body is None:
        return _keys_page(request, principal, session, errors=errors,
                          name=data.get("name", ""), status_code=422)
    api_key, secret = auth_service.create_api_key(session=session, org_id=org_id,
                                                  name=body.name, created_by=principal.user_id)
    # Not a redirect: the secret is kept only hashed, so this answer (no-store) is the one
    # place it can be shown; reloading does not show it again, it asks to post again.
    return render(request, "account/api_key_created.html", {
        "title": "API key created", "key": api_key, "secret": secret}, principal=principal,
        status_code=201)


@router.post("/account/api-keys/{key_id}/revoke")
def revoke_api_key(key_id: str, _form: Posted, principal: User, session: DbSession) -> Response:
    """Revoke a key: refused from now on."""
    api_key = auth_service.get_api_key(session=session, key_id=_known(key_id, "api key"))
    if api_key is None:
        raise NotFound("api key not found", code="api_key_not_found")
    authorize(principal, Resource.api_key, Action.delete, owner_org_id=api_key.org_id)
    auth_service.revoke_api_key(session=session, api_key=api_key)
    return redirect("/account/api-keys?revoked=1")


# --- a forgotten password ------------------------------------------------------------------


@router.get("/account/forgot-password")
def forgot_password_page(request: Request, principal: MaybeUser) -> Response:
    return render(request, "account/forgot_password.html", {
        "title": "Forgot your password", "errors": FormErrors(), "email": "",
        "sent": "sent" in request.query_params}, principal=principal)


@router.post("/account/forgot-password")
def forgot_password(request: Request, form: Posted, principal: MaybeUser,
                    session: DbSession, client_limiter: ResetClientLimiter,
                    email_limiter: ResetEmailLimiter) -> Response:
    """Mail a reset link if the address has an account: the same answer either way."""
    data = form_dict(form, "email")
    context = {"title": "Forgot your password", "email": data.get("email", ""), "sent": False}
    body, errors = validate(PasswordResetRequest, data, ("email",))
    if body is None:
        return render(request, "account/forgot_password.html", {**context, "errors": errors},
                      principal=principal, status_code=422)
    try:
        check_reset_rate(_client(request), body.email, client_limiter, email_limiter)
    except AppError as exc:
        answer = render(request, "account/forgot_password.html", {
            **context, "errors": FormErrors(email=exc.message)}, principal=principal,
            status_code=exc.status_code)
        answer.headers.update(exc.headers or {})
        return answer
    auth_service.request_password_reset(session=session, email=body.email)
    return redirect("/account/forgot-password?sent=1")

