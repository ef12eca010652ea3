"""The schedule engine's entry point: every screen's plan for the horizon, in two passes.

Pass 1 asks, for every screen, which campaigns may play there (`index.py`), and from that the
pacing figures of every campaign over the whole fleet (`pacing.py`): even pacing needs to know
all the screen-hours a campaign can still use before any one screen is planned. Pass 2 plans
screens in screen id order (`screenplan.py`), spending budgets as it goes, so that the hard
budget rule holds fleet-wide and asap campaigns fill greedily in (screen id, window start)
order. Inputs are sorted by id first, so the order they arrive in changes nothing.

A screen's plan depends on the others (shared budgets, fleet-wide pacing), which is why there
is no way to plan one screen alone; `preview()` reads a built plan instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from control_plane.scheduling import pacing
from control_plane.scheduling.fleet import Fleet
from control_plane.scheduling.index import StaticIndex
from control_plane.scheduling.inputs import Campaign, Params, Screen
from control_plane.scheduling.plan import (
    ScreenPlan,
    SlotItem,
    Window,
    canonical,
    loop_count,
    plays,
    preview,
    version,
)
from control_plane.scheduling.screenplan import ScreenPlanner
from control_plane.scheduling.timeline import Timeline
from control_plane.scheduling.weekly import Week, opening_week

__all__ = ["ScreenPlan", "SlotItem", "Window", "build", "canonical", "loop_count", "plays",
           "preview", "version"]


def _unique(ids: Sequence[str], what: str) -> None:
    if len(set(ids)) != len(ids):
        raise ValueError(f"{what} ids must be unique")


Progress = Callable[[str, int, int], None]  # (stage, screens done, screens in all)


def build(screens: Sequence[Screen], campaigns: Sequence[Campaign], params: Params, *,
          progress: Progress | None = None) -> dict[str, ScreenPlan]:
    """Every screen's plan for [now floored to the hour, that + horizon), by screen id.

    `progress`, when given, hears ("eligibility" | "planning", done, total) every 500 screens
    and at the end of each pass; it only watches.
    """
    ordered_campaigns = sorted(campaigns, key=lambda c: c.id)
    ordered_screens = sorted(screens, key=lambda s: s.id)
    _unique([c.id for c in ordered_campaigns], "campaign")
    _unique([s.id for s in ordered_screens], "screen")

    def tell(stage: str, done: int) -> None:
        if progress is not None and (done % 500 == 0 or done == len(ordered_screens)):
            progress(stage, done, len(ordered_screens))

    fleet = Fleet(ordered_campaigns, params)
    index = StaticIndex(ordered_campaigns, params)
    timeline = Timeline(params, ordered_campaigns)

    classes: dict[tuple[str, Week], int] = {}
    screen_class: list[int] = []
    eligible: list[list[int]] = []
    exclusions: list[dict[str, tuple[str, ...]]] = []
    weeks: dict[tuple[tuple[str, tuple[tuple[str, str], ...]], ...], Week] = {}
    for screen in ordered_screens:
        hours_key = tuple(sorted((d, tuple((a, b) for a, b in r))
                                 for d, r in screen.opening_hours.items()))
        week = weeks.get(hours_key)
        if week is None:
            week = weeks[hours_key] = opening_week(screen.opening_hours)
        screen_class.append(classes.setdefault((screen.timezone, week), len(classes)))
        ok, out = index.for_screen(screen)
        eligible.append(ok)
        exclusions.append(out)
        tell("eligibility", len(eligible))
    fleet.pace(pacing.figures(ordered_campaigns, params, list(classes), screen_class,
                              eligible))

    planner = ScreenPlanner(fleet, timeline)
    class_list = list(classes)
    plans: dict[str, ScreenPlan] = {}
    for s, screen in enumerate(ordered_screens):
        tz, week = class_list[screen_class[s]]
        plans[screen.id] = planner.plan(screen.id, tz, week, screen.audience_multiplier,
                                        fleet.house(screen.house), eligible[s], exclusions[s])
        tell("planning", s + 1)
    return plans
