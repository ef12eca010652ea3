"""Wire shapes of tracked links and engagement reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TrackedLinkIn(BaseModel):
    """Where the campaign's short link leads (checked: `urls.py`)."""

    model_config = ConfigDict(extra="forbid")

    landing_url: str = Field(max_length=4000, description=(
        "An absolute http(s) URL with a host and no user:password@, at most 2,000 "
        "characters of printable ASCII"))


class TrackedLinkRead(BaseModel):
    """A campaign's tracked link: the short URL to print, and where it leads."""

    id: str
    campaign_id: str
    code: str
    short_url: str
    landing_url: str
    qr_png_url: str
    qr_svg_url: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None
    scans: int = Field(description="Scans counted so far (HEAD requests and link previews "
                                   "are not)")


class EngagementReport(BaseModel):
    """Scans, unique scanners, impressions and scans per 1,000 impressions, grouped."""

    model_config = ConfigDict(populate_by_name=True)

    start: datetime = Field(alias="from", description="Start of the first whole hour covered")
    end: datetime = Field(alias="to", description="End of the last whole hour covered")
    group_by: list[str]
    attribution_window_s: float
    notes: list[str] = Field(default_factory=list)
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
