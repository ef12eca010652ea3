"""Audience profiles (issue 18, item 1): a venue's audience by daypart, overridable per screen,
validated and versioned; impressions of a play come from the profile in force for its daypart
(viewers per hour × dwell / 60), from the screen's flat multiplier otherwise, and the play
records which profile counted (raw export included)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from control_plane.reporting.models import PopPlay
from control_plane.venues.models import AudienceProfile
from tests.control_plane.billing.test_close import hour_floor, upload
from tests.control_plane.reporting.conftest import Network, network
from tests.helpers import bearer, error_code, signup

__all__ = ["network"]  # the proof-of-play network of the reporting tests

ALWAYS = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
AGE = {"18-24": 0.1, "25-34": 0.3, "35-44": 0.3, "45-54": 0.2, "55-64": 0.1}
GENDER = {"female": 0.55, "male": 0.45}


def profile(**changes: Any) -> dict[str, Any]:
    body = {"source": "owner_estimate", "as_of": "2026-11-01", "dwell_minutes": 30,
            "dayparts": [{"weekdays": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00",
                          "end": "10:00", "viewers_per_hour": 80},
                         {"weekdays": ["sat", "sun"], "start": "10:00", "end": "24:00",
                          "viewers_per_hour": 120}],
            "age": AGE, "gender": GENDER}
    return {**body, **changes}


@pytest.fixture
def place(client):
    owner = signup(client, "venue")
    venue = client.post("/v1/venues", headers=owner.headers, json={
        "name": "Gym", "lat": 48.85, "lon": 2.35, "timezone": "Europe/Paris",
        "venue_type_id": 1, "opening_hours": ALWAYS}).json()
    screen = client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                         json={"name": "Front", "width_px": 1920, "height_px": 1080}).json()
    return owner, venue, screen


@pytest.mark.parametrize("change, says", [
    ({"age": {**AGE, "18-24": 1.5}}, "between 0 and 1"),
    ({"age": {**AGE, "18-24": -0.1, "65+": 0.2}}, "between 0 and 1"),
    ({"age": {**AGE, "55-64": 0.3}}, "sum to 1.2"),
    ({"age": {"13-17": 0.5, "18-24": 0.5}}, "unknown age band '13-17'"),
    ({"age": {}}, "give the age band split"),
    ({"gender": {"female": 0.5}}, "sum to 0.5"),
    ({"gender": {"female": 0.5, "robot": 0.5}}, "unknown gender 'robot'"),
    ({"source": "guess"}, "owner_estimate"),
    ({"dwell_minutes": 0}, "greater than 0"),
    ({"dayparts": []}, "at least 1"),
    ({"dayparts": [{"weekdays": ["mon"], "start": "22:00", "end": "02:00",
                    "viewers_per_hour": 5}]}, "give a daypart past midnight as two"),
    ({"dayparts": [{"weekdays": ["mon"], "start": "08:00", "end": "12:00",
                    "viewers_per_hour": 5},
                   {"weekdays": ["mon", "tue"], "start": "11:00", "end": "13:00",
                    "viewers_per_hour": 5}]}, "mon: the dayparts 08:00–12:00 and 11:00–13:00"),
    ({"dayparts": [{"weekdays": ["someday"], "start": "08:00", "end": "09:00",
                    "viewers_per_hour": 5}]}, "mon"),
    ({"dayparts": [{"weekdays": ["mon"], "start": "8h", "end": "09:00",
                    "viewers_per_hour": 5}]}, "not a time of day"),
    ({"dayparts": [{"weekdays": ["mon"], "start": "08:00", "end": "09:00",
                    "viewers_per_hour": -1}]}, "greater than or equal to 0"),
])
def test_a_profile_that_does_not_add_up_is_refused_and_changes_nothing(client, place, change,
                                                                        says):
    owner, venue, screen = place
    for path in (f"/v1/venues/{venue['id']}/audience", f"/v1/screens/{screen['id']}/audience"):
        r = client.put(path, headers=owner.headers, json=profile(**change))
        assert r.status_code == 422, r.text
        assert error_code(r) == "validation_error"
        assert says in json.dumps(r.json()["error"], ensure_ascii=False), r.json()
        found = client.get(path, headers=owner.headers).json()
        assert found["in_force"] is None and found["history"] == []


def test_profiles_are_versioned_and_a_screen_may_override_its_venue(client, place):
    owner, venue, screen = place
    venue_path, screen_path = (f"/v1/venues/{venue['id']}/audience",
                               f"/v1/screens/{screen['id']}/audience")
    first = client.put(venue_path, headers=owner.headers, json=profile())
    assert first.status_code == 200, first.text
    got = first.json()["in_force"]
    assert got["version"] == 1 and got["screen_id"] is None
    assert got["age"] == {**AGE, "65+": 0.0}  # every band, in order
    assert list(got["age"]) == ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
    assert got["gender"] == {"female": 0.55, "male": 0.45, "other": 0.0}
    second = client.put(venue_path, headers=owner.headers,
                        json=profile(source="measured", dwell_minutes=20)).json()
    assert second["in_force"]["version"] == 2 and second["in_force"]["source"] == "measured"
    assert [p["version"] for p in second["history"]] == [2, 1]
    # the screen has its venue's until it gets its own
    inherited = client.get(screen_path, headers=owner.headers).json()
    assert inherited["inherited"] is True and inherited["in_force"]["version"] == 2
    own = client.put(screen_path, headers=owner.headers,
                     json=profile(source="third_party")).json()
    assert own["inherited"] is False and own["in_force"]["screen_id"] == screen["id"]
    assert own["in_force"]["version"] == 1
    back = client.delete(screen_path, headers=owner.headers).json()
    assert back["inherited"] is True and back["in_force"]["id"] == second["in_force"]["id"]
    assert [p["source"] for p in back["history"]] == ["third_party"]


def test_only_the_venue_owner_sets_its_profiles(client, place):
    owner, venue, screen = place
    other = signup(client, "venue")
    advertiser = signup(client, "advertiser")
    for account in (other, advertiser):
        for path in (f"/v1/venues/{venue['id']}/audience",
                     f"/v1/screens/{screen['id']}/audience"):
            r = client.put(path, headers=account.headers, json=profile())
            assert r.status_code in (403, 404), r.text
            assert client.get(path, headers=account.headers).status_code in (403, 404)
    assert client.get(f"/v1/venues/{venue['id']}/audience",
                      headers=owner.headers).json()["history"] == []


def _daypart_of(at: datetime, viewers: float) -> dict[str, Any]:
    local = at.astimezone(ZoneInfo("Europe/Paris"))
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
    end = "24:00" if local.hour == 23 else f"{local.hour + 1:02d}:00"
    return {"weekdays": [day], "start": f"{local.hour:02d}:00", "end": end,
            "viewers_per_hour": viewers}


def _backdate(net: Network, profile_id: str, to: datetime) -> None:
    with net.app.state.sessionmaker() as session:
        session.execute(update(AudienceProfile).where(AudienceProfile.id == profile_id)
                        .values(effective_from=to))
        session.commit()


def test_impressions_come_from_the_profile_of_the_plays_daypart(network: Network):
    net = network
    client, owner = net.client, net.venue_owner
    hour = hour_floor(datetime.now(UTC))
    in_profile, outside = hour - timedelta(hours=3), hour - timedelta(hours=2)
    overridden = hour - timedelta(hours=1)
    # the venue's: 120 viewers an hour, staying 30 minutes: 60 impressions a play, in the
    # hour of the first plays only
    r = client.put(f"/v1/venues/{net.venue['id']}/audience", headers=owner.headers,
                   json=profile(dwell_minutes=30,
                                dayparts=[_daypart_of(in_profile, 120)]))
    assert r.status_code == 200, r.text
    venue_profile = r.json()["in_force"]["id"]
    _backdate(net, venue_profile, hour - timedelta(hours=4))
    # the screen's own from an hour and a half ago: 45 an hour, staying 20 minutes: 15
    r = client.put(f"/v1/screens/{net.screen['id']}/audience", headers=owner.headers,
                   json=profile(dwell_minutes=20, dayparts=[_daypart_of(overridden, 45)]))
    screen_profile = r.json()["in_force"]["id"]
    _backdate(net, screen_profile, hour - timedelta(minutes=90))
    campaign, creative = net.campaign["id"], net.creative_id
    records = [net.device.record(campaign, creative, started_at=at + timedelta(minutes=5))
               for at in (in_profile, outside, overridden)]
    upload(net, records)
    with net.app.state.sessionmaker() as session:
        stored = {row.started_ms: (row.impressions_milli, row.audience_profile_id)
                  for row in session.scalars(select(PopPlay))}
    assert sorted(stored.values(), key=str) == sorted([
        (60_000, venue_profile),  # the venue's profile, in its daypart
        (2_500, None),  # no daypart of the profile in force: the screen's flat 2.5
        (15_000, screen_profile),  # the screen's own, once it had one
    ], key=str)
    # reports count them, and the raw export says which profile counted each
    r = client.get("/v1/reports/delivery", headers=owner.headers,
                   params={"from": (hour - timedelta(hours=4)).isoformat(),
                           "to": hour.isoformat()})
    assert r.status_code == 200, r.text
    assert sum(t["impressions"] for t in r.json()["totals"]) == pytest.approx(77.5)
    key = client.post("/v1/api-keys", headers=owner.headers, json={"name": "bi"}).json()["key"]
    lines = [json.loads(x) for x in client.get("/v1/pop", headers=bearer(key)).text.split()]
    assert sorted((x["impressions"], x["audience_profile_id"]) for x in lines
                  if x["audience_profile_id"]) == [(15.0, screen_profile),
                                                   (60.0, venue_profile)]


def test_a_daypart_may_have_its_own_split_and_the_profile_in_force_is_read_per_screen(
        client, app, place):
    from control_plane.venues import service as venues_service

    owner, venue, screen = place
    lunch = {"weekdays": ["mon"], "start": "12:00", "end": "14:00", "viewers_per_hour": 200,
             "age": {"18-24": 0.5, "25-34": 0.5}, "gender": {"female": 0.2, "male": 0.8}}
    evening = {"weekdays": ["mon"], "start": "18:00", "end": "22:00", "viewers_per_hour": 60}
    r = client.put(f"/v1/venues/{venue['id']}/audience", headers=owner.headers,
                   json=profile(dayparts=[lunch, evening]))
    assert r.status_code == 200, r.text
    bad = {**lunch, "age": {"18-24": 0.5}}
    r = client.put(f"/v1/venues/{venue['id']}/audience", headers=owner.headers,
                   json=profile(dayparts=[bad]))
    assert r.status_code == 422 and "sum to 0.5" in r.text
    other = client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                        json={"name": "Back", "width_px": 1920, "height_px": 1080}).json()
    with app.state.sessionmaker() as session:
        screens = [venues_service.get_screen(session=session, screen_id=s["id"])
                   for s in (screen, other)]
        found = venues_service.audience_profiles_now(session=session, screens=screens)
    assert set(found) == {screen["id"], other["id"]}
    compiled = found[screen["id"]]
    assert compiled is not None and compiled is found[other["id"]]  # the venue's, once
    at_lunch, at_evening, at_night = 12 * 60 + 30, 19 * 60, 23 * 60  # Monday, local time
    assert compiled.per_minute[at_lunch] == 100_000  # 200 an hour × 30 minutes
    lunch_split = compiled.split_of_minute(at_lunch)
    assert lunch_split is not None and lunch_split.gender["male"] == 0.8
    assert lunch_split.age["25-34"] == 0.5 and lunch_split.age["65+"] == 0.0
    evening_split = compiled.split_of_minute(at_evening)
    assert evening_split is not None and evening_split.age == {**AGE, "65+": 0.0}
    assert compiled.split_of_minute(at_night) is None


def test_impressions_are_also_kept_per_audience_and_add_up_to_the_rollups(network: Network):
    from sqlalchemy import func

    from control_plane.reporting.models import PopAudienceDaily, PopAudienceHourly, PopHourly

    net = network
    client, owner = net.client, net.venue_owner
    hour = hour_floor(datetime.now(UTC))
    profiled, flat = hour - timedelta(hours=3), hour - timedelta(hours=2)
    other_part = _daypart_of(profiled - timedelta(days=1), 10)  # another daypart, unused
    r = client.put(f"/v1/venues/{net.venue['id']}/audience", headers=owner.headers,
                   json=profile(dwell_minutes=60, dayparts=[other_part,
                                                            _daypart_of(profiled, 30)]))
    assert r.status_code == 200, r.text
    venue_profile = r.json()["in_force"]["id"]
    _backdate(net, venue_profile, hour - timedelta(hours=4))
    campaign, creative = net.campaign["id"], net.creative_id
    upload(net, [net.device.record(campaign, creative,
                                   started_at=at + timedelta(minutes=m))
                 for at in (profiled, flat) for m in (1, 2, 3)])
    upload(net, [net.device.record(None, creative, started_at=flat + timedelta(minutes=9))])
    with net.app.state.sessionmaker() as session:
        by_audience = {(row.hour, row.audience_key): (row.billable_plays, row.impressions_milli)
                       for row in session.scalars(select(PopAudienceHourly))}
        hours = {row.hour for row in session.scalars(select(PopHourly))}
        rollup = session.scalar(select(func.sum(PopHourly.impressions_milli)))
        daily = session.scalar(select(func.sum(PopAudienceDaily.impressions_milli)))
    first = int(profiled.timestamp()) // 3600
    assert by_audience == {(first, f"{venue_profile}:1"): (3, 90_000),  # 30 an hour × 60 min
                           (first + 1, ""): (3, 7_500)}  # the screen's flat 2.5
    assert first in hours and first + 1 in hours
    assert rollup == daily == 97_500  # every billable impression, once, in each grain


def test_delivery_by_age_band_and_gender_adds_up_exactly(network: Network):
    import csv
    import io

    from control_plane.reporting.audience_reports import split_exactly

    net = network
    client, owner, advertiser = net.client, net.venue_owner, net.advertiser
    hour = hour_floor(datetime.now(UTC))
    profiled, flat = hour - timedelta(hours=3), hour - timedelta(hours=2)
    ages = {"18-24": 1 / 3, "25-34": 1 / 3, "35-44": 1 / 3}
    r = client.put(f"/v1/venues/{net.venue['id']}/audience", headers=owner.headers,
                   json=profile(dwell_minutes=60, age=ages, gender={"female": 0.5, "male": 0.5},
                                dayparts=[_daypart_of(profiled, 7)]))
    _backdate(net, r.json()["in_force"]["id"], hour - timedelta(hours=4))
    upload(net, [net.device.record(net.campaign["id"], net.creative_id,
                                   started_at=at + timedelta(minutes=m))
                 for at in (profiled, flat) for m in (1, 2)])
    period = {"from": (hour - timedelta(hours=4)).isoformat(), "to": hour.isoformat()}
    plain = client.get("/v1/reports/delivery", headers=advertiser.headers, params=period).json()
    total = sum(t["impressions"] for t in plain["totals"])
    assert total == pytest.approx(14 + 5)  # 2 plays × 7, and 2 × the flat 2.5

    by_age = client.get("/v1/reports/delivery", headers=advertiser.headers,
                        params={**period, "group_by": "age_band"}).json()
    got = {row["age_band"]: row["impressions"] for row in by_age["rows"]}
    # 14 in thirds, in whole milli-impressions: 4.667 + 4.667 + 4.666; the flat ones unknown
    assert got == {"18-24": 4.667, "25-34": 4.667, "35-44": 4.666, "unknown": 5.0}
    assert sum(got.values()) == pytest.approx(total, abs=1e-9)
    assert by_age["totals"] == [{"currency": "EUR", "impressions": total,
                                 "target_impressions": 0.0}]  # the campaign targets nobody
    both = client.get("/v1/reports/delivery", headers=owner.headers,
                      params={**period, "group_by": "hour,age_band,gender",
                              "format": "csv"})
    assert both.status_code == 200, both.text
    rows = list(csv.DictReader(io.StringIO(both.text)))
    assert list(rows[0]) == ["hour", "age_band", "gender", "currency", "impressions",
                             "target_impressions"]
    assert len([r for r in rows if r["age_band"] != "unknown"]) == 6  # 3 bands × 2 genders
    assert round(sum(float(r["impressions"]) for r in rows), 3) == pytest.approx(total)
    # scoped as today: another advertiser sees nothing of it
    other = signup(client, "advertiser")
    assert client.get("/v1/reports/delivery", headers=other.headers,
                      params={**period, "group_by": "age_band"}).json()["rows"] == []
    r = client.get("/v1/reports/delivery", headers=advertiser.headers,
                   params={**period, "group_by": "creative,age_band"})
    assert r.status_code == 422 and error_code(r) == "invalid_group_by"
    assert split_exactly(10, {("a",): 1, ("b",): 1, ("c",): 1}) == {("a",): 4, ("b",): 3,
                                                                   ("c",): 3}


def test_a_new_profile_tells_the_schedule_which_screens_changed(client, app, place):
    from control_plane.events import OutboxEvent

    owner, venue, screen = place

    def told() -> list[dict[str, Any]]:
        with app.state.sessionmaker() as session:
            return [e.payload for e in session.scalars(
                select(OutboxEvent).where(OutboxEvent.kind == "screens.changed")
                .order_by(OutboxEvent.created_at)) if e.payload["change"] == "audience_changed"]

    client.put(f"/v1/venues/{venue['id']}/audience", headers=owner.headers, json=profile())
    client.put(f"/v1/screens/{screen['id']}/audience", headers=owner.headers, json=profile())
    client.delete(f"/v1/screens/{screen['id']}/audience", headers=owner.headers)
    client.put(f"/v1/venues/{venue['id']}/audience", headers=owner.headers,
               json=profile(age={"18-24": 2.0}))  # refused: tells nobody
    assert [(e["venue_id"], e["screen_ids"]) for e in told()] == \
        [(venue["id"], [screen["id"]])] * 3
