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
from datetime import datetime, timedelta

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
    """Remaining eligible hours of (campaign, screen class) pairs, computed on demand (up to
    `until`, when given, instead of the flight's end)."""

    def __init__(self, campaigns: Sequence[Campaign], params: Params,
                 until: datetime | None = None) -> None:
        self._campaigns = campaigns
        self._now = params.now
        self._until = until
        self._dayparts = [daypart_week(c.dayparts) for c in campaigns]
        self._measures: dict[tuple[Week, Week | None], WeekMeasure] = {}
        self._ends: dict[tuple[int, str], tuple[int, int]] = {}

    def __call__(self, campaign: int, tz: str, week: Week) -> float:
        ends = self._ends.get((campaign, tz))
        if ends is None:
            c = self._campaigns[campaign]
            end = c.end_at if self._until is None else min(c.end_at, self._until)
            ends = self._ends[(campaign, tz)] = (local_minute(max(self._now, c.start_at), tz),
                                                 local_minute(max(end, self._now), tz))
        daypart = self._dayparts[campaign]
        measure = self._measures.get((week, daypart))
        if measure is None:
            measure = self._measures[(week, daypart)] = WeekMeasure(
                week if daypart is None else intersect(week, daypart))
        return measure.between(*ends) / 60


def _per_screen(hours: _Hours, n: int, classes: Sequence[tuple[str, Week]],
                screen_class: Sequence[int], eligible: Sequence[Sequence[int]]) -> list[
                    list[float]]:
    """Each screen's hours of each campaign it may play (in `eligible` order), computed once
    per (campaign, screen class)."""
    rows: list[list[float | None]] = [[None] * n for _ in classes]
    out = []
    for s, campaigns_here in enumerate(eligible):
        k = screen_class[s]
        row = rows[k]
        tz, week = classes[k]
        here = []
        for i in campaigns_here:
            h = row[i]
            if h is None:
                h = row[i] = hours(i, tz, week)
            here.append(h)
        out.append(here)
    return out


def figures(campaigns: Sequence[Campaign], params: Params,
            classes: Sequence[tuple[str, Week]], screen_class: Sequence[int],
            eligible: Sequence[Sequence[int]]) -> list[Figures]:
    """Each campaign's remaining impressions and fleet-wide remaining screen-hours.

    `classes` are the distinct (time zone, opening hours) pairs, `screen_class[s]` the class of
    screen s and `eligible[s]` the campaigns that may play on it (none on a dormant screen, so
    that the budget is spread over the screens that can play it).
    """
    total = [0.0] * len(campaigns)
    per_screen = _per_screen(_Hours(campaigns, params), len(campaigns), classes, screen_class,
                             eligible)
    for campaigns_here, hours_here in zip(eligible, per_screen, strict=True):
        for i, h in zip(campaigns_here, hours_here, strict=True):
            total[i] += h
    return [Figures(c.remaining_impressions, total[i]) for i, c in enumerate(campaigns)]


# A campaign whose plays over the horizon could come this close to what its budget buys has its
# budget set aside screen by screen (`reservations`).
BINDING = 0.95


def reservations(campaigns: Sequence[Campaign], params: Params, figures_: Sequence[Figures],
                 per_loop: Sequence[float], classes: Sequence[tuple[str, Week]],
                 screen_class: Sequence[int], eligible: Sequence[Sequence[int]],
                 multipliers: Sequence[float]) -> list[list[tuple[int, float]]]:
    """Per screen, the impressions of each budget-bound campaign set aside for it.

    Screens are planned one after another and spend one shared budget, so a budget that runs
    out within the horizon would all go to the screens planned first. For a campaign that may
    run out (its most plays over the horizon reach `BINDING` of what its budget buys), each
    screen is promised a share of what is left in proportion to what it can play there: its
    open hours in flight within the horizon (× its audience multiplier unless the campaign is
    even-paced, whose plays per hour are already shared that way). What one screen does not
    use passes on to the screens planned after it. `per_loop[i]` is the most items per loop the
    campaign asks for; even-paced ones are bounded by their rate instead.
    """
    start = params.now.replace(minute=0, second=0, microsecond=0)
    hours = _Hours(campaigns, params, until=start + timedelta(hours=params.horizon_h))
    per_screen = _per_screen(hours, len(campaigns), classes, screen_class, eligible)
    loops_per_h = 3600 / params.loop_s
    weights: list[list[float]] = []
    total = [0.0] * len(campaigns)
    most = [0.0] * len(campaigns)  # the most impressions the horizon could take
    for s, (campaigns_here, hours_here) in enumerate(zip(eligible, per_screen, strict=True)):
        row = []
        for i, h in zip(campaigns_here, hours_here, strict=True):
            if campaigns[i].pacing == "even":
                w = h
                most[i] += h * figures_[i].rate
            else:
                w = h * multipliers[s]
                most[i] += w * per_loop[i] * loops_per_h
            row.append(w)
            total[i] += w
        weights.append(row)
    left = [max(0.0, f.remaining) for f in figures_]
    bound = [total[i] > 0 and most[i] >= BINDING * left[i] for i in range(len(campaigns))]
    return [[(i, left[i] * w / total[i]) for i, w in zip(campaigns_here, row, strict=True)
             if bound[i]] for campaigns_here, row in zip(eligible, weights, strict=True)]
