"""HTTP routes of the organisations domain: orgs and their members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from control_plane.auth.dependencies import CurrentUser, InvitationLimiter, Links
from control_plane.auth.policy import Action, Principal, Resource, authorize
from control_plane.auth.ratelimit import check_invitation_rate
from control_plane.db import DbSession
from control_plane.orgs import service as orgs_service
from control_plane.orgs.dependencies import VisibleOrg, member_manager
from control_plane.orgs.models import Invitation, Membership, Role
from control_plane.orgs.schemas import (
    InvitationCreated,
    InvitationPage,
    InvitationRead,
    MemberCreate,
    MemberPage,
    MemberRead,
    MemberUpdate,
    OrgPage,
    OrgRead,
    UserRead,
)

router = APIRouter(prefix="/v1/orgs", tags=["orgs"])
UserId = Annotated[str, Path(max_length=40)]
INVITATIONS_PER_HOUR = 50  # per org: an org inviting more is more likely spamming strangers


def _member_read(membership: Membership) -> MemberRead:
    return MemberRead(user=UserRead.model_validate(membership.user), role=Role(membership.role),
                      created_at=membership.created_at)


@router.get("", response_model=OrgPage, summary="Orgs the caller can see")
def list_orgs(principal: CurrentUser, session: DbSession) -> OrgPage:
    if principal.is_superadmin:
        orgs = orgs_service.list_orgs(session=session)
    else:
        assert principal.user_id is not None
        orgs = [m.org for m in orgs_service.memberships_of(session=session,
                                                            user_id=principal.user_id)]
    return OrgPage(items=[OrgRead.model_validate(o) for o in orgs])


@router.get("/{org_id}", response_model=OrgRead, summary="One org")
def get_org(org: VisibleOrg) -> OrgRead:
    return OrgRead.model_validate(org)


@router.get("/{org_id}/members", response_model=MemberPage, summary="The org's members")
def list_members(org: VisibleOrg, principal: CurrentUser, session: DbSession) -> MemberPage:
    authorize(principal, Resource.member, Action.read, owner_org_id=org.id)
    return MemberPage(items=[_member_read(m) for m in
                             orgs_service.list_members(session=session, org_id=org.id)])


def _invitation_read(invitation: Invitation, email: str) -> InvitationRead:
    return InvitationRead(id=invitation.id, org_id=invitation.org_id, email=email,
                          role=Role(invitation.role), expires_at=invitation.expires_at,
                          created_at=invitation.created_at)


@router.post("/{org_id}/members", response_model=InvitationCreated,
             status_code=status.HTTP_201_CREATED,
             summary="Invite an address to the org with a role (mailed; joins on accepting)",
             description="The answer is the same whether or not the address has an account. "
                         "Nobody becomes a member without accepting the emailed invitation. "
                         f"At most {INVITATIONS_PER_HOUR} invitations an org an hour (429).",
             responses={409: {"description": "already_member"},
                        429: {"description": "rate_limited"}})
def add_member(org: VisibleOrg, body: MemberCreate, session: DbSession, links: Links,
               limiter: InvitationLimiter,
               principal: Principal = Depends(member_manager)) -> InvitationCreated:
    check_invitation_rate(org.id, limiter)
    invited = orgs_service.invite_member(
        session=session, org_id=org.id, email=body.email, role=body.role, name=body.name,
        invited_by=principal.user_id, token_of=links.invitation_token)
    return InvitationCreated(**_invitation_read(invited.invitation, invited.email).model_dump(),
                             invite_token=invited.token)


@router.get("/{org_id}/invitations", response_model=InvitationPage,
            dependencies=[Depends(member_manager)], summary="Invitations not yet accepted")
def list_invitations(org: VisibleOrg, session: DbSession) -> InvitationPage:
    return InvitationPage(items=[_invitation_read(i, e) for i, e in
                                 orgs_service.pending_invitations(session=session,
                                                                  org_id=org.id)])


@router.delete("/{org_id}/invitations/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT,
               dependencies=[Depends(member_manager)],
               summary="Withdraw an invitation: its link stops working")
def revoke_invitation(org: VisibleOrg, invitation_id: Annotated[str, Path(max_length=40)],
                      session: DbSession) -> None:
    orgs_service.revoke_invitation(session=session, org_id=org.id, invitation_id=invitation_id)


@router.patch("/{org_id}/members/{user_id}", response_model=MemberRead,
              dependencies=[Depends(member_manager)], summary="Change a member's role")
def change_role(org: VisibleOrg, user_id: UserId, body: MemberUpdate,
                session: DbSession) -> MemberRead:
    return _member_read(orgs_service.change_role(session=session, org_id=org.id,
                                                 user_id=user_id, role=body.role))


@router.delete("/{org_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT,
               dependencies=[Depends(member_manager)], summary="Remove a member")
def remove_member(org: VisibleOrg, user_id: UserId, session: DbSession) -> None:
    orgs_service.remove_member(session=session, org_id=org.id, user_id=user_id)
