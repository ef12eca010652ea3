"""The windows of a screen's horizon, and when each campaign may play in them.

A screen's windows are its open minutes in [now floored to the hour, that + horizon), cut at
every UTC hour and at every flight, daypart or audience boundary of a campaign that may play
there, so that a campaign is either active for a whole window or not at all. Everything that
depends only on a time zone and a weekly pattern (opening hours, dayparts, an audience's
minutes) is computed once and shared by all the screens that have the same, which is what keeps
10,000 screens cheap: there are far fewer (time zone, opening hours) pairs than screens.

Spans and window lists are interned as small integers so that caches key on ints, not tuples.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from control_plane.scheduling.inputs import Campaign, Params
from control_plane.scheduling.weekly import (
    Spans,
    Week,
    ceil_minute,
    daypart_week,
    floor_minute,
    intersect,
    utc_spans,
)

ALWAYS = -1  # activity id of a campaign active over the whole horizon
NEVER = 0  # activity id of a campaign never active in the horizon

Windows = tuple[tuple[int, int], ...]


def _by_hour(spans: Spans) -> Windows:
    out = []
    for s, e in spans:
        while s < e:
            cut = min(e, (s // 60 + 1) * 60)
            out.append((s, cut))
            s = cut
    return tuple(out)


class Timeline:
    """The run's horizon and the caches that make windows and activity cheap to ask for."""

    def __init__(self, params: Params, campaigns: Sequence[Campaign]) -> None:
        self.t0 = floor_minute(params.now) // 60 * 60
        # the horizon ends on the hour too, so a rebuild later in the same hour with nothing
        # changed gives the same playlist version: no download, no MQTT message to every screen
        self.t1 = self.t0 + params.horizon_h * 60
        self.loop_s = params.loop_s
        self._flight = [(max(self.t0, ceil_minute(c.start_at)), min(self.t1,
                                                                   floor_minute(c.end_at)))
                        for c in campaigns]
        self._dayparts = [daypart_week(c.dayparts) for c in campaigns]
        self._rows: dict[str, list[int]] = {}
        self._spans: list[Spans] = [(), ()]  # ids 0 (NEVER) and 1 (unused) are reserved
        self._cuts: list[tuple[int, ...]] = [(), ()]
        self._span_ids: dict[Spans, int] = {}
        self._bases: dict[tuple[str, Week], int] = {}
        self._windows: list[Windows] = []
        self._cut_cache: dict[tuple[int, tuple[int, ...]], int] = {}
        self._active: dict[tuple[int, int], tuple[int, ...]] = {}
        self._within: dict[tuple[int, str, Week], int] = {}

    def base(self, tz: str, week: Week) -> int:
        """Id of the open windows, cut at each hour, of screens sharing a zone and hours."""
        key = (tz, week)
        found = self._bases.get(key)
        if found is None:
            found = self._bases[key] = self._intern_windows(
                _by_hour(utc_spans(week, tz, self.t0, self.t1)))
        return found

    def windows(self, window_id: int) -> Windows:
        """The [start, end) minutes of each window."""
        return self._windows[window_id]

    def activity(self, tz: str) -> list[int]:
        """Per campaign: ALWAYS, NEVER, or the id of the UTC spans in which it may play in
        `tz` (flight ∩ dayparts ∩ horizon)."""
        found = self._rows.get(tz)
        if found is None:
            found = self._rows[tz] = [self._activity(c, tz) for c in range(len(self._flight))]
        return found

    def _activity(self, campaign: int, tz: str) -> int:
        lo, hi = self._flight[campaign]
        week = self._dayparts[campaign]
        spans: Spans = ((lo, hi),) if lo < hi else ()
        if week is not None and spans:
            spans = intersect(spans, utc_spans(week, tz, self.t0, self.t1))
        return ALWAYS if spans == ((self.t0, self.t1),) else self._intern_spans(spans)

    def activity_within(self, campaign: int, tz: str, week: Week) -> int:
        """As `activity`, inside a weekly pattern of the screen's too (the minutes in which
        its audience suits the campaign): shared by the screens of a zone and a profile."""
        key = (campaign, tz, week)
        found = self._within.get(key)
        if found is None:
            base = self.activity(tz)[campaign]
            spans: Spans = () if base == NEVER else \
                ((self.t0, self.t1),) if base == ALWAYS else self._spans[base]
            if spans:
                spans = intersect(spans, utc_spans(week, tz, self.t0, self.t1))
            found = self._within[key] = ALWAYS if spans == ((self.t0, self.t1),) \
                else self._intern_spans(spans)
        return found

    def cuts(self, activity: int) -> tuple[int, ...]:
        """The boundaries of an activity's spans that are not already on an hour."""
        return self._cuts[activity]

    def cut(self, window_id: int, cuts: Sequence[int]) -> int:
        """Id of the windows with every boundary in `cuts` (sorted, unique) added."""
        key = (window_id, tuple(cuts))
        found = self._cut_cache.get(key)
        if found is None:
            out: list[tuple[int, int]] = []
            for s, e in self._windows[window_id]:
                for point in cuts[bisect_right(cuts, s):bisect_left(cuts, e)]:
                    out.append((s, point))
                    s = point
                out.append((s, e))
            found = self._cut_cache[key] = self._intern_windows(tuple(out))
        return found

    def active(self, window_id: int, activity: int) -> tuple[int, ...]:
        """Indices of the windows that lie inside the activity's spans."""
        key = (window_id, activity)
        found = self._active.get(key)
        if found is None:
            spans, windows = self._spans[activity], self._windows[window_id]
            starts = [s for s, _ in spans]
            hits = []
            for k, (s, _) in enumerate(windows):
                i = bisect_right(starts, s) - 1
                # windows are cut at every boundary, so a window's start decides for all of it
                if i >= 0 and s < spans[i][1]:
                    hits.append(k)
            found = self._active[key] = tuple(hits)
        return found

    def loops(self, window: tuple[int, int]) -> int:
        """How many times the loop starts in a window (a last partial loop counts)."""
        return -(-(window[1] - window[0]) * 60 // self.loop_s)

    def _intern_spans(self, spans: Spans) -> int:
        if not spans:
            return NEVER
        found = self._span_ids.get(spans)
        if found is None:
            found = self._span_ids[spans] = len(self._spans)
            self._spans.append(spans)
            self._cuts.append(tuple(sorted({p for span in spans for p in span if p % 60})))
        return found

    def _intern_windows(self, windows: Windows) -> int:
        self._windows.append(windows)
        return len(self._windows) - 1

