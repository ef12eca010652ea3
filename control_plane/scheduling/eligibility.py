"""Why a campaign may or may not play on a screen, in words an advertiser or venue understands.

Two kinds of rules. Static ones depend only on the campaign and the screen (targeting, the
venue's blocked categories and moderation, creatives, budget): a campaign failing one never gets
a slot on that screen, and `eligibility()` lists every rule it fails. Time-based ones (flight,
dayparts, opening hours, who watches) are judged per window by the engine; `open_at`,
`hour_open` and `in_daypart` answer them for one local time. The audience rule is both: a screen
with no profile, or none of whose minutes has enough of the target audience, fails it
statically; otherwise it is judged per window (`audience.py`).

The reason texts are built by the small functions below, which the engine's fast index
(`index.py`) calls too, so both always say the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from control_plane.scheduling.audience import AudienceIndex
from control_plane.scheduling.inputs import Campaign, Params, Screen
from control_plane.scheduling.weekly import (
    contains,
    daypart_week,
    minute_of_week,
    opening_week,
)
from control_plane.taxonomy import service as taxonomy

EARTH_RADIUS_KM = 6371.0088  # the IUGG mean radius
NOT_TARGETED_SCREEN = "not one of the targeted screens"
NO_CREATIVES = "no creatives"
BUDGET_SPENT = "budget spent"


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Whether a campaign may play on a screen, and every reason it may not."""

    eligible: bool
    reasons: tuple[str, ...]


def arc_km(p1: float, cos1: float, p2: float, cos2: float, dlon: float) -> float:
    """Haversine distance from latitudes in radians, their cosines and the longitude gap in
    radians (the parts a caller can compute once per point)."""
    h = math.sin((p2 - p1) / 2) ** 2 + cos1 * cos2 * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance by the haversine formula."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    return arc_km(p1, math.cos(p1), p2, math.cos(p2), math.radians(lon2 - lon1))


@cache
def venue_types_within(venue_type_id: int) -> frozenset[int]:
    """A venue type and all its descendants: what targeting it matches."""
    return frozenset({venue_type_id, *taxonomy.venue_tree().descendants(venue_type_id)})


@cache
def category_line(category: str) -> frozenset[str]:
    """A category and its ancestors: blocking any of them blocks it."""
    return frozenset({category, *taxonomy.category_tree().ancestors(category)})


def category_name(category: str) -> str:
    """The IAB name of a category id (the id itself when unknown)."""
    found = taxonomy.ad_categories().get(category)
    return found.name if found else category


@cache
def tier1(category: str) -> str:
    """The tier-1 category name competitive separation compares (the id when unknown)."""
    found = taxonomy.ad_categories().get(category)
    return found.tier1 if found else category


def venue_reason(targets: Sequence[int], venue_type_id: int) -> str | None:
    """Why a venue type is not targeted, or None when it is."""
    if not targets or any(venue_type_id in venue_types_within(t) for t in targets):
        return None
    under = " or ".join(str(t) for t in sorted(set(targets)))
    return f"not targeted: venue type {venue_type_id} is not under {under}"


def blocked_reason(category: str, blocked: Sequence[str]) -> str | None:
    """Why a venue's blocked categories rule a category out, or None when they do not."""
    line = category_line(category)
    hits = [b for b in sorted(set(blocked)) if b in line]
    if not hits:
        return None
    names = ", ".join(category_name(b) for b in hits)
    within = "" if category in hits else f" (includes {category_name(category)})"
    return f"not eligible: blocked category {names}{within}"


def geo_reason(distance: float, radius_km: float, *, exact: bool = True) -> str | None:
    """Why a screen is outside a campaign's radius, or None when it is inside (without the
    distance unless `exact`: with it, a few radii would pin down where another tenant's venue
    is)."""
    if distance <= radius_km:
        return None
    if not exact:
        return f"outside the geo radius of {radius_km:g} km"
    shown = f"{distance:.1f}" if distance < 100 else f"{distance:.0f}"
    return f"outside the geo radius ({shown} km > {radius_km:g} km)"


def moderation_reason(reason: str) -> str:
    """The venue's own moderation verdict."""
    return f"rejected by the venue: {reason}"


def playable(campaign: Campaign, params: Params | None) -> bool:
    """Whether the campaign has a creative that fits in one loop."""
    limit = params.loop_s if params else None
    return any(limit is None or c.duration_s <= limit for c in campaign.creatives)


def campaign_reasons(campaign: Campaign, params: Params | None = None) -> tuple[str, ...]:
    """The reasons that hold on every screen: nothing to play, nothing left to spend."""
    reasons = []
    if not campaign.creatives:
        reasons.append(NO_CREATIVES)
    elif not playable(campaign, params):
        reasons.append(f"no creative fits the {params.loop_s if params else 0} s loop")
    if campaign.remaining_impressions <= 0:
        reasons.append(BUDGET_SPENT)
    return tuple(reasons)


def audience_reason(campaign: Campaign, screen: Screen, audience: AudienceIndex | None = None,
                    *, exact: bool = True) -> str | None:
    """Why the screen's audience never suits the campaign, or None when it may (or when the
    screen's viewers are not known: proof of play and moderation do not judge audience);
    without the venue's own figures unless `exact`."""
    if campaign.audience is None or screen.viewers is None:
        return None
    return (audience or AudienceIndex()).static_reason(screen.viewers, campaign.audience,
                                                       exact=exact)


def eligibility(campaign: Campaign, screen: Screen, params: Params | None = None, *,
                exact: bool = True, audience: AudienceIndex | None = None) -> Eligibility:
    """Every static rule the campaign fails on the screen (none: it may play there); `exact`
    False leaves out what only the screen's owner should know (its distance, its audience's
    figures). `audience`
    shares what is worked out per profile across calls."""
    found: list[str | None] = []
    if campaign.id in screen.excluded:
        found.append(moderation_reason(screen.excluded[campaign.id]))
    if campaign.screen_ids and screen.id not in campaign.screen_ids:
        found.append(NOT_TARGETED_SCREEN)
    found.append(venue_reason(campaign.venue_type_ids, screen.venue_type_id))
    if campaign.geo is not None:
        lat, lon, radius = campaign.geo
        found.append(geo_reason(distance_km(lat, lon, screen.lat, screen.lon), radius,
                                exact=exact))
    found.append(blocked_reason(campaign.category, screen.blocked_categories))
    found.append(audience_reason(campaign, screen, audience, exact=exact))
    reasons = tuple(r for r in found if r) + campaign_reasons(campaign, params)
    return Eligibility(not reasons, reasons)


def _wall(screen: Screen, local: datetime) -> datetime:
    # an aware time is first seen on the screen's clock; a naive one already is wall-clock time
    return local if local.tzinfo is None else local.astimezone(ZoneInfo(screen.timezone))


def open_at(screen: Screen, local: datetime) -> bool:
    """Whether the venue is open at a time (naive: the screen's wall clock)."""
    return contains(opening_week(screen.opening_hours), minute_of_week(_wall(screen, local)))


def hour_open(screen: Screen, local_hour_start: datetime) -> bool:
    """Whether the venue is open for at least part of the wall-clock hour starting then."""
    week, first = opening_week(screen.opening_hours), minute_of_week(_wall(screen,
                                                                          local_hour_start))
    return any(contains(week, (first + m) % (7 * 1440)) for m in range(60))


def in_daypart(campaign: Campaign, screen: Screen, local: datetime) -> bool:
    """Whether a time (naive: the screen's wall clock) is inside the campaign's dayparts."""
    week = daypart_week(campaign.dayparts)
    return week is None or contains(week, minute_of_week(_wall(screen, local)))
