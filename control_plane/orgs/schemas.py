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


class MemberAdded(MemberRead):
    invited: bool
    invite_token: str | None = Field(
        None, description="Shown once: the invited user sets a password with it at "
                          "POST /v1/auth/invitations/accept")
    invite_expires_at: datetime | None = None


class MemberPage(BaseModel):
    items: list[MemberRead]


class OrgPage(BaseModel):
    items: list[OrgRead]


SignupOrgKind = Literal["advertiser", "venue"]
