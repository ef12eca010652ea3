"""Sharing one window's loop slots among the campaigns that want them.

A loop has S slots (loop_s / slot_s) and repeats through the window, so one item in the loop
is one play per loop start: plays come in steps of the window's loop count. Demand arrives in
three tiers, served in order, each from what the one before left:

1. share of voice: campaigns that bought a fraction of the loop ask for that fraction
   (an even-paced one no more than its even pace: pacing bounds what it spends per hour;
   for an asap campaign it is the most it takes);
2. even pacing: the plays the pacing spread (`pacing.py`) puts in this window;
3. asap: whatever is left, shared by stride scheduling — each asap campaign has a pass value
   (starting at a hash-based phase per screen, so a different one leads on each screen), the
   lowest pass takes the next item and moves on by one, ties go to the campaign id. That is
   round-robin, i.e. proportional to equal demands, and costs O(items), not O(campaigns),
   per window; campaigns that sat out (daypart, flight) rejoin at the current pass instead of
   catching up in a burst. Asap comes last on purpose: a paced campaign's plays are a
   promise spread over its flight, an asap campaign's are whatever it can get.

Within tiers 1 and 2 an oversubscribed loop is split in proportion to demand (in slots),
rounded down to whole items, and the leftover slots go by largest remainder. Ties go by a
stable hash of (campaign, screen) that moves on every window, then the campaign id, so that
the lowest id does not win every tie on every screen. Every want is first capped by what the
campaign's remaining budget buys in this window (items × loops × audience multiplier ≤
remaining impressions less what is set aside for screens planned later, a hard rule) and
by its max plays per (UTC) hour on this screen. A cap below the window's loop count cannot be
met by an item that repeats every loop, so such a campaign sits that window out.

A campaign's creatives rotate round-robin across its items, window after window; a creative
takes ceil(duration / slot length) slots, so the cost of "m more items" depends on where the
rotation stands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from heapq import heapify, heappop, heappush

BUDGET = "budget"
HOUR_CAP = "hour cap"


class LoopShare:
    """One screen's view of the campaigns' slot costs, budgets and hourly caps."""

    def __init__(self, *, slots: int, multiplier: float, creative_slots: Sequence[tuple[int, ...]],
                 prefix: Sequence[tuple[int, ...]], remaining: list[float],
                 reserved: Sequence[float], max_per_hour: Sequence[int | None],
                 phases: Sequence[float], screen_phase: float) -> None:
        self.slots = slots
        self.multiplier = multiplier
        self.creative_slots = creative_slots
        self._prefix = prefix  # running sums of creative_slots, repeated twice
        self.remaining = remaining  # fleet-wide, spent as screens are planned in id order
        self._reserved = reserved  # of that, what is promised to screens planned later
        self.max_per_hour = max_per_hour
        self._phases = phases  # per campaign; with the screen's, they break ties fairly
        self._screen_phase = screen_phase
        self.rotation: dict[int, int] = {}
        self.used: dict[tuple[int, int], int] = {}  # (campaign, hour) -> plays on this screen

    def cost(self, campaign: int, items: int) -> int:
        """Slots taken by the campaign's next `items` creatives in rotation."""
        sizes = self.creative_slots[campaign]
        n = len(sizes)
        if n == 1:
            return items * sizes[0]
        at, prefix = self.rotation.get(campaign, 0), self._prefix[campaign]
        rounds, rest = divmod(items, n)
        return rounds * prefix[n] + prefix[at + rest] - prefix[at]

    def step(self, campaign: int, have: int) -> int:
        """Slots the campaign's next item takes when it already has `have` in this loop."""
        sizes = self.creative_slots[campaign]
        if len(sizes) == 1:
            return sizes[0]
        return sizes[(self.rotation.get(campaign, 0) + have) % len(sizes)]

    def left(self, campaign: int) -> float:
        """Impressions this screen may still spend: the budget less what later screens are
        promised."""
        return self.remaining[campaign] - max(0.0, self._reserved[campaign])

    def limit(self, campaign: int, loops: int, hour: int) -> tuple[int, str]:
        """How many items the budget and the hourly cap (per UTC hour) allow in a window of
        `loops` loops, and which of the two binds."""
        per_item = loops * self.multiplier
        left = self.left(campaign)
        afford = int(left // per_item) if left > 0 else 0
        while afford and afford * per_item > left:  # float division may round up
            afford -= 1
        cap = self.max_per_hour[campaign]
        if cap is not None:
            allowed = max(0, cap - self.used.get((campaign, hour), 0)) // loops
            if allowed < afford:
                return allowed, HOUR_CAP
        return afford, BUDGET

    def share(self, wants: Sequence[tuple[int, int]], room: int,
              window: int) -> tuple[dict[int, int], int]:
        """Items per campaign from `room` slots (all when they fit, else in proportion to
        demand), and the slots they take."""
        cost = self.cost
        demand = [(i, w, cost(i, w)) for i, w in wants]
        total = sum(d for _, _, d in demand)
        if total <= room:
            return {i: w for i, w, _ in demand}, total
        given: dict[int, int] = {}
        remainders = []
        turn = self._screen_phase + window * 0.6180339887498949  # ties move on each window
        used = 0
        for i, w, d in demand:
            quota = room * d / total
            m = spent = 0
            while m < w and spent + self.step(i, m) <= quota:
                spent += self.step(i, m)
                m += 1
            given[i] = m
            used += spent
            remainders.append((spent - quota, (self._phases[i] + turn) % 1.0, i))
        want = {i: w for i, w, _ in demand}
        order = [i for _, _, i in sorted(remainders)]
        moved = True
        while moved and used < room:
            moved = False
            for i in order:
                if given[i] < want[i] and used + self.step(i, given[i]) <= room:
                    used += self.step(i, given[i])
                    given[i] += 1
                    moved = True
        return given, used

    def commit(self, campaign: int, items: int, loops: int, hour: int) -> None:
        """Spend the budget and the hourly cap of items that will play, and rotate on."""
        self.remaining[campaign] -= items * loops * self.multiplier
        if self.max_per_hour[campaign] is not None:
            self.used[(campaign, hour)] = self.used.get((campaign, hour), 0) + items * loops
        sizes = self.creative_slots[campaign]
        if len(sizes) > 1:
            self.rotation[campaign] = (self.rotation.get(campaign, 0) + items) % len(sizes)


class AsapPool:
    """A screen's asap campaigns, in one heap per activity pattern, served by stride."""

    def __init__(self, members: Sequence[tuple[int, int, float]], windows: int,
                 active: Callable[[int], Sequence[int]]) -> None:
        # members: (campaign, activity id, starting pass); active(activity): window indices
        by_activity: dict[int, list[tuple[float, int]]] = {}
        for campaign, activity, phase in members:
            by_activity.setdefault(activity, []).append((phase, campaign))
        self._heaps: list[list[tuple[float, int]]] = []
        self._by_window: list[list[int]] = [[] for _ in range(windows)]
        for activity, heap in sorted(by_activity.items()):
            heapify(heap)
            for k in active(activity):
                self._by_window[k].append(len(self._heaps))
            self._heaps.append(heap)
        self._last = [-2] * len(self._heaps)  # the last window each heap was live in
        self._pass = 0.0  # the pass of the latest item given
        self._spent: dict[int, int] = {}  # heap -> its campaigns that left, their budget spent

    def size(self, window: int) -> int:
        """How many asap campaigns are active in a window."""
        return sum(len(self._heaps[h]) for h in self._by_window[window])

    def spent(self, window: int) -> int:
        """How many asap campaigns that would be active in a window left, their budget spent."""
        spent = self._spent
        return sum(spent.get(h, 0) for h in self._by_window[window]) if spent else 0

    def take(self, window: int, room: int, share: LoopShare, loops: int,
             hour: int) -> dict[int, int]:
        """Items per asap campaign from the `room` slots left in a window."""
        heaps, floor = self._heaps, self._pass
        tops: list[tuple[tuple[float, int], int]] = []
        for h in self._by_window[window]:
            heap = heaps[h]
            if self._last[h] != window - 1 and heap and heap[0][0] < floor:
                # back after sitting out: rejoin at the current pass rather than catch up
                heap[:] = [(max(p, floor), c) for p, c in heap]
                heapify(heap)
            self._last[h] = window
            if heap:
                tops.append((heap[0], h))
        if len(tops) == 1 and len(heaps[tops[0][1]]) == 1:
            return self._alone(tops[0][1], room, share, loops, hour)
        return self._stride(tops, room, share, loops, hour)

    def _stride(self, tops: list[tuple[tuple[float, int], int]], room: int, share: LoopShare,
                loops: int, hour: int) -> dict[int, int]:
        """`take` by stride over the heads of the active heaps (`tops`: (head, heap))."""
        heaps, floor = self._heaps, self._pass
        heapify(tops)
        got: dict[int, int] = {}
        limits: dict[int, int] = {}
        aside: list[tuple[int, tuple[float, int]]] = []
        while room > 0 and tops:
            entry, h = heappop(tops)
            heap = heaps[h]
            heappop(heap)
            pass_, campaign = entry
            if campaign not in limits:
                limits[campaign] = share.limit(campaign, loops, hour)[0]
            have = got.get(campaign, 0)
            size = share.step(campaign, have)
            if have < limits[campaign] and size <= room:
                got[campaign] = have + 1
                room -= size
                floor = pass_
                heappush(heap, (pass_ + 1.0, campaign))
            elif share.left(campaign) >= share.multiplier:
                aside.append((h, entry))  # may fit in another window
            else:  # the budget buys no play anywhere any more: the campaign leaves the pool
                self._spent[h] = self._spent.get(h, 0) + 1
            if heap:
                heappush(tops, (heap[0], h))
        self._pass = floor
        for h, entry in aside:
            heappush(heaps[h], entry)
        return got

    def _alone(self, h: int, room: int, share: LoopShare, loops: int,
               hour: int) -> dict[int, int]:
        """`take` when one asap campaign is active: what `_stride` does then, without the
        heaps (it takes item after item while its limit and the room allow)."""
        heap = self._heaps[h]
        pass_, campaign = heap[0]
        limit = share.limit(campaign, loops, hour)[0]
        sizes = share.creative_slots[campaign]
        if len(sizes) == 1:  # items of one size: as many as the limit and the room allow
            have = min(limit, room // sizes[0])
            room -= have * sizes[0]
        else:
            have = 0
            while room > 0 and have < limit and (size := share.step(campaign, have)) <= room:
                have += 1
                room -= size
        # room left: stopped by its limit or an item too big, where its budget may be spent
        if room > 0 and share.left(campaign) < share.multiplier:
            heap.clear()  # the budget buys no play anywhere any more: it leaves the pool
            self._spent[h] = self._spent.get(h, 0) + 1
        elif have:
            heap[0] = (pass_ + have, campaign)
        if have:
            self._pass = pass_ + have - 1
        return {campaign: have} if have else {}
