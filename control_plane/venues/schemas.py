"""Wire shapes of venues and screens, with the validation a venue owner's input needs."""

from __future__ import annotations

import re
from datetime import date, datetime
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from control_plane.taxonomy.demographics import AGE_BANDS, GENDERS
from control_plane.venues.models import Orientation

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d|24:00")

OpeningHours = dict[str, list[tuple[str, str]]]


def check_timezone(value: str) -> str:
    """`value` if it is an IANA time zone name."""
    if value not in available_timezones():
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Paris)")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone") from exc
    return value


def check_opening_hours(value: dict[str, Any]) -> OpeningHours:
    """Opening hours per weekday: several [from, to] ranges; `to` before `from` runs past
    midnight; a day left out is closed."""
    hours: OpeningHours = {}
    for day, ranges in value.items():
        if day not in WEEKDAYS:
            raise ValueError(f"unknown weekday {day!r}; use {', '.join(WEEKDAYS)}")
        if not isinstance(ranges, list):
            raise ValueError(f"{day}: a list of [from, to] ranges is expected")
        checked = []
        for item in ranges:
            if (not isinstance(item, list | tuple) or len(item) != 2
                    or not all(isinstance(t, str) and _HHMM.fullmatch(t) for t in item)):
                raise ValueError(f"{day}: {item!r} is not a [\"HH:MM\", \"HH:MM\"] range")
            if item[0] == item[1]:
                raise ValueError(f"{day}: the range {item!r} is empty")
            checked.append((item[0], item[1]))
        hours[day] = sorted(checked)
    return hours


class VenueBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    public_name: str | None = Field(None, max_length=200, description=(
        "The name advertisers see when they look for where to buy; none: advertisers see the "
        "venue only by its type and area, never its name or ids"))
    address: str = Field("", max_length=500)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    timezone: str = Field(max_length=64, examples=["Europe/Paris"])
    venue_type_id: int = Field(description="An OpenOOH enumeration id (GET /v1/venue-types)")
    opening_hours: dict[str, Any] = Field(default_factory=dict,
                                          examples=[{"mon": [["08:00", "23:00"]]}])
    blocked_categories: list[str] = Field(default_factory=list, max_length=600,
                                          description="IAB Ad Product Taxonomy 2.0 ids")
    moderation: Literal["auto", "manual"] = Field(
        "auto", description="auto: every approved ad may play; manual: the venue approves "
                            "each advertiser or creative (GET /v1/moderation/queue)")
    house_media_ids: list[str] = Field(default_factory=list, max_length=50,
                                       description="Ready media of the venue's org played in "
                                                   "unsold slots")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return check_timezone(v)

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, v: dict[str, Any]) -> OpeningHours:
        return check_opening_hours(v)


class VenueCreate(VenueBase):
    pass


class VenueUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    public_name: str | None = Field(None, max_length=200,
                                    description="Empty: stop showing a name to advertisers")
    address: str | None = Field(None, max_length=500)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    timezone: str | None = Field(None, max_length=64)
    venue_type_id: int | None = None
    opening_hours: dict[str, Any] | None = None
    blocked_categories: list[str] | None = Field(None, max_length=600)
    moderation: Literal["auto", "manual"] | None = None
    house_media_ids: list[str] | None = Field(None, max_length=50)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return None if v is None else check_timezone(v)

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, v: dict[str, Any] | None) -> OpeningHours | None:
        return None if v is None else check_opening_hours(v)


class VenueRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    org_id: str
    name: str
    public_name: str | None
    address: str
    lat: float
    lon: float
    timezone: str
    venue_type_id: int
    opening_hours: dict[str, Any]
    blocked_categories: list[str]
    moderation: str
    house_media_ids: list[str]
    created_at: datetime


class VenuePage(BaseModel):
    items: list[VenueRead]


class ScreenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    width_px: int = Field(ge=160, le=8192)
    height_px: int = Field(ge=160, le=8192)
    orientation: Orientation = Orientation.landscape
    audience_multiplier: float = Field(1.0, gt=0, le=10_000,
                                       description="Impressions per play")
    audience_source: str = Field("default", max_length=200,
                                 description="Where the multiplier comes from")


class ScreenUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    width_px: int | None = Field(None, ge=160, le=8192)
    height_px: int | None = Field(None, ge=160, le=8192)
    orientation: Orientation | None = None
    audience_multiplier: float | None = Field(None, gt=0, le=10_000)
    audience_source: str | None = Field(None, max_length=200)


class ScreenRead(BaseModel):
    id: str
    venue_id: str
    org_id: str
    name: str
    width_px: int
    height_px: int
    orientation: Orientation
    audience_multiplier: float
    audience_source: str
    status: str = Field(description="online | offline | unpaired")
    last_seen_at: datetime | None = None
    now_playing: dict[str, Any] | None = None
    agent_version: str | None = None
    last_screenshot_url: str | None = Field(None, description="The latest screenshot command's "
                                                              "picture (signed URL)")
    created_at: datetime


class ScreenPage(BaseModel):
    items: list[ScreenRead]


# --- audience profiles -----------------------------------------------------------------------

SHARE_TOLERANCE = 0.01  # a split's shares sum to 1 within this
AudienceSource = Literal["owner_estimate", "measured", "third_party"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def minutes_of(hhmm: str) -> int:
    """Minutes since midnight of "HH:MM" ("24:00" is 1440)."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _check_split(name: str, split: dict[str, float], known: tuple[str, ...]) -> dict[str, float]:
    unknown = sorted(set(split) - set(known))
    if unknown:
        raise ValueError(f"unknown {name} {', '.join(map(repr, unknown))}; use "
                         f"{', '.join(known)}")
    if not split:
        raise ValueError(f"give the {name} split: shares of {', '.join(known)} summing to 1")
    for key, share in split.items():
        if not 0 <= share <= 1:
            raise ValueError(f"{name} {key!r}: a share is between 0 and 1, not {share}")
    total = sum(split.values())
    if abs(total - 1) > SHARE_TOLERANCE:
        raise ValueError(f"the {name} shares sum to {total:g}, not 1")
    return {key: split.get(key, 0.0) for key in known}  # every key, in order


class AudienceDaypart(BaseModel):
    """Viewers per hour on some weekdays between two times of day (local to the venue)."""

    model_config = ConfigDict(extra="forbid")

    weekdays: list[Weekday] = Field(min_length=1, max_length=7)
    start: str = Field(description="HH:MM, local time")
    end: str = Field(description="HH:MM (24:00 for midnight), after start; a daypart past "
                                 "midnight is given as two")
    viewers_per_hour: float = Field(ge=0, le=1_000_000)
    age: dict[str, float] | None = Field(None, description="This daypart's age split, when it "
                                                           "differs from the profile's")
    gender: dict[str, float] | None = Field(None, description="This daypart's gender split, "
                                                              "when it differs")

    @field_validator("age")
    @classmethod
    def _age(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        return None if v is None else _check_split("age band", v, AGE_BANDS)

    @field_validator("gender")
    @classmethod
    def _gender(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        return None if v is None else _check_split("gender", v, GENDERS)

    @field_validator("start", "end")
    @classmethod
    def _time(cls, v: str) -> str:
        if not _HHMM.fullmatch(v):
            raise ValueError(f"{v!r} is not a time of day HH:MM")
        return v

    @model_validator(mode="after")
    def _order(self) -> AudienceDaypart:
        if minutes_of(self.start) >= minutes_of(self.end):
            raise ValueError(f"the daypart {self.start}–{self.end} ends before it starts; "
                             "give a daypart past midnight as two")
        return self


class AudienceProfileIn(BaseModel):
    """A venue's (or a screen's) audience: what its owner says, measured, or bought."""

    model_config = ConfigDict(extra="forbid")

    source: AudienceSource
    as_of: date | None = Field(None, description="When the figures were true")
    dwell_minutes: float = Field(60.0, gt=0, le=24 * 60,
                                 description="How long a viewer stays in view of the screen: "
                                             "a play is seen by viewers_per_hour × "
                                             "dwell_minutes / 60 people")
    dayparts: list[AudienceDaypart] = Field(min_length=1, max_length=200)
    age: dict[str, float] = Field(description=f"Shares of {', '.join(AGE_BANDS)}, summing to 1")
    gender: dict[str, float] = Field(description=f"Shares of {', '.join(GENDERS)}, summing "
                                                 "to 1")

    @field_validator("age")
    @classmethod
    def _age(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_split("age band", v, AGE_BANDS)

    @field_validator("gender")
    @classmethod
    def _gender(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_split("gender", v, GENDERS)

    @model_validator(mode="after")
    def _no_overlap(self) -> AudienceProfileIn:
        for day in WEEKDAYS:
            spans = sorted((minutes_of(d.start), minutes_of(d.end), d.start, d.end)
                           for d in self.dayparts if day in d.weekdays)
            for (_, end, s1, e1), (start, _, s2, e2) in pairwise(spans):
                if start < end:
                    raise ValueError(f"{day}: the dayparts {s1}–{e1} and {s2}–{e2} overlap")
        return self


class AudienceProfileRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    venue_id: str
    screen_id: str | None
    version: int
    source: str
    as_of: date | None
    dwell_minutes: float
    dayparts: list[AudienceDaypart]
    age: dict[str, float]
    gender: dict[str, float]
    effective_from: datetime
    created_at: datetime


class AudienceRead(BaseModel):
    """The profile in force for a venue or a screen, and where it comes from."""

    in_force: AudienceProfileRead | None = Field(
        description="None: impressions count the screen's flat audience_multiplier")
    inherited: bool = Field(False, description="A screen's: the profile is its venue's")
    history: list[AudienceProfileRead] = Field(description="This venue's or screen's own "
                                                           "profiles, newest first")
