"""FastAPI dependencies: the calling principal, permission checks attached to routes, and the
app's token service and sign-in limiters (made in `app.py`, read from `app.state`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from control_plane.auth import service as auth_service
from control_plane.auth.exceptions import BEARER
from control_plane.auth.links import AccountLinks
from control_plane.auth.policy import Action, Principal, Resource, authorize
from control_plane.auth.ratelimit import SlidingWindowLimiter
from control_plane.auth.tokens import TokenService
from control_plane.db import DbSession
from control_plane.dependencies import limiter_on_app
from control_plane.errors import Forbidden, Unauthenticated


def bearer_token(request: Request) -> str:
    """The bearer credential of the request, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("sign in: send Authorization: Bearer <token>", headers=BEARER)
    return credential.strip()


# async: these only read the app, so they run on the loop instead of costing a thread hop
async def get_token_service(request: Request) -> TokenService:
    """The app's token service."""
    service: TokenService = request.app.state.tokens
    return service


Tokens = Annotated[TokenService, Depends(get_token_service)]


LoginLimiter = Annotated[SlidingWindowLimiter, Depends(limiter_on_app(
    "login_limiter", "Sign-in attempts per client address and email."))]
SignupLimiter = Annotated[SlidingWindowLimiter, Depends(limiter_on_app(
    "signup_limiter", "Signup attempts per client address."))]
SignupTakenLimiter = Annotated[SlidingWindowLimiter, Depends(limiter_on_app(
    "signup_taken_limiter", "409 `email_taken` answers per client address."))]
ResetClientLimiter = Annotated[SlidingWindowLimiter, Depends(limiter_on_app(
    "reset_client_limiter", "Password reset requests per client address."))]
ResetEmailLimiter = Annotated[SlidingWindowLimiter, Depends(limiter_on_app(
    "reset_email_limiter", "Password reset requests per address asked about."))]
VerificationLimiter = Annotated[SlidingWindowLimiter, Depends(limiter_on_app(
    "verification_limiter", "Verification links asked for, per user."))]
LinkLimiter = Annotated[SlidingWindowLimiter, Depends(limiter_on_app(
    "link_limiter", "Emailed links tried (verify, reset, accept), per client address."))]
InvitationLimiter = Annotated[SlidingWindowLimiter, Depends(limiter_on_app(
    "invitation_limiter", "Invitations sent, per org."))]


async def get_account_links(request: Request) -> AccountLinks:
    """The app's maker and reader of account links."""
    links: AccountLinks = request.app.state.account_links
    return links


Links = Annotated[AccountLinks, Depends(get_account_links)]


def get_principal(request: Request, session: DbSession, tokens: Tokens) -> Principal:
    """Who is calling: a user (JWT from any trusted issuer) or an org's API key."""
    credential = bearer_token(request)
    if credential.startswith(auth_service.API_KEY_PREFIX):
        return auth_service.principal_from_api_key(session=session, secret=credential)
    verified = tokens.verify(credential)
    return auth_service.principal_from_token(session=session, token=verified)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def get_user_principal(principal: CurrentPrincipal) -> Principal:
    """The calling user; API keys are refused."""
    if principal.is_api_key:
        raise Forbidden("API keys may only read analytics; sign in as a user", code="user_only")
    return principal


CurrentUser = Annotated[Principal, Depends(get_user_principal)]


def require(resource: Resource, action: Action) -> Callable[[Principal], Principal]:
    """A dependency that lets the call through only if the principal may `action` `resource`."""

    def check(principal: CurrentPrincipal) -> Principal:
        authorize(principal, resource, action)
        return principal

    return check


def require_superadmin(principal: CurrentUser) -> Principal:
    """Only super-admins pass."""
    if not principal.is_superadmin:
        raise Forbidden("only super-admins may do this", code="superadmin_only")
    return principal


SuperAdmin = Annotated[Principal, Depends(require_superadmin)]


def require_org_context(principal: CurrentPrincipal) -> Principal:
    """The principal, which must be acting in an org."""
    if principal.org_id is None:
        raise Forbidden("this token acts in no org; ask for one with org_id", code="no_org")
    return principal


def require_verified_email(principal: CurrentUser) -> Principal:
    """The calling user, whose address must be confirmed: buying and being paid wait for it."""
    if not principal.email_verified:
        raise Forbidden("confirm your email address first: follow the link we mailed you "
                        "(POST /v1/auth/verify-email/resend sends a new one)",
                        code="email_not_verified")
    return principal


VerifiedUser = Annotated[Principal, Depends(require_verified_email)]
