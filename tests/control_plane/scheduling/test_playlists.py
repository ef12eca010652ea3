"""From plans to playlists and kept plans, on random worlds: windows of the same loop go out as
one only where the agent then plays exactly what it would have; a kept plan reads back as it was
made; the plans streamed one by one are the plans of the whole build; and the closed-form
separation arranges every loop as the one-merge-at-a-time rule it replaced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from control_plane.scheduling import engine, rollout
from control_plane.scheduling.plan import ScreenPlan, SlotItem, Window
from control_plane.scheduling.playlists import Files, merged, to_playlist
from control_plane.scheduling.separation import Piece, _blocks, arrange
from player_agent.schedule import index_at, window_at
from tests.control_plane.scheduling.test_engine import worlds

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def item(name: str, slots: int = 1, campaign: str | None = "c") -> SlotItem:
    return SlotItem("campaign" if campaign else "house", campaign, name,
                    "builtin:default-card", 10 * slots, slots)


def window(hour: int, loop: tuple[SlotItem, ...], minutes: int = 60) -> Window:
    start = NOW + timedelta(hours=hour)
    return Window(start, start + timedelta(minutes=minutes), loop, ())


def test_windows_of_the_same_loop_go_out_as_one():
    a, b = (item("a"), item("b")), (item("b"), item("a"))
    plan = [window(0, a), window(1, a), window(2, a), window(3, b), window(4, a)]
    assert [(s.hour, e.hour, loop) for s, e, loop in merged(plan, 10)] == [
        (9, 12, a), (12, 13, b), (13, 14, a)]


def test_a_window_that_ends_inside_a_loop_keeps_its_own_start():
    loop = (item("a", slots=7),)  # a 70-second loop: an hour is not a whole number of them
    plan = [window(0, loop), window(1, loop)]
    assert len(merged(plan, 10)) == 2
    gap = [window(0, (item("a"),), minutes=30), window(1, (item("a"),))]  # not adjacent
    assert len(merged(gap, 10)) == 2


@settings(max_examples=40, deadline=None)
@given(worlds())
def test_the_agent_plays_the_merged_playlist_as_it_would_the_plan(world):
    screens, campaigns, params = world
    plans = engine.build(screens, campaigns, params)
    files = Files({}, "http://x")
    for plan in plans.values():
        # house content and campaigns alike, on the agent's own card (no files to look up)
        plan = ScreenPlan(plan.screen_id, tuple(
            Window(w.start, w.end, tuple(SlotItem(i.kind, i.campaign_id, i.creative_id,
                                                  "builtin:default-card", i.duration_s,
                                                  i.slots) for i in w.loop), w.explain)
            for w in plan.windows), plan.exclusions)
        playlist = to_playlist(plan, plan.screen_id, (1920, 1080), files, params)
        assert len(playlist.timeline) <= len(plan.windows)
        for w in plan.windows:
            at = w.start
            while at < w.end:
                ours = window_at(playlist, at)
                assert ours is not None
                want = w.loop[index_at(_wire(w), at, params.slot_s)] if w.loop else None
                got = ours.loop[index_at(ours, at, params.slot_s)] if ours.loop else None
                assert (want.creative_id if want else None) == (got.creative_id if got else
                                                                None), (plan.screen_id, at)
                at += timedelta(seconds=params.slot_s * 7)


def _wire(w: Window):
    from shared.playlist import PlaylistItem, PlaylistWindow
    return PlaylistWindow(start=w.start, end=w.end, loop=[
        PlaylistItem(kind=i.kind, campaign_id=i.campaign_id, creative_id=i.creative_id,
                     media_sha256=i.media_sha256, duration_s=i.duration_s, slots=i.slots)
        for i in w.loop])


@settings(max_examples=40, deadline=None)
@given(worlds())
def test_a_kept_plan_reads_back_as_it_was_made_and_streaming_changes_nothing(world):
    screens, campaigns, params = world
    plans = engine.build(screens, campaigns, params)
    assert dict(sorted(engine.plan_each(screens, campaigns, params))) == plans
    for screen_id, plan in plans.items():
        assert rollout.unpacked(screen_id, rollout.packed(plan)) == plan


def _arrange_one_merge_at_a_time(pieces):
    """The rule as it was written before the closed form: merge one unit at a time."""
    groups = [p.group for p in pieces if p.group is not None]
    if len(set(groups)) == len(groups):
        return list(pieces)
    own, house, campaigns_of = {}, [], {}
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
    while units and total > 1:
        group = max(units, key=lambda g: (units[g], g))
        if 2 * units[group] <= total:
            break
        mergeable = [c for c in campaigns_of[group] if blocks[c] > 1]
        if not mergeable:
            return None
        c = max(mergeable, key=lambda c: (blocks[c], -c))
        blocks[c] -= 1
        units[group] -= 1
        total -= 1
    ordered = []
    for group in sorted(units, key=lambda g: (-units[g], g)):
        for c in sorted(campaigns_of[group]):
            ordered += _blocks(own[c], blocks[c])
    ordered += [[h] for h in house]
    places = [*range(0, len(ordered), 2), *range(1, len(ordered), 2)]
    circle = [[] for _ in ordered]
    for unit, place in zip(ordered, places, strict=True):
        circle[place] = unit
    return [piece for unit in circle for piece in unit]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-1, 4), st.sampled_from(["A", "B", "C"])), max_size=30))
def test_separation_in_closed_form_is_the_rule_it_replaced(drawn):
    pieces = [Piece(c, None if c < 0 else g, 0, item(f"{c}{g}{k}"))
              for k, (c, g) in enumerate(drawn)]
    # one campaign is in one group
    groups: dict[int, str] = {}
    pieces = [p._replace(group=groups.setdefault(p.campaign, p.group)) if p.campaign >= 0
              else p for p in pieces]
    assert arrange(pieces) == _arrange_one_merge_at_a_time(pieces)

