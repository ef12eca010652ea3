"""Why a campaign may or may not play on a screen: the static rules and the local-time ones."""

from __future__ import annotations

from datetime import UTC, datetime, time

from hypothesis import given, settings
from hypothesis import strategies as st

from control_plane.scheduling.eligibility import (
    distance_km,
    eligibility,
    hour_open,
    in_daypart,
    open_at,
)
from control_plane.scheduling.index import StaticIndex
from control_plane.scheduling.inputs import Campaign, Creative, Daypart, Params, Screen

NOW = datetime(2026, 3, 27, 12, tzinfo=UTC)
PARIS = (48.8566, 2.3522)
BAR_HOURS = {"fri": (("18:00", "02:00"),), "sat": (("18:00", "02:00"),)}


def campaign(id_: str = "c1", **changes: object) -> Campaign:
    fields: dict[str, object] = {
        "category": "1059", "budget_cents": 100_000, "cpm_cents": 500,
        "creatives": (Creative(f"{id_}-a", "ab" * 32, 10),)}
    fields.update(changes)
    return Campaign(id_, "adv", fields.pop("category"),  # type: ignore[arg-type]
                    datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC),
                    **fields)  # type: ignore[arg-type]


def screen(id_: str = "s1", **changes: object) -> Screen:
    fields: dict[str, object] = {"venue_type_id": 804, "lat": PARIS[0], "lon": PARIS[1],
                                 "opening_hours": BAR_HOURS}
    fields.update(changes)
    return Screen(id_, "v1", "Europe/Paris", **fields)  # type: ignore[arg-type]


def test_a_blocked_category_and_its_descendants_are_out_and_named():
    bar = screen(blocked_categories=("1002",))
    beer = eligibility(campaign(category="1004"), bar)
    assert not beer.eligible
    assert beer.reasons == ("not eligible: blocked category Alcohol (includes Beer)",)
    assert eligibility(campaign(category="1002"), bar).reasons == (
        "not eligible: blocked category Alcohol",)
    assert eligibility(campaign(category="1059"), bar).eligible


def test_targeting_a_parent_venue_type_matches_a_grandchild():
    transit = campaign(venue_type_ids=(1,))
    assert eligibility(transit, screen(venue_type_id=10101)).eligible  # Airports › Arrival Hall
    fuel = eligibility(transit, screen(venue_type_id=20101))
    assert fuel.reasons == ("not targeted: venue type 20101 is not under 1",)


def test_geo_radius_is_a_great_circle_distance():
    near = screen(lat=48.8738, lon=2.2950)  # the Arc de Triomphe, ~4.2 km from the centre
    far = screen(lat=48.8049, lon=2.1204)  # Versailles, ~17.9 km
    c = campaign(geo=(PARIS[0], PARIS[1], 5.0))
    assert 4 < distance_km(*PARIS, near.lat, near.lon) < 5
    assert eligibility(c, near).eligible
    assert eligibility(c, far).reasons == ("outside the geo radius (17.9 km > 5 km)",)


def test_explicit_screen_ids_mean_only_those():
    c = campaign(screen_ids=("s1",))
    assert eligibility(c, screen("s1")).eligible
    assert eligibility(c, screen("s2")).reasons == ("not one of the targeted screens",)


def test_venue_moderation_excludes_with_its_reason():
    verdict = eligibility(campaign(), screen(excluded={"c1": "competes with our own brand"}))
    assert verdict.reasons == ("rejected by the venue: competes with our own brand",)


def test_every_failed_rule_is_listed_in_a_stable_order():
    c = campaign(category="1004", venue_type_ids=(1,), screen_ids=("other",), creatives=(),
                 delivered_impressions=1e9, geo=(0.0, 0.0, 1.0))
    reasons = eligibility(c, screen(blocked_categories=("1002",),
                                    excluded={"c1": "no"})).reasons
    assert [r.split(":")[0].split(" (")[0] for r in reasons] == [
        "rejected by the venue", "not one of the targeted screens", "not targeted",
        "outside the geo radius", "not eligible", "no creatives", "budget spent"]


def test_a_creative_longer_than_the_loop_cannot_play():
    long_only = campaign(creatives=(Creative("x", "00" * 32, 90),))
    assert eligibility(long_only, screen()).eligible  # without loop facts: nothing to say
    assert eligibility(long_only, screen(), Params(now=NOW)).reasons == (
        "no creative fits the 60 s loop",)


def test_opening_hours_run_past_midnight_into_the_next_day():
    bar = screen()
    assert open_at(bar, datetime(2026, 3, 27, 23, 30))  # Friday night
    assert open_at(bar, datetime(2026, 3, 28, 1, 59))  # Saturday, still Friday's range
    assert not open_at(bar, datetime(2026, 3, 28, 2, 0))
    assert not open_at(bar, datetime(2026, 3, 27, 17, 59))
    assert open_at(bar, datetime(2026, 3, 29, 1, 0))  # Saturday's range into Sunday
    assert not open_at(bar, datetime(2026, 3, 30, 1, 0))  # Sunday: closed
    # an aware time is read on the screen's clock: 17:30 UTC is 18:30 in Paris in March
    assert open_at(bar, datetime(2026, 3, 27, 17, 30, tzinfo=UTC))
    assert hour_open(bar, datetime(2026, 3, 27, 17, 30))  # open from 18:00, within the hour
    assert not hour_open(bar, datetime(2026, 3, 27, 16, 0))
    late = screen(opening_hours={"sun": (("20:00", "24:00"),)})
    assert open_at(late, datetime(2026, 3, 29, 23, 59))
    assert not open_at(late, datetime(2026, 3, 30, 0, 0))


def test_dayparts_are_judged_on_the_screen_clock_across_a_dst_change():
    evening = campaign(dayparts=(Daypart(frozenset(range(7)), time(20), time(22)),))
    paris = screen()
    # 19:30 UTC is 20:30 in Paris before the change (UTC+1) and 21:30 after (UTC+2)
    assert in_daypart(evening, paris, datetime(2026, 3, 28, 19, 30, tzinfo=UTC))
    assert in_daypart(evening, paris, datetime(2026, 3, 29, 19, 30, tzinfo=UTC))
    assert not in_daypart(evening, paris, datetime(2026, 3, 29, 20, 0, tzinfo=UTC))  # 22:00
    assert in_daypart(evening, paris, datetime(2026, 3, 29, 18, 0, tzinfo=UTC))  # 20:00 CEST
    assert not in_daypart(evening, paris, datetime(2026, 3, 28, 18, 0, tzinfo=UTC))  # 19:00
    overnight = campaign(dayparts=(Daypart(frozenset({4}), time(22), time(2)),))
    assert in_daypart(overnight, paris, datetime(2026, 3, 28, 1, 0))  # Friday's, on Saturday
    assert in_daypart(campaign(), paris, datetime(2026, 3, 28, 4, 0))  # none: all day


CATEGORIES = ["1002", "1003", "1004", "1059", "1060", "1361", "1362", "1529"]
VENUE_TYPES = [1, 101, 10101, 10102, 2, 201, 20101, 8, 804]


@st.composite
def fleets(draw: st.DrawFn) -> tuple[list[Screen], list[Campaign]]:
    screens = [
        screen(f"s{k}", venue_type_id=draw(st.sampled_from(VENUE_TYPES)),
               lat=draw(st.floats(48.0, 49.5)), lon=draw(st.floats(1.5, 3.5)),
               blocked_categories=tuple(draw(st.lists(st.sampled_from(CATEGORIES),
                                                      max_size=3))),
               excluded=draw(st.dictionaries(st.sampled_from(["c0", "c1", "c2", "zz"]),
                                             st.just("no"), max_size=2)))
        for k in range(draw(st.integers(1, 5)))]
    ids = [s.id for s in screens]
    campaigns = [
        campaign(f"c{k}", category=draw(st.sampled_from(CATEGORIES)),
                 venue_type_ids=tuple(draw(st.lists(st.sampled_from(VENUE_TYPES),
                                                    max_size=2))),
                 geo=draw(st.none() | st.tuples(st.floats(48.0, 49.5), st.floats(1.5, 3.5),
                                                st.floats(1, 80))),
                 screen_ids=tuple(draw(st.lists(st.sampled_from(ids), max_size=2))),
                 delivered_impressions=draw(st.sampled_from([0.0, 1e9])),
                 creatives=() if draw(st.booleans()) and k == 0 else (
                     Creative(f"c{k}-a", "ab" * 32, draw(st.sampled_from([10, 30, 90]))),))
        for k in range(draw(st.integers(1, 6)))]
    return screens, campaigns


@settings(max_examples=60, deadline=None)
@given(fleets())
def test_the_fleet_index_agrees_with_eligibility(fleet):
    screens, campaigns = fleet
    params = Params(now=NOW)
    index = StaticIndex(sorted(campaigns, key=lambda c: c.id), params)
    for s in screens:
        eligible, excluded = index.for_screen(s)
        verdicts = {c.id: eligibility(c, s, params) for c in campaigns}
        assert [index.campaigns[i].id for i in eligible] == sorted(
            cid for cid, v in verdicts.items() if v.eligible)
        assert excluded == {cid: v.reasons for cid, v in verdicts.items() if not v.eligible}
