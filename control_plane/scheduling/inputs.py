"""What the schedule engine is told about the world: screens, campaigns, and when "now" is.

Plain frozen values, built by the caller from the database (only approved, schedulable
campaigns; a venue's moderation results as `Screen.excluded`). Times are aware datetimes in
UTC; dayparts and opening hours are wall-clock times in the screen's own time zone. The checks
here catch inputs that would make the engine's arithmetic meaningless, nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.playlist import BUILTIN_CARD

# The built-in card shown when a venue has no house content of its own; the player agent draws
# it, so it is named by this placeholder instead of a real hash.
DEFAULT_CARD_SHA256 = BUILTIN_CARD

Pacing = Literal["even", "asap"]


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


# Instants the time zone arithmetic can compute anywhere on Earth (datetime's own range ends
# at years 1 and 9999, where converting to a zone overflows).
EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _aware(value: datetime, name: str) -> None:
    _require(value.tzinfo is not None and value.utcoffset() is not None,
             f"{name} must be an aware datetime (UTC)")
    _require(EARLIEST <= value < LATEST,
             f"{name} {value.isoformat()} lies outside {EARLIEST:%Y} to {LATEST:%Y}")


@dataclass(frozen=True, slots=True)
class Daypart:
    """Weekdays (0=Mon..6=Sun) and a wall-clock range in the screen's time zone.

    The range starts on each listed weekday; an `end` at or before `start` runs past midnight
    into the next day (so `start == end` is a whole day). Minute precision.
    """

    weekdays: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        _require(all(0 <= d <= 6 for d in self.weekdays), "weekdays are 0 (Mon) to 6 (Sun)")


@dataclass(frozen=True, slots=True)
class Segment:
    """Viewers in any of these age bands and of any of these genders (empty: any gender)."""

    age_bands: frozenset[str]
    genders: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        _require(bool(self.age_bands), "a segment needs at least one age band")


@dataclass(frozen=True, slots=True)
class AudienceTarget:
    """A campaign's audience: the union of its segments must be at least `min_share` of the
    viewers at a screen and minute for it to play there then."""

    segments: tuple[Segment, ...]
    min_share: float

    def __post_init__(self) -> None:
        _require(bool(self.segments), "an audience target needs at least one segment")
        _require(0 < self.min_share <= 1, "min_share must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class Split:
    """Who watches: shares of the age bands and of the genders (each summing to 1)."""

    age: Mapping[str, float]
    gender: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Viewers:
    """Who watches a screen over the week, from its audience profile: runs [start, end) of
    minutes of the week (local, Monday 00:00 = 0), sorted and disjoint, each with its split.
    A minute in no run is one the profile says nothing about. Screens sharing a profile share
    one `Viewers` (its `id` is the profile's), so what is worked out from it is done once."""

    id: str
    runs: tuple[tuple[int, int, Split], ...]


# A screen with no audience profile: no minute qualifies for an audience-targeted campaign.
NO_PROFILE = Viewers("", ())


@dataclass(frozen=True, slots=True)
class Creative:
    """One playable file; it takes ceil(duration / slot length) slots of the loop."""

    id: str
    media_sha256: str
    duration_s: int

    def __post_init__(self) -> None:
        _require(self.duration_s > 0, f"creative {self.id}: duration_s must be positive")


@dataclass(frozen=True, slots=True)
class Campaign:
    """An approved campaign: flight, targeting, budget and pacing, creatives."""

    id: str
    advertiser_id: str
    category: str  # IAB Ad Product Taxonomy 2.0 id
    start_at: datetime
    end_at: datetime
    _: KW_ONLY
    dayparts: tuple[Daypart, ...] = ()  # empty: all day
    venue_type_ids: tuple[int, ...] = ()  # empty: any; a parent matches its descendants
    geo: tuple[float, float, float] | None = None  # lat, lon, radius_km
    screen_ids: tuple[str, ...] = ()  # empty: any; given: only these
    budget_cents: int
    cpm_cents: int
    pacing: Pacing = "even"
    delivered_impressions: float = 0.0  # from proof of play
    max_plays_per_hour: int | None = None  # per screen
    share_of_voice: float | None = None  # 0 < x <= 1 of a screen's loop slots
    audience: AudienceTarget | None = None  # None: whoever watches
    creatives: tuple[Creative, ...] = ()

    def __post_init__(self) -> None:
        _aware(self.start_at, f"campaign {self.id}: start_at")
        _aware(self.end_at, f"campaign {self.id}: end_at")
        _require(self.cpm_cents > 0, f"campaign {self.id}: cpm_cents must be positive")
        _require(self.budget_cents >= 0, f"campaign {self.id}: budget_cents must not be negative")
        _require(self.pacing in ("even", "asap"), f"campaign {self.id}: pacing is even or asap")
        _require(self.share_of_voice is None or 0 < self.share_of_voice <= 1,
                 f"campaign {self.id}: share_of_voice must be in (0, 1]")
        _require(self.max_plays_per_hour is None or self.max_plays_per_hour >= 0,
                 f"campaign {self.id}: max_plays_per_hour must not be negative")
        _require(self.geo is None or self.geo[2] >= 0, f"campaign {self.id}: negative radius")

    @property
    def remaining_impressions(self) -> float:
        """What the budget still buys: budget / CPM × 1000, less what was delivered."""
        return self.budget_cents * 1000 / self.cpm_cents - self.delivered_impressions


@dataclass(frozen=True, slots=True)
class Screen:
    """A screen in a venue, with what the venue allows and when it is open."""

    id: str
    venue_id: str
    timezone: str  # IANA
    _: KW_ONLY
    # {"mon": (("08:00", "23:00"),), "fri": (("18:00", "02:00"),)}: an end before its start runs
    # past midnight, "24:00" may end a range, a weekday left out is closed
    opening_hours: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    venue_type_id: int
    lat: float
    lon: float
    blocked_categories: tuple[str, ...] = ()
    audience_multiplier: float = 1.0  # impressions per play
    house: tuple[Creative, ...] = ()  # empty: the built-in default card
    excluded: dict[str, str] = field(default_factory=dict)  # campaign id -> venue's reason
    # why the screen is not expected to play (not paired, not seen for long), or "" when it
    # is: a dormant screen counts in no campaign's pacing and spends no budget; its plan only
    # shows what it would play
    dormant: str = ""
    # who watches (NO_PROFILE: nobody says), or None where audience is not judged: proof of
    # play and moderation's queue look at a play or an ad, not at who watched it
    viewers: Viewers | None = None

    def __post_init__(self) -> None:
        _require(self.audience_multiplier > 0, f"screen {self.id}: multiplier must be positive")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"screen {self.id}: {self.timezone!r} is not an IANA zone") from exc


@dataclass(frozen=True, slots=True)
class Params:
    """When the plan starts and how long it lasts, and the loop's shape."""

    now: datetime
    horizon_h: int = 48
    loop_s: int = 60
    slot_s: int = 10

    def __post_init__(self) -> None:
        _aware(self.now, "now")
        _require(self.horizon_h > 0, "horizon_h must be positive")
        _require(self.slot_s > 0 and self.loop_s > 0 and self.loop_s % self.slot_s == 0,
                 "loop_s must be a positive multiple of slot_s")

    @property
    def slots_per_loop(self) -> int:
        """How many slots one loop has."""
        return self.loop_s // self.slot_s


def default_card(slot_s: int) -> Creative:
    """The built-in card that fills a slot when a venue has no house content."""
    return Creative(id="house:default", media_sha256=DEFAULT_CARD_SHA256, duration_s=slot_s)
