"""Targeting by audience: in which minutes of a screen's week a campaign's segments qualify.

The share of a segment in a split is share(its age bands) × share(its genders), all genders
when it lists none: a profile gives age and gender only as marginals, so the two are taken as
independent. A campaign's segments count as their union, each viewer once: the sum, over the
(age band, gender) cells any segment covers, of age share × gender share. So overlapping
segments are not counted twice and the union never passes 1 (a plain sum would, a max would
miss a second segment's viewers).

A minute qualifies when that share is at least the campaign's `min_share`; a minute the
screen's profile says nothing about, or a screen with no profile, never does: there is nothing
to say who watches. The qualifying minutes form a weekly pattern (`Week`, local time) that the
engine intersects with dayparts and opening hours, as it does those. Patterns and reasons are
cached per (profile, target): the screens of a venue share its profile and campaigns share
targets, so the work grows with the distinct pairs, a few runs each, not with screens.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from control_plane.scheduling.inputs import NO_PROFILE, AudienceTarget, Split, Viewers
from control_plane.scheduling.weekly import WEEK, Week, merge, minute_of_week
from control_plane.taxonomy.demographics import AGE_BANDS, GENDERS

NO_PROFILE_REASON = "audience: no audience profile for this screen"
GENDER_WORDS = {"female": "women", "male": "men", "other": "viewers of other genders"}


@cache
def cells(target: AudienceTarget) -> frozenset[tuple[str, str]]:
    """The (age band, gender) cells the target's segments cover together."""
    return frozenset((band, gender) for segment in target.segments
                     for band in segment.age_bands
                     for gender in (segment.genders or GENDERS))


def share(split: Split, target: AudienceTarget) -> float:
    """The share of the viewers of a split that the target's segments cover (age and gender
    taken as independent)."""
    return min(1.0, sum(split.age.get(band, 0.0) * split.gender.get(gender, 0.0)
                        for band, gender in cells(target)))


def _bands(bands: frozenset[str]) -> str:
    """Age bands in words, neighbours joined: 18-24 and 25-34 read "18-34", 55-64 and 65+
    "55+"."""
    picked = [i for i, band in enumerate(AGE_BANDS) if band in bands]
    groups: list[list[int]] = []
    for i in picked:
        if groups and groups[-1][-1] == i - 1:
            groups[-1].append(i)
        else:
            groups.append([i])
    words = []
    for group in groups:
        first, last = AGE_BANDS[group[0]], AGE_BANDS[group[-1]]
        low = first.split("-")[0].rstrip("+")
        words.append(first if len(group) == 1 else
                     f"{low}+" if last.endswith("+") else f"{low}-{last.split('-')[1]}")
    return ", ".join(words)


@cache
def label(target: AudienceTarget) -> str:
    """The target in an advertiser's words: "18-34 women or 55+ men"."""
    out = []
    for segment in target.segments:
        genders = [g for g in GENDERS if g in segment.genders]
        who = " and ".join(GENDER_WORDS[g] for g in genders) \
            if genders and len(genders) < len(GENDERS) else "year-olds"
        out.append(f"{_bands(segment.age_bands)} {who}")
    return " or ".join(out)


def percent(value: float) -> str:
    """A share as a percentage, to a tenth where a whole number would round it away."""
    whole = round(value * 100)
    return f"{whole} %" if abs(value * 100 - whole) < 0.05 else f"{value * 100:.1f} %"


def runs_of(part_of_minute: Sequence[int], splits: Sequence[Split]) -> tuple[
        tuple[int, int, Split], ...]:
    """A profile's minutes of the week as runs of one split each (-1: no daypart there)."""
    n = len(part_of_minute)
    edges = [m for m in range(1, n) if part_of_minute[m] != part_of_minute[m - 1]]
    out = []
    for start, end in zip([0, *edges], [*edges, n], strict=True):
        part = part_of_minute[start]
        if part >= 0:
            out.append((start, end, splits[part]))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Said:
    """The audience rule's words for each run of a profile's week, and for the rest of it."""

    starts: list[int]
    ends: list[int]
    texts: list[str]
    outside: str

    def at(self, minute: int) -> str:
        """The words for a local minute of the week."""
        i = bisect_right(self.starts, minute % WEEK) - 1
        return self.texts[i] if i >= 0 and minute % WEEK < self.ends[i] else self.outside


class AudienceIndex:
    """Qualifying patterns, shares and reasons per (profile, target), worked out once."""

    def __init__(self) -> None:
        self._weeks: dict[tuple[str, AudienceTarget], Week] = {}
        self._static: dict[tuple[str, AudienceTarget, bool], str | None] = {}
        self._shares: dict[tuple[str, AudienceTarget], tuple[float, ...]] = {}
        self._starts: dict[str, list[int]] = {}
        self._said: dict[tuple[str, AudienceTarget], Said] = {}

    def _run_shares(self, viewers: Viewers, target: AudienceTarget) -> tuple[float, ...]:
        key = (viewers.id, target)
        found = self._shares.get(key)
        if found is None:
            # a profile's few splits recur in every day's runs: each is reckoned once
            memo: dict[int, float] = {}
            found = self._shares[key] = tuple(
                memo[id(split)] if id(split) in memo else
                memo.setdefault(id(split), share(split, target))
                for _, _, split in viewers.runs)
        return found

    def week(self, viewers: Viewers, target: AudienceTarget) -> Week:
        """The minutes of the week (local) in which the target qualifies on these viewers."""
        key = (viewers.id, target)
        found = self._weeks.get(key)
        if found is None:
            shares = self._run_shares(viewers, target)
            found = self._weeks[key] = merge(
                (s, e) for (s, e, _), x in zip(viewers.runs, shares, strict=True)
                if x >= target.min_share)
        return found

    def static_reason(self, viewers: Viewers, target: AudienceTarget, *,
                      exact: bool = True) -> str | None:
        """Why the target never qualifies on these viewers (no profile, or no minute of the
        week with enough of them), or None when some minute does; without the best share
        unless `exact` (the venue's own figures are for its owner and the network's staff)."""
        key = (viewers.id, target, exact)
        if key in self._static:
            return self._static[key]
        found: str | None = None
        if viewers is NO_PROFILE or not viewers.runs:
            found = NO_PROFILE_REASON
        else:
            best = max(self._run_shares(viewers, target))
            asked = percent(target.min_share)
            if best < target.min_share:
                found = (f"audience: {label(target)} are at most {percent(best)} of viewers "
                         f"here at any time, the campaign asks for {asked}" if exact else
                         f"audience: {label(target)} are less than {asked} of viewers here at "
                         "any time")
        self._static[key] = found
        return found

    def share_at(self, viewers: Viewers, target: AudienceTarget, minute: int) -> float | None:
        """The target's share at a local minute of the week; None where the profile says
        nothing."""
        starts = self._starts.get(viewers.id)
        if starts is None:
            starts = self._starts[viewers.id] = [s for s, _, _ in viewers.runs]
        i = bisect_right(starts, minute % WEEK) - 1
        if i < 0 or minute % WEEK >= viewers.runs[i][1]:
            return None
        return self._run_shares(viewers, target)[i]

    def said(self, viewers: Viewers, target: AudienceTarget) -> Said:
        """What the audience rule says at every minute of these viewers' week (cached)."""
        key = (viewers.id, target)
        found = self._said.get(key)
        if found is None:
            asked = percent(target.min_share)
            texts = []
            for x in self._run_shares(viewers, target):
                line = f"audience: {label(target)} are {percent(x)} of viewers here at this time"
                texts.append(f"{line} (the campaign asks for {asked})" if x >= target.min_share
                             else f"not served: {line}, the campaign asks for {asked}")
            found = self._said[key] = Said(
                [s for s, _, _ in viewers.runs], [e for _, e, _ in viewers.runs], texts,
                "not served: audience: the screen's audience profile does not cover this time "
                f"(the campaign asks for {label(target)} to be {asked} of viewers)")
        return found

    def reason_at(self, viewers: Viewers, target: AudienceTarget, wall: datetime) -> str:
        """What the audience rule says at a wall-clock time: whether it is met, and by how
        much."""
        return self.said(viewers, target).at(minute_of_week(wall))

    def mean_share(self, viewers: Viewers, target: AudienceTarget, tz: str,
                   start: datetime, end: datetime) -> float:
        """The target's average share over [start, end) on the screen's wall clock (0 where
        the profile says nothing): what turns a window's impressions into target ones."""
        zone = ZoneInfo(tz)
        first = minute_of_week(start.astimezone(zone))
        minutes = max(1, int((end - start).total_seconds() // 60))
        total = 0.0
        for m in range(minutes):
            total += self.share_at(viewers, target, first + m) or 0.0
        return total / minutes
