"""Wire shapes of campaigns and creatives, with the validation an advertiser's input needs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from control_plane.taxonomy.demographics import AGE_BANDS, GENDERS

_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d|24:00")

# Flights are bounded where they enter: a campaign that ran from year 1 to 9999 used to be
# accepted and then broke every rebuild (time zone arithmetic overflows near the ends of
# datetime's range). These bounds keep every flight far inside what the engine can compute.
FLIGHT_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FLIGHT_LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_FLIGHT = timedelta(days=731)  # two years; a longer deal is several campaigns

SHARE_OF_VOICE = ("The most of each screen's loop the campaign takes (0 < x ≤ 1). It never "
                  "overrides pacing: with `even` pacing the budget's even spread over the flight "
                  "bounds what it spends per hour, so it gets the smaller of the two; with "
                  "`asap` it takes up to this share until the budget is spent.")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Daypart(BaseModel):
    """Weekdays and a local time range, in each screen's own time zone."""

    model_config = ConfigDict(extra="forbid")

    weekdays: list[Weekday] = Field(min_length=1, max_length=7)
    start: str = Field(examples=["07:00"])
    end: str = Field(examples=["10:00"], description="Before `start`: runs past midnight")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.fullmatch(value):
            raise ValueError("times are HH:MM (00:00 to 24:00)")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Daypart:
        if self.start == self.end:
            raise ValueError("a daypart cannot start and end at the same time")
        return self


class Geo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_km: float = Field(gt=0, le=20_000)


def _known(kind: str, values: list[str], known: tuple[str, ...]) -> list[str]:
    """The values, each once, in the vocabulary's order; ValueError naming an unknown one."""
    for value in values:
        if value not in known:
            raise ValueError(f"unknown {kind} {value!r} (one of {', '.join(known)})")
    return [k for k in known if k in values]


class Segment(BaseModel):
    """People in any of these age bands and of any of these genders (none listed: any)."""

    model_config = ConfigDict(extra="forbid")

    age_bands: list[str] = Field(max_length=len(AGE_BANDS), examples=[["18-24", "25-34"]],
                                 description=f"At least one of {', '.join(AGE_BANDS)}")
    genders: list[str] = Field(default_factory=list, max_length=len(GENDERS),
                               examples=[["female"]],
                               description=f"Any of {', '.join(GENDERS)}; empty: any gender")

    @field_validator("age_bands")
    @classmethod
    def _bands(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("a segment with no bands targets no one: list at least one age "
                             "band")
        return _known("age band", value, AGE_BANDS)

    @field_validator("genders")
    @classmethod
    def _genders(cls, value: list[str]) -> list[str]:
        return _known("gender", value, GENDERS)


AUDIENCE = ("Play only where and when the segments (together: a viewer in any of them counts "
            "once) are at least `min_share` of the viewers, by the screen's audience profile. "
            "A screen without a profile, or a time its profile does not describe, never "
            "qualifies.")


class AudienceTargeting(BaseModel):
    """Who the campaign is for: one minimum share for the union of its segments.

    One `min_share` for all the segments, not one per segment: "18-34 women or 55+ men are at
    least 30 % of viewers" is what an advertiser buys; a share per segment would ask for
    several audiences at once, which API.md's "segments with a minimum share" does not.
    """

    model_config = ConfigDict(extra="forbid")

    segments: list[Segment] = Field(min_length=1, max_length=20)
    min_share: float = Field(gt=0, le=1, examples=[0.3],
                             description="Of the viewers at a screen and time (0 < x ≤ 1)")


class Targeting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    venue_type_ids: list[int] = Field(default_factory=list, max_length=200,
                                      description="OpenOOH ids; a parent matches descendants")
    geo: Geo | None = None
    screen_ids: list[str] = Field(default_factory=list, max_length=10_000)
    audience: AudienceTargeting | None = Field(None, description=AUDIENCE)


class CampaignFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    category: str = Field(max_length=20, description="IAB Ad Product Taxonomy 2.0 id")
    start_at: datetime
    end_at: datetime
    dayparts: list[Daypart] = Field(default_factory=list, max_length=50,
                                    description="Empty: all day")
    targeting: Targeting = Field(default_factory=Targeting)
    budget_cents: int = Field(gt=0, le=10**12)
    cpm_cents: int = Field(gt=0, le=10**9, description="Price per thousand impressions")
    currency: str = Field(pattern="^[A-Z]{3}$", examples=["EUR"])
    pacing: Literal["even", "asap"] = "even"
    max_plays_per_hour: int | None = Field(None, ge=1, le=3600)
    share_of_voice: float | None = Field(None, gt=0, le=1, description=SHARE_OF_VOICE)

    @field_validator("start_at", "end_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return flight_instant(value)

    @model_validator(mode="after")
    def _flight(self) -> CampaignFields:
        check_flight(self.start_at, self.end_at)
        return self


def flight_instant(value: datetime) -> datetime:
    """A flight's start or end as given, if it has a zone and lies in the supported range."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("give a time zone (RFC 3339, e.g. 2026-12-01T00:00:00Z)")
    if not FLIGHT_EARLIEST <= value < FLIGHT_LATEST:
        raise ValueError(f"flight times lie between {FLIGHT_EARLIEST:%Y-%m-%d} and "
                         f"{FLIGHT_LATEST:%Y-%m-%d}")
    return value


def check_flight(start_at: datetime, end_at: datetime) -> None:
    """A flight ends after it starts and lasts at most MAX_FLIGHT (ValueError otherwise)."""
    if end_at <= start_at:
        raise ValueError("end_at must be after start_at")
    if end_at - start_at > MAX_FLIGHT:
        raise ValueError(f"a flight lasts at most {MAX_FLIGHT.days} days; split a longer one "
                         "into several campaigns")


class CampaignCreate(CampaignFields):
    pass


class CampaignUpdate(BaseModel):
    """Fields to change; a non-draft campaign goes back to review."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    category: str | None = Field(None, max_length=20)
    start_at: datetime | None = None
    end_at: datetime | None = None
    dayparts: list[Daypart] | None = Field(None, max_length=50)
    targeting: Targeting | None = None
    budget_cents: int | None = Field(None, gt=0, le=10**12)
    cpm_cents: int | None = Field(None, gt=0, le=10**9)
    pacing: Literal["even", "asap"] | None = None
    max_plays_per_hour: int | None = Field(None, ge=1, le=3600)
    share_of_voice: float | None = Field(None, gt=0, le=1, description=SHARE_OF_VOICE)

    @field_validator("start_at", "end_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else flight_instant(value)


class CreativeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    media_id: str = Field(max_length=40)
    duration_s: int | None = Field(None, ge=5, le=120,
                                   description="Images: required; videos: their own length "
                                               "rounded up to a whole second by default")


class CreativeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    media_id: str
    duration_s: int
    status: str
    review_note: str | None
    created_at: datetime


class ReviewNote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class CampaignRead(CampaignFields):
    model_config = ConfigDict(extra="ignore")

    id: str
    org_id: str
    state: str = Field(description="draft | pending_review | approved | rejected | active | "
                                   "paused | completed")
    review_note: str | None
    creatives: list[CreativeRead]
    submitted_at: datetime | None
    reviewed_at: datetime | None
    created_at: datetime
    plays: int = Field(0, description="Plays stored so far (proof of play), billable or not")
    billable_plays: int = Field(0, description="Plays that count: eligible, completed, long "
                                               "enough")
    impressions: float = Field(0.0, description="Billable plays × each screen's audience "
                                                "multiplier at the time")
    target_impressions: float | None = Field(
        None, description="Of the impressions, those of the audience the campaign targets: "
                          "each play's × the targeted segments' share of the viewers of the "
                          "audience-profile daypart that counted it (none from a screen's "
                          "flat multiplier: nothing says who watched), by the target in force "
                          "when the play arrived. Null for a campaign without an audience "
                          "target (all its impressions are its audience)")
    spend_cents: int = Field(0, description="What the impressions cost at the CPM, never more "
                                            "than the budget")


class CampaignPage(BaseModel):
    items: list[CampaignRead]
