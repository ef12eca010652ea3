"""The schedule engine's entry point: every screen's plan for the horizon, in two passes.

Pass 1 asks, for every screen, which campaigns may play there (`index.py`), and from that the
pacing figures of every campaign over the whole fleet (`pacing.py`): even pacing needs to know
all the screen-hours a campaign can still use before any one screen is planned. Pass 2 plans
screens in screen id order (`screenplan.py`), spending budgets as it goes, so that the hard
budget rule holds fleet-wide; a budget that may run out within the horizon is first set aside
screen by screen (`pacing.budgets`), so that the screens planned last still get their
share. Dormant screens (not paired, or not seen for long) take no part in pacing and spend
nothing: they are planned last, each on what the others left. Inputs are sorted by id first,
so the order they arrive in changes nothing.

A campaign that targets an audience plays on a screen only in the minutes where the screen's
profile says enough of its audience watches (`audience.py`): a weekly pattern per (profile,
target), which pacing, the windows and the explanations take as they take dayparts.

A screen's plan depends on the others (shared budgets, fleet-wide pacing), which is why there
is no way to plan one screen alone; `preview()` reads a built plan instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from control_plane.scheduling import pacing
from control_plane.scheduling.audience import AudienceIndex
from control_plane.scheduling.fleet import Fleet
from control_plane.scheduling.index import StaticIndex
from control_plane.scheduling.inputs import NO_PROFILE, Campaign, Params, Screen
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

__all__ = ["ScreenPlan", "SlotItem", "Window", "build", "canonical", "loop_count", "plan_each",
           "plays", "preview", "version"]


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
    return dict(sorted(plan_each(screens, campaigns, params, progress=progress)))


def plan_each(screens: Sequence[Screen], campaigns: Sequence[Campaign], params: Params, *,
              progress: Progress | None = None) -> Iterator[tuple[str, ScreenPlan]]:
    """The plans of `build`, each (screen id, plan) as soon as it is made, in the order they
    are planned (the screens that play first, by id; then the dormant ones): a caller can
    publish the first screens while the last are still being planned. Pass 1 runs before
    the first one comes."""
    ordered_campaigns = sorted(campaigns, key=lambda c: c.id)
    ordered_screens = sorted(screens, key=lambda s: s.id)
    _unique([c.id for c in ordered_campaigns], "campaign")
    _unique([s.id for s in ordered_screens], "screen")

    def tell(stage: str, done: int) -> None:
        if progress is not None and (done % 500 == 0 or done == len(ordered_screens)):
            progress(stage, done, len(ordered_screens))

    fleet = Fleet(ordered_campaigns, params)
    audience = AudienceIndex()
    index = StaticIndex(ordered_campaigns, params, audience)
    targeted = {i for i, c in enumerate(ordered_campaigns) if c.audience is not None}
    timeline = Timeline(params, ordered_campaigns)

    classes: dict[tuple[str, Week], int] = {}
    screen_class: list[int] = []
    eligible: list[list[int]] = []
    exclusions: list[dict[str, tuple[str, ...]]] = []
    within: list[dict[int, Week]] = []  # per screen: targeted campaign -> its audience's minutes
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
        if targeted:
            viewers = screen.viewers or NO_PROFILE
            within.append({i: audience.week(viewers, target) for i in ok if i in targeted
                           and (target := ordered_campaigns[i].audience) is not None})
        tell("eligibility", len(eligible))
    # budgets follow where plays can happen: a dormant screen takes no part in pacing and is
    # promised nothing
    any_dormant = any(screen.dormant for screen in ordered_screens)
    live = [[] if screen.dormant else ok for screen, ok in zip(ordered_screens, eligible,
                                                                strict=True)] \
        if any_dormant else eligible
    class_list = list(classes)
    slots = params.slots_per_loop
    figures, set_aside = pacing.budgets(
        ordered_campaigns, params, class_list, screen_class, live,
        [s.audience_multiplier for s in ordered_screens],
        [fleet.sov_items[i] if fleet.tier[i] == 0 else float(slots)
         for i in range(len(ordered_campaigns))], within=within)
    if any_dormant and any(not f.screen_hours for f in figures):
        # a campaign no screen that plays can take (a fleet not paired yet) is paced over all
        # its screens: nothing is spent, but their previews show what they would play
        everywhere = pacing.figures(ordered_campaigns, params, class_list, screen_class,
                                    eligible, within)
        figures = [f if f.screen_hours else e for f, e in zip(figures, everywhere,
                                                               strict=True)]
    fleet.pace(figures)

    planner = ScreenPlanner(fleet, timeline, set_aside, audience)
    # the screens that play spend the budgets first; then each dormant one is planned on what
    # is left without spending it, to show what it would play if it came back now
    order = sorted(range(len(ordered_screens)), key=lambda s: bool(ordered_screens[s].dormant))
    for done, s in enumerate(order, 1):
        screen = ordered_screens[s]
        tz, week = class_list[screen_class[s]]
        plan = planner.plan(screen.id, tz, week, screen.audience_multiplier,
                            fleet.house(screen.house), eligible[s], exclusions[s],
                            reserved=set_aside[s], dormant=screen.dormant,
                            within=within[s] if targeted else {},
                            viewers=screen.viewers or NO_PROFILE)
        tell("planning", done)
        yield screen.id, plan
