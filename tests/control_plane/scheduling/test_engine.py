"""The schedule engine: properties that hold for any fleet, and the cases people ask about.

The property tests check each plan against the inputs with their own small readers of opening
hours and dayparts (below), not with the engine's, so that a shared mistake cannot hide.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control_plane.scheduling import screenplan
from control_plane.scheduling.allocate import AsapPool
from control_plane.scheduling.eligibility import eligibility
from control_plane.scheduling.engine import (
    ScreenPlan,
    build,
    canonical,
    loop_count,
    plays,
    preview,
    version,
)
from control_plane.scheduling.inputs import (
    DEFAULT_CARD_SHA256,
    Campaign,
    Creative,
    Daypart,
    Params,
    Screen,
)
from control_plane.taxonomy import service as taxonomy

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ZONES = ["Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC",
         "Asia/Kathmandu"]
CATEGORIES = ["1002", "1003", "1004", "1007", "1059", "1060", "1361", "1362", "1529"]
VENUE_TYPES = [1, 101, 10101, 2, 20101, 804]
STARTS = [datetime(2026, 3, 27, 9, 13, tzinfo=UTC),  # Europe springs forward on the 29th
          datetime(2026, 3, 7, 0, 0, tzinfo=UTC),  # the US on the 8th
          datetime(2026, 10, 24, 22, 59, tzinfo=UTC),  # Europe falls back on the 25th
          datetime(2026, 4, 4, 3, 30, tzinfo=UTC)]  # Lord Howe moves half an hour on the 5th
LOOPS = [(60, 10), (30, 10), (60, 15), (40, 5)]
ALL_DAY = {d: (("00:00", "24:00"),) for d in DAYS}


def hm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 60 + int(m)


def open_on_wall(hours: dict[str, tuple[tuple[str, str], ...]], wall: datetime) -> bool:
    """The opening-hours rule, read independently of the engine."""
    t, day = wall.hour * 60 + wall.minute, wall.weekday()
    for a, b in hours.get(DAYS[day], ()):
        if hm(a) <= t < hm(b) or (hm(b) < hm(a) and t >= hm(a)):
            return True
    return any(hm(b) < hm(a) and t < hm(b) for a, b in hours.get(DAYS[(day - 1) % 7], ()))


def in_parts(parts: tuple[Daypart, ...], wall: datetime) -> bool:
    """The daypart rule, read independently of the engine."""
    if not parts:
        return True
    t, day = wall.hour * 60 + wall.minute, wall.weekday()
    for p in parts:
        s, e = p.start.hour * 60 + p.start.minute, p.end.hour * 60 + p.end.minute
        if day in p.weekdays and s <= t < (e if e > s else 1440):
            return True
        if e <= s and (day - 1) % 7 in p.weekdays and t < e:
            return True
    return False


def minutes(start: datetime, end: datetime) -> list[datetime]:
    return [start + timedelta(minutes=k) for k in range((end - start) // timedelta(minutes=1))]


def tier1(category: str) -> str:
    return taxonomy.ad_categories()[category].tier1


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[Screen], list[Campaign], Params]:
    loop_s, slot_s = draw(st.sampled_from(LOOPS))
    now = draw(st.sampled_from(STARTS)) + timedelta(minutes=draw(st.integers(0, 3 * 1440)))
    params = Params(now=now, horizon_h=draw(st.sampled_from([6, 24, 48])), loop_s=loop_s,
                    slot_s=slot_s)
    clock = st.integers(0, 95).map(lambda q: f"{q // 4:02d}:{q % 4 * 15:02d}")

    def ranges() -> tuple[tuple[str, str], ...]:
        out = []
        for _ in range(draw(st.integers(0, 2))):
            a = draw(clock)
            b = draw(clock.filter(lambda b, a=a: b != a) | st.just("24:00"))
            out.append((a, b))
        return tuple(out)

    def creatives(prefix: str, most: int) -> tuple[Creative, ...]:
        return tuple(Creative(f"{prefix}-{k}", hashlib.sha256(f"{prefix}{k}".encode())
                              .hexdigest(), draw(st.sampled_from([5, 10, 15, 20, 30, 60, 70])))
                     for k in range(draw(st.sampled_from([1, 1, 2, most, 0]))))

    screens = []
    for k in range(draw(st.integers(1, 4))):
        screens.append(Screen(
            f"s{k}", f"v{k // 2}", draw(st.sampled_from(ZONES)),
            opening_hours=ALL_DAY if draw(st.integers(0, 3)) == 0 else {
                d: r for d in DAYS if (r := ranges())},
            venue_type_id=draw(st.sampled_from(VENUE_TYPES)),
            lat=draw(st.floats(48.5, 49.0)), lon=draw(st.floats(2.0, 2.6)),
            blocked_categories=draw(st.sampled_from([(), (), ("1002",), ("1361", "1059")])),
            audience_multiplier=draw(st.sampled_from([0.5, 1.0, 3.7])),
            house=creatives(f"h{k}", 2),
            excluded={f"c{j}": "not here" for j in draw(st.sets(st.integers(0, 7),
                                                                max_size=1))}))
    campaigns = []
    for k in range(draw(st.sampled_from([4, 8, 2, 1, 0]))):
        start = now + timedelta(minutes=draw(st.integers(-48 * 60, 10 * 60)))
        budget = draw(st.sampled_from([200_000, 2_000_000, 3_000, 0]) | st.integers(0, 10**6))
        cpm = draw(st.integers(100, 2000))
        parts = tuple(Daypart(frozenset(draw(st.sets(st.integers(0, 6), min_size=1))),
                              time(*divmod(draw(st.integers(0, 95)) * 15, 60)),
                              time(*divmod(draw(st.integers(0, 95)) * 15, 60)))
                      for _ in range(draw(st.sampled_from([0, 0, 1, 2]))))
        campaigns.append(Campaign(
            f"c{k}", f"a{k % 3}", draw(st.sampled_from(CATEGORIES)), start,
            start + timedelta(minutes=draw(st.sampled_from([200 * 60, 50 * 60])
                                           | st.integers(60, 200 * 60))),
            dayparts=parts,
            venue_type_ids=draw(st.sampled_from([(), (), (), (1,), (2, 8), (804,)])),
            geo=draw(st.sampled_from([None, None, None, (48.75, 2.3, 20.0)])),
            screen_ids=draw(st.sampled_from([(), (), (), ("s0",), ("s1", "s2")])),
            budget_cents=budget, cpm_cents=cpm,
            pacing=draw(st.sampled_from(["even", "asap"])),
            delivered_impressions=budget * 1000 / cpm * draw(st.sampled_from([0, 0.5, 0, 1.2])),
            max_plays_per_hour=draw(st.sampled_from([None, None, 0, 60, 120, 600])),
            share_of_voice=draw(st.sampled_from([None, None, 0.1, 0.5, 1.0])),
            creatives=creatives(f"c{k}", 3)))
    return screens, campaigns, params


PROPERTY = settings(max_examples=80, deadline=None)


@PROPERTY
@given(worlds())
def test_every_loop_fills_exactly_its_slots(world):
    screens, campaigns, params = world
    for plan in build(screens, campaigns, params).values():
        for w in plan.windows:
            assert sum(i.slots for i in w.loop) == params.slots_per_loop
            for i in w.loop:
                assert i.slots == -(-i.duration_s // params.slot_s)  # rounded up, never shared
                assert (i.kind == "house") == (i.campaign_id is None)


@PROPERTY
@given(worlds())
def test_nothing_plays_outside_opening_hours_flights_or_dayparts(world):
    screens, campaigns, params = world
    plans = build(screens, campaigns, params)
    by_id = {c.id: c for c in campaigns}
    first = params.now.replace(minute=0, second=0, microsecond=0)
    last = first + timedelta(hours=params.horizon_h)
    for s in screens:
        zone, covered = ZoneInfo(s.timezone), set()
        windows = plans[s.id].windows
        assert all(a.end <= b.start for a, b in pairwise(windows))
        for w in windows:
            assert first <= w.start < w.end <= last
            assert w.start.replace(minute=0) == (w.end - timedelta(minutes=1)).replace(minute=0)
            walls = [m.astimezone(zone) for m in minutes(w.start, w.end)]
            assert all(open_on_wall(s.opening_hours, wall) for wall in walls)
            covered.update(minutes(w.start, w.end))
            for cid in {i.campaign_id for i in w.loop if i.campaign_id}:
                c = by_id[cid]
                assert c.start_at <= w.start and w.end <= c.end_at
                assert all(in_parts(c.dayparts, wall) for wall in walls)
        # and every open minute of the horizon is in some window
        for m in minutes(first, last):
            assert (m in covered) == open_on_wall(s.opening_hours, m.astimezone(zone))


@PROPERTY
@given(worlds())
def test_only_eligible_campaigns_play_and_blocked_categories_never(world):
    screens, campaigns, params = world
    plans = build(screens, campaigns, params)
    for s in screens:
        plan = plans[s.id]
        verdicts = {c.id: eligibility(c, s, params) for c in campaigns}
        assert plan.exclusions == {k: v.reasons for k, v in verdicts.items() if not v.eligible}
        playing = {i.campaign_id for w in plan.windows for i in w.loop if i.campaign_id}
        assert all(verdicts[cid].eligible for cid in playing)
        for cid in playing:
            category = next(c.category for c in campaigns if c.id == cid)
            assert not taxonomy.is_blocked(category, list(s.blocked_categories))


@PROPERTY
@given(worlds())
def test_competitors_are_never_neighbours_in_a_loop(world):
    screens, campaigns, params = world
    category = {c.id: c.category for c in campaigns}
    for plan in build(screens, campaigns, params).values():
        for w in plan.windows:
            loop = w.loop
            for a, b in zip(loop, loop[1:] + loop[:1], strict=True):
                if len(loop) > 1 and a.campaign_id and b.campaign_id \
                        and a.campaign_id != b.campaign_id:
                    assert tier1(category[a.campaign_id]) != tier1(category[b.campaign_id])


@settings(max_examples=40, deadline=None)
@given(worlds(), st.randoms(use_true_random=False))
def test_same_inputs_give_the_same_versions_whatever_their_order(world, rnd):
    screens, campaigns, params = world
    once = build(screens, campaigns, params)
    shuffled_screens, shuffled_campaigns = list(screens), list(campaigns)
    rnd.shuffle(shuffled_screens)
    rnd.shuffle(shuffled_campaigns)
    again = build(shuffled_screens, shuffled_campaigns, params)
    assert list(once) == list(again) == sorted(s.id for s in screens)
    for sid in once:
        assert version(once[sid]) == version(again[sid])
        assert canonical(once[sid], with_explain=True) == canonical(again[sid],
                                                                   with_explain=True)


@PROPERTY
@given(worlds())
def test_no_campaign_is_planned_beyond_what_its_budget_buys(world):
    screens, campaigns, params = world
    plans = build(screens, campaigns, params)
    multiplier = {s.id: s.audience_multiplier for s in screens}
    bought: dict[str, float] = {}
    for sid, plan in plans.items():
        for w in plan.windows:
            for cid, n in plays(w, params.loop_s).items():
                bought[cid] = bought.get(cid, 0.0) + n * multiplier[sid]
    for c in campaigns:
        left = max(0.0, c.budget_cents * 1000 / c.cpm_cents - c.delivered_impressions)
        assert bought.get(c.id, 0.0) <= left * (1 + 1e-9) + 1e-9


@settings(max_examples=400, deadline=None)
@given(worlds())
def test_the_shortcuts_plan_what_the_general_steps_plan(world):
    """A lone asap campaign served without the stride heaps, and a loop that needs no
    separating kept as served without `arrange`: the plans, explanations included, are those
    the general steps make."""
    screens, campaigns, params = world
    fast = build(screens, campaigns, params)

    def by_stride(pool, h, room, share, loops, hour):
        return pool._stride([(pool._heaps[h][0], h)], room, share, loops, hour)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AsapPool, "_alone", by_stride)
        patch.setattr(screenplan, "as_served", lambda campaigns, house: False)
        assert build(screens, campaigns, params) == fast


# --- the cases people ask about --------------------------------------------------------------

NOW = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # a Friday; Paris springs forward on Sunday
BAR = {"fri": (("18:00", "02:00"),), "sat": (("18:00", "02:00"),)}


def ad(id_: str, *, category: str = "1059", duration: int = 10, creatives: int = 1,
       **changes: object) -> Campaign:
    fields: dict[str, object] = {
        "budget_cents": 10_000_000, "cpm_cents": 100,
        "creatives": tuple(Creative(f"{id_}-{k}", f"{id_}{k}".ljust(64, "0"), duration)
                           for k in range(creatives))}
    fields.update(changes)
    start = fields.pop("start_at", NOW - timedelta(days=1))
    end = fields.pop("end_at", NOW + timedelta(days=30))
    return Campaign(id_, "adv", category, start, end, **fields)  # type: ignore[arg-type]


def venue(id_: str = "s1", **changes: object) -> Screen:
    fields: dict[str, object] = {"venue_type_id": 804, "lat": 48.8566, "lon": 2.3522,
                                 "opening_hours": ALL_DAY}
    fields.update(changes)
    return Screen(id_, f"v-{id_}", fields.pop("timezone", "Europe/Paris"),  # type: ignore[arg-type]
                  **fields)  # type: ignore[arg-type]


def plan_of(screens: list[Screen], campaigns: list[Campaign], sid: str = "s1",
            **params: object) -> ScreenPlan:
    return build(screens, campaigns, Params(now=NOW, **params))[sid]  # type: ignore[arg-type]


def test_a_bar_open_past_midnight_that_blocks_alcohol():
    bar = venue(opening_hours=BAR, blocked_categories=("1002",))
    plan = plan_of([bar], [ad("beer", category="1004", share_of_voice=0.5),
                           ad("coats", share_of_voice=0.5)])
    paris = ZoneInfo("Europe/Paris")
    local = [(w.start.astimezone(paris), w.end.astimezone(paris)) for w in plan.windows]
    assert local[0][0].strftime("%a %H:%M") == "Fri 18:00"
    assert local[7][1].strftime("%a %H:%M") == "Sat 02:00"  # Friday's night runs on
    assert local[8][0].strftime("%a %H:%M") == "Sat 18:00"
    # Saturday's night ends when the wall clock would show 02:00, which it skips that very
    # night: at 02:00 CET the clocks go to 03:00 CEST
    assert local[-1][1].strftime("%a %H:%M") == "Sun 03:00"
    assert len(plan.windows) == 16
    assert plan.exclusions == {"beer": ("not eligible: blocked category Alcohol "
                                        "(includes Beer)",)}
    assert all({i.campaign_id for i in w.loop} == {"coats", None} for w in plan.windows)


def test_a_parent_venue_type_reaches_a_grandchild_venue():
    arrivals, pump = venue("s1", venue_type_id=10101), venue("s2", venue_type_id=20101)
    plans = build([arrivals, pump], [ad("fly", venue_type_ids=(1,), share_of_voice=0.5)],
                  Params(now=NOW, horizon_h=2))
    assert {i.campaign_id for w in plans["s1"].windows for i in w.loop} == {"fly", None}
    assert plans["s2"].exclusions == {"fly": ("not targeted: venue type 20101 is not under 1",)}


def test_geo_radius_and_explicit_screens():
    near, far = venue("near", lat=48.87, lon=2.33), venue("far", lat=48.8049, lon=2.1204)
    local = ad("local", geo=(48.8566, 2.3522, 5.0), share_of_voice=0.5)
    picked = ad("picked", screen_ids=("far",), share_of_voice=0.5, category="1529")
    plans = build([near, far], [local, picked], Params(now=NOW, horizon_h=1))
    assert {i.campaign_id for i in plans["near"].windows[0].loop} == {"local", None}
    assert {i.campaign_id for i in plans["far"].windows[0].loop} == {"picked", None}
    assert plans["far"].exclusions["local"] == ("outside the geo radius (17.9 km > 5 km)",)
    assert plans["near"].exclusions["picked"] == ("not one of the targeted screens",)


def test_venue_moderation_keeps_a_campaign_out_with_its_reason():
    plan = plan_of([venue(excluded={"loud": "too loud for a library"})],
                   [ad("loud", share_of_voice=1.0)], horizon_h=1)
    assert plan.exclusions == {"loud": ("rejected by the venue: too loud for a library",)}
    assert all(i.kind == "house" for w in plan.windows for i in w.loop)


def test_dayparts_follow_the_screen_clock_across_the_dst_change():
    evening = ad("evening", share_of_voice=0.5,
                 dayparts=(Daypart(frozenset(range(7)), time(20), time(22)),))
    plan = plan_of([venue()], [evening], horizon_h=96)
    starts = [w.start for w in plan.windows if any(i.campaign_id for i in w.loop)]
    expected = [datetime(2026, 3, d, h, tzinfo=UTC)
                for d, hours in ((27, (19, 20)), (28, (19, 20)), (29, (18, 19)), (30, (18, 19)))
                for h in hours]  # 20:00–22:00 is 19–21 UTC in winter, 18–20 UTC in summer
    assert starts == expected


def test_half_the_share_of_voice_is_half_the_slots():
    plan = plan_of([venue()], [ad("half", share_of_voice=0.5)], horizon_h=6)
    for w in plan.windows:
        assert sum(i.slots for i in w.loop if i.campaign_id == "half") == 3
        assert plays(w, 60)["half"] == 3 * loop_count(w, 60)


def test_a_15_second_creative_takes_two_slots():
    plan = plan_of([venue()], [ad("long", duration=15, share_of_voice=1 / 3)], horizon_h=1)
    (item,) = [i for i in plan.windows[0].loop if i.campaign_id == "long"]
    assert (item.duration_s, item.slots) == (15, 2)
    assert sum(i.slots for i in plan.windows[0].loop) == 6


def test_explanations_name_the_blocked_category_and_the_pacing_figures():
    screens = [venue(blocked_categories=("1361",))]
    plan = plan_of(screens, [ad("casino", category="1362"), ad("paced", budget_cents=1_440,
                                                                cpm_cents=100)], horizon_h=3)
    assert "Gambling" in plan.exclusions["casino"][0]
    lines = [line for w in plan.windows for line in w.explain if line.startswith("paced:")]
    assert lines and "even pacing: 14,400 impressions left over" in lines[0]


def test_even_pacing_spreads_what_is_left_over_the_flight():
    # at a CPM of 1,000 cents, budget_cents is the number of impressions
    flight = {"start_at": NOW, "end_at": NOW + timedelta(days=10), "cpm_cents": 1000}
    utc = venue(timezone="UTC", audience_multiplier=2.0)
    # 240 screen-hours; 28,800 impressions at ×2 is 60 plays an hour: one item per loop
    full = plan_of([utc], [ad("full", budget_cents=28_800, **flight)])
    assert [plays(w, 60).get("full") for w in full.windows] == [60] * 48
    # half of that: one item in every other window, the windows evenly spread
    half = plan_of([utc], [ad("half", budget_cents=14_400, **flight)])
    got = [bool(plays(w, 60)) for w in half.windows]
    assert sum(got) == 24 and all(a != b for a, b in pairwise(got))
    # behind schedule is already in delivered_impressions: what is left is spread again
    behind = plan_of([utc], [ad("behind", budget_cents=57_600, delivered_impressions=28_800,
                                **flight)])
    assert [plays(w, 60).get("behind") for w in behind.windows] == [60] * 48


def test_asap_spends_a_short_budget_as_early_as_it_can_on_every_screen():
    screens = [venue("a", timezone="UTC"), venue("b", timezone="UTC")]
    rush = ad("rush", pacing="asap", budget_cents=540, cpm_cents=1000)  # 540 impressions
    plans = build(screens, [rush], Params(now=NOW, horizon_h=4))
    a = [plays(w, 60).get("rush", 0) for w in plans["a"].windows]
    b = [plays(w, 60).get("rush", 0) for w in plans["b"].windows]
    # each screen is promised half (270 impressions: four items of 60 plays on a); what a
    # cannot use passes on to b, planned after it; the first screen no longer takes it all
    assert a == [240, 0, 0, 0]
    assert b == [300, 0, 0, 0]
    assert sum(a) + sum(b) == 540


@pytest.mark.parametrize("pacing", ["asap", "even"])
def test_a_budget_that_runs_out_in_the_horizon_reaches_every_screen(pacing):
    """Issue 14 #2: screens were planned in id order on one budget, so when it ran out within
    the horizon the first screens took it all and the rest played only the card."""
    screens = [venue(f"s{n:02d}", timezone="UTC") for n in range(20)]
    # 2,400 impressions, flight over in 3 h: a fifth of the fleet's loops for an hour
    short = ad("short", pacing=pacing, budget_cents=2_400, cpm_cents=1000,
               start_at=NOW - timedelta(hours=1), end_at=NOW + timedelta(hours=3))
    plans = build(screens, [short], Params(now=NOW, horizon_h=4))
    per_screen = [sum(plays(w, 60).get("short", 0) for w in plans[s.id].windows)
                  for s in screens]
    assert sum(per_screen) <= 2_400
    assert sum(per_screen) >= 2_400 * 0.9
    assert min(per_screen) >= 60, per_screen  # every screen got at least an item for an hour
    assert max(per_screen) <= 2 * 2_400 / 20 + 60, per_screen


def test_an_asap_campaign_whose_budget_is_spent_leaves_the_pool():
    # 120 impressions: two items for the first hour's 60 loops, then nothing is left
    spent = ad("spent", pacing="asap", budget_cents=120, cpm_cents=1000)
    plan = plan_of([venue(timezone="UTC")], [spent], horizon_h=3)
    assert [plays(w, 60).get("spent", 0) for w in plan.windows] == [120, 0, 0]
    # the next window finds its budget spent, and the one after says so
    asap = [[line for line in w.explain if "asap" in line] for w in plan.windows]
    assert asap[1] == ["1 asap campaign got nothing here: no slots left, or no budget or "
                       "hourly cap left"]
    assert asap[2] == ["1 asap campaign has spent its budget: nothing left buys a play"]
    assert not [line for line in plan.windows[2].explain if "rounding draw" in line]


def test_max_plays_per_hour_caps_a_screen():
    plan = plan_of([venue()], [ad("capped", pacing="asap", max_plays_per_hour=120)],
                   horizon_h=3)
    assert [plays(w, 60)["capped"] for w in plan.windows] == [120, 120, 120]


def test_competitors_are_kept_apart_by_house_content_when_nothing_else_can():
    plan = plan_of([venue()], [ad("beer", category="1004", share_of_voice=0.5),
                               ad("wine", category="1007", share_of_voice=0.5)], horizon_h=1)
    loop = plan.windows[0].loop
    owners = [i.campaign_id for i in loop]
    assert {"beer", "wine", None} == set(owners)
    for a, b in zip(owners, owners[1:] + owners[:1], strict=True):
        assert not (a and b and a != b)
    assert any("dropped to keep competitive separation (Alcohol)" in e
               for e in plan.windows[0].explain)


def test_a_lone_campaign_may_take_the_whole_loop():
    # separation is between competitors: a campaign may follow itself (a takeover)
    plan = plan_of([venue()], [ad("takeover", share_of_voice=1.0, creatives=2)], horizon_h=1)
    assert [i.campaign_id for i in plan.windows[0].loop] == ["takeover"] * 6
    assert {i.creative_id for i in plan.windows[0].loop} == {"takeover-0", "takeover-1"}


def test_an_oversubscribed_loop_is_shared_in_proportion_to_demand():
    asks = [ad("a", share_of_voice=0.5), ad("b", share_of_voice=0.5, category="1529"),
            ad("c", share_of_voice=0.5, category="1361")]
    plan = plan_of([venue()], asks, horizon_h=2)
    for w in plan.windows:  # 9 slots asked for 6: two each
        assert sorted(plays(w, 60).values()) == [120, 120, 120]
        assert sum("oversubscribed" in e for e in w.explain) == 3


def test_creatives_rotate_and_unsold_slots_get_house_content():
    house = (Creative("h1", "1" * 64, 10), Creative("h2", "2" * 64, 10))
    flight = {"start_at": NOW, "end_at": NOW + timedelta(days=10)}
    plan = plan_of([venue(timezone="UTC", house=house)],
                   [ad("three", creatives=3, budget_cents=14_400, cpm_cents=1000, **flight)],
                   horizon_h=6)
    shown = [i.creative_id for w in plan.windows for i in w.loop if i.campaign_id]
    assert shown == ["three-0", "three-1", "three-2", "three-0", "three-1", "three-2"]
    # house content rotates too, carrying on from one window to the next
    first, second = ([i.creative_id for i in w.loop if i.kind == "house"]
                     for w in plan.windows[:2])
    assert (first.count("h1"), first.count("h2")) == (3, 2)
    assert (second.count("h1"), second.count("h2")) == (2, 3)
    bare = plan_of([venue()], [], horizon_h=1)
    assert [i.media_sha256 for i in bare.windows[0].loop] == [DEFAULT_CARD_SHA256] * 6


def test_preview_answers_what_plays_at_eight_on_friday():
    plan = plan_of([venue(opening_hours=BAR)], [ad("coats", share_of_voice=0.5)])
    friday_8pm = datetime(2026, 3, 27, 20, tzinfo=ZoneInfo("Europe/Paris"))
    window = preview(plan, friday_8pm)
    assert window is not None and window.start <= friday_8pm < window.end
    assert "coats" in {i.campaign_id for i in window.loop}
    assert preview(plan, datetime(2026, 3, 27, 15, tzinfo=UTC)) is None  # closed


def test_the_version_is_the_hash_of_canonical_content():
    plan = plan_of([venue()], [ad("x", share_of_voice=0.5)], horizon_h=2)
    body = canonical(plan)
    assert hashlib.sha256(body).hexdigest() == version(plan)
    data = json.loads(body)
    assert body == json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    assert data["windows"][0]["start"] == "2026-03-27T12:00:00Z"
    assert "explain" not in data["windows"][0]  # explanations are not playlist content
    assert "explain" in json.loads(canonical(plan, with_explain=True))["windows"][0]


def test_a_rebuild_later_in_the_hour_with_nothing_changed_keeps_the_version():
    # every campaign change rebuilds every screen: an unchanged screen must not download again
    screens, ads = [venue()], [ad("x", share_of_voice=0.5)]
    early = build(screens, ads, Params(now=NOW + timedelta(minutes=1), horizon_h=4))["s1"]
    late = build(screens, ads, Params(now=NOW + timedelta(minutes=58, seconds=59),
                                      horizon_h=4))["s1"]
    assert version(early) == version(late)
    assert (early.windows[0].start, early.windows[-1].end) == (NOW, NOW + timedelta(hours=4))
    next_hour = build(screens, ads, Params(now=NOW + timedelta(hours=1), horizon_h=4))["s1"]
    assert next_hour.windows[-1].end == NOW + timedelta(hours=5)  # the horizon moves on


def test_a_flight_ending_inside_the_horizon_never_overspends():
    flight = {"start_at": NOW - timedelta(days=3), "end_at": NOW + timedelta(hours=5,
                                                                             minutes=17)}
    screens = [venue(f"s{k}", audience_multiplier=3.0) for k in range(3)]
    late = ad("late", budget_cents=1_000, cpm_cents=100, **flight)  # 10,000 impressions
    plans = build(screens, [late], Params(now=NOW))
    bought = sum(n * 3.0 for p in plans.values() for w in p.windows
                 for n in plays(w, 60).values())
    assert 0 < bought <= 10_000
    assert max(w.end for p in plans.values() for w in p.windows
               if plays(w, 60)) <= flight["end_at"]


def test_a_large_random_fleet_is_deterministic():
    rng = random.Random(7)
    screens = [venue(f"s{k:03d}", timezone=rng.choice(ZONES), venue_type_id=rng.choice(
        VENUE_TYPES), audience_multiplier=rng.uniform(0.5, 5)) for k in range(60)]
    campaigns = [ad(f"c{k:03d}", category=rng.choice(CATEGORIES),
                    pacing=rng.choice(["even", "asap"]), budget_cents=rng.randint(100, 5_000))
                 for k in range(40)]
    one = build(screens, campaigns, Params(now=NOW))
    two = build(list(reversed(screens)), list(reversed(campaigns)), Params(now=NOW))
    assert [version(p) for p in one.values()] == [version(p) for p in two.values()]
