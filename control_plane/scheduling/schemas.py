"""Wire shapes of explain and preview: a screen's timeline, and where a campaign may play.

The names are the OpenAPI document's component names; `Timeline` here is the answer of
`GET /v1/screens/{id}/timeline`, not the engine's `scheduling.timeline.Timeline`.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from control_plane.scheduling.inventory import AREA_DECIMALS, AREA_KM


class TimelineItem(BaseModel):
    kind: str
    campaign_id: str | None
    creative_id: str
    duration_s: int
    slots: int


class TimelineWindow(BaseModel):
    start: datetime
    end: datetime
    loop: list[TimelineItem]
    explain: list[str]


class Timeline(BaseModel):
    screen_id: str
    planned_at: datetime = Field(description="When the plan shown was made: by the last build "
                                 "that published the screen's playlist, or now while a change "
                                 "waits for its rebuild")
    windows: list[TimelineWindow]
    exclusions: dict[str, list[str]]


class ScreenEligibility(BaseModel):
    screen_id: str
    venue_id: str
    venue_name: str
    eligible: bool
    reasons: list[str]


class ReasonCount(BaseModel):
    reason: str
    screens: int


class AreaRead(BaseModel):
    lat: float = Field(description=f"Rounded to {AREA_DECIMALS} decimal: about {AREA_KM} km")
    lon: float
    timezone: str


class OfferRead(BaseModel):
    venue_type_id: int
    venue_type: str
    area: AreaRead
    public_name: str | None = Field(description="Only if the venue's owner publishes one")
    venues: int
    screens: int
    eligible_screens: int
    reasons: list[ReasonCount] = Field(description="Why not on the other screens, and on how "
                                                   "many")


class Forecast(BaseModel):
    horizon_h: int
    eligible_screens: int
    available_impressions: float = Field(description="If the campaign took every slot of "
                                                     "every eligible screen in the horizon")
    planned_plays: int = Field(description="What the engine would plan for it, next to every "
                                           "approved campaign, in the horizon")
    planned_impressions: float
    target_impressions: float = Field(description="Of the planned impressions, those of the "
                                                  "targeted audience: each play's impressions "
                                                  "× the audience's share of viewers at its "
                                                  "screen and time; without audience targeting, "
                                                  "all of them")
    expected_spend_cents: int = Field(description="planned impressions × CPM / 1000, rounded "
                                                  "down, never more than the budget")
    currency: str


class CampaignEligibility(BaseModel):
    campaign_id: str
    screens_total: int
    eligible_screens: int
    inventory: list[OfferRead] = Field(description="The network by venue type and area")
    screens: list[ScreenEligibility] | None = Field(
        None, description="Super-admins only: every screen, by id, with its venue's name")
