"""The events of issue 17 (item 5) reach the people they concern, once: a device paired, an
upload that failed, payouts sent or refused (recorded with their change, delivered by the app's
worker), and what the hourly checks find (a flight's edges, budget and impressions milestones,
the weekly digest, screens offline and back, the platform unwell), however often they run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from control_plane.db import utcnow
from control_plane.devices.models import Device
from control_plane.events import OutboxEvent
from control_plane.media import processing
from control_plane.notifications import checks
from control_plane.payments.exceptions import ProviderRefused
from control_plane.revenue import payouts
from control_plane.revenue.models import Payout, PayoutStatus
from tests.control_plane.billing.test_close import close, hour_floor, plays, upload
from tests.control_plane.notifications.test_notifications import of_kind
from tests.control_plane.reporting.conftest import Network, make_network
from tests.helpers import until


@pytest.fixture
def net(settings: Any, tmp_path: Any) -> Iterator[Network]:
    """The proof-of-play network, its payouts run when asked, from 3.00."""
    with make_network(settings, tmp_path, payout_minimum_cents=300,
                      payout_auto_run=False) as found:
        yield found


def kinds_of(net: Network, headers: dict[str, str]) -> list[str]:
    r = net.client.get("/v1/notifications", headers=headers)
    assert r.status_code == 200, r.text
    return [n["kind"] for n in r.json()["notifications"]]


def settled(net: Network) -> bool:
    """Every recorded event was delivered (so what was not told will not be)."""
    with net.app.state.sessionmaker() as session:
        return session.scalar(select(OutboxEvent.id).where(
            OutboxEvent.status == "pending").limit(1)) is None


@dataclass
class Refusing:
    """A payment provider that refuses every transfer."""

    name: str = "offline"

    def create_transfer(self, **_: Any) -> str:
        raise ProviderRefused("the account cannot receive transfers",
                              provider_code="account_invalid")


def test_a_pairing_a_failed_upload_and_payouts_are_told_to_their_org(net: Network):
    owner, advertiser = net.venue_owner.headers, net.advertiser.headers
    [paired] = until(lambda: of_kind(net, owner, "device.paired"), what="the pairing")
    assert "Front" in paired["title"] and paired["link"] == f"/v1/screens/{net.screen['id']}"
    assert "device.paired" not in kinds_of(net, advertiser)

    # processing fails for good (the job's last try, then a late webhook says so again)
    context = net.app.state.jobs.context
    media_id = net.upload(net.client, net.advertiser)
    for _ in range(2):
        processing.mark_failed(context, media_id, "ffmpeg: moov atom not found")
    [failed] = until(lambda: of_kind(net, advertiser, "media.failed"), what="the failure")
    assert "moov atom" in failed["body"] and failed["link"] == f"/v1/media/{media_id}"

    # a payout sent: billed, paid, onboarded, run
    start = hour_floor(datetime.now(UTC)) - timedelta(hours=6)
    upload(net, plays(net, start + timedelta(minutes=1), 240))
    r = close(net, start, start + timedelta(hours=2))
    assert r.status_code == 200, r.text
    [invoice] = [i for i in net.client.get("/v1/invoices", headers=advertiser).json()
                 ["invoices"] if i["cycle_id"] == r.json()["id"]]
    assert net.client.post(f"/v1/invoices/{invoice['id']}/mark-paid",
                           headers=net.admin).status_code == 200
    assert net.client.post("/v1/payouts/onboarding-link", headers=owner).status_code == 200
    body = {"period_start": start.isoformat(),
            "period_end": (start + timedelta(hours=2)).isoformat()}
    for _ in range(2):  # a rerun pays nothing more and tells nothing more
        assert net.client.post("/v1/payouts/run", headers=net.admin,
                               json=body).status_code == 200
    [sent] = until(lambda: of_kind(net, owner, "payout.sent"), what="the payout")
    assert "3.60 EUR" in sent["title"] and sent["link"] == "/v1/payouts"

    # a payout the provider refuses
    with net.app.state.sessionmaker() as session:
        payout = Payout(venue_org_id=net.venue_owner.org_id, cycle_id=invoice["cycle_id"],
                        currency="USD", amount_cents=500, status=PayoutStatus.pending,
                        transfer_group="t")
        session.add(payout)
        session.commit()
        payouts._transfer(session, Refusing(), payout)  # type: ignore[arg-type]
    [refused] = until(lambda: of_kind(net, owner, "payout.failed"), what="the refusal")
    assert "5.00 USD" in refused["title"] and "cannot receive" in refused["body"]
    until(lambda: settled(net), what="every event delivered")
    assert kinds_of(net, owner).count("payout.sent") == 1
    assert kinds_of(net, advertiser).count("media.failed") == 1
    assert not {"payout.sent", "payout.failed"} & set(kinds_of(net, advertiser))


def test_flights_milestones_and_the_weekly_digest_are_told_once(
        net: Network, monkeypatch: pytest.MonkeyPatch):
    context = net.app.state.jobs.context
    advertiser = net.advertiser.headers
    small = net.approved_campaign(net.advertiser, name="Small", budget_cents=20,
                                  end_at=(datetime.now(UTC) + timedelta(days=1)).isoformat())
    for _ in range(2):
        checks.campaign_edges(context)
    started = of_kind(net, advertiser, "campaign.started")
    assert sorted(n["link"] for n in started) == sorted(
        f"/v1/campaigns/{c['id']}" for c in (net.campaign, small))
    end = datetime.fromisoformat(small["end_at"])
    assert checks.campaign_edges(context, now=end + timedelta(hours=1)) == 1
    assert checks.campaign_edges(context, now=end + timedelta(hours=2)) == 0
    [ended] = of_kind(net, advertiser, "campaign.ended")
    assert "Small" in ended["title"] and "plays" in ended["body"]
    assert "campaign.started" not in kinds_of(net, net.venue_owner.headers)

    # 4 plays × 2.5 impressions at 10.00 CPM: 10 of the 20 cents; then all of them
    monkeypatch.setattr(checks, "IMPRESSION_MILESTONES", (5, 1_000))
    device = net.device
    net.upload_pop(device.batch([device.record(small["id"], small["creatives"][0]["id"])
                                 for _ in range(4)]))
    for _ in range(2):
        checks.delivery_milestones(context)
    assert [n["title"] for n in of_kind(net, advertiser, "campaign.budget")] == [
        "“Small” spent 50 % of its budget"]
    [milestone] = of_kind(net, advertiser, "campaign.impressions")
    assert "passed 5 impressions" in milestone["title"]
    net.upload_pop(device.batch([device.record(small["id"], small["creatives"][0]["id"])
                                 for _ in range(4)]))
    for _ in range(2):
        checks.delivery_milestones(context)
    budget = [n["title"] for n in of_kind(net, advertiser, "campaign.budget")]
    assert len(budget) == 2 and "100 %" in budget[0]

    # the week's digest, on the Monday after, from 08:00 UTC, once
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today + timedelta(days=7 - today.weekday())
    assert checks.weekly_digest(context, now=monday + timedelta(hours=7)) == 0
    assert checks.weekly_digest(context, now=monday + timedelta(days=1, hours=9)) == 0
    assert checks.weekly_digest(context, now=monday + timedelta(hours=8)) == 1
    assert checks.weekly_digest(context, now=monday + timedelta(hours=9)) == 0
    [digest] = of_kind(net, advertiser, "report.weekly")
    assert "Small: 8 plays, 20 impressions, 0.20 EUR" in digest["body"]
    assert "report.weekly" not in kinds_of(net, net.venue_owner.headers)


def _last_seen(net: Network, ago: timedelta) -> datetime:
    with net.app.state.sessionmaker() as session:
        device = session.scalars(select(Device).where(Device.id == net.device.device_id)).one()
        device.last_seen_at = utcnow() - ago
        session.commit()
        return device.last_seen_at


def _heartbeat(net: Network) -> None:
    r = net.client.post("/v1/device/heartbeat", headers=net.device.headers,
                        json={"sent_at": datetime.now(UTC).isoformat(),
                              "agent_version": "0.1.0"})
    assert r.status_code == 200, r.text


def test_a_screen_offline_is_told_once_per_outage_and_back_once(net: Network):
    context = net.app.state.jobs.context
    owner = net.venue_owner.headers
    _heartbeat(net)
    assert checks.screens_offline(context) == 0  # heard from just now

    # 20 minutes without a word: one alert, however often it is checked and however long
    _last_seen(net, timedelta(minutes=20))
    assert checks.screens_offline(context) == 1
    assert checks.screens_offline(context) == 0
    assert checks.screens_offline(context, now=utcnow() + timedelta(hours=5)) == 0
    [offline] = of_kind(net, owner, "screen.offline")
    assert "Front" in offline["title"] and offline["link"] == f"/v1/screens/{net.screen['id']}"
    assert "screen.offline" not in kinds_of(net, net.advertiser.headers)
    # heard from again (too soon for a `ScreenBack`): the check says it is back, once
    _heartbeat(net)
    checks.screens_offline(context)
    checks.screens_offline(context)
    assert len(of_kind(net, owner, "screen.online")) == 1

    # away two hours, never alerted: back without a word
    _last_seen(net, timedelta(hours=2))
    _heartbeat(net)
    until(lambda: settled(net), what="the ScreenBack delivered")
    assert len(of_kind(net, owner, "screen.online")) == 1
    # away two hours and alerted: its `ScreenBack` says it is back, once
    _last_seen(net, timedelta(hours=2))
    assert checks.screens_offline(context) == 1
    _heartbeat(net)
    until(lambda: len(of_kind(net, owner, "screen.online")) == 2, what="back online")
    checks.screens_offline(context)
    assert len(of_kind(net, owner, "screen.online")) == 2
    assert len(of_kind(net, owner, "screen.offline")) == 2


@dataclass
class Bridge:
    """An MQTT bridge that lost its broker."""

    connected: threading.Event

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1,
                retain: bool = False, wait_s: float | None = None) -> bool:
        return False


def test_an_unwell_platform_is_told_to_super_admins_once(net: Network):
    context = net.app.state.jobs.context
    assert checks.platform_health(context) == []  # no bridge in this process: nothing to say
    context.use_bridge(Bridge(threading.Event()))
    try:
        for _ in range(2):
            assert checks.platform_health(context) == ["broker"]
    finally:
        context.use_bridge(None)
    # a probe that waited 11 minutes for a worker; the probes queued above did not wait
    for _ in range(2):
        checks.queue_probe(context, {"asked_at": (utcnow() - timedelta(minutes=11))
                                     .isoformat()})
    titles = sorted(n["title"] for n in of_kind(net, net.admin, "platform.unhealthy"))
    assert titles == ["ADSBIN: the broker is unhealthy", "ADSBIN: the job queue is unhealthy"]
    assert "platform.unhealthy" not in kinds_of(net, net.venue_owner.headers)
