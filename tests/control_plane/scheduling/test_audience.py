"""Targeting by audience, on the engine's own inputs: who a segment is in a split, and where
and when an audience-targeted campaign is planned, with the reasons a timeline gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from control_plane.scheduling.audience import (
    NO_PROFILE_REASON,
    AudienceIndex,
    label,
    runs_of,
    share,
)
from control_plane.scheduling.eligibility import NO_CREATIVES, NOT_TARGETED_SCREEN, eligibility
from control_plane.scheduling.engine import build, plays
from control_plane.scheduling.inputs import (
    NO_PROFILE,
    AudienceTarget,
    Campaign,
    Creative,
    Params,
    Screen,
    Segment,
    Split,
    Viewers,
)
from control_plane.scheduling.pacing import figures
from control_plane.scheduling.weekly import opening_week

ALL_DAY = {d: (("00:00", "24:00"),) for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
NOW = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # a Monday
YOUNG = Split({"18-24": 0.5, "25-34": 0.3, "35-44": 0.2}, {"female": 0.6, "male": 0.4})
OLD = Split({"18-24": 0.05, "25-34": 0.15, "55-64": 0.4, "65+": 0.4},
            {"female": 0.5, "male": 0.5})
YOUNG_WOMEN = AudienceTarget((Segment(frozenset({"18-24", "25-34"}), frozenset({"female"})),),
                             0.3)
LUNCH, EVENING = (12 * 60, 14 * 60), (18 * 60, 22 * 60)  # Monday, local time


def every_day(part: tuple[int, int], split: Split) -> list[tuple[int, int, Split]]:
    return [(day * 1440 + part[0], day * 1440 + part[1], split) for day in range(7)]


def viewers(profile_id: str, *parts: tuple[tuple[int, int], Split]) -> Viewers:
    runs = sorted((r for part, split in parts for r in every_day(part, split)),
                  key=lambda r: r[0])
    return Viewers(profile_id, tuple(runs))


def screen(screen_id: str, seen: Viewers | None, tz: str = "UTC") -> Screen:
    return Screen(screen_id, f"venue-{screen_id}", tz, opening_hours=ALL_DAY, venue_type_id=1,
                  lat=48.85, lon=2.35, viewers=seen)


def campaign(campaign_id: str = "c-young", audience: AudienceTarget | None = YOUNG_WOMEN,
             **changes: object) -> Campaign:
    fields: dict[str, object] = {
        "budget_cents": 10_000_000, "cpm_cents": 100, "pacing": "asap", "audience": audience,
        "creatives": (Creative("cr", "sha", 10),), **changes}
    return Campaign(campaign_id, "adv", "1003", NOW - timedelta(days=1), NOW + timedelta(days=9),
                    **fields)  # type: ignore[arg-type]


def local(instant: datetime, tz: str = "UTC") -> int:
    wall = instant.astimezone(ZoneInfo(tz))
    return wall.hour * 60 + wall.minute


def test_the_share_of_segments_takes_age_and_gender_as_independent_and_counts_a_viewer_once():
    assert share(YOUNG, YOUNG_WOMEN) == pytest.approx((0.5 + 0.3) * 0.6)
    any_gender = AudienceTarget((Segment(frozenset({"18-24"})),), 0.1)
    assert share(YOUNG, any_gender) == pytest.approx(0.5)  # no genders listed: all of them
    overlapping = AudienceTarget((Segment(frozenset({"18-24", "25-34"}), frozenset({"female"})),
                                  Segment(frozenset({"18-24"}))), 0.1)
    # young women, or anyone 18-24: the 18-24 women are in both and count once
    assert share(YOUNG, overlapping) == pytest.approx(0.8 * 0.6 + 0.5 * 0.4)
    everyone = AudienceTarget((Segment(frozenset({"18-24", "25-34", "35-44"})),
                               Segment(frozenset({"18-24", "25-34", "35-44"}))), 0.1)
    assert share(YOUNG, everyone) == pytest.approx(1.0)  # never above the whole audience
    assert label(YOUNG_WOMEN) == "18-34 women"
    assert label(overlapping) == "18-34 women or 18-24 year-olds"
    assert label(AudienceTarget((Segment(frozenset({"18-24", "55-64", "65+"}),
                                         frozenset({"female", "male"})),), 0.5)) \
        == "18-24, 55+ women and men"


def test_a_profile_compiled_per_minute_becomes_runs_of_one_split():
    part_of_minute = [-1] * (7 * 1440)
    part_of_minute[720:840] = [0] * 120
    part_of_minute[840:900] = [1] * 60
    assert runs_of(part_of_minute, [YOUNG, OLD]) == ((720, 840, YOUNG), (840, 900, OLD))


def test_a_targeted_campaign_plays_only_where_and_when_its_audience_is_and_says_why():
    young_bar = screen("s-bar", viewers("p-bar", (LUNCH, YOUNG), (EVENING, OLD)))
    old_club = screen("s-club", viewers("p-club", (LUNCH, OLD), (EVENING, OLD)))
    nobody = screen("s-none", NO_PROFILE)
    plans = build([young_bar, old_club, nobody], [campaign(), campaign("c-all", None)],
                  Params(now=NOW))

    bar = plans["s-bar"]
    served = [w for w in bar.windows if plays(w, 60).get("c-young")]
    assert served and all(LUNCH[0] <= local(w.start) < LUNCH[1] for w in served)
    assert {w.start for w in served} == {w.start for w in bar.windows
                                         if LUNCH[0] <= local(w.start) < LUNCH[1]}
    assert any("c-young: audience: 18-34 women are 48 % of viewers here at this time (the "
               "campaign asks for 30 %)" in line for w in served for line in w.explain)
    evening = [w for w in bar.windows if EVENING[0] <= local(w.start) < EVENING[1]]
    assert evening and not any(plays(w, 60).get("c-young") for w in evening)
    assert all("c-young: not served: audience: 18-34 women are 10 % of viewers here at this "
               "time, the campaign asks for 30 %" in w.explain for w in evening)
    night = [w for w in bar.windows if local(w.start) < LUNCH[0]]
    assert night and not any(plays(w, 60).get("c-young") for w in night)
    assert all(any("does not cover this time" in line for line in w.explain) for w in night)
    # the untargeted campaign plays through the day, profile or not
    assert all(plays(w, 60).get("c-all") for w in bar.windows)
    assert all(plays(w, 60).get("c-all") for w in plans["s-none"].windows)

    # no minute of the club's week has enough young women; the last screen has no profile
    assert not any(plays(w, 60).get("c-young") for s in ("s-club", "s-none")
                   for w in plans[s].windows)
    assert plans["s-club"].exclusions["c-young"] == (
        "audience: 18-34 women are at most 10 % of viewers here at any time, the campaign "
        "asks for 30 %",)
    assert plans["s-none"].exclusions["c-young"] == (NO_PROFILE_REASON,)
    assert "c-all" not in plans["s-none"].exclusions


def test_the_audience_rule_follows_the_screens_wall_clock_and_shares_one_pattern_per_profile():
    seen = viewers("p-shared", (LUNCH, YOUNG))
    paris = [screen(f"s-{n}", seen, "Europe/Paris") for n in range(3)]
    plans = build(paris, [campaign()], Params(now=NOW))
    for plan in plans.values():
        served = [w for w in plan.windows if plays(w, 60).get("c-young")]
        assert served and all(LUNCH[0] <= local(w.start, "Europe/Paris") < LUNCH[1]
                              for w in served)
    index = AudienceIndex()
    assert index.week(seen, YOUNG_WOMEN) is index.week(seen, YOUNG_WOMEN)
    assert index.week(seen, YOUNG_WOMEN) == tuple(
        (day * 1440 + LUNCH[0], day * 1440 + LUNCH[1]) for day in range(7))


def test_even_pacing_counts_only_the_hours_its_audience_is_there():
    seen = viewers("p-bar", (LUNCH, YOUNG), (EVENING, OLD))
    targeted, plain = campaign(pacing="even"), campaign("c-all", None, pacing="even")
    week = opening_week(ALL_DAY)
    index = AudienceIndex()
    found = figures([targeted, plain], Params(now=NOW), [("UTC", week)], [0], [[0, 1]],
                    [{0: index.week(seen, YOUNG_WOMEN)}])
    days = (targeted.end_at - NOW).days
    assert found[0].screen_hours == pytest.approx(2 * days)  # two lunch hours a day
    assert found[1].screen_hours == pytest.approx(24 * days)


def test_target_impressions_take_the_share_of_each_minute_of_a_window():
    seen = viewers("p-bar", ((12 * 60, 12 * 60 + 30), YOUNG), ((12 * 60 + 30, 13 * 60), OLD))
    index = AudienceIndex()
    noon = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)  # 12:00 in Paris
    assert index.mean_share(seen, YOUNG_WOMEN, "Europe/Paris", noon,
                            noon + timedelta(hours=1)) == pytest.approx((0.48 + 0.1) / 2)
    # a time the profile does not describe has no target audience to count
    assert index.mean_share(seen, YOUNG_WOMEN, "Europe/Paris", noon - timedelta(hours=1),
                            noon) == 0.0


def test_eligibility_judges_audience_only_where_it_is_told_who_watches():
    seen = viewers("p-club", (LUNCH, OLD))
    assert eligibility(campaign(), screen("s", None)).eligible  # proof of play, moderation
    assert eligibility(campaign(), screen("s", NO_PROFILE)).reasons == (NO_PROFILE_REASON,)
    assert not eligibility(campaign(), screen("s", seen)).eligible
    assert eligibility(campaign(), screen("s", viewers("p-bar", (LUNCH, YOUNG)))).eligible


def test_the_engine_and_eligibility_give_the_audience_reason_in_the_same_place():
    for target in (campaign(creatives=(), screen_ids=("s-other",)), campaign(creatives=())):
        nobody = screen("s", NO_PROFILE)
        expected = (*((NOT_TARGETED_SCREEN,) if target.screen_ids else ()), NO_PROFILE_REASON,
                    NO_CREATIVES)
        assert build([nobody], [target], Params(now=NOW))["s"].exclusions["c-young"] == expected
        assert eligibility(target, nobody).reasons == expected


@pytest.mark.parametrize("bad", [
    lambda: Segment(frozenset()),
    lambda: AudienceTarget((), 0.3),
    lambda: AudienceTarget((Segment(frozenset({"18-24"})),), 0.0),
    lambda: AudienceTarget((Segment(frozenset({"18-24"})),), 1.5),
])
def test_an_audience_target_the_engine_cannot_judge_is_refused(bad):
    with pytest.raises(ValueError):
        bad()
