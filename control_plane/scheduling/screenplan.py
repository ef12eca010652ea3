"""Planning one screen: its windows, what each campaign is due in them, the loops, and why.

Demand is laid out per campaign, not per window: that is what keeps the cost per screen in
proportion to the plays handed out rather than to campaigns × windows. A share-of-voice or
even campaign wants x items per loop (a fraction in general): it gets floor(x) in each window
where it is active, and the fraction by systematic sampling over those windows — with a phase
φ from a stable hash of (campaign, screen), the j-th active window gets one more item when
floor(φ + f·(j+1)) > floor(φ + f·j). So each window gets the extra item with probability f,
the windows that do are evenly spread, the expected plays are exact, and the result is
reproducible; finding them costs one division per extra item. Asap campaigns go to a pool
served from what is left (`allocate.py`). A campaign that targets an audience is active only
where the screen's audience suits it too, and each window it could have had by flight and
dayparts says what the audience is there then, against what the campaign asks for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from control_plane.scheduling.allocate import HOUR_CAP, AsapPool, LoopShare
from control_plane.scheduling.audience import AudienceIndex
from control_plane.scheduling.fleet import Fleet, phase
from control_plane.scheduling.inputs import NO_PROFILE, Viewers
from control_plane.scheduling.plan import ScreenPlan, SlotItem, Window
from control_plane.scheduling.separation import Piece, arrange, as_served, victim
from control_plane.scheduling.timeline import ALWAYS, NEVER, Timeline
from control_plane.scheduling.weekly import Week, at, minute_of_week

Demand = list[list[tuple[int, int]]]  # per window: (campaign, items per loop)


def _draws(f: float, phi: float, n: int) -> list[int]:
    """Positions j < n where a systematic sample of rate f with phase phi falls: those where
    floor(phi + f·(j+1)) > floor(phi + f·j)."""
    out: list[int] = []
    k = 1
    while (j := math.ceil((k - phi) / f) - 1) < n:
        out.append(j)
        k += 1
    return out


def _house_fill(free: int, turn: int, house: Sequence[SlotItem],
                default: SlotItem) -> tuple[list[SlotItem], int]:
    """House items for `free` slots, rotating from `turn`; the default card where none fits."""
    out = []
    while free > 0:
        for t in range(len(house)):
            item = house[(turn + t) % len(house)]
            if item.slots <= free:
                out.append(item)
                free -= item.slots
                turn = (turn + t + 1) % len(house)
                break
        else:
            out.append(default)
            free -= default.slots
    return out, turn


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


class ScreenPlanner:
    """Plans screens one after another, spending the fleet's budgets in screen id order."""

    def __init__(self, fleet: Fleet, timeline: Timeline,
                 set_aside: Sequence[Sequence[tuple[int, float]]] = (),
                 audience: AudienceIndex | None = None) -> None:
        self.fleet = fleet
        self.timeline = timeline
        self.audience = audience or AudienceIndex()
        self.remaining = [max(0.0, f.remaining) for f in fleet.figures]
        # impressions promised to the screens not planned yet, per campaign
        self.reserved = [0.0] * len(self.remaining)
        for promised in set_aside:
            for i, amount in promised:
                self.reserved[i] += amount
        self.max_per_hour = [c.max_plays_per_hour for c in fleet.campaigns]
        self._clock: dict[int, datetime] = {}
        self._shapes: dict[int, list[tuple[datetime, datetime, int, int]]] = {}
        self._walls: dict[tuple[str, int], int] = {}
        self._zones: dict[str, ZoneInfo] = {}

    def _shape(self, window_id: int) -> list[tuple[datetime, datetime, int, int]]:
        """Each window's start and end instants, its loop count and its UTC hour (shared by
        the screens with the same windows)."""
        found = self._shapes.get(window_id)
        if found is None:
            found = self._shapes[window_id] = [
                (self._at(s), self._at(e), self.timeline.loops((s, e)), s // 60)
                for s, e in self.timeline.windows(window_id)]
        return found

    def _at(self, minute: int) -> datetime:
        found = self._clock.get(minute)
        if found is None:
            found = self._clock[minute] = at(minute)
        return found

    def plan(self, screen_id: str, tz: str, week: Week, multiplier: float,
             house: Sequence[SlotItem], eligible: Sequence[int],
             exclusions: dict[str, tuple[str, ...]], *,
             reserved: Sequence[tuple[int, float]] = (), dormant: str = "",
             within: dict[int, Week] | None = None,
             viewers: Viewers = NO_PROFILE) -> ScreenPlan:
        """The screen's plan over the horizon: it spends what was `reserved` for it and what
        the screens before it left; a `dormant` one spends nothing (why it is dormant is
        said in every window). `within` holds, for each eligible campaign that targets an
        audience, the weekly minutes the screen's `viewers` suit it."""
        fleet, timeline, params = self.fleet, self.timeline, self.fleet.params
        if dormant:
            remaining, promised = list(self.remaining), [0.0] * len(self.remaining)
        else:
            remaining, promised = self.remaining, self.reserved
            for i, amount in reserved:
                promised[i] -= amount
        slots = params.slots_per_loop
        row = timeline.activity(tz)
        activity = [row[i] for i in eligible]
        # (position, campaign, its activity by flight and dayparts alone) of those targeting
        # an audience: they are active only where the audience suits them too
        targeted = [(j, i, row[i]) for j, i in enumerate(eligible) if i in within] \
            if within else []
        for j, i, _ in targeted:
            activity[j] = timeline.activity_within(i, tz, within[i] if within else ())
        cuts: set[int] = set()
        for a in activity + [base for _, _, base in targeted]:
            if a > NEVER:
                cuts.update(timeline.cuts(a))
        window_id = timeline.base(tz, week)
        if cuts:
            window_id = timeline.cut(window_id, sorted(cuts))
        windows = timeline.windows(window_id)
        n = len(windows)
        if not n:
            return ScreenPlan(screen_id, (), exclusions)
        due: list[Demand] = [[[] for _ in range(n)], [[] for _ in range(n)]]
        active_here = [0] * n
        always = 0
        asap: list[tuple[int, int, float]] = []
        wanted: dict[int, float] = {}
        screen_phase = phase(screen_id)
        tiers, phases, sov_items, even_items, paced = (
            fleet.tier, fleet.phases, fleet.sov_items, fleet.even_items, fleet.paced)
        everywhere = range(n)
        for i, act in zip(eligible, activity, strict=True):
            if act == ALWAYS:
                always += 1
                where: Sequence[int] = everywhere
            elif act == NEVER:
                continue
            else:
                where = timeline.active(window_id, act)
                for k in where:
                    active_here[k] += 1
            tier = tiers[i]
            if tier == 2:
                asap.append((i, act, (phases[i] + screen_phase) % 1.0))
                continue
            x = even_items[i] / multiplier if tier == 1 else sov_items[i]
            if tier == 0 and paced[i]:
                # share of voice is the most of the loop it takes; even pacing still bounds
                # what it spends per hour (else it spent a 14-day budget in two days)
                x = min(x, even_items[i] / multiplier)
            m = len(where)
            if x <= 0 or not m:
                continue
            if x > slots:
                x = float(slots)
            base, f = int(x), x - int(x)
            into = due[tier]
            if base == 0:
                phi = (phases[i] + screen_phase) % 1.0
                if f < 1e-9 or math.ceil((1 - phi) / f) - 1 >= m:
                    continue  # the one draw falls beyond the horizon: most campaigns, here
                for j in _draws(f, phi, m):
                    into[where[j]].append((i, 1))
            else:
                extra = set(_draws(f, (phases[i] + screen_phase) % 1.0, m)) if f > 1e-9 \
                    else set()
                for j, k in enumerate(where):
                    into[k].append((i, base + (j in extra)))
            wanted[i] = x
        pool = AsapPool(asap, n, lambda a: everywhere if a == ALWAYS
                        else timeline.active(window_id, a))
        share = LoopShare(slots=slots, multiplier=multiplier,
                          creative_slots=fleet.creative_slots, prefix=fleet.prefix,
                          remaining=remaining, reserved=promised,
                          max_per_hour=self.max_per_hour,
                          phases=phases, screen_phase=screen_phase)
        heard = self._audience_lines(tz, window_id, viewers, targeted, activity)
        out = []
        turn = 0
        why: dict[int, str] = {}
        for k, (start, end, loops, hour) in enumerate(self._shape(window_id)):
            sov, even = due[0][k], due[1][k]
            active_asap, spent = pool.size(k), pool.spent(k)
            loop, explain, turn = self._window(k, loops, hour, sov, even, pool, share, house,
                                               turn, wanted, why, multiplier, active_asap)
            idle = always + active_here[k] - len(sov) - len(even) - active_asap - spent
            if idle > 0:
                explain.append(_count(idle, "more eligible campaign", "more eligible campaigns")
                               + " had no play due here (paced below one item per loop; the "
                               "rounding draw fell on other windows)")
            if spent:
                explain.append("1 asap campaign has spent its budget: nothing left buys a play"
                               if spent == 1 else f"{spent} asap campaigns have spent their "
                               "budgets: nothing left buys a play")
            outside = len(eligible) - always - active_here[k]
            for line, served in heard.get(k, ()):
                explain.append(line)
                outside -= not served
            if outside:
                explain.append(_count(outside, "eligible campaign is", "eligible campaigns are")
                               + " outside flight or dayparts here")
            if dormant:
                explain.insert(0, f"{dormant}: this is what it would play; its pacing and "
                                  "budget go to the screens that play")
            out.append(Window(start, end, loop, tuple(explain)))
        return ScreenPlan(screen_id, tuple(out), exclusions)

    def _audience_lines(self, tz: str, window_id: int, viewers: Viewers,
                        targeted: Sequence[tuple[int, int, int]], activity: Sequence[int]
                        ) -> dict[int, list[tuple[str, bool]]]:
        """Per window, for each audience-targeted campaign its flight and dayparts allow
        there: what its audience is at that time and whether that suits it (served)."""
        timeline, fleet = self.timeline, self.fleet
        windows = timeline.windows(window_id)
        lines: dict[int, list[tuple[str, bool]]] = {}
        walls: list[int] | None = None
        for j, i, base in targeted:
            target = fleet.campaigns[i].audience
            if target is None or base == NEVER:
                continue
            if walls is None:
                walls = [self._wall(tz, s) for s, _ in windows]
            said = self.audience.said(viewers, target)
            allowed = range(len(windows)) if base == ALWAYS else timeline.active(window_id,
                                                                                base)
            now = activity[j]
            served = set(range(len(windows)) if now == ALWAYS else
                         () if now == NEVER else timeline.active(window_id, now))
            name = fleet.ids[i]
            for k in allowed:
                lines.setdefault(k, []).append((f"{name}: {said.at(walls[k])}", k in served))
        return lines

    def _wall(self, tz: str, minute: int) -> int:
        """The local minute of the week at a UTC minute (shared by the screens of a zone)."""
        key = (tz, minute)
        found = self._walls.get(key)
        if found is None:
            zone = self._zones.get(tz) or self._zones.setdefault(tz, ZoneInfo(tz))
            found = self._walls[key] = minute_of_week(self._at(minute).astimezone(zone))
        return found

    def _why(self, i: int, x: float, multiplier: float) -> str:
        fleet = self.fleet
        c, fig = fleet.campaigns[i], fleet.figures[i]
        even = (f"even pacing: {fig.remaining:,.0f} impressions left over "
                f"{fig.screen_hours:,.1f} eligible screen-hours = {fig.rate:.4g}/h, at "
                f"×{multiplier:g} per play = {fleet.even_items[i] / multiplier:.4g} items "
                "per loop")
        if c.share_of_voice is None:
            return even
        sov = (f"share of voice {c.share_of_voice:g} of {fleet.params.slots_per_loop} slots = "
               f"{fleet.sov_items[i]:.3g} items per loop")
        if fleet.paced[i] and x < fleet.sov_items[i]:
            return f"{even}, below its {sov}"
        return sov

    def _window(self, k: int, loops: int, hour: int, sov: list[tuple[int, int]],
                even: list[tuple[int, int]], pool: AsapPool, share: LoopShare,
                house: Sequence[SlotItem], turn: int, wanted: dict[int, float],
                why: dict[int, str], multiplier: float,
                active_asap: int) -> tuple[tuple[SlotItem, ...], list[str], int]:
        """One window's loop: serve the tiers, separate competitors, fill with house content,
        spend what plays; and say why."""
        fleet = self.fleet
        ids, cost = fleet.ids, share.cost
        room = share.slots
        got: dict[int, int] = {}
        rank: dict[int, int] = {}
        explain: list[str] = []
        for tier, due in enumerate((sov, even)):
            if not due:
                continue
            capped = []
            for i, want in due:
                allowed, binding = share.limit(i, loops, hour)
                if allowed < want:
                    explain.append(f"{ids[i]}: wanted {want} per loop, allowed {allowed}: " + (
                        f"max {self.max_per_hour[i]} plays per hour here"
                        if binding == HOUR_CAP else "its remaining budget buys no more here"))
                    want = allowed
                if want:
                    capped.append((i, want))
            given, used = share.share(capped, room, k)
            room -= used
            for i, want in capped:
                m = given[i]
                if m < want:
                    explain.append(f"{ids[i]}: wanted {want} per loop, got {m}: no slots left "
                                   "(the loop is oversubscribed)")
                if m:
                    got[i], rank[i] = m, tier
        if room > 0 and active_asap:
            for i, m in pool.take(k, room, share, loops, hour).items():
                got[i], rank[i] = m, 2
                room -= cost(i, m)
        groups = fleet.groups
        served: list[SlotItem] = []
        for i, m in got.items():
            items = fleet.items[i]
            if len(items) == 1:
                served += items * m
            else:
                at_ = share.rotation.get(i, 0)
                served += [items[(at_ + j) % len(items)] for j in range(m)]
        if as_served([(groups[i], m) for i, m in got.items()], house=room > 0):
            filler, next_turn = _house_fill(room, turn, house, fleet.default)
            order = served + filler
        else:
            pieces: list[Piece] = []
            for i, m in got.items():
                pieces += [Piece(i, groups[i], rank[i], item)
                           for item in served[len(pieces):len(pieces) + m]]
            while True:
                filler, next_turn = _house_fill(room, turn, house, fleet.default)
                if not pieces:
                    order = filler
                    break
                found = arrange(pieces + [Piece(-1, None, 3, h) for h in filler])
                if found is not None:
                    order = [p.item for p in found]
                    break
                dropped = pieces.pop(victim(pieces))
                room += dropped.item.slots
                got[dropped.campaign] -= 1
                explain.append(f"{ids[dropped.campaign]}: one item dropped to keep competitive "
                               f"separation ({dropped.group})")
        granted_asap = 0
        for i, m in got.items():
            if not m:
                continue
            share.commit(i, m, loops, hour)
            if rank[i] == 2:
                granted_asap += 1
                reason = (f"asap: takes the slots left; {share.remaining[i]:,.0f} impressions "
                          "of budget left after this window")
            else:
                reason = (f"wanted {wanted[i] * loops:.4g}; " + (
                    why.get(i) or why.setdefault(i, self._why(i, wanted[i], multiplier))))
            explain.append(f"{ids[i]}: {m} per loop × {loops} loops = {m * loops} plays; "
                           f"{reason}")
        if active_asap > granted_asap:
            explain.append(_count(active_asap - granted_asap, "asap campaign", "asap campaigns")
                           + " got nothing here: no slots left, or no budget or hourly cap left")
        if room:
            explain.append(f"house content: {_count(room, 'slot', 'slots')}" if house else
                           f"default card: {_count(room, 'slot', 'slots')} (no house content)")
        return tuple(order), explain, next_turn
