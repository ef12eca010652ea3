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
A campaign that targets an audience counts only the minutes where the screen's audience suits
it (`audience.py`), a pattern shared by the screens with the same profile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

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
        self._measures: dict[tuple[Week, Week | None, Week | None], WeekMeasure] = {}
        self._ends: dict[tuple[int, str], tuple[int, int]] = {}

    def __call__(self, campaign: int, tz: str, week: Week, within: Week | None = None) -> float:
        """Remaining hours of the campaign on screens of this zone and opening hours (and, if
        given, inside the weekly pattern `within`)."""
        ends = self._ends.get((campaign, tz))
        if ends is None:
            c = self._campaigns[campaign]
            ends = self._ends[(campaign, tz)] = (local_minute(max(self._now, c.start_at), tz),
                                                 local_minute(c.end_at, tz))
        daypart = self._dayparts[campaign]
        measure = self._measures.get((week, daypart, within))
        if measure is None:
            pattern = week if daypart is None else intersect(week, daypart)
            measure = self._measures[(week, daypart, within)] = WeekMeasure(
                pattern if within is None else intersect(pattern, within))
        return measure.between(*ends) / 60


Within = Sequence[dict[int, Week]]  # per screen: campaign -> the weekly minutes its audience suits


def figures(campaigns: Sequence[Campaign], params: Params,
            classes: Sequence[tuple[str, Week]], screen_class: Sequence[int],
            eligible: Sequence[Sequence[int]], within: Within = ()) -> list[Figures]:
    """Each campaign's remaining impressions and fleet-wide remaining screen-hours.

    `classes` are the distinct (time zone, opening hours) pairs, `screen_class[s]` the class of
    screen s and `eligible[s]` the campaigns that may play on it (none on a dormant screen, so
    that the budget is spread over the screens that can play it); `within[s]`, when given,
    the weekly minutes in which screen s's audience suits each audience-targeted campaign.
    """
    return budgets(campaigns, params, classes, screen_class, eligible, within=within)[0]


# A campaign whose plays over the horizon could come this close to what its budget buys has its
# budget set aside screen by screen.
BINDING = 0.95

SetAside = list[list[tuple[int, float]]]  # per screen: (campaign, impressions promised to it)


def budgets(campaigns: Sequence[Campaign], params: Params,
            classes: Sequence[tuple[str, Week]], screen_class: Sequence[int],
            eligible: Sequence[Sequence[int]], multipliers: Sequence[float] = (),
            per_loop: Sequence[float] = (), *,
            within: Within = ()) -> tuple[list[Figures], SetAside]:
    """The pacing figures (as `figures`), and per screen the impressions of each budget-bound
    campaign set aside for it.

    Screens are planned one after another and spend one shared budget, so a budget that runs
    out within the horizon would all go to the screens planned first. A campaign may run out
    when it is even-paced and its flight ends within the horizon (all that is left is to be
    spent there), or when it is not and the most it asks for (`per_loop[i]` items per loop,
    every loop of its hours within the horizon, × each screen's audience multiplier) reaches
    `BINDING` of what its budget buys. Each screen is then promised a share of what is left in
    proportion to what it can play: its remaining hours of the campaign (× its multiplier
    unless the campaign is even-paced, whose plays per hour are already shared that way). What
    one screen does not use passes on to the screens planned after it. The hours are the ones
    pacing counts, so this costs no second pass over time zones.
    """
    hours = _Hours(campaigns, params)
    n = len(campaigns)
    even = [c.pacing == "even" for c in campaigns]
    cached: list[list[float | None]] = [[None] * n for _ in classes]
    per_screen: list[list[float]] = []
    total = [0.0] * n
    most = [0.0] * n  # screen-hours within the horizon × multiplier, for the others
    horizon_h = float(params.horizon_h)
    for s, campaigns_here in enumerate(eligible):
        k = screen_class[s]
        row = cached[k]
        tz, week = classes[k]
        m = multipliers[s] if multipliers else 1.0
        targeted = within[s] if within else None
        here = []
        for i in campaigns_here:
            pattern = targeted.get(i) if targeted else None
            cached_h = row[i]
            if pattern is not None:  # its audience's minutes: cached per pattern, not per row
                h = hours(i, tz, week, pattern)
            elif cached_h is None:
                h = row[i] = hours(i, tz, week)
            else:
                h = cached_h
            here.append(h)
            total[i] += h
            if not even[i]:
                most[i] += (h if h < horizon_h else horizon_h) * m
        per_screen.append(here)
    found = [Figures(c.remaining_impressions, total[i]) for i, c in enumerate(campaigns)]
    if not per_loop:
        return found, [[] for _ in eligible]
    start = params.now.replace(minute=0, second=0, microsecond=0)
    horizon_end = start + timedelta(hours=params.horizon_h)
    loops_per_h = 3600 / params.loop_s
    left = [max(0.0, f.remaining) for f in found]
    bound = [total[i] > 0 and left[i] > 0 and (
        c.end_at <= horizon_end if even[i]
        else most[i] * per_loop[i] * loops_per_h >= BINDING * left[i])
        for i, c in enumerate(campaigns)]
    if not any(bound):
        return found, [[] for _ in eligible]
    weights: list[list[tuple[int, float]]] = []
    weight_sum = [0.0] * n
    for s, (campaigns_here, here) in enumerate(zip(eligible, per_screen, strict=True)):
        m = multipliers[s]
        row_w = [(i, h if even[i] else h * m) for i, h in zip(campaigns_here, here, strict=True)
                 if bound[i]]
        for i, w in row_w:
            weight_sum[i] += w
        weights.append(row_w)
    return found, [[(i, left[i] * w / weight_sum[i]) for i, w in row_w] for row_w in weights]
