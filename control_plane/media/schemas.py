"""Wire shapes of the media domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from control_plane.media.models import Fit, MediaStatus


class MediaError(BaseModel):
    code: str
    message: str


class RenditionRead(BaseModel):
    role: str = Field(description="image | video | poster | thumbnail")
    name: str
    width: int
    height: int
    mime: str
    size_bytes: int
    sha256: str
    duration_ms: int | None
    url: str = Field(description="A signed URL, valid for an hour")


class JobRead(BaseModel):
    id: str
    status: str
    attempts: int
    last_error: str | None


class MediaRead(BaseModel):
    id: str
    org_id: str
    sha256: str
    kind: str
    mime: str
    size_bytes: int
    filename: str
    fit: Fit
    status: MediaStatus
    error: MediaError | None
    metadata: dict[str, Any] = Field(description="What probing found: dimensions, codecs, "
                                                 "duration, rotation")
    renditions: list[RenditionRead]
    job: JobRead | None = Field(description="The latest processing job")
    created_at: datetime


class MediaPage(BaseModel):
    items: list[MediaRead]


class UploadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field("", max_length=255)
    content_type: str | None = Field(None, max_length=100)


class UploadTicket(BaseModel):
    upload_id: str
    url: str = Field(description="PUT the file's bytes here before it expires")
    method: str = "PUT"
    headers: dict[str, str]
    expires_at: datetime


class UploadComplete(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field("", max_length=255)
    fit: Fit = Fit.letterbox
