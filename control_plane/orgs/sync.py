"""Keeping users, orgs and memberships in step with Clerk (webhooks and token claims).

Clerk is the source of truth for who exists and who belongs where when it is configured; these
upserts are idempotent, so a redelivered or reordered webhook converges to the same state. A user
deleted in Clerk is disabled here (their records stay for billing history); an org deleted in
Clerk loses its memberships but keeps its data.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from control_plane.db import utcnow
from control_plane.orgs import service as orgs_service
from control_plane.orgs.models import Membership, Org, OrgKind, Role, User, UserStatus

DEFAULT_ORG_KIND = OrgKind.advertiser


def clerk_role(role: Any) -> Role:
    """Our role for a Clerk role key ("org:admin", "admin", "org:technician", ...)."""
    key = str(role or "").removeprefix("org:")
    return Role(key) if key in Role.__members__ else Role.member


def _org_kind(public_metadata: Any) -> OrgKind:
    kind = (public_metadata or {}).get("kind") if isinstance(public_metadata, dict) else None
    return OrgKind(kind) if kind in ("advertiser", "venue") else DEFAULT_ORG_KIND


def _primary_email(data: dict[str, Any]) -> str | None:
    primary = data.get("primary_email_address_id")
    addresses = [a for a in data.get("email_addresses") or [] if isinstance(a, dict)]
    for address in addresses:
        if address.get("id") == primary and address.get("email_address"):
            return str(address["email_address"])
    return str(addresses[0]["email_address"]) if addresses and addresses[0].get(
        "email_address") else None


def upsert_user(*, session: Session, external_id: str, email: str | None = None,
                name: str | None = None) -> User:
    """The user synced from Clerk under `external_id`, created or updated; flushed."""
    user = orgs_service.get_user_by_external_id(session=session, external_id=external_id)
    if user is None and email:
        # An account made here before Clerk was switched on is linked, not duplicated.
        user = orgs_service.get_user_by_email(session=session, email=email)
        if user is not None and user.external_id is None:
            user.external_id = external_id
        else:
            user = None
    # Clerk confirms an address before it lets anyone sign in with it: we take its word
    verified_at = utcnow() if email else None
    if user is None:
        user = User(external_id=external_id, name=name or "", status=UserStatus.active,
                    email=orgs_service.normalize_email(email) if email else None,
                    email_verified_at=verified_at)
        session.add(user)
    else:
        if email:
            if orgs_service.normalize_email(email) != user.email or \
                    user.email_verified_at is None:
                user.email_verified_at = verified_at
            user.email = orgs_service.normalize_email(email)
        if name:
            user.name = name
        if user.status == UserStatus.invited:
            user.status = UserStatus.active
    session.flush()
    return user


def upsert_org(*, session: Session, external_id: str, name: str | None = None,
               public_metadata: Any = None) -> Org:
    """The org synced from Clerk under `external_id`, created or updated; flushed."""
    org = orgs_service.get_org_by_external_id(session=session, external_id=external_id)
    if org is None:
        org = Org(external_id=external_id, name=name or external_id,
                  kind=_org_kind(public_metadata))
        session.add(org)
    else:
        if name:
            org.name = name
        if isinstance(public_metadata, dict) and "kind" in public_metadata:
            org.kind = _org_kind(public_metadata)
    session.flush()
    return org


def upsert_membership(*, session: Session, org: Org, user: User, role: Role) -> Membership:
    """The user's membership of the org with this role, created or updated; flushed."""
    membership = orgs_service.get_membership(session=session, org_id=org.id, user_id=user.id)
    if membership is None:
        membership = Membership(org_id=org.id, user_id=user.id, role=role)
        session.add(membership)
    else:
        membership.role = role
    session.flush()
    return membership


def apply_clerk_event(*, session: Session, event_type: str, data: dict[str, Any]) -> bool:
    """Apply one Clerk webhook event (flushed, not committed); whether its type is one we sync."""
    handled = True
    if event_type in ("user.created", "user.updated"):
        name = " ".join(p for p in (data.get("first_name"), data.get("last_name")) if p)
        upsert_user(session=session, external_id=str(data["id"]), email=_primary_email(data),
                    name=name or None)
    elif event_type == "user.deleted":
        user = orgs_service.get_user_by_external_id(session=session, external_id=str(data["id"]))
        if user is not None:
            user.status = UserStatus.disabled
            session.execute(delete(Membership).where(Membership.user_id == user.id))
    elif event_type in ("organization.created", "organization.updated"):
        upsert_org(session=session, external_id=str(data["id"]), name=data.get("name"),
                   public_metadata=data.get("public_metadata"))
    elif event_type == "organization.deleted":
        org = orgs_service.get_org_by_external_id(session=session, external_id=str(data["id"]))
        if org is not None:
            session.execute(delete(Membership).where(Membership.org_id == org.id))
    elif event_type.startswith("organizationMembership."):
        org_data = data.get("organization") or {}
        user_data = data.get("public_user_data") or {}
        org = upsert_org(session=session, external_id=str(org_data["id"]),
                         name=org_data.get("name"),
                         public_metadata=org_data.get("public_metadata"))
        user = upsert_user(session=session, external_id=str(user_data["user_id"]),
                           email=user_data.get("identifier"))
        if event_type.endswith(".deleted"):
            session.execute(delete(Membership).where(Membership.org_id == org.id,
                                                     Membership.user_id == user.id))
        else:
            upsert_membership(session=session, org=org, user=user,
                              role=clerk_role(data.get("role")))
    else:
        handled = False
    session.flush()
    return handled
