"""Wire shapes of venue moderation: the queue a venue owner judges from, and their decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from control_plane.media.schemas import RenditionRead


class CategoryRead(BaseModel):
    id: str = Field(description="IAB Ad Product Taxonomy 2.0 id")
    name: str
    tier1: str = Field(description="Its top-level category, e.g. Alcohol")


class QueueItem(BaseModel):
    item_id: str
    venue_id: str
    venue_name: str
    campaign_id: str
    campaign_name: str
    advertiser_id: str
    advertiser_name: str = Field(description="The advertiser's org name")
    category: CategoryRead = Field(description="The campaign's category")
    creative_id: str
    media_id: str
    kind: str = Field(description="image | video")
    duration_s: int = Field(description="How long the ad plays each time")
    thumbnail_url: str | None = Field(description="A signed URL of a small still of the ad, "
                                                  "until urls_expire_at; None until processed")
    renditions: list[RenditionRead] = Field(description="Every version of the ad as screens "
                                                        "play it, each with a signed URL")
    urls_expire_at: datetime


class ModerationQueue(BaseModel):
    items: list[QueueItem]


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["creative", "advertiser"] = Field(
        "creative", description="creative: this ad only; advertiser: every ad of theirs")
    reason: str | None = Field(None, max_length=2000)


class DecisionRead(BaseModel):
    venue_id: str
    scope: str
    subject_id: str
    decision: str
    reason: str | None
