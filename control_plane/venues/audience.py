"""Audience profiles: who watches a venue's screens, by daypart of the week.

A venue owner describes each venue's audience, and may override it for one screen: viewers per
hour for dayparts of the week (local time), how long a viewer stays in view (`dwell_minutes`),
and the split of those viewers by age band and gender, with where the figures come from
(`owner_estimate`, `measured`, `third_party`) and when they were true (`as_of`).

A play is seen by the average audience present while it plays:

    impressions of a play = viewers_per_hour(daypart of the play) × dwell_minutes / 60

(a viewer who stays an hour sees every play of that hour; one who stays six minutes, a tenth of
them). A play in no daypart of the profile, or on a screen with no profile, counts the screen's
flat `audience_multiplier` instead. Which profile counted is stored with the play
(`pop_records.audience_profile_id`, in the raw export), so money and reports can be traced.

Profiles are versioned, never edited: setting one adds a row effective from now, so plays that
arrive late are counted by the profile in force when they played (`timeline`). A screen's own
profile wins over its venue's while it has one; clearing it hands the screen back to the venue's.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_plane import events
from control_plane.db import utcnow
from control_plane.venues.models import AudienceProfile, Screen, Venue
from control_plane.venues.schemas import WEEKDAYS, AudienceProfileIn, minutes_of

MINUTES_OF_WEEK = 7 * 24 * 60


# --- setting and reading -------------------------------------------------------------------------

def _next_version(session: Session, venue_id: str, screen_id: str | None) -> int:
    scope = AudienceProfile.screen_id == screen_id if screen_id else \
        AudienceProfile.screen_id.is_(None)
    found = session.scalar(select(func.max(AudienceProfile.version)).where(
        AudienceProfile.venue_id == venue_id, scope))
    return int(found or 0) + 1


def set_profile(*, session: Session, venue: Venue, screen: Screen | None,
                profile_in: AudienceProfileIn, user_id: str | None) -> AudienceProfile:
    """A new profile for the venue (or one of its screens), in force from now; committed."""
    screen_id = screen.id if screen is not None else None
    row = AudienceProfile(
        venue_id=venue.id, screen_id=screen_id,
        version=_next_version(session, venue.id, screen_id), cleared=False,
        source=profile_in.source, as_of=profile_in.as_of, dwell_minutes=profile_in.dwell_minutes,
        dayparts=[d.model_dump() for d in profile_in.dayparts], age=profile_in.age,
        gender=profile_in.gender, effective_from=utcnow(), created_by=user_id)
    session.add(row)
    _changed(session, venue.id, [screen.id] if screen is not None else None)
    session.commit()
    return row


def _changed(session: Session, venue_id: str, screen_ids: list[str] | None) -> None:
    """Tell the other domains, in this transaction, that who watches these screens (all the
    venue's, for its profile) changed: the schedule serves audience targets by it."""
    if screen_ids is None:
        screen_ids = list(session.scalars(select(Screen.id).where(Screen.venue_id == venue_id)
                                          .order_by(Screen.id)))
    events.record(session, events.ScreensChanged(venue_id=venue_id, screen_ids=screen_ids,
                                                 change="audience_changed"))


def clear_screen_profile(*, session: Session, screen: Screen, user_id: str | None) -> bool:
    """Hand the screen back to its venue's profile from now on (committed); False if it had
    none of its own."""
    own = _own(session, screen.venue_id, screen.id)
    if not own or own[0].cleared:
        return False
    session.add(AudienceProfile(venue_id=screen.venue_id, screen_id=screen.id,
                                version=_next_version(session, screen.venue_id, screen.id),
                                cleared=True, source=own[0].source, dayparts=[], age={},
                                gender={}, effective_from=utcnow(), created_by=user_id))
    _changed(session, screen.venue_id, [screen.id])
    session.commit()
    return True


def _own(session: Session, venue_id: str, screen_id: str | None) -> list[AudienceProfile]:
    scope = AudienceProfile.screen_id == screen_id if screen_id else \
        AudienceProfile.screen_id.is_(None)
    return list(session.scalars(select(AudienceProfile).where(
        AudienceProfile.venue_id == venue_id, scope)
        .order_by(AudienceProfile.effective_from.desc(), AudienceProfile.version.desc())))


@dataclass(frozen=True)
class Audience:
    """The profile in force for a venue or a screen, whether it is the venue's (for a
    screen), and the profiles of its own, newest first (cleared ones left out)."""

    in_force: AudienceProfile | None
    inherited: bool
    history: list[AudienceProfile]


def audience(*, session: Session, venue_id: str, screen_id: str | None = None) -> Audience:
    """What counts now for a venue, or for one of its screens."""
    own = _own(session, venue_id, screen_id)
    history = [p for p in own if not p.cleared]
    if own and not own[0].cleared:
        return Audience(own[0], False, history)
    if screen_id is None:
        return Audience(None, False, history)
    venue_own = _own(session, venue_id, None)
    return Audience(venue_own[0] if venue_own else None, bool(venue_own), history)


# --- what a play counts -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Split:
    """Who the viewers of a daypart are: shares of every age band and gender (in order)."""

    age: dict[str, float]
    gender: dict[str, float]


@dataclass(frozen=True, slots=True)
class CompiledProfile:
    """A profile as plays are counted with it: for every minute of the week (local, Monday
    00:00 first), its milli-impressions and who watches (the daypart's split, else the
    profile's)."""

    id: str
    tz: ZoneInfo
    per_minute: Sequence[int]  # MINUTES_OF_WEEK values, -1 outside every daypart
    part_of_minute: Sequence[int]  # index into `splits`, -1 outside every daypart
    splits: Sequence[Split]

    @classmethod
    def of(cls, profile: AudienceProfile, tz: ZoneInfo) -> CompiledProfile:
        per_minute, part_of_minute = [-1] * MINUTES_OF_WEEK, [-1] * MINUTES_OF_WEEK
        splits = []
        for index, part in enumerate(profile.dayparts):
            milli = round(part["viewers_per_hour"] * profile.dwell_minutes / 60 * 1000)
            splits.append(Split(part.get("age") or profile.age,
                                part.get("gender") or profile.gender))
            start, end = minutes_of(part["start"]), minutes_of(part["end"])
            for day in part["weekdays"]:
                base = WEEKDAYS.index(day) * 1440
                per_minute[base + start:base + end] = [milli] * (end - start)
                part_of_minute[base + start:base + end] = [index] * (end - start)
        return cls(profile.id, tz, per_minute, part_of_minute, splits)

    def minute_of_week(self, ms: int) -> int:
        """The local minute of the week of an instant."""
        local = datetime.fromtimestamp(ms / 1000, UTC).astimezone(self.tz)
        return local.weekday() * 1440 + local.hour * 60 + local.minute

    def milli_at(self, ms: int) -> int | None:
        """The milli-impressions of a play that started at `ms`, None outside the dayparts."""
        found = self.per_minute[self.minute_of_week(ms)]
        return None if found < 0 else found

    def split_of_minute(self, minute: int) -> Split | None:
        """Who watches at a local minute of the week; None outside the dayparts."""
        index = self.part_of_minute[minute]
        return None if index < 0 else self.splits[index]


@dataclass(frozen=True)
class Timeline:
    """The profile in force on one screen at every moment (None: the flat multiplier)."""

    starts_ms: list[int]
    profiles: list[CompiledProfile | None]

    def at(self, ms: int) -> CompiledProfile | None:
        i = bisect_right(self.starts_ms, ms) - 1
        return self.profiles[i] if i >= 0 else None


def timeline(*, session: Session, screen: Screen, tz: str) -> Timeline:
    """The screen's profiles over time, its own winning over its venue's while it has one."""
    rows = list(session.scalars(select(AudienceProfile).where(
        AudienceProfile.venue_id == screen.venue_id,
        (AudienceProfile.screen_id.is_(None)) | (AudienceProfile.screen_id == screen.id))
        .order_by(AudienceProfile.effective_from, AudienceProfile.version)))
    zone = ZoneInfo(tz)
    compiled: dict[str, CompiledProfile] = {}
    venue_now: AudienceProfile | None = None
    screen_now: AudienceProfile | None = None
    starts: list[int] = []
    profiles: list[CompiledProfile | None] = []
    for row in rows:
        if row.screen_id is None:
            venue_now = row
        else:
            screen_now = None if row.cleared else row
        chosen = screen_now or venue_now
        found = None
        if chosen is not None:
            found = compiled.get(chosen.id) or compiled.setdefault(
                chosen.id, CompiledProfile.of(chosen, zone))
        at = int(row.effective_from.timestamp() * 1000)
        if starts and starts[-1] == at:
            profiles[-1] = found
        else:
            starts.append(at)
            profiles.append(found)
    return Timeline(starts, profiles)


def profiles_now(*, session: Session, screens: Sequence[Screen],
                 tz_of: dict[str, str]) -> dict[str, CompiledProfile | None]:
    """The profile in force now on each screen (its own, else its venue's), compiled;
    `tz_of` maps venue ids to their time zones. Two queries, however many screens."""
    venue_ids = sorted({s.venue_id for s in screens})
    if not venue_ids:
        return {}
    rows = list(session.scalars(select(AudienceProfile).where(
        AudienceProfile.venue_id.in_(venue_ids), AudienceProfile.effective_from <= utcnow())
        .order_by(AudienceProfile.effective_from, AudienceProfile.version)))
    latest_venue: dict[str, AudienceProfile] = {}
    latest_screen: dict[str, AudienceProfile] = {}
    for row in rows:  # oldest first: the last one seen is in force
        if row.screen_id is None:
            latest_venue[row.venue_id] = row
        else:
            latest_screen[row.screen_id] = row
    compiled: dict[str, CompiledProfile] = {}
    out: dict[str, CompiledProfile | None] = {}
    for screen in screens:
        own = latest_screen.get(screen.id)
        chosen = own if own is not None and not own.cleared else latest_venue.get(
            screen.venue_id)
        if chosen is None:
            out[screen.id] = None
            continue
        if chosen.id not in compiled:
            compiled[chosen.id] = CompiledProfile.of(chosen, ZoneInfo(tz_of[screen.venue_id]))
        out[screen.id] = compiled[chosen.id]
    return out


def splits_of(*, session: Session, audience_keys: Sequence[str]) -> dict[str, Split]:
    """Who watched, for audience keys "<profile id>:<daypart>" as reporting stores them (the
    daypart's own split, else its profile's); keys of no profile are left out."""
    wanted: dict[str, list[tuple[str, int]]] = {}
    for key in audience_keys:
        profile_id, _, part = key.rpartition(":")
        if profile_id and part.isdigit():
            wanted.setdefault(profile_id, []).append((key, int(part)))
    out: dict[str, Split] = {}
    if not wanted:
        return out
    for profile in session.scalars(select(AudienceProfile).where(
            AudienceProfile.id.in_(sorted(wanted)))):
        for key, index in wanted[profile.id]:
            daypart = profile.dayparts[index] if index < len(profile.dayparts) else {}
            out[key] = Split(daypart.get("age") or profile.age,
                             daypart.get("gender") or profile.gender)
    return out
