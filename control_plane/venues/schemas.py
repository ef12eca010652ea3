"""Wire shapes of venues and screens, with the validation a venue owner's input needs."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
