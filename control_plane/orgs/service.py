"""Organisations, users and memberships: the tenancy every other domain asks about.

Other domains call these functions, never the tables. Functions take the session and keyword
arguments, commit nothing unless they say so, and know nothing of HTTP.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from control_plane import events
from control_plane.db import new_id, utcnow
from control_plane.errors import Invalid
from control_plane.orgs.exceptions import (
    AlreadyMember,
    EmailTaken,
    InvalidPassword,
    InvitationNotFound,
    LastAdmin,
    MemberNotFound,
    OrgNotFound,
)
from control_plane.orgs.models import Invitation
from control_plane.orgs.models import Membership as Membership
from control_plane.orgs.models import Org as Org
from control_plane.orgs.models import OrgKind as OrgKind
from control_plane.orgs.models import Role as Role
from control_plane.orgs.models import User as User
from control_plane.orgs.models import UserStatus as UserStatus
from control_plane.orgs.passwords import hash_password, verify_password

INVITATION_TTL = timedelta(days=7)
PLATFORM_ORG_NAME = "ADSBIN Platform"


def normalize_email(email: str) -> str:
    """The form an email is stored and compared in."""
    return email.strip().lower()


def hash_token(token: str) -> str:
    """The stored form of a high-entropy secret (sha256 is enough for 256-bit random tokens)."""
    return hashlib.sha256(token.encode()).hexdigest()


def get_user(*, session: Session, user_id: str) -> User | None:
    """The user with this id, if any."""
    return session.get(User, user_id)


def get_user_by_email(*, session: Session, email: str) -> User | None:
    """The user with this email, if any (case-insensitive)."""
    return session.scalar(select(User).where(User.email == normalize_email(email)))


def get_user_by_external_id(*, session: Session, external_id: str) -> User | None:
    """The user synced from Clerk under this id, if any."""
    return session.scalar(select(User).where(User.external_id == external_id))


def get_org(*, session: Session, org_id: str) -> Org | None:
    """The org with this id, if any."""
    return session.get(Org, org_id)


def get_org_by_external_id(*, session: Session, external_id: str) -> Org | None:
    """The org synced from Clerk under this id, if any."""
    return session.scalar(select(Org).where(Org.external_id == external_id))


def list_orgs(*, session: Session) -> list[Org]:
    """Every org (super-admins only)."""
    return list(session.scalars(select(Org).order_by(Org.created_at, Org.id)))


def find_orgs(*, session: Session, text: str | None = None, limit: int = 200) -> list[Org]:
    """Orgs whose name contains `text` (case-insensitive; all without), oldest first, at most
    `limit` (super-admins only)."""
    query = select(Org).order_by(Org.created_at, Org.id).limit(limit)
    if text:
        query = query.where(Org.name.icontains(text, autoescape=True))
    return list(session.scalars(query))


def org_names(*, session: Session, org_ids: list[str]) -> dict[str, str]:
    """The names of these orgs, by id (unknown ids left out)."""
    ids = sorted(set(org_ids))
    found: dict[str, str] = {}
    for i in range(0, len(ids), 1000):
        found.update(session.execute(select(Org.id, Org.name)
                                     .where(Org.id.in_(ids[i:i + 1000]))).all())
    return found


def member_counts(*, session: Session, org_ids: list[str]) -> dict[str, int]:
    """How many members each of these orgs has (orgs without any left out)."""
    if not org_ids:
        return {}
    return {org_id: int(count) for org_id, count in session.execute(
        select(Membership.org_id, func.count()).where(Membership.org_id.in_(org_ids))
        .group_by(Membership.org_id))}


def find_users(*, session: Session, text: str | None = None, limit: int = 100) -> list[User]:
    """Users whose email or name contains `text` (case-insensitive; the newest without), at
    most `limit`, with their memberships and orgs (super-admins only)."""
    query = select(User).options(selectinload(User.memberships).selectinload(Membership.org))
    if text:
        query = query.where(User.email.icontains(text, autoescape=True)
                            | User.name.icontains(text, autoescape=True))
    return list(session.scalars(query.order_by(User.created_at.desc(), User.id).limit(limit)))


def get_membership(*, session: Session, org_id: str, user_id: str) -> Membership | None:
    """The user's membership of the org, if any."""
    return session.scalar(select(Membership).where(Membership.org_id == org_id,
                                                   Membership.user_id == user_id))


def memberships_of(*, session: Session, user_id: str) -> list[Membership]:
    """The user's memberships, oldest first."""
    return list(session.scalars(select(Membership).where(Membership.user_id == user_id)
                                .order_by(Membership.created_at, Membership.id)))


def create_user(*, session: Session, email: str | None, name: str, password: str | None,
                email_verified: bool, status: UserStatus = UserStatus.active,
                is_superadmin: bool = False, external_id: str | None = None) -> User:
    """A new user; `EmailTaken` if the email is in use. `email_verified` says whether the
    address is known to be theirs already (made by an operator, vouched for by Clerk)."""
    email = normalize_email(email) if email else None
    if email and get_user_by_email(session=session, email=email):
        raise EmailTaken("an account with this email already exists", details={"email": email})
    user = User(email=email, name=name, status=status, is_superadmin=is_superadmin,
                external_id=external_id,
                email_verified_at=utcnow() if email_verified else None,
                password_hash=hash_password(password) if password else None)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent signup with the same email won the race
        session.rollback()
        raise EmailTaken("an account with this email already exists",
                         details={"email": email}) from exc
    return user


def mark_email_verified(*, session: Session, user: User) -> bool:
    """Take the user's address as theirs from now on; whether it was not already (flushed)."""
    if user.email_verified_at is not None:
        return False
    user.email_verified_at = utcnow()
    session.flush()
    return True


def set_password(*, session: Session, user: User, password: str) -> None:
    """Give the user a new password (flushed); any reset link made before stops working,
    since those are bound to the password they replace."""
    user.password_hash = hash_password(password)
    session.flush()


def create_org(*, session: Session, name: str, kind: OrgKind,
               external_id: str | None = None) -> Org:
    """A new org."""
    org = Org(name=name.strip(), kind=kind, external_id=external_id)
    session.add(org)
    session.flush()
    return org


def add_membership(*, session: Session, org_id: str, user_id: str, role: Role) -> Membership:
    """Make the user a member of the org with `role`; `AlreadyMember` if they are."""
    if get_membership(session=session, org_id=org_id, user_id=user_id):
        raise AlreadyMember("this user is already a member of the org")
    membership = Membership(org_id=org_id, user_id=user_id, role=role)
    session.add(membership)
    session.flush()
    return membership


def signup(*, session: Session, email: str, password: str, name: str, org_name: str,
           org_kind: OrgKind) -> tuple[User, Org]:
    """A new user with a new org of which they are the admin; committed."""
    user = create_user(session=session, email=email, name=name, password=password,
                       email_verified=False)
    org = create_org(session=session, name=org_name, kind=org_kind)
    add_membership(session=session, org_id=org.id, user_id=user.id, role=Role.admin)
    session.commit()
    return user, org


def platform_org(*, session: Session) -> Org:
    """The platform's own org, where super-admins are members; created on first use."""
    org = session.scalar(select(Org).where(Org.kind == OrgKind.platform).order_by(Org.created_at))
    return org or create_org(session=session, name=PLATFORM_ORG_NAME, kind=OrgKind.platform)


def ensure_superuser(*, session: Session, email: str, password: str,
                     name: str = "Super-admin") -> tuple[User, bool]:
    """Make `email` a super-admin with this password (creating the user if needed); committed.

    Returns the user and whether it was created.
    """
    user = get_user_by_email(session=session, email=email)
    created = user is None
    if user is None:
        user = create_user(session=session, email=email, name=name, password=password,
                           is_superadmin=True, email_verified=True)
    else:
        mark_email_verified(session=session, user=user)  # an operator vouches for it
        user.is_superadmin = True
        user.status = UserStatus.active
        user.password_hash = hash_password(password)
    org = platform_org(session=session)
    if not get_membership(session=session, org_id=org.id, user_id=user.id):
        add_membership(session=session, org_id=org.id, user_id=user.id, role=Role.admin)
    session.commit()
    return user, created


def list_members(*, session: Session, org_id: str) -> list[Membership]:
    """The org's memberships, oldest first, their users loaded with them."""
    return list(session.scalars(select(Membership).where(Membership.org_id == org_id)
                                .options(selectinload(Membership.user))
                                .order_by(Membership.created_at, Membership.id)))


@dataclass(frozen=True)
class Invited:
    """An invitation just made: the token is shown once (it is stored only hashed)."""

    invitation: Invitation
    email: str
    token: str


def invite_member(*, session: Session, org_id: str, email: str, role: Role, name: str = "",
                  invited_by: str | None, token_of: Callable[[str], str]) -> Invited:
    """Invite an address to the org with a role (committed); the same answer whether or not it
    has an account, so that inviting cannot be used to find out who has one.

    Nobody is made a member without saying yes: the invitation is mailed (`MemberInvited`)
    and the membership made when its token comes back (`accept_invitation`). An address with
    no account gets an invited one, which the acceptance gives a password. `token_of(id)`
    makes the invitation's token from its id (identity signs it, so the email job can make the
    same link again); inviting again replaces a pending invitation, `AlreadyMember` once they
    joined.
    """
    user = get_user_by_email(session=session, email=email)
    if user is None:
        user = create_user(session=session, email=email, name=name, password=None,
                           status=UserStatus.invited, email_verified=False)
    elif get_membership(session=session, org_id=org_id, user_id=user.id):
        raise AlreadyMember("this user is already a member of the org")
    now = utcnow()
    session.execute(delete(Invitation).where(Invitation.org_id == org_id,
                                             Invitation.user_id == user.id,
                                             Invitation.accepted_at.is_(None)))
    invitation_id = new_id("inv")
    token = token_of(invitation_id)
    invitation = Invitation(id=invitation_id, org_id=org_id, user_id=user.id, role=role,
                            invited_by=invited_by, token_hash=hash_token(token),
                            expires_at=now + INVITATION_TTL, created_at=now)
    session.add(invitation)
    session.flush()
    events.record(session, events.MemberInvited(invitation_id=invitation.id, org_id=org_id,
                                                invited_by=invited_by))
    session.commit()
    assert user.email is not None
    return Invited(invitation=invitation, email=user.email, token=token)


def pending_invitations(*, session: Session, org_id: str) -> list[tuple[Invitation, str]]:
    """The org's invitations not yet accepted, newest first, with the address of each."""
    return [(i, e or "") for i, e in session.execute(
        select(Invitation, User.email).join(User, User.id == Invitation.user_id)
        .where(Invitation.org_id == org_id, Invitation.accepted_at.is_(None))
        .order_by(Invitation.created_at.desc(), Invitation.id))]


def revoke_invitation(*, session: Session, org_id: str, invitation_id: str) -> None:
    """Withdraw a pending invitation of the org (committed): its link stops working."""
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.org_id != org_id or invitation.accepted_at is not None:
        raise InvitationNotFound("invitation not found")
    session.delete(invitation)
    session.commit()


def get_invitation(*, session: Session, invitation_id: str) -> tuple[Invitation, User, Org] | None:
    """An invitation with its invitee and its org, if it exists."""
    invitation = session.get(Invitation, invitation_id)
    if invitation is None:
        return None
    user, org = session.get(User, invitation.user_id), session.get(Org, invitation.org_id)
    assert user is not None and org is not None  # the foreign keys cascade deletes
    return invitation, user, org


def open_invitation(*, session: Session, token: str) -> tuple[Invitation, User]:
    """The pending invitation of a token and its invitee; 422 when used, unknown or expired."""
    invitation = session.scalar(select(Invitation).where(
        Invitation.token_hash == hash_token(token)))
    if invitation is None or invitation.accepted_at is not None:
        raise Invalid("this invitation is not valid (already used, withdrawn or never "
                      "issued)", code="invalid_invitation")
    if invitation.expires_at <= utcnow():
        raise Invalid("this invitation has expired; ask an org admin to invite you again",
                      code="invitation_expired")
    user = session.get(User, invitation.user_id)
    assert user is not None  # the foreign key cascades deletes
    return invitation, user


def accept_invitation(*, session: Session, token: str, password: str,
                      name: str | None) -> tuple[User, Membership]:
    """Join the org of a valid invitation (committed); the membership.

    An invited account sets its password with it; an account that has one must give it (the
    token proves the mailbox, the password the person). Either way the address is verified:
    the token came to it.
    """
    invitation, user = open_invitation(session=session, token=token)
    if user.status == UserStatus.invited or user.password_hash is None:
        user.password_hash = hash_password(password)
        user.status = UserStatus.active
        if name:
            user.name = name
    elif not verify_password(user.password_hash, password):
        raise InvalidPassword("this address has an account: accept with its password (or "
                              "reset it first)")
    elif user.status != UserStatus.active:
        raise InvalidPassword("this account is not active")
    mark_email_verified(session=session, user=user)
    invitation.accepted_at = utcnow()
    membership = get_membership(session=session, org_id=invitation.org_id, user_id=user.id)
    if membership is None:  # (invitations made before acceptance was asked came with one)
        membership = Membership(org_id=invitation.org_id, user_id=user.id,
                                role=invitation.role)
        session.add(membership)
    session.commit()
    return user, membership


def _admin_count(session: Session, org_id: str) -> int:
    return session.scalar(select(func.count()).select_from(Membership).where(
        Membership.org_id == org_id, Membership.role == Role.admin)) or 0


def change_role(*, session: Session, org_id: str, user_id: str, role: Role) -> Membership:
    """Change a member's role; an org keeps at least one admin; committed."""
    membership = get_membership(session=session, org_id=org_id, user_id=user_id)
    if membership is None:
        raise MemberNotFound("member not found")
    if membership.role == Role.admin and role != Role.admin and _admin_count(session, org_id) <= 1:
        raise LastAdmin("an org must keep at least one admin")
    membership.role = role
    session.commit()
    return membership


def remove_member(*, session: Session, org_id: str, user_id: str) -> None:
    """Remove a member; an org keeps at least one admin; committed."""
    membership = get_membership(session=session, org_id=org_id, user_id=user_id)
    if membership is None:
        raise MemberNotFound("member not found")
    if membership.role == Role.admin and _admin_count(session, org_id) <= 1:
        raise LastAdmin("an org must keep at least one admin")
    session.delete(membership)
    session.commit()


def require_org(*, session: Session, org_id: str) -> Org:
    """The org with this id, or `OrgNotFound`."""
    org = get_org(session=session, org_id=org_id)
    if org is None:
        raise OrgNotFound("org not found")
    return org


def admin_emails(*, session: Session, org_id: str) -> list[str]:
    """The email addresses of the org's admins, oldest membership first."""
    return [e for e in session.scalars(
        select(User.email).join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == org_id, Membership.role == Role.admin)
        .order_by(Membership.created_at, Membership.id)) if e]


def superadmins(*, session: Session) -> list[User]:
    """The active super-admins."""
    return list(session.scalars(select(User).where(User.is_superadmin.is_(True),
                                                   User.status == UserStatus.active)
                                .order_by(User.created_at, User.id)))
