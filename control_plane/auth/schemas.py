"""Wire shapes of the identity domain."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from control_plane.orgs.schemas import MembershipRead, OrgRead, UserRead

Password = Field(min_length=10, max_length=256,
                 description="At least 10 characters")


class SignupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Password
    name: str = Field(min_length=1, max_length=200)
    org_name: str = Field(min_length=1, max_length=200)
    org_kind: Literal["advertiser", "venue"]


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(max_length=256)
    org_id: str | None = Field(None, max_length=40,
                               description="The org to act in; default: the first membership")


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme, not a secret
    expires_in: int


class SignupResponse(TokenResponse):
    user: UserRead
    org: OrgRead


class AcceptInvitation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)
    password: str = Password
    name: str | None = Field(None, max_length=200)


class TokenOnly(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=300, description="from the emailed link")


class PasswordResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=300, description="from the emailed link")
    password: str = Password


class Accepted(BaseModel):
    """What an account email request answers, whoever the address belongs to."""

    status: str = Field(description="`accepted` (an email is on its way if it applies), "
                                    "`already_verified`, `verified` or `password_changed`")
    message: str


class MeResponse(BaseModel):
    user: UserRead
    org_id: str | None = Field(description="The org this token acts in")
    role: str | None
    memberships: list[MembershipRead]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    org_id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret, shown this once; only its hash is kept")


class ApiKeyPage(BaseModel):
    items: list[ApiKeyRead]


class WebhookAck(BaseModel):
    received: bool = True
    duplicate: bool = False
    handled: bool = True
