"""Competitive separation: the order of a loop, so that competitors never play back to back.

The rule: in the loop, read as a circle (the last item is followed by the first), two
neighbouring items of *different* campaigns never share an IAB tier-1 category. House content
has no category and separates anything. Two plays of the same campaign may touch, which is
what lets a lone campaign fill a loop; they are spread out whenever that is possible.

The algorithm. Cut the loop's pieces into *units* of one group each (a group is a tier-1
category; every house piece is a group of its own). A circle of units with no two neighbours in
one group exists exactly when no group holds more than half of the units, and then it is built
by sorting units by group, biggest group first, and dealing them onto the even positions
0, 2, 4, … and then the odd ones 1, 3, …: a group can then only meet itself if it held more
than half. Units start as single pieces (most spreading); while the biggest group holds more
than half, two of its units of one campaign are merged into one block (that campaign's plays
then touch, which the rule allows) — merging in the biggest group never pushes another group
over half. If the biggest group still holds more than half when each of its campaigns is down
to one block, there is no valid order: `victim()` names a piece to drop, the engine gives its
slots to house content, and tries again. That always ends, since every drop adds house units.

When no two campaign pieces share a group (the common case) any order keeps the rule, and the
pieces stay as they came: campaigns in the order they were served, then house content.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, TypeVar

from control_plane.scheduling.plan import SlotItem


class Piece(NamedTuple):
    """One item of the loop: its campaign (-1 for house), its group, and what plays."""

    campaign: int
    group: str | None  # the tier-1 category; None for house content
    rank: int  # 0 share of voice, 1 even, 2 asap: the higher, the sooner dropped
    item: SlotItem


P = TypeVar("P", bound=Piece)


def _blocks(pieces: list[P], count: int) -> list[list[P]]:
    size, extra = divmod(len(pieces), count)
    out, at = [], 0
    for b in range(count):
        n = size + (1 if b < extra else 0)
        out.append(pieces[at:at + n])
        at += n
    return out


def as_served(campaigns: Sequence[tuple[str | None, int]], *, house: bool) -> bool:
    """Whether a loop keeps the rule in the order it was served, from each campaign's (group,
    items) and whether house content is in it: one campaign fills the loop, or no two
    campaign items share a group (the order `arrange` then returns as it came)."""
    if len(campaigns) == 1 and not house:
        return True
    seen: set[str] = set()
    for group, items in campaigns:
        if group is None or not items:
            continue
        if items > 1 or group in seen:
            return False
        seen.add(group)
    return True


def arrange(pieces: Sequence[P]) -> list[P] | None:
    """The pieces in a separated circular order, or None when no order keeps the rule."""
    counts: dict[int, tuple[str, int]] = {}
    for p in pieces:
        if p.group is not None:
            counts[p.campaign] = (p.group, counts.get(p.campaign, (p.group, 0))[1] + 1)
    if as_served(list(counts.values()),
                 house=sum(n for _, n in counts.values()) < len(pieces)):
        return list(pieces)
    own: dict[int, list[P]] = {}
    house: list[P] = []
    campaigns_of: dict[str, list[int]] = {}
    for piece in pieces:
        if piece.group is None:
            house.append(piece)
        else:
            if piece.campaign not in own:
                own[piece.campaign] = []
                campaigns_of.setdefault(piece.group, []).append(piece.campaign)
            own[piece.campaign].append(piece)
    blocks = {c: len(p) for c, p in own.items()}
    units = {g: sum(blocks[c] for c in cs) for g, cs in campaigns_of.items()}
    total = sum(units.values()) + len(house)
    if units and total > 1:
        group = max(units, key=lambda g: (units[g], g))
        # merges it needs, one unit at a time from its campaign with the most blocks (the
        # lowest index on a tie), until it holds half; no other group can hold more than half
        # meanwhile (they hold what it does not), so the one group is the only one merged; a
        # loop of one group alone ends as one unit
        excess = min(2 * units[group] - total, total - 1)
        if excess > 0:
            campaigns = campaigns_of[group]
            if sum(blocks[c] - 1 for c in campaigns) < excess:
                return None
            if len(campaigns) == 1:
                blocks[campaigns[0]] -= excess
            else:
                for _ in range(excess):
                    c = max((c for c in campaigns if blocks[c] > 1),
                            key=lambda c: (blocks[c], -c))
                    blocks[c] -= 1
            units[group] -= excess
            total -= excess
    ordered: list[list[P]] = []
    for group in sorted(units, key=lambda g: (-units[g], g)):
        for c in sorted(campaigns_of[group]):
            ordered += _blocks(own[c], blocks[c])
    ordered += [[h] for h in house]
    # deal onto even positions, then odd ones
    places = [*range(0, len(ordered), 2), *range(1, len(ordered), 2)]
    circle: list[list[P]] = [[] for _ in ordered]
    for unit, place in zip(ordered, places, strict=True):
        circle[place] = unit
    return [piece for unit in circle for piece in unit]


def victim(pieces: Sequence[P]) -> int:
    """Index of the piece to drop when `arrange()` finds no order.

    In the group with the most campaigns (the one holding more than half), the last piece of
    the campaign with the lowest priority (asap, then even, then share of voice), then the
    fewest pieces (dropping a campaign's only piece frees a whole unit), then the latest id.
    """
    counts: dict[str, dict[int, int]] = {}
    ranks: dict[int, int] = {}
    for piece in pieces:
        if piece.group is not None:
            per = counts.setdefault(piece.group, {})
            per[piece.campaign] = per.get(piece.campaign, 0) + 1
            ranks[piece.campaign] = piece.rank
    group = max(counts, key=lambda g: (len(counts[g]), sum(counts[g].values()), g))
    campaign = min(counts[group], key=lambda c: (-ranks[c], counts[group][c], -c))
    return max(k for k, p in enumerate(pieces) if p.campaign == campaign)


def separated(groups: Sequence[tuple[int, str | None]]) -> bool:
    """Whether a circular loop of (campaign, group) keeps the rule."""
    n = len(groups)
    for k in range(n if n > 1 else 0):
        (c1, g1), (c2, g2) = groups[k], groups[(k + 1) % n]
        if g1 is not None and g1 == g2 and c1 != c2:
            return False
    return True
