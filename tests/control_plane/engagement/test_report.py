"""The engagement report: an hour's scans split among the screens that played the campaign in
the window before them, by their impressions, as whole scans that add up to the total; scans
per 1,000 impressions; scoped like delivery reports; CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from control_plane.engagement import attribution
from control_plane.engagement import service as engagement_service
from tests.control_plane.engagement.conftest import LANDING, hour_start
from tests.helpers import error_code, signup


def _scan(app, code: str, at: datetime, client: str) -> None:
    with app.state.sessionmaker() as session:
        link = engagement_service.active_link(session=session, code=code)
        assert link is not None
        engagement_service.record_scan(session=session, link=link, method="GET",
                                       client=client, user_agent="Mozilla/5.0", now=at)


def _report(client, headers, **params):
    r = client.get("/v1/reports/engagement", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def scanned(network):
    """Hour H (three hours ago): 3 plays on the front screen (audience ×2.5), 2 on a second
    screen; 7 scans in H by 5 people; 2 scans in H−2 with no play in their window."""
    net = network
    side, device2 = net.new_screen()
    h = hour_start(datetime.now(UTC)) - timedelta(hours=3)
    ids = (net.campaign["id"], net.creative_id)
    one = [net.device.record(*ids, started_at=h + timedelta(minutes=5 + i)) for i in range(3)]
    two = [device2.record(*ids, started_at=h + timedelta(minutes=10 + i)) for i in range(2)]
    assert net.upload_pop(net.device.batch(one)).json()["accepted"] == 3
    assert net.upload_pop(device2.batch(two), device=device2).json()["accepted"] == 2
    r = net.client.post(f"/v1/campaigns/{net.campaign['id']}/tracked-link",
                       headers=net.advertiser.headers, json={"landing_url": LANDING})
    code = r.json()["code"]
    for i in range(7):
        _scan(net.app, code, h + timedelta(minutes=20 + i), f"198.51.100.{i % 5}")
    for i in range(2):
        _scan(net.app, code, h - timedelta(hours=2) + timedelta(minutes=i), "203.0.113.1")
    delivery = _report_delivery(net, h)
    return net, side, h, delivery


def _report_delivery(net, h):
    r = net.client.get("/v1/reports/delivery", headers=net.admin, params={
        "group_by": "screen", "from": h.isoformat(), "to": (h + timedelta(hours=1)).isoformat()})
    assert r.status_code == 200, r.text
    return {row["screen_id"]: row["impressions"] for row in r.json()["rows"]}


def test_scans_are_split_by_impressions_and_add_up(scanned):
    net, side, h, delivery = scanned
    period = {"from": (h - timedelta(hours=2)).isoformat(),
              "to": (h + timedelta(hours=1)).isoformat()}
    body = _report(net.client, net.advertiser.headers, group_by="screen", **period)
    rows = {row["screen_id"]: row for row in body["rows"]}
    front, other = net.screen["id"], side["id"]
    weights = {s: round(delivery[s] * 1000) for s in (front, other)}
    expected = attribution.largest_remainder(7, weights)
    assert {s: rows[s]["scans"] for s in (front, other)} == expected
    assert sum(expected.values()) == 7 and expected[front] > expected[other]
    assert rows[None]["scans"] == 2 and rows[None]["screen_name"] == "unattributed"
    assert body["totals"]["scans"] == 9
    assert sum(row["scans"] for row in body["rows"]) == 9
    assert rows[front]["impressions"] == delivery[front]
    assert rows[front]["scans_per_1000_impressions"] == round(
        expected[front] * 1000 / delivery[front], 4)
    assert rows[None]["scans_per_1000_impressions"] is None
    # unique scanners: 5 in H, shared out the same way
    assert sum(rows[s]["unique_scanners"] for s in (front, other)) == 5
    assert body["attribution_window_s"] == 900


def test_by_campaign_and_hour(scanned):
    net, _side, h, delivery = scanned
    period = {"from": (h - timedelta(hours=2)).isoformat(),
              "to": (h + timedelta(hours=1)).isoformat()}
    body = _report(net.client, net.advertiser.headers, group_by="campaign", **period)
    [row] = body["rows"]
    assert row["campaign_id"] == net.campaign["id"] and row["campaign_name"] == "Winter beers"
    assert row["scans"] == 9 and row["unique_scanners"] == 6
    impressions = sum(delivery.values())
    assert row["impressions"] == pytest.approx(impressions)
    assert row["scans_per_1000_impressions"] == round(9 * 1000 / impressions, 4)
    body = _report(net.client, net.advertiser.headers, group_by="hour", **period)
    hours = {row["hour"]: row["scans"] for row in body["rows"]}
    z = "%Y-%m-%dT%H:%M:%SZ"
    assert hours == {(h - timedelta(hours=2)).strftime(z): 2, h.strftime(z): 7}


def test_each_caller_sees_its_own(scanned):
    net, side, h, _delivery = scanned
    period = {"from": (h - timedelta(hours=2)).isoformat(),
              "to": (h + timedelta(hours=1)).isoformat(), "group_by": "screen"}
    # the venue owner: only its screens' attributed scans (both screens are its own here)
    venue = _report(net.client, net.venue_owner.headers, **period)
    assert {row["screen_id"] for row in venue["rows"]} == {net.screen["id"], side["id"]}
    assert venue["totals"]["scans"] == 7
    # another venue org and another advertiser: nothing
    for kind in ("venue", "advertiser"):
        stranger = signup(net.client, kind)
        body = _report(net.client, stranger.headers, **period)
        assert body["rows"] == [] and body["totals"]["scans"] == 0
    assert _report(net.client, net.admin, **period)["totals"]["scans"] == 9


def test_the_csv_opens_with_the_csv_module_and_adds_up(scanned):
    net, _side, h, _delivery = scanned
    r = net.client.get("/v1/reports/engagement", headers=net.advertiser.headers, params={
        "from": (h - timedelta(hours=2)).isoformat(), "to": (h + timedelta(hours=1)).isoformat(),
        "group_by": "campaign,screen", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == ["campaign_id", "campaign_name", "screen_id", "screen_name", "scans",
                             "unique_scanners", "impressions", "scans_per_1000_impressions"]
    assert sum(int(row["scans"]) for row in rows) == 9


@pytest.mark.parametrize(("params", "code"), [
    ({"group_by": "venue"}, "invalid_group_by"),
    ({"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "invalid_period"),
    ({"sort": "scans"}, "unknown_parameter"),
])
def test_bad_report_requests_say_why(client, params, code):
    account = signup(client, "advertiser")
    r = client.get("/v1/reports/engagement", headers=account.headers, params=params)
    assert r.status_code == 422 and error_code(r) == code


def test_the_window_reaches_into_the_hour_before():
    # scans of hour 10 are explained by plays from 09:45 to 11:00 (900 s)
    assert attribution.window_hours(10, 900) == {9: 900, 10: 3600}
    assert attribution.window_hours(10, 0) == {10: 3600}
    assert attribution.window_hours(10, 7200) == {8: 3600, 9: 3600, 10: 3600}
    weights = attribution.weights_for(10, 900, {9: {"a": 4000}, 10: {"b": 1000}})
    assert weights == {"a": 4000 * 900, "b": 1000 * 3600}
    assert attribution.attribute([(10, 10, 3)], 900, {9: {"a": 4000}, 10: {"b": 1000}}) == {
        (10, "a"): (5, 2), (10, "b"): (5, 1)}
    assert attribution.attribute([(12, 4, 4)], 900, {9: {"a": 4000}}) == {
        (12, attribution.UNATTRIBUTED): (4, 4)}


def test_largest_remainder_sums_exactly():
    assert attribution.largest_remainder(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3,
                                                                          "c": 3}
    for total in range(0, 50):
        split = attribution.largest_remainder(total, {"a": 2500, "b": 1000, "c": 7})
        assert sum(split.values()) == total
    assert attribution.largest_remainder(5, {"a": 0}) == {}


def _delivery(net, headers, **params):
    r = net.client.get("/v1/reports/delivery", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r


def test_the_delivery_report_by_campaign_carries_the_scans_beside_impressions(scanned):
    net, _side, h, _ = scanned
    period = {"from": (h - timedelta(hours=2)).isoformat(),
              "to": (h + timedelta(hours=1)).isoformat()}
    engagement = _report(net.client, net.advertiser.headers, group_by="campaign,screen",
                         **period)
    body = _delivery(net, net.advertiser.headers, group_by="campaign,screen", **period).json()
    rows = {row["screen_id"]: row for row in body["rows"]}
    expected = {row["screen_id"]: row["scans"] for row in engagement["rows"]}
    assert {s: rows[s]["scans"] for s in expected} == expected
    # the unattributed scans get a row of their own, without plays
    assert rows[None]["plays"] == 0 and rows[None]["scans"] == 2
    assert rows[None]["currency"] == net.campaign["currency"]
    assert sum(row["scans"] for row in body["rows"]) == 9
    (total,) = body["totals"]
    assert total["scans"] == 9 and total["unique_scanners"] == engagement["totals"][
        "unique_scanners"]
    front = rows[net.screen["id"]]
    assert front["scans_per_1000_impressions"] == round(
        front["scans"] * 1000 / front["impressions"], 4)
    by_campaign = _delivery(net, net.advertiser.headers, group_by="campaign", **period).json()
    (row,) = by_campaign["rows"]
    assert row["scans"] == 9 and row["plays"] == 5


def test_the_delivery_csv_has_the_scan_columns(scanned):
    net, _, h, _ = scanned
    r = _delivery(net, net.advertiser.headers, group_by="campaign,hour", format="csv",
                  **{"from": (h - timedelta(hours=2)).isoformat(),
                     "to": (h + timedelta(hours=1)).isoformat()})
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {"scans", "unique_scanners", "scans_per_1000_impressions"} <= set(rows[0])
    assert sum(int(row["scans"]) for row in rows) == 9
    assert {row["hour"] for row in rows if int(row["scans"])} == {
        h.isoformat().replace("+00:00", "Z"),
        (h - timedelta(hours=2)).isoformat().replace("+00:00", "Z")}


def test_a_delivery_report_by_day_or_venue_carries_the_scans_too(scanned):
    net, _, h, _ = scanned
    period = {"from": (h - timedelta(hours=2)).isoformat(),
              "to": (h + timedelta(hours=1)).isoformat()}
    for group_by in ("", "day", "venue", "screen,hour"):
        body = _delivery(net, net.advertiser.headers, group_by=group_by, **period).json()
        assert sum(row["scans"] for row in body["rows"]) == 9, group_by
        assert body["totals"][0]["scans"] == 9


def test_a_delivery_report_by_creative_says_where_the_scans_are(scanned):
    net = scanned[0]
    body = _delivery(net, net.advertiser.headers, group_by="campaign,creative").json()
    assert "scans" not in body["rows"][0]
    assert any("by creative" in note for note in body["notes"])


def test_a_venue_sees_scans_only_on_its_own_screens(scanned):
    net, _side, h, _ = scanned
    period = {"from": (h - timedelta(hours=2)).isoformat(),
              "to": (h + timedelta(hours=1)).isoformat()}
    body = _delivery(net, net.venue_owner.headers, group_by="campaign,screen", **period).json()
    assert None not in {row["screen_id"] for row in body["rows"]}  # never the unattributed
    mine = _report(net.client, net.venue_owner.headers, group_by="campaign,screen", **period)
    assert sum(row["scans"] for row in body["rows"]) == mine["totals"]["scans"]
