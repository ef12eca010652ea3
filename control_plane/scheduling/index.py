"""Static eligibility for a whole fleet at once, with the same answers as `eligibility()`.

Asking `eligibility()` for every screen × campaign pair costs 10 million calls at fleet scale.
Most of the answer depends on only two facts about a screen, its venue type and its blocked
categories, and screens share those: a *group* per (venue type, blocked set) holds, once, the
campaigns that may play on any of its screens and the reasons of those that may not. Only what
depends on the screen itself is then checked per screen: the few campaigns that list screen
ids (looked up by screen id), geo radii (a distance per geo campaign), and the venue's
moderation verdicts, and the audience of the few campaigns that target one (per profile, cached
in `AudienceIndex`). Reasons keep the order of `eligibility()`: moderation, screen ids, venue
type, geo, blocked category, audience, then creatives and budget. Unlike `eligibility()`, the
engine judges the audience of every screen: one whose viewers it was not told has no profile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from control_plane.scheduling.audience import AudienceIndex
from control_plane.scheduling.eligibility import (
    NOT_TARGETED_SCREEN,
    arc_km,
    blocked_reason,
    campaign_reasons,
    geo_reason,
    moderation_reason,
    venue_reason,
)
from control_plane.scheduling.inputs import NO_PROFILE, AudienceTarget, Campaign, Params, Screen

Reasons = tuple[str, ...]


@dataclass(slots=True)
class _Group:
    always: list[int]  # campaigns eligible on every screen of the group
    excluded: dict[str, Reasons]  # reasons that hold on every screen of the group
    parts: list[tuple[Reasons, Reasons]]  # per campaign: (venue reason, blocked + general)


class StaticIndex:
    """Which campaigns may play on a screen, and why the others may not."""

    def __init__(self, campaigns: Sequence[Campaign], params: Params,
                 audience: AudienceIndex | None = None) -> None:
        self.campaigns = campaigns
        self.audience = audience or AudienceIndex()
        # the targeted campaigns by target: campaigns share a few targets, judged once each
        self._targets: dict[AudienceTarget, list[int]] = {}
        for i, c in enumerate(campaigns):
            if c.audience is not None:
                self._targets.setdefault(c.audience, []).append(i)
        self.position = {c.id: i for i, c in enumerate(campaigns)}
        self._general = [campaign_reasons(c, params) for c in campaigns]
        self._plain = [i for i, c in enumerate(campaigns) if not c.screen_ids and c.geo is None]
        self._listing = [i for i, c in enumerate(campaigns) if c.screen_ids and c.geo is None]
        self._geo = [i for i, c in enumerate(campaigns) if c.geo is not None]
        self._screen_sets = [frozenset(c.screen_ids) for c in campaigns]
        self._by_screen: dict[str, list[int]] = {}
        for i in self._listing:
            for screen_id in self._screen_sets[i]:
                self._by_screen.setdefault(screen_id, []).append(i)
        self._groups: dict[tuple[int, tuple[str, ...]], _Group] = {}
        self._centres = []
        for i in self._geo:
            lat, lon, radius = campaigns[i].geo or (0.0, 0.0, 0.0)
            p = math.radians(lat)
            self._centres.append((i, p, math.cos(p), lon, radius))
        # screens of one venue share a location: their geo verdicts are worked out once
        self._far: dict[tuple[float, float], list[str | None]] = {}

    def _far_reasons(self, lat: float, lon: float) -> list[str | None]:
        found = self._far.get((lat, lon))
        if found is None:
            p = math.radians(lat)
            cos_p = math.cos(p)
            found = self._far[(lat, lon)] = [
                geo_reason(arc_km(p1, cos1, p, cos_p, math.radians(lon - lon1)), radius)
                for _, p1, cos1, lon1, radius in self._centres]
        return found

    def _group(self, venue_type_id: int, blocked: tuple[str, ...]) -> _Group:
        key = (venue_type_id, blocked)
        found = self._groups.get(key)
        if found is not None:
            return found
        parts: list[tuple[Reasons, Reasons]] = []
        for i, c in enumerate(self.campaigns):
            venue = venue_reason(c.venue_type_ids, venue_type_id)
            block = blocked_reason(c.category, blocked) if blocked else None
            parts.append(((venue,) if venue else (),
                          ((block,) if block else ()) + self._general[i]))
        always, excluded = [], {}
        for i in self._plain:
            reasons = parts[i][0] + parts[i][1]
            if reasons:
                excluded[self.campaigns[i].id] = reasons
            else:
                always.append(i)
        for i in self._listing:  # as seen from a screen they do not list
            excluded[self.campaigns[i].id] = (NOT_TARGETED_SCREEN, *parts[i][0], *parts[i][1])
        found = self._groups[key] = _Group(always, excluded, parts)
        return found

    def for_screen(self, screen: Screen) -> tuple[list[int], dict[str, Reasons]]:
        """The eligible campaigns (indices, ascending) and the reasons of the others."""
        group = self._group(screen.venue_type_id, tuple(sorted(set(screen.blocked_categories))))
        excluded = dict(group.excluded)
        extra: list[int] = []
        for i in self._by_screen.get(screen.id, ()):
            reasons = group.parts[i][0] + group.parts[i][1]
            if reasons:
                excluded[self.campaigns[i].id] = reasons
            else:
                del excluded[self.campaigns[i].id]
                extra.append(i)
        for i, far in zip(self._geo, self._far_reasons(screen.lat, screen.lon), strict=True):
            venue, rest = group.parts[i]
            listed = not self._screen_sets[i] or screen.id in self._screen_sets[i]
            if listed and not far and not venue and not rest:
                extra.append(i)
                continue
            excluded[self.campaigns[i].id] = (
                (() if listed else (NOT_TARGETED_SCREEN,)) + venue + ((far,) if far else ())
                + rest)
        eligible = sorted(group.always + extra) if extra else list(group.always)
        if screen.excluded:
            banned = set()
            for campaign_id, why in sorted(screen.excluded.items()):
                i_found = self.position.get(campaign_id)
                if i_found is None:
                    continue  # a verdict on a campaign that is not running
                banned.add(i_found)
                excluded[campaign_id] = (moderation_reason(why), *excluded.get(campaign_id, ()))
            eligible = [i for i in eligible if i not in banned]
        if self._targets:
            eligible = self._audience(screen, eligible, excluded)
        return eligible, excluded

    def _audience(self, screen: Screen, eligible: list[int],
                  excluded: dict[str, Reasons]) -> list[int]:
        """The eligible campaigns less those the screen's audience never suits, whose reason
        joins the others' (before creatives and budget, as in `eligibility()`)."""
        viewers = screen.viewers or NO_PROFILE
        out: set[int] = set()
        for target, campaigns in self._targets.items():
            why = self.audience.static_reason(viewers, target)
            if why is None:
                continue
            for i in campaigns:
                out.add(i)
                campaign_id, general = self.campaigns[i].id, self._general[i]
                before = excluded.get(campaign_id, general)
                cut = len(before) - len(general)
                excluded[campaign_id] = (*before[:cut], why, *general)
        return [i for i in eligible if i not in out] if out else eligible
