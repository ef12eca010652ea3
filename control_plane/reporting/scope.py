"""Whose plays a caller may read: an advertiser its campaigns' plays, a venue org its screens'
plays, the platform (super-admins and the platform org's API keys) every play.

An API key reads what its org may read; it never reads more than a person of that org would.
"""

from __future__ import annotations

from dataclasses import dataclass

from control_plane.auth.policy import Principal
from control_plane.errors import Forbidden
from control_plane.orgs.service import OrgKind


@dataclass(frozen=True)
class Scope:
    """A filter on plays and rollups by the org they belong to (none: everything)."""

    advertiser_org_id: str | None = None
    venue_org_id: str | None = None

    @property
    def everything(self) -> bool:
        """Whether nothing is filtered out (the platform)."""
        return self.advertiser_org_id is None and self.venue_org_id is None

    @property
    def sees_spend(self) -> bool:
        """Advertisers see what they spend and the platform everything; a venue org sees its
        earnings, not what each advertiser paid."""
        return self.venue_org_id is None


def scope_of(principal: Principal) -> Scope:
    """The plays this (already authorized) principal may read."""
    if principal.is_superadmin or principal.org_kind == OrgKind.platform:
        return Scope()
    if principal.org_id is not None and principal.org_kind == OrgKind.advertiser:
        return Scope(advertiser_org_id=principal.org_id)
    if principal.org_id is not None and principal.org_kind == OrgKind.venue:
        return Scope(venue_org_id=principal.org_id)
    raise Forbidden("act in an advertiser or venue org to read its plays", code="no_org")
