"""Whether a play that happened was one the schedule could have asked for (proof-of-play checks).

A screen that lost the network keeps playing the horizon it cached, so a play is judged by the
campaign's rules at the time it started, not by the exact slot of the latest playlist: the
campaign is approved, the play started inside its flight, on a screen it targets (venue type,
geo, screen ids, the venue's blocked categories and moderation), inside its dayparts and the
venue's opening hours, with one of its approved creatives. The rules are the engine's own
(`eligibility.py`, `weekly.py`), so the schedule and the proof of play can never disagree.

Edges (flight, dayparts, opening hours) get `grace_s` either side: a device clock corrected by a
measured offset can still be a little off, and a play a few seconds early is no forgery.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from control_plane.scheduling.eligibility import eligibility
from control_plane.scheduling.inputs import Campaign, Screen
from control_plane.scheduling.weekly import (
    Week,
    contains,
    daypart_week,
    minute_of_week,
    opening_week,
)

OUTSIDE_FLIGHT = "outside the campaign's flight"
OUTSIDE_DAYPARTS = "outside the campaign's dayparts"
VENUE_CLOSED = "outside the venue's opening hours"
UNKNOWN_CAMPAIGN = "unknown campaign"
UNKNOWN_CREATIVE = "not an approved creative of the campaign"


@dataclass
class _CampaignRules:
    campaign: Campaign
    stored_status: str
    static: tuple[str, ...]  # the rules that do not depend on time, failed on this screen
    dayparts: Week | None
    creatives: dict[str, int]  # approved creative id -> duration_s


@dataclass
class PlayRules:
    """The rules of one screen for the campaigns of one proof-of-play batch."""

    screen: Screen
    slot_s: int
    grace_s: float
    _campaigns: dict[str, _CampaignRules] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._zone = ZoneInfo(self.screen.timezone)
        self._open = opening_week(self.screen.opening_hours)
        self._grace = timedelta(seconds=self.grace_s)

    def add(self, campaign: Campaign, stored_status: str) -> None:
        """Know this campaign (its approved creatives only)."""
        verdict = eligibility(campaign, self.screen)
        self._campaigns[campaign.id] = _CampaignRules(
            campaign, stored_status, verdict.reasons, daypart_week(campaign.dayparts),
            {c.id: c.duration_s for c in campaign.creatives})

    def _inside(self, week: Week, started_at: datetime) -> bool:
        for instant in (started_at, started_at - self._grace, started_at + self._grace):
            if contains(week, minute_of_week(instant.astimezone(self._zone))):
                return True
        return False

    def why_not(self, campaign_id: str, creative_id: str, started_at: datetime) -> str | None:
        """Why a play of this creative starting then was not one the schedule could ask for
        (None: it could)."""
        rules = self._campaigns.get(campaign_id)
        if rules is None:
            return UNKNOWN_CAMPAIGN
        if rules.stored_status != "approved":
            return f"campaign {rules.stored_status.replace('_', ' ')}"
        if rules.static:
            return rules.static[0]
        if creative_id not in rules.creatives:
            return UNKNOWN_CREATIVE
        c = rules.campaign
        if not (c.start_at - self._grace <= started_at < c.end_at + self._grace):
            return OUTSIDE_FLIGHT
        if rules.dayparts is not None and not self._inside(rules.dayparts, started_at):
            return OUTSIDE_DAYPARTS
        if not self._inside(self._open, started_at):
            return VENUE_CLOSED
        return None

    def expected_s(self, campaign_id: str, creative_id: str) -> int | None:
        """How long the schedule plays this creative (None: not a creative it knows)."""
        rules = self._campaigns.get(campaign_id)
        return None if rules is None else rules.creatives.get(creative_id)

    def max_plays_per_hour(self, campaign_id: str | None) -> int:
        """The most plays of a campaign (None: house content) one hour of a loop can hold.

        Every item takes whole slots, so even a campaign given every slot plays at most
        3600 / (slots its shortest creative takes × slot length) times an hour; one more is
        allowed for a play that starts on the hour's last instant.
        """
        rules = self._campaigns.get(campaign_id) if campaign_id is not None else None
        shortest = min(rules.creatives.values(), default=self.slot_s) if rules else self.slot_s
        slots = max(1, math.ceil(shortest / self.slot_s))
        return 3600 // (slots * self.slot_s) + 1
