"""Wire shapes of organisations, users and memberships."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from control_plane.orgs.models import OrgKind, Role


class OrgRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    kind: OrgKind
    created_at: datetime


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str | None
    name: str
    status: str
    is_superadmin: bool
    email_verified_at: datetime | None = Field(
        None, description="When the address was confirmed; until then the user may sign in "
                          "but not buy or be paid")
    created_at: datetime


class MembershipRead(BaseModel):
    org: OrgRead
    role: Role


class MemberRead(BaseModel):
    user: UserRead
    role: Role
    created_at: datetime


class MemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    role: Role = Role.member
    name: str = Field(default="", max_length=200)


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class InvitationRead(BaseModel):
    id: str
    org_id: str
    email: str
    role: Role
    status: Literal["pending"] = "pending"
    expires_at: datetime
    created_at: datetime


class InvitationCreated(InvitationRead):
    """The same answer whether or not the address has an account."""

    invited: bool = True
    invite_token: str = Field(
        description="Shown once, and mailed to the address: the invitee joins with it at "
                    "POST /v1/auth/invitations/accept (the link in the email opens a page "
                    "that does it)")


class InvitationPage(BaseModel):
    items: list[InvitationRead]


class MemberPage(BaseModel):
    items: list[MemberRead]


class OrgPage(BaseModel):
    items: list[OrgRead]


SignupOrgKind = Literal["advertiser", "venue"]
