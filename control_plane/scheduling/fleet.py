"""Per-campaign facts the planner reads for every screen, computed once per run.

Campaigns are sorted by id and referred to by their position, so that lists, not dicts, hold
what the inner loops read, and so that every tie anywhere is broken by campaign id.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from control_plane.scheduling.eligibility import tier1
from control_plane.scheduling.inputs import Campaign, Creative, Params, default_card
from control_plane.scheduling.pacing import Figures
from control_plane.scheduling.plan import SlotItem


def phase(key: str) -> float:
    """A stable pseudo-random number in [0, 1) derived from a string (never `hash()`)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def slots_of(creative: Creative, slot_s: int) -> int:
    """Slots a creative takes: the rest of its last slot is given to no one."""
    return max(1, math.ceil(creative.duration_s / slot_s))


def campaign_item(campaign: Campaign, creative: Creative, slot_s: int) -> SlotItem:
    """A campaign creative as a loop item."""
    return SlotItem("campaign", campaign.id, creative.id, creative.media_sha256,
                    creative.duration_s, slots_of(creative, slot_s))


def house_item(creative: Creative, slot_s: int) -> SlotItem:
    """House content as a loop item."""
    return SlotItem("house", None, creative.id, creative.media_sha256, creative.duration_s,
                    slots_of(creative, slot_s))


def _running(values: Sequence[int]) -> tuple[int, ...]:
    out = [0]
    for v in values:
        out.append(out[-1] + v)
    return tuple(out)


class Fleet:
    """What the planner needs to know about each campaign, by position."""

    def __init__(self, campaigns: Sequence[Campaign], params: Params) -> None:
        self.params = params
        self.campaigns = campaigns
        self.ids = [c.id for c in campaigns]
        self.groups = [tier1(c.category) for c in campaigns]
        self.items = [tuple(campaign_item(c, cr, params.slot_s) for cr in c.creatives
                            if cr.duration_s <= params.loop_s) for c in campaigns]
        self.creative_slots = [tuple(i.slots for i in items) or (1,) for items in self.items]
        self.prefix = [_running(sizes + sizes) for sizes in self.creative_slots]
        self.mean_slots = [sum(s) / len(s) for s in self.creative_slots]
        self.phases = [phase(c.id) for c in campaigns]
        self.default = house_item(default_card(params.slot_s), params.slot_s)
        self.figures: list[Figures] = []
        # how each campaign asks for slots: 0 share of voice, 1 even pacing, 2 asap
        self.tier = [0 if c.share_of_voice is not None else 1 if c.pacing == "even" else 2
                     for c in campaigns]
        self.paced = [c.pacing == "even" for c in campaigns]  # bounds share of voice too
        self.sov_items = [(c.share_of_voice or 0.0) * params.slots_per_loop / mean
                          for c, mean in zip(campaigns, self.mean_slots, strict=True)]
        self.even_items: list[float] = []  # per loop at a ×1 multiplier, once paced

    def pace(self, figures: list[Figures]) -> None:
        """Take the fleet-wide pacing figures: plays per hour become items per loop."""
        self.figures = figures
        per_loop = self.params.loop_s / 3600
        self.even_items = [f.rate * per_loop for f in figures]

    def house(self, creatives: Sequence[Creative]) -> tuple[SlotItem, ...]:
        """A venue's house content that fits in a loop, as loop items."""
        loop_s = self.params.loop_s
        return tuple(house_item(c, self.params.slot_s) for c in creatives
                     if c.duration_s <= loop_s)
