"""Whether a play that happened was one the schedule could have asked for (proof-of-play checks).

A screen that lost the network keeps playing the horizon it cached, so a play is judged by the
campaign's rules at the time it started, not by the exact slot of the latest playlist: the
campaign is approved, the play started inside its flight, on a screen it targets (venue type,
geo, screen ids, the venue's blocked categories and moderation), inside its dayparts and the
venue's opening hours, with one of its approved creatives. The rules are the engine's own
(`eligibility.py`, `weekly.py`), so the schedule and the proof of play can never disagree.

Edges get the allowed clock skew either side (flights to the millisecond, dayparts and opening
hours in whole minutes, as the engine counts them): a device clock corrected by a measured
offset can still be a little off, and a play a few seconds early is no forgery.

Ingestion asks this for every record, so the per-play path is integer arithmetic on epoch
milliseconds: the screen's UTC offsets are looked up once per batch (`prepare`).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from control_plane.scheduling.eligibility import eligibility
from control_plane.scheduling.inputs import Campaign, Screen
from control_plane.scheduling.weekly import (
    DAY,
    WEEK,
    Week,
    daypart_week,
    offsets,
    opening_week,
)

OUTSIDE_FLIGHT = "outside the campaign's flight"
OUTSIDE_DAYPARTS = "outside the campaign's dayparts"
VENUE_CLOSED = "outside the venue's opening hours"
UNKNOWN_CAMPAIGN = "unknown campaign"
UNKNOWN_CREATIVE = "not an approved creative of the campaign"
_THURSDAY = 3 * DAY  # local minute 0 (1970-01-01) was a Thursday; weeks start on Monday
_EPOCH, _ONE_MS = datetime(1970, 1, 1, tzinfo=UTC), timedelta(milliseconds=1)


def epoch_ms(instant: datetime) -> int:
    """Milliseconds since the epoch of an aware instant, rounded down (exact: integers)."""
    return (instant - _EPOCH) // _ONE_MS


class _Pattern:
    """A weekly pattern, asked "is any minute of it within g minutes of this one?"."""

    __slots__ = ("ends", "starts")

    def __init__(self, week: Week) -> None:
        self.starts = [s for s, _ in week]
        self.ends = [e for _, e in week]

    def _hits(self, lo: int, hi: int) -> bool:
        i = bisect_right(self.ends, lo)
        return i < len(self.starts) and self.starts[i] < hi

    def near(self, minute: int, g: int) -> bool:
        """Whether [minute − g, minute + g] of the week meets the pattern."""
        lo, hi = minute - g, minute + g + 1
        if g * 2 + 1 >= WEEK:
            return bool(self.starts)
        if lo < 0:
            return self._hits(lo + WEEK, WEEK) or self._hits(0, hi)
        if hi > WEEK:
            return self._hits(lo, WEEK) or self._hits(0, hi - WEEK)
        return self._hits(lo, hi)


@dataclass
class _CampaignRules:
    status: str
    static: tuple[str, ...]  # the rules that do not depend on time, failed on this screen
    start_ms: int
    end_ms: int
    dayparts: _Pattern | None
    creatives: dict[str, int]  # approved creative id -> duration_s
    files_ms: dict[str, int]  # creative id -> its video's own length, when it is a video
    max_per_hour: int


@dataclass
class PlayRules:
    """The rules of one screen for the campaigns of one proof-of-play batch."""

    screen: Screen
    slot_s: int
    grace_s: float
    _campaigns: dict[str, _CampaignRules] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._open = _Pattern(opening_week(self.screen.opening_hours))
        self._grace_ms = round(self.grace_s * 1000)
        self._grace_min = math.ceil(self.grace_s / 60)
        self._offset_starts: list[int] = [0]
        self._offsets: list[int] = [0]
        self._minutes: dict[int, tuple[int, bool]] = {}
        self._verdicts: dict[tuple[str, str, int, int, int],
                             tuple[str | None, _CampaignRules | None, str | None]] = {}
        self.house_per_hour = self._per_hour(self.slot_s)

    def _per_hour(self, shortest_s: int) -> int:
        # every item takes whole slots: even with every slot, 3600 / (its slots × slot length)
        # plays an hour; one more for a play starting on the hour's last instant
        slots = max(1, math.ceil(shortest_s / self.slot_s))
        return 3600 // (slots * self.slot_s) + 1

    def add(self, campaign: Campaign, status: str, files_ms: dict[str, int] | None = None) -> None:
        """Know this campaign (its approved creatives only; `files_ms`: the length of each
        creative that is a video) and its stored status."""
        week = daypart_week(campaign.dayparts)
        creatives = {c.id: c.duration_s for c in campaign.creatives}
        self._campaigns[campaign.id] = _CampaignRules(
            status, eligibility(campaign, self.screen).reasons,
            epoch_ms(campaign.start_at), epoch_ms(campaign.end_at),
            None if week is None else _Pattern(week), creatives, dict(files_ms or {}),
            self._per_hour(min(creatives.values(), default=self.slot_s)))

    def prepare(self, first_ms: int, last_ms: int) -> None:
        """Look up the screen's UTC offsets for plays starting in [first_ms, last_ms]."""
        lo = first_ms // 60_000 - self._grace_min - 1
        hi = last_ms // 60_000 + self._grace_min + 2
        pieces = offsets(self.screen.timezone, lo, hi)
        self._offset_starts = [start for start, _, _ in pieces]
        self._offsets = [offset for _, _, offset in pieces]
        self._minutes.clear()

    def _week_minute(self, started_ms: int) -> int:
        minute = started_ms // 60_000
        i = bisect_right(self._offset_starts, minute) - 1
        return (minute + self._offsets[max(i, 0)] + _THURSDAY) % WEEK

    def judge(self, campaign_id: str, creative_id: str, started_ms: int, expected_ms: int,
              short_ms: int, long_ms: int) -> str | None:
        """Why a play of this creative starting then (epoch ms), expected by the device to last
        `expected_ms`, was not one the schedule could ask for (None: it could). Call `prepare`
        first for the batch's time range.

        The expected length must be within [length − short_ms, length + long_ms] of the
        creative's slot or its file. What does not depend on the time is worked out once per
        creative and length (a batch is a few creatives played over and over).
        """
        key = (campaign_id, creative_id, expected_ms, short_ms, long_ms)
        known = self._verdicts.get(key)
        if known is None:
            known = self._verdicts[key] = self._verdict(campaign_id, creative_id, expected_ms,
                                                        short_ms, long_ms)
        early, rules, late = known
        if rules is None:
            return early
        if not (rules.start_ms - self._grace_ms <= started_ms < rules.end_ms + self._grace_ms):
            return OUTSIDE_FLIGHT
        minute, is_open = self._minute(started_ms // 60_000)
        if rules.dayparts is not None and not rules.dayparts.near(minute, self._grace_min):
            return OUTSIDE_DAYPARTS
        return late if is_open else VENUE_CLOSED

    def _verdict(self, campaign_id: str, creative_id: str, expected_ms: int, short_ms: int,
                 long_ms: int) -> tuple[str | None, _CampaignRules | None, str | None]:
        """What `judge` says before looking at the time (a reason, and no rules to go on) or
        after it (the campaign's rules, and the reason if the length is wrong)."""
        rules = self._campaigns.get(campaign_id)
        if rules is None:
            return UNKNOWN_CAMPAIGN, None, None
        if rules.status != "approved":
            return f"campaign {rules.status.replace('_', ' ')}", None, None
        if rules.static:
            return rules.static[0], None, None
        if creative_id not in rules.creatives:
            return UNKNOWN_CREATIVE, None, None
        lengths = self.lengths_ms(campaign_id, creative_id)
        if any(length - short_ms <= expected_ms <= length + long_ms for length in lengths):
            return None, rules, None
        return None, rules, (f"expected length {expected_ms} ms is not the creative's "
                             f"({' or '.join(f'{x} ms' for x in lengths)})")

    def _minute(self, epoch_minute: int) -> tuple[int, bool]:
        """The minute of the local week and whether the venue is open near it (remembered:
        a batch's plays share their minutes)."""
        found = self._minutes.get(epoch_minute)
        if found is None:
            minute = self._week_minute(epoch_minute * 60_000)
            found = self._minutes[epoch_minute] = (minute,
                                                   self._open.near(minute, self._grace_min))
        return found

    def lengths_ms(self, campaign_id: str, creative_id: str) -> tuple[int, ...]:
        """How long a play of this creative may be expected to last: its slot length and, for
        a video, the file's own length (empty: not a creative the schedule knows)."""
        rules = self._campaigns.get(campaign_id)
        if rules is None or creative_id not in rules.creatives:
            return ()
        slot_ms = rules.creatives[creative_id] * 1000
        file_ms = rules.files_ms.get(creative_id)
        return (slot_ms,) if file_ms is None else (slot_ms, file_ms)

    def max_plays_per_hour(self, campaign_id: str | None) -> int:
        """The most plays of a campaign (None: house content) one hour of a loop can hold."""
        rules = self._campaigns.get(campaign_id) if campaign_id is not None else None
        return rules.max_per_hour if rules is not None else self.house_per_hour
