"""Even pacing: what is left of a budget, spread over every hour the campaign can still play.

A first pass over the whole fleet, before any screen is planned. For each campaign, its
remaining impressions (budget / CPM × 1000 − delivered proof of play) are divided by its
remaining eligible screen-hours: the sum, over the screens where it may play, of the hours that
are open and inside its dayparts from max(now, flight start) to flight end. The result is an
impression rate per screen-hour; a screen turns it into plays by dividing by its audience
multiplier. Being behind or ahead needs no special case: delivered impressions already moved
the numerator.

Screen-hours are counted on the weekly pattern (open ∩ dayparts): full weeks × the pattern's
weekly minutes, plus the partial weeks at both ends, between the wall-clock times of the two
ends in the screen's zone. Days are never iterated, so a six-month flight costs the same as a
day. A DST change moves the count by at most an hour per change, which pacing can bear.
The pattern and its measure are shared by every screen with the same zone and opening hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from control_plane.scheduling.inputs import Campaign, Params
from control_plane.scheduling.weekly import Week, WeekMeasure, daypart_week, intersect, local_minute


@dataclass(frozen=True, slots=True)
class Figures:
    """A campaign's pacing numbers for this run."""

    remaining: float  # impressions the budget still buys
    screen_hours: float  # remaining eligible screen-hours over the flight, fleet-wide

    @property
    def rate(self) -> float:
        """Impressions to deliver per eligible screen-hour."""
        return self.remaining / self.screen_hours if self.screen_hours > 0 else 0.0


class _Hours:
    """Remaining eligible hours of (campaign, screen class) pairs, computed on demand."""

    def __init__(self, campaigns: Sequence[Campaign], params: Params) -> None:
        self._campaigns = campaigns
        self._now = params.now
        self._dayparts = [daypart_week(c.dayparts) for c in campaigns]
        self._measures: dict[tuple[Week, Week | None], WeekMeasure] = {}
        self._ends: dict[tuple[int, str], tuple[int, int]] = {}

    def __call__(self, campaign: int, tz: str, week: Week) -> float:
        ends = self._ends.get((campaign, tz))
        if ends is None:
            c = self._campaigns[campaign]
            ends = self._ends[(campaign, tz)] = (local_minute(max(self._now, c.start_at), tz),
                                                 local_minute(c.end_at, tz))
        daypart = self._dayparts[campaign]
        measure = self._measures.get((week, daypart))
        if measure is None:
            measure = self._measures[(week, daypart)] = WeekMeasure(
                week if daypart is None else intersect(week, daypart))
        return measure.between(*ends) / 60


def figures(campaigns: Sequence[Campaign], params: Params,
            classes: Sequence[tuple[str, Week]], screen_class: Sequence[int],
            eligible: Sequence[Sequence[int]]) -> list[Figures]:
    """Each campaign's remaining impressions and fleet-wide remaining screen-hours.

    `classes` are the distinct (time zone, opening hours) pairs, `screen_class[s]` the class of
    screen s and `eligible[s]` the campaigns that may play on it.
    """
    hours = _Hours(campaigns, params)
    rows: list[list[float | None]] = [[None] * len(campaigns) for _ in classes]
    total = [0.0] * len(campaigns)
    for s, campaigns_here in enumerate(eligible):
        k = screen_class[s]
        row = rows[k]
        tz, week = classes[k]
        for i in campaigns_here:
            h = row[i]
            if h is None:
                h = row[i] = hours(i, tz, week)
            total[i] += h
    return [Figures(c.remaining_impressions, total[i]) for i, c in enumerate(campaigns)]
