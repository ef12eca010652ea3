"""HTTP routes of the identity domain: signup, tokens, me, JWKS, API keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, status

from control_plane.auth import service as auth_service
from control_plane.auth.dependencies import (
    CurrentPrincipal,
    CurrentUser,
    LinkLimiter,
    Links,
    LoginLimiter,
    ResetClientLimiter,
    ResetEmailLimiter,
    SignupLimiter,
    SignupTakenLimiter,
    Tokens,
    VerificationLimiter,
    require,
)
from control_plane.auth.exceptions import EmailTaken
from control_plane.auth.models import ApiKey
from control_plane.auth.policy import Action, Principal, Resource, authorize
from control_plane.auth.ratelimit import (
    SlidingWindowLimiter,
    check_login_rate,
    check_reset_rate,
    check_signup_rate,
    login_key,
)
from control_plane.auth.schemas import (
    Accepted,
    AcceptInvitation,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPage,
    ApiKeyRead,
    MeResponse,
    PasswordReset,
    PasswordResetRequest,
    SignupRequest,
    SignupResponse,
    TokenOnly,
    TokenRequest,
    TokenResponse,
)
from control_plane.db import DbSession
from control_plane.errors import NotFound, RateLimited
from control_plane.orgs import service as orgs_service
from control_plane.orgs.schemas import MembershipRead, OrgRead, UserRead
from control_plane.orgs.service import OrgKind, Role

router = APIRouter(prefix="/v1", tags=["identity"])
well_known = APIRouter(tags=["identity"])
# 409 email_taken answers one client address may get an hour: someone who forgot they have an
# account needs one or two; finding out who has an account needs thousands
TAKEN_EMAILS_PER_HOUR = 5


@well_known.get("/.well-known/jwks.json", summary="The built-in issuer's public keys")
def jwks(tokens: Tokens) -> dict[str, Any]:
    tokens.keyring.reload()
    return tokens.keyring.jwks()


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"




@router.post("/auth/signup", response_model=SignupResponse, status_code=status.HTTP_201_CREATED,
             summary="Create a user and their org (the caller becomes its admin)",
             description="Rate-limited per client address: ADSBIN_SIGNUP_ATTEMPTS_PER_MINUTE "
                         f"attempts a minute, and {TAKEN_EMAILS_PER_HOUR} answers of 409 "
                         "`email_taken` an hour; past either, every signup from the address "
                         "answers 429 (with Retry-After) whatever the email.",
             responses={409: {"description": "email_taken"},
                        429: {"description": "rate_limited"}})
def signup(body: SignupRequest, request: Request, session: DbSession, tokens: Tokens,
           limiter: SignupLimiter, taken_limiter: SignupTakenLimiter) -> SignupResponse:
    check_signup_rate(_client(request), limiter, taken_limiter)
    try:
        user, org = auth_service.signup(session=session, email=body.email,
                                        password=body.password, name=body.name,
                                        org_name=body.org_name, org_kind=OrgKind(body.org_kind))
    except EmailTaken:
        taken_limiter.hit(_client(request))
        raise
    token, ttl = tokens.issue(user_id=user.id, org_id=org.id, org_role=Role.admin)
    return SignupResponse(access_token=token, expires_in=ttl, user=UserRead.model_validate(user),
                          org=OrgRead.model_validate(org))


@router.post("/auth/token", response_model=TokenResponse, summary="Sign in with a password")
def token(body: TokenRequest, request: Request, session: DbSession, tokens: Tokens,
          limiter: LoginLimiter) -> TokenResponse:
    check_login_rate(_client(request), limiter, body.email)
    user, membership = auth_service.login(session=session, email=body.email,
                                          password=body.password, org_id=body.org_id)
    limiter.reset(login_key(_client(request), body.email))
    access_token, ttl = tokens.issue(user_id=user.id,
                                     org_id=membership.org_id if membership else None,
                                     org_role=membership.role if membership else None)
    return TokenResponse(access_token=access_token, expires_in=ttl)


def _check_link_rate(request: Request, limiter: SlidingWindowLimiter) -> None:
    wait_s = limiter.hit(_client(request))
    if wait_s is not None:
        raise RateLimited.after(wait_s, "links tried")


@router.post("/auth/invitations/accept", response_model=TokenResponse,
             summary="Join an org with an invitation's token, and sign in",
             description="An invited address sets its password (and name) here; an address "
                         "that has an account gives its password.",
             responses={401: {"description": "invalid_credentials"},
                        422: {"description": "invalid_invitation, invitation_expired"}})
def accept_invitation(body: AcceptInvitation, request: Request, session: DbSession,
                      tokens: Tokens, limiter: LinkLimiter) -> TokenResponse:
    _check_link_rate(request, limiter)
    user, membership = orgs_service.accept_invitation(session=session, token=body.token,
                                                      password=body.password, name=body.name)
    access_token, ttl = tokens.issue(user_id=user.id, org_id=membership.org_id,
                                     org_role=membership.role)
    return TokenResponse(access_token=access_token, expires_in=ttl)


@router.post("/auth/verify-email", response_model=Accepted,
             summary="Confirm your address with the token of the emailed link",
             responses={422: {"description": "invalid_link"}})
def verify_email(body: TokenOnly, request: Request, session: DbSession, links: Links,
                 limiter: LinkLimiter) -> Accepted:
    _check_link_rate(request, limiter)
    user = auth_service.verify_email(session=session, links=links, token=body.token)
    return Accepted(status="verified", message=f"{user.email} is confirmed: thank you.")


@router.post("/auth/verify-email/resend", response_model=Accepted,
             status_code=status.HTTP_202_ACCEPTED,
             summary="Mail me a new link to confirm my address",
             responses={429: {"description": "rate_limited"}})
def resend_verification(principal: CurrentUser, session: DbSession,
                        limiter: VerificationLimiter) -> Accepted:
    assert principal.user_id is not None
    if principal.email_verified:
        return Accepted(status="already_verified", message="your address is confirmed already")
    wait_s = limiter.hit(principal.user_id)
    if wait_s is not None:
        raise RateLimited.after(wait_s, "verification links asked for")
    auth_service.request_verification(session=session, user_id=principal.user_id)
    return Accepted(status="accepted", message="a new link is on its way to your address")


@router.post("/auth/password-reset", response_model=Accepted,
             status_code=status.HTTP_202_ACCEPTED,
             summary="Mail a link to reset the password of an address",
             description="Answers the same whether or not the address has an account (the "
                         "email goes only if it has one). Rate-limited per client address and "
                         "per address asked about, the same either way.",
             responses={429: {"description": "rate_limited"}})
def request_password_reset(body: PasswordResetRequest, request: Request, session: DbSession,
                           client_limiter: ResetClientLimiter,
                           email_limiter: ResetEmailLimiter) -> Accepted:
    check_reset_rate(_client(request), body.email, client_limiter, email_limiter)
    auth_service.request_password_reset(session=session, email=body.email)
    return Accepted(status="accepted",
                    message="if an account has this address, a link to reset its password "
                            "is on its way; it works once, within the hour")


@router.post("/auth/password-reset/confirm", response_model=Accepted,
             summary="Set a new password with the token of the emailed link",
             responses={422: {"description": "invalid_link"}})
def reset_password(body: PasswordReset, request: Request, session: DbSession, links: Links,
                   limiter: LinkLimiter) -> Accepted:
    _check_link_rate(request, limiter)
    auth_service.reset_password(session=session, links=links, token=body.token,
                                password=body.password)
    return Accepted(status="password_changed",
                    message="your password is changed: sign in with it")


@router.get("/me", response_model=MeResponse, summary="The signed-in user and their orgs")
def me(principal: CurrentUser, session: DbSession) -> MeResponse:
    assert principal.user_id is not None
    user = orgs_service.get_user(session=session, user_id=principal.user_id)
    assert user is not None
    memberships = orgs_service.memberships_of(session=session, user_id=user.id)
    return MeResponse(
        user=UserRead.model_validate(user), org_id=principal.org_id, role=principal.role,
        memberships=[MembershipRead(org=OrgRead.model_validate(m.org), role=Role(m.role))
                     for m in memberships])


def _api_key_read(api_key: ApiKey) -> ApiKeyRead:
    return ApiKeyRead(id=api_key.id, org_id=api_key.org_id, name=api_key.name,
                      prefix=api_key.prefix, scopes=api_key.scopes.split(),
                      created_at=api_key.created_at, last_used_at=api_key.last_used_at,
                      revoked_at=api_key.revoked_at)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED,
             summary="A read-only key for analytics consumers (the secret is shown once)")
def create_api_key(body: ApiKeyCreate, session: DbSession,
                   principal: Principal = Depends(require(Resource.api_key, Action.create)),
                   ) -> ApiKeyCreated:
    if principal.org_id is None:
        raise NotFound("org not found", code="org_not_found")
    api_key, secret = auth_service.create_api_key(session=session, org_id=principal.org_id,
                                                  name=body.name, created_by=principal.user_id)
    return ApiKeyCreated(**_api_key_read(api_key).model_dump(), key=secret)


@router.get("/api-keys", response_model=ApiKeyPage, summary="The org's API keys")
def list_api_keys(session: DbSession,
                  principal: Principal = Depends(require(Resource.api_key, Action.read)),
                  ) -> ApiKeyPage:
    if principal.org_id is None:
        return ApiKeyPage(items=[])
    return ApiKeyPage(items=[_api_key_read(k) for k in
                             auth_service.list_api_keys(session=session,
                                                        org_id=principal.org_id)])


@router.delete("/api-keys/{key_id}", response_model=ApiKeyRead, summary="Revoke an API key")
def revoke_api_key(key_id: str, session: DbSession, principal: CurrentPrincipal) -> ApiKeyRead:
    api_key = auth_service.get_api_key(session=session, key_id=key_id)
    if api_key is None:
        raise NotFound("api key not found", code="api_key_not_found")
    authorize(principal, Resource.api_key, Action.delete, owner_org_id=api_key.org_id)
    return _api_key_read(auth_service.revoke_api_key(session=session, api_key=api_key))
