"""Identity: password logins, the principal behind a token or an API key, and API keys.

Tokens say who the user is and which org they act in; what they may do there is always read from
the current memberships, so a removed member or a changed role takes effect at once. Clerk tokens
may name a user or org that no webhook has brought yet; they are provisioned just in time from the
token's claims (Clerk is the source of truth for who belongs where).
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane import events
from control_plane.auth.exceptions import InvalidCredentials, InvalidToken
from control_plane.auth.links import AccountLinks
from control_plane.auth.models import ApiKey
from control_plane.auth.policy import Principal
from control_plane.auth.tokens import VerifiedToken
from control_plane.db import utcnow
from control_plane.errors import NotFound, Unauthenticated
from control_plane.orgs import service as orgs_service
from control_plane.orgs import sync as orgs_sync
from control_plane.orgs.passwords import hash_password, needs_rehash, verify_password
from control_plane.orgs.service import Membership, Org, OrgKind, Role, User, UserStatus

API_KEY_PREFIX = "adsb_"
API_KEY_SCOPES = ("read",)
API_KEY_TOUCH_INTERVAL_S = 60  # last_used_at is written at most this often


def signup(*, session: Session, email: str, password: str, name: str, org_name: str,
           org_kind: OrgKind) -> tuple[User, Org]:
    """A new user with a new org of which they are the admin; committed. `EmailTaken` if the
    email has an account, after the same costly work as a signup."""
    # Hashed before the email is looked up: a taken email must not answer in a fraction of the
    # time a new one takes (argon2 is nearly all of a signup's time).
    password_hash = hash_password(password)
    user = orgs_service.create_user(session=session, email=email, name=name, password=None,
                                    email_verified=False)
    user.password_hash = password_hash
    org = orgs_service.create_org(session=session, name=org_name, kind=org_kind)
    orgs_service.add_membership(session=session, org_id=org.id, user_id=user.id, role=Role.admin)
    events.record(session, events.VerificationRequested(user_id=user.id,
                                                        requested_at=int(time.time())))
    session.commit()
    return user, org


# --- the address and the password, by the links mailed to them ----------------------------

def request_verification(*, session: Session, user_id: str) -> bool:
    """Mail the user a new link to confirm their address (committed); False if it is
    confirmed already."""
    user = orgs_service.get_user(session=session, user_id=user_id)
    if user is None or user.email_verified_at is not None or not user.email:
        return False
    events.record(session, events.VerificationRequested(user_id=user.id,
                                                        requested_at=int(time.time())))
    session.commit()
    return True


def verify_email(*, session: Session, links: AccountLinks, token: str) -> User:
    """Confirm the address a verification link was mailed to (committed); the user."""
    user = links.read_verification(session=session, token=token)
    orgs_service.mark_email_verified(session=session, user=user)
    session.commit()
    return user


def request_password_reset(*, session: Session, email: str) -> None:
    """Mail a reset link to the address if it has an account (committed).

    The request is recorded whatever the address, and the email job alone looks the account
    up, so that the answer and the time it takes are the same either way.
    """
    events.record(session, events.PasswordResetRequested(
        email=orgs_service.normalize_email(email), requested_at=int(time.time())))
    session.commit()


def reset_password(*, session: Session, links: AccountLinks, token: str,
                   password: str) -> User:
    """Set a new password with a reset link, which then stops working (committed). The link
    came to the address, so the address is confirmed too."""
    user = links.read_reset(session=session, token=token)
    orgs_service.set_password(session=session, user=user, password=password)
    orgs_service.mark_email_verified(session=session, user=user)
    session.commit()
    return user


def login(*, session: Session, email: str, password: str,
          org_id: str | None) -> tuple[User, Membership | None]:
    """The user whose password this is, and the membership to act in; committed."""
    user = orgs_service.get_user_by_email(session=session, email=email)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        raise InvalidCredentials("the email or the password is wrong")
    if user.status != UserStatus.active:
        raise InvalidCredentials("this account is not active")
    assert user.password_hash is not None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    membership = _choose_membership(session, user, org_id)
    session.commit()
    return user, membership


def switch_org(*, session: Session, user_id: str, org_id: str) -> Membership:
    """The membership of an active user in `org_id` (to act in it), or `org_not_found`."""
    user = orgs_service.get_user(session=session, user_id=user_id)
    if user is None or user.status != UserStatus.active:
        raise InvalidCredentials("this account is not active")
    membership = _choose_membership(session, user, org_id)
    assert membership is not None
    return membership


def _choose_membership(session: Session, user: User, org_id: str | None) -> Membership | None:
    memberships = orgs_service.memberships_of(session=session, user_id=user.id)
    if org_id is None:
        return memberships[0] if memberships else None
    for membership in memberships:
        if membership.org_id == org_id:
            return membership
    raise NotFound("org not found", code="org_not_found")


def principal_from_token(*, session: Session, token: VerifiedToken) -> Principal:
    """Who a verified token speaks for, read against current users and memberships."""
    user: User | None
    if token.issuer == "clerk":
        user, membership = _clerk_principal(session, token)
    else:
        user = orgs_service.get_user(session=session, user_id=token.subject)
        membership = None
        if user is not None and token.org_id:
            membership = orgs_service.get_membership(session=session, org_id=token.org_id,
                                                     user_id=user.id)
            if membership is None:
                raise InvalidToken("you are no longer a member of this token's org; "
                                   "ask for a new token")
    if user is None or user.status != UserStatus.active:
        raise InvalidToken("the token's user does not exist or is not active")
    return _principal(user, membership)


def _clerk_principal(session: Session, token: VerifiedToken) -> tuple[User, Membership | None]:
    user = orgs_service.get_user_by_external_id(session=session, external_id=token.subject)
    if user is None:
        user = orgs_sync.upsert_user(session=session, external_id=token.subject)
    membership = None
    if token.org_id and user.status == UserStatus.active:
        org = orgs_sync.upsert_org(session=session, external_id=token.org_id,
                                   name=token.org_slug)
        membership = orgs_service.get_membership(session=session, org_id=org.id, user_id=user.id)
        role = orgs_sync.clerk_role(token.org_role)
        if membership is None or membership.role != role:
            membership = orgs_sync.upsert_membership(session=session, org=org, user=user,
                                                     role=role)
    session.commit()
    return user, membership


def _principal(user: User, membership: Membership | None) -> Principal:
    return Principal(kind="user", user_id=user.id,
                     org_id=membership.org_id if membership else None,
                     org_kind=membership.org.kind if membership else None,
                     role=membership.role if membership else None,
                     is_superadmin=user.is_superadmin,
                     email_verified=user.email_verified_at is not None)


def create_api_key(*, session: Session, org_id: str, name: str,
                   created_by: str | None) -> tuple[ApiKey, str]:
    """A new read-only API key for the org and its secret (returned once); committed."""
    prefix = secrets.token_hex(6)
    secret = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey(org_id=org_id, name=name, prefix=prefix,
                     key_hash=orgs_service.hash_token(secret), scopes=" ".join(API_KEY_SCOPES),
                     created_by=created_by)
    session.add(api_key)
    session.commit()
    return api_key, secret


def list_api_keys(*, session: Session, org_id: str) -> list[ApiKey]:
    """The org's API keys, newest first (secrets are never shown again)."""
    return list(session.scalars(select(ApiKey).where(ApiKey.org_id == org_id)
                                .order_by(ApiKey.created_at.desc(), ApiKey.id)))


def get_api_key(*, session: Session, key_id: str) -> ApiKey | None:
    """The API key with this id, if any."""
    return session.get(ApiKey, key_id)


def revoke_api_key(*, session: Session, api_key: ApiKey) -> ApiKey:
    """Revoke the key: it is refused from now on; committed."""
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        session.commit()
    return api_key


def principal_from_api_key(*, session: Session, secret: str) -> Principal:
    """The org an API key speaks for, read-only."""
    parts = secret.removeprefix(API_KEY_PREFIX).split("_", 1)
    api_key = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[0])) if parts else None
    if (api_key is None or api_key.revoked_at is not None
            or not secrets.compare_digest(api_key.key_hash, orgs_service.hash_token(secret))):
        raise Unauthenticated("the API key is not valid or was revoked", code="invalid_api_key",
                              headers={"WWW-Authenticate": "Bearer"})
    now = utcnow()
    if api_key.last_used_at is None or _seconds(now, api_key.last_used_at) > \
            API_KEY_TOUCH_INTERVAL_S:
        api_key.last_used_at = now
        session.commit()
    org = orgs_service.require_org(session=session, org_id=api_key.org_id)
    return Principal(kind="api_key", user_id=None, org_id=org.id, org_kind=org.kind,
                     role=None, scopes=frozenset(api_key.scopes.split()))


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()
