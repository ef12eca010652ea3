"""Wire shapes of the device fleet's routes: claiming a pairing code, remote commands, and the
external broker's auth hooks.

The device protocol's own messages (heartbeats, pairing, commands as the agent sees them) live
in `shared/device.py`, which the agent imports too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.device import CommandType


class ClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=20, examples=["K7P-4QX"])


class ClaimResult(BaseModel):
    screen_id: str
    device_id: str
    display: dict[str, int]
    agent_version: str


class CommandCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: CommandType
    ttl_s: int | None = Field(None, ge=1, le=86_400,
                              description="Seconds before an unacknowledged command expires")


class CommandRead(BaseModel):
    id: str
    screen_id: str
    type: str
    status: str = Field(description="queued | delivered | acked | failed | expired")
    created_at: datetime
    expires_at: datetime
    delivered_at: datetime | None
    finished_at: datetime | None
    result: str | None
    details: dict[str, Any]
    screenshot_url: str | None = None
    published: bool | None = Field(None, description="Whether the broker took it at once "
                                                     "(devices also poll over HTTP)")


class AckBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: str = Field(pattern="^(delivered|acked|failed)$")
    result: str | None = Field(None, max_length=500)
    details: dict[str, Any] | None = None


# What EMQX's HTTP authenticator and authorizer send and expect (devices/hooks.py).
class AuthRequest(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=200)
    clientid: str | None = Field(None, max_length=200)


class AclRequest(BaseModel):
    username: str = Field(max_length=200)
    topic: str = Field(max_length=1000)
    action: Literal["publish", "subscribe"]


class HookAnswer(BaseModel):
    result: Literal["allow", "deny"]
    is_superuser: bool = False
