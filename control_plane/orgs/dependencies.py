"""Load-or-404 dependencies of the organisations domain."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from control_plane.auth.dependencies import CurrentPrincipal
from control_plane.auth.policy import Action, Principal, Resource, authorize
from control_plane.db import DbSession
from control_plane.orgs import service as orgs_service
from control_plane.orgs.models import Org


def valid_org_id(org_id: Annotated[str, Path(max_length=40)], session: DbSession,
                 principal: CurrentPrincipal) -> Org:
    """The org in the path, if the caller may see it; 404 otherwise (also for other tenants)."""
    org = orgs_service.require_org(session=session, org_id=org_id)
    authorize(principal, Resource.org, Action.read, owner_org_id=org.id)
    return org


VisibleOrg = Annotated[Org, Depends(valid_org_id)]


def member_manager(org: VisibleOrg, principal: CurrentPrincipal) -> Principal:
    """The caller, who must be allowed to manage the members of the org in the path."""
    authorize(principal, Resource.member, Action.update, owner_org_id=org.id)
    return principal
