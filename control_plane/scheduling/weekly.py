"""Weekly wall-clock patterns (opening hours, dayparts) laid onto UTC minutes.

The one definition the engine relies on: a UTC minute is open (or inside a daypart) when the
screen's local wall clock at that minute shows a weekday and time inside the weekly pattern. So
on the spring-forward night a range inside the skipped hour simply never happens, and on the
fall-back night the repeated hour counts twice, as it does for a venue that stays open.

A pattern (`Week`) is a sorted tuple of disjoint [start, end) minute ranges within one week,
Monday 00:00 = 0. Instants are integer minutes since the Unix epoch, in UTC unless a name says
"local" (wall-clock minutes since 1970-01-01 00:00 local).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from control_plane.scheduling.inputs import Daypart

DAY = 1440
WEEK = 7 * DAY
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MONDAY = 3 * DAY  # 1970-01-01 was a Thursday; shifting by three days puts weeks on Mondays
_EPOCH = datetime(1970, 1, 1)

Week = tuple[tuple[int, int], ...]
Spans = tuple[tuple[int, int], ...]  # absolute [start, end) minute ranges, sorted, disjoint


def merge(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sorted, disjoint ranges covering the same minutes (touching ranges join)."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(r for r in ranges if r[0] < r[1]):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return tuple(out)


def _fold(ranges: Iterable[tuple[int, int]]) -> Week:
    """Ranges anywhere in time folded onto one week (a range may wrap past Sunday night)."""
    pieces: list[tuple[int, int]] = []
    for start, end in ranges:
        length = end - start
        if length >= WEEK:
            return ((0, WEEK),)
        s = start % WEEK
        e = s + max(length, 0)
        pieces += [(s, WEEK), (0, e - WEEK)] if e > WEEK else [(s, e)]
    return merge(pieces)


def hhmm(text: str) -> int:
    """Minutes after midnight of "HH:MM" ("24:00" is 1440)."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def opening_week(hours: Mapping[str, Iterable[Sequence[str]]]) -> Week:
    """The weekly pattern of opening hours: an end before its start runs into the next day."""
    ranges = []
    for day, day_ranges in hours.items():
        base = WEEKDAYS.index(day) * DAY
        for start_text, end_text in day_ranges:
            start, end = hhmm(start_text), hhmm(end_text)
            ranges.append((base + start, base + end + (DAY if end < start else 0)))
    return _fold(ranges)


def daypart_week(parts: Sequence[Daypart]) -> Week | None:
    """The weekly pattern of dayparts (an end at or before the start runs past midnight);
    None when there are none, which means all day."""
    if not parts:
        return None
    ranges = []
    for part in parts:
        start = part.start.hour * 60 + part.start.minute
        end = part.end.hour * 60 + part.end.minute
        for day in sorted(part.weekdays):
            ranges.append((day * DAY + start, day * DAY + end + (DAY if end <= start else 0)))
    return _fold(ranges)


def intersect(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]]) -> tuple[
        tuple[int, int], ...]:
    """Minutes in both sorted, disjoint range lists."""
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        s, e = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if s < e:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def minute_of_week(wall: datetime) -> int:
    """Where a wall-clock time falls in the week (Monday 00:00 = 0)."""
    return wall.weekday() * DAY + wall.hour * 60 + wall.minute


def contains(week: Week, minute: int) -> bool:
    """Whether a minute of the week lies inside the pattern."""
    i = bisect_right(week, (minute, WEEK + 1)) - 1
    return i >= 0 and week[i][0] <= minute < week[i][1]


def floor_minute(instant: datetime) -> int:
    """Minutes since the epoch, rounded down."""
    return int(instant.timestamp() // 60)


def ceil_minute(instant: datetime) -> int:
    """Minutes since the epoch, rounded up."""
    return -int(-instant.timestamp() // 60)


def at(minute: int) -> datetime:
    """The UTC datetime of an epoch minute."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)


def local_minute(instant: datetime, tz: str) -> int:
    """Wall-clock minutes since 1970-01-01 00:00 in `tz` at an aware instant."""
    wall = instant.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    return (wall - _EPOCH) // timedelta(minutes=1)


def _offset(zone: ZoneInfo, minute: int) -> int:
    delta = datetime.fromtimestamp(minute * 60, zone).utcoffset()
    return 0 if delta is None else int(delta.total_seconds()) // 60


@lru_cache(maxsize=4096)
def offsets(tz: str, t0: int, t1: int) -> tuple[tuple[int, int, int], ...]:
    """[start, end, UTC offset in minutes] pieces of [t0, t1) between the zone's transitions."""
    zone = ZoneInfo(tz)
    # probing every hour finds every transition (zones change at most twice a year), then a
    # bisection finds its minute
    probes = sorted({*range(t0, t1, 60), t1 - 1})
    pieces, start, before, prev = [], t0, _offset(zone, t0), t0
    for probe in probes[1:]:
        after = _offset(zone, probe)
        if after != before:
            lo, hi = prev, probe
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if _offset(zone, mid) == before else (lo, mid)
            pieces.append((start, hi, before))
            start, before = hi, after
        prev = probe
    pieces.append((start, t1, before))
    return tuple(pieces)


@lru_cache(maxsize=65536)
def utc_spans(week: Week, tz: str, t0: int, t1: int) -> Spans:
    """The UTC minutes of [t0, t1) whose wall clock in `tz` falls inside the weekly pattern."""
    out: list[tuple[int, int]] = []
    for a, b, offset in offsets(tz, t0, t1):
        lo, hi = a + offset, b + offset
        base = lo - (lo + _MONDAY) % WEEK
        while base < hi:
            for s, e in week:
                x, y = max(base + s, lo), min(base + e, hi)
                if x < y:
                    out.append((x - offset, y - offset))
            base += WEEK
    return merge(out)


class WeekMeasure:
    """Counts a weekly pattern's minutes between two local instants in O(log n)."""

    __slots__ = ("_ends", "_prefix", "_starts", "per_week")

    def __init__(self, week: Week) -> None:
        self._starts = [s for s, _ in week]
        self._ends = [e for _, e in week]
        self._prefix = [0]
        for s, e in week:
            self._prefix.append(self._prefix[-1] + e - s)
        self.per_week = self._prefix[-1]

    def _upto(self, local: int) -> int:
        weeks, minute = divmod(local + _MONDAY, WEEK)
        i = bisect_right(self._starts, minute) - 1
        within = 0 if i < 0 else self._prefix[i] + min(minute, self._ends[i]) - self._starts[i]
        return weeks * self.per_week + within

    def between(self, local_lo: int, local_hi: int) -> int:
        """Minutes of the pattern in [local_lo, local_hi) of wall-clock time."""
        return max(0, self._upto(local_hi) - self._upto(local_lo))
