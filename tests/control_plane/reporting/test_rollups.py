"""Property: whatever batches arrive (new plays, replays, repeats inside a batch, another
screen's records, house content, unknown campaigns, short and crashed plays, a budget running
out), the hourly and daily rollups (per screen and fleet-wide) and each campaign's totals are
exactly the sum of the stored plays, nothing is stored twice, and spend never passes a
budget."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from control_plane.reporting.models import (
    CampaignDelivery,
    PopCampaignDaily,
    PopCampaignHourly,
    PopDaily,
    PopHourly,
    PopPlay,
    PopVenueDaily,
    PopVenueHourly,
)
from tests.helpers import signup

HOUR_MS, DAY_MS = 3_600_000, 86_400_000


def aggregate(plays, period_ms, where=lambda p: (p.screen_id,)):
    sums = defaultdict(lambda: [0, 0, 0, 0, 0])
    for p in plays:
        key = (p.started_ms // period_ms, *where(p), p.campaign_id or "", p.creative_id)
        for i, value in enumerate((1, int(p.billable), p.duration_ms, p.impressions_milli,
                                   p.spend_cents)):
            sums[key][i] += value
    return dict(sums)


def rollup(rows, period, where=lambda r: (r.screen_id,)):
    return {(getattr(r, period), *where(r), r.campaign_key, r.creative_id):
            [r.plays, r.billable_plays, r.played_ms, r.impressions_milli, r.spend_cents]
            for r in rows}


def test_rollups_always_equal_the_raw_plays(network):
    net = network
    small = net.approved_campaign(net.advertiser, name="Small", budget_cents=40, cpm_cents=700)
    other_screen, other = net.new_screen(owner=signup(net.client, "venue"),
                                         audience_multiplier=1.333)
    third_screen, third = net.new_screen()  # the same venue as the first: one venue row
    screens = [net.screen, other_screen, third_screen]
    devices = [net.device, other, third]
    campaigns = [(net.campaign["id"], net.creative_id),
                 (small["id"], small["creatives"][0]["id"]),
                 (None, "house:default"), ("cmp_unknown", "crv_unknown")]
    budgets = {net.campaign["id"]: 500_000, small["id"]: 40}
    sent: list[dict] = []  # every record ever sent, to replay
    stored: set[str] = set()
    now = datetime.now(UTC)

    new_record = st.builds(
        lambda d, c, minutes, seconds, completed: devices[d].record(
            campaigns[c][0], campaigns[c][1], seconds=seconds, completed=completed,
            started_at=now - timedelta(minutes=minutes)),
        st.integers(0, 2), st.integers(0, 3), st.integers(1, 60 * 50),
        st.sampled_from([10.0, 9.5, 9.2, 3.0]), st.booleans())

    @given(data=st.data())
    @settings(max_examples=20, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(data):
        for _ in range(data.draw(st.integers(1, 3))):
            d = data.draw(st.integers(0, 2))
            device = devices[d]
            records = []
            for _ in range(data.draw(st.integers(0, 30))):
                # the same draws whatever was sent before: hypothesis replays them
                replay, pick, record = data.draw(st.tuples(st.booleans(),
                                                           st.integers(0, 10**6), new_record))
                if replay and sent:
                    records.append(sent[pick % len(sent)])
                else:
                    sent.append(record)
                    records.append(record)
            batch = device.batch(records)
            for _ in range(data.draw(st.integers(1, 2))):  # sometimes sent twice
                r = net.upload_pop(batch, device=device)
                assert r.status_code == 200, r.text
                receipt = r.json()
                mine = [x for x in records if x["screen_id"] == device.screen_id]
                new = {x["play_id"] for x in mine} - stored
                assert receipt["accepted"] == len(new)
                assert receipt["duplicates"] == len(mine) - len(new)
                assert {x["code"] for x in receipt["rejected"]} <= {"wrong_screen"}
                assert len(receipt["rejected"]) == len(records) - len(mine)
                stored.update(new)
        check()

    def check():
        with net.app.state.sessionmaker() as session:
            plays = list(session.scalars(select(PopPlay)))
            assert {p.play_id for p in plays} == stored
            assert rollup(session.scalars(select(PopHourly)), "hour") == \
                aggregate(plays, HOUR_MS)
            assert rollup(session.scalars(select(PopDaily)), "day") == aggregate(plays, DAY_MS)
            venue = {s["id"]: s["venue_id"] for s in screens}
            for table, period, ms in ((PopVenueHourly, "hour", HOUR_MS),
                                      (PopVenueDaily, "day", DAY_MS)):
                assert rollup(session.scalars(select(table)), period, lambda r: (r.venue_id,)) \
                    == aggregate(plays, ms, lambda p: (venue[p.screen_id],))
            for table, period, ms in ((PopCampaignHourly, "hour", HOUR_MS),
                                      (PopCampaignDaily, "day", DAY_MS)):
                assert rollup(session.scalars(select(table)), period, lambda r: ()) == \
                    aggregate(plays, ms, lambda p: ())
            totals = {row.campaign_id: [row.plays, row.billable_plays, row.played_ms,
                                        row.impressions_milli, row.spend_cents]
                      for row in session.scalars(select(CampaignDelivery))}
        by_campaign = defaultdict(lambda: [0, 0, 0, 0, 0])
        for p in plays:
            if p.campaign_id in budgets:
                for i, value in enumerate((1, int(p.billable), p.duration_ms,
                                           p.impressions_milli, p.spend_cents)):
                    by_campaign[p.campaign_id][i] += value
        assert totals == dict(by_campaign)
        for campaign_id, budget in budgets.items():
            assert totals.get(campaign_id, [0] * 5)[4] <= budget
        # the same numbers through the API
        r = net.client.get("/v1/reports/delivery", headers=net.admin, params={
            "group_by": "campaign", "from": (now - timedelta(days=3)).isoformat(),
            "to": (now + timedelta(hours=1)).isoformat()})
        rows = {row["campaign_id"]: row for row in r.json()["rows"]}
        assert sum(row["plays"] for row in rows.values()) == len(plays)
        for campaign_id, sums in by_campaign.items():
            assert rows[campaign_id]["spend_cents"] == sums[4]
            assert rows[campaign_id]["impressions"] == sums[3] / 1000

    run()
    # then the small budget runs out for sure, mid-batch; everything still adds up
    last = [net.device.record(small["id"], small["creatives"][0]["id"]) for _ in range(25)]
    assert net.upload_pop(net.device.batch(last)).json()["accepted"] == 25
    stored.update(r["play_id"] for r in last)
    check()
    with net.app.state.sessionmaker() as session:
        spent = session.get(CampaignDelivery, small["id"])
    assert spent is not None and spent.spend_cents == 40
    r = net.client.get("/v1/pop?limit=10000", headers=net.admin)
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert {line["play_id"] for line in lines} == stored
    assert sum(line["spend_cents"] for line in lines if line["campaign_id"] == small["id"]) == 40
