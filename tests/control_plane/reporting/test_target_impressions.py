"""Target impressions (issue 18, item 2): of a play's impressions, a campaign with an audience
target counts those of its target, the target's share of the viewers of the profile daypart
that counted the play; a play counted by a screen's flat multiplier counts none. They are kept
with the audience rollups and the campaign's totals, shown on the campaign and in reports split
by who watched, and counted once however often a batch arrives."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from control_plane.reporting.models import CampaignDelivery, PopAudienceDaily, PopAudienceHourly
from tests.control_plane.billing.test_close import hour_floor, upload
from tests.control_plane.reporting.conftest import Network
from tests.control_plane.venues.test_audience import _backdate, _daypart_of, profile

# a quarter of the viewers are 18-34 women: 18-24 and 25-34 a quarter each, half of them women
AGE = {"18-24": 0.25, "25-34": 0.25, "35-44": 0.5}
GENDER = {"female": 0.5, "male": 0.5}
YOUNG_WOMEN = {"segments": [{"age_bands": ["18-24", "25-34"], "genders": ["female"]}],
               "min_share": 0.2}


def _profiled(net: Network) -> tuple[datetime, datetime, datetime]:
    """A venue profile in force from four hours ago: 40 impressions a play three hours ago
    (the profile's split), 20 two hours ago (a daypart's own split: 18-24 only, a quarter of
    them women); an hour ago, no daypart: the screen's flat 2.5."""
    hour = hour_floor(datetime.now(UTC))
    first, second, flat = (hour - timedelta(hours=h) for h in (3, 2, 1))
    own = {**_daypart_of(second, 20), "age": {"18-24": 1.0},
           "gender": {"female": 0.25, "male": 0.75}}
    r = net.client.put(f"/v1/venues/{net.venue['id']}/audience", headers=net.venue_owner.headers,
                       json=profile(dwell_minutes=60, age=AGE, gender=GENDER,
                                    dayparts=[_daypart_of(first, 40), own]))
    assert r.status_code == 200, r.text
    _backdate(net, r.json()["in_force"]["id"], hour - timedelta(hours=4))
    return first, second, flat


def _records(net: Network, campaign: dict[str, Any], at: datetime, n: int) -> list[Any]:
    return [net.device.record(campaign["id"], campaign["creatives"][0]["id"],
                              started_at=at + timedelta(minutes=m + 1)) for m in range(n)]


def _campaign(net: Network, campaign_id: str) -> dict[str, Any]:
    r = net.client.get(f"/v1/campaigns/{campaign_id}", headers=net.advertiser.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_targeted_campaign_counts_its_audiences_share_of_profiled_impressions(
        network: Network):
    net = network
    first, second, flat = _profiled(net)
    targeted = net.approved_campaign(net.advertiser, targeting={"audience": YOUNG_WOMEN})
    untargeted = net.campaign
    upload(net, [*_records(net, targeted, first, 3), *_records(net, targeted, second, 2),
                 *_records(net, targeted, flat, 2), *_records(net, untargeted, first, 1)])

    shown = _campaign(net, targeted["id"])
    assert shown["impressions"] == pytest.approx(3 * 40 + 2 * 20 + 2 * 2.5)
    # 3 × 40 × a quarter, 2 × 20 × a quarter (of 18-24, only the women), the flat ones none
    assert shown["target_impressions"] == 3 * 10 + 2 * 5
    plain = _campaign(net, untargeted["id"])
    assert plain["impressions"] == pytest.approx(40) and plain["target_impressions"] is None
    listed = net.client.get("/v1/campaigns", headers=net.advertiser.headers).json()["items"]
    assert {c["id"]: c["target_impressions"] for c in listed} == {targeted["id"]: 40.0,
                                                                  untargeted["id"]: None}

    with net.app.state.sessionmaker() as session:
        hourly = {(row.campaign_key, row.hour, row.audience_key.rpartition(":")[2]):
                  (row.impressions_milli, row.target_impressions_milli)
                  for row in session.scalars(select(PopAudienceHourly))}
        daily = sum(row.target_impressions_milli
                    for row in session.scalars(select(PopAudienceDaily)))
        totals = {row.campaign_id: row.target_impressions_milli
                  for row in session.scalars(select(CampaignDelivery))}
    hour_of = {at: int(at.timestamp()) // 3600 for at in (first, second, flat)}
    assert hourly == {(targeted["id"], hour_of[first], "0"): (120_000, 30_000),
                      (targeted["id"], hour_of[second], "1"): (40_000, 10_000),
                      (targeted["id"], hour_of[flat], ""): (5_000, 0),
                      (untargeted["id"], hour_of[first], "0"): (40_000, 0)}
    assert daily == 40_000
    assert totals == {targeted["id"]: 40_000, untargeted["id"]: 0}


def test_a_batch_sent_again_does_not_count_target_impressions_twice(network: Network):
    net = network
    first, _, _ = _profiled(net)
    targeted = net.approved_campaign(net.advertiser, targeting={"audience": YOUNG_WOMEN})
    batch = net.device.batch(_records(net, targeted, first, 2))
    assert net.upload_pop(batch).json()["accepted"] == 2
    again = net.upload_pop(batch).json()
    assert again["accepted"] == 0 and again["duplicates"] == 2
    # and a batch of the same plays under another id: duplicates too
    other = net.upload_pop(net.device.batch(batch["records"])).json()
    assert other["accepted"] == 0 and other["duplicates"] == 2
    assert _campaign(net, targeted["id"])["target_impressions"] == 20.0


def test_reports_by_age_band_and_gender_split_target_impressions_over_the_targets_cells(
        network: Network):
    net = network
    first, second, flat = _profiled(net)
    targeted = net.approved_campaign(net.advertiser, targeting={"audience": YOUNG_WOMEN})
    upload(net, [*_records(net, targeted, first, 1), *_records(net, targeted, second, 1),
                 *_records(net, targeted, flat, 1), *_records(net, net.campaign, first, 1)])
    period = {"from": (first - timedelta(hours=1)).isoformat(),
              "to": (flat + timedelta(hours=1)).isoformat()}

    def report(**params: str) -> Any:
        r = net.client.get("/v1/reports/delivery", headers=net.advertiser.headers,
                           params={**period, **params})
        assert r.status_code == 200, r.text
        return r

    by_age = report(group_by="campaign,age_band").json()
    got = {(row["campaign_id"] == targeted["id"], row["age_band"]):
           (row["impressions"], row["target_impressions"]) for row in by_age["rows"]}
    # the targeted play three hours ago: 40 (10, 10, 20 by age), of which 18-24 and 25-34
    # women 5 each; two hours ago: 20, all 18-24, a quarter of them women; an hour ago: flat
    assert got == {(True, "18-24"): (10 + 20, 5 + 5), (True, "25-34"): (10, 5),
                   (True, "35-44"): (20, 0), (True, "unknown"): (2.5, 0),
                   (False, "18-24"): (10, 0), (False, "25-34"): (10, 0),
                   (False, "35-44"): (20, 0)}
    assert by_age["totals"] == [{"currency": "EUR", "impressions": 102.5,
                                 "target_impressions": 15.0}]
    # not by campaign: the campaigns' targets still hold for their own plays only
    by_gender = report(group_by="gender", format="csv")
    rows = {r["gender"]: (float(r["impressions"]), float(r["target_impressions"]))
            for r in csv.DictReader(io.StringIO(by_gender.text))}
    assert rows == {"female": (20 + 5 + 20, 15.0), "male": (20 + 15 + 20, 0.0),
                    "unknown": (2.5, 0.0)}
