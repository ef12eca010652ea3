"""HTTP routes of the organisations domain: orgs and their members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from control_plane.auth.dependencies import CurrentUser
from control_plane.auth.policy import Action, Resource, authorize
from control_plane.db import DbSession
from control_plane.orgs import service as orgs_service
from control_plane.orgs.dependencies import VisibleOrg, member_manager
from control_plane.orgs.models import Membership, Role
from control_plane.orgs.schemas import (
    MemberAdded,
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


@router.post("/{org_id}/members", response_model=MemberAdded,
             status_code=status.HTTP_201_CREATED,
             dependencies=[Depends(member_manager)],
             summary="Add a user (by email) with a role; unknown emails are invited")
def add_member(org: VisibleOrg, body: MemberCreate, session: DbSession) -> MemberAdded:
    membership, token, expires_at = orgs_service.invite_member(
        session=session, org_id=org.id, email=body.email, role=body.role, name=body.name)
    return MemberAdded(**_member_read(membership).model_dump(), invited=token is not None,
                       invite_token=token, invite_expires_at=expires_at)


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
