"""A device clock that went wrong after the device last measured its offset (or before it could:
a unit booted offline an hour off): the batch's `device_time` against its arrival shows the
error, and the server moves the plays by it, so they are neither refused as in the future nor
counted in the wrong hour. A clock the device corrected itself is left as it said."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from shared.pop import rfc3339_ms

HOUR = timedelta(hours=1)


def exported(net):
    r = net.client.get("/v1/pop?limit=1000", headers=net.admin)
    assert r.status_code == 200, r.text
    return {x["play_id"]: x for x in map(json.loads, r.text.splitlines()) if "play_id" in x}


def by_hour(net):
    r = net.client.get("/v1/reports/delivery", headers=net.advertiser.headers,
                       params={"group_by": "hour", "from": rfc3339_ms(datetime.now(UTC) - 3 * HOUR),
                               "to": rfc3339_ms(datetime.now(UTC) + 3 * HOUR)})
    assert r.status_code == 200, r.text
    return {row["hour"]: row["plays"] for row in r.json()["rows"]}


def hour_of(instant: datetime) -> str:
    return instant.replace(minute=0, second=0, microsecond=0).isoformat().replace("+00:00", "Z")


def test_a_clock_an_hour_off_is_corrected_by_the_batch_and_one_the_device_corrected_is_not(
        network):
    net, device = network, network.device
    true_start = datetime.now(UTC) - timedelta(seconds=25)
    # the unit's clock is an hour ahead and its saved offset (0) says nothing of it
    records = [device.record(net.campaign["id"], net.creative_id,
                             started_at=true_start + HOUR + timedelta(seconds=11 * n),
                             clock_offset_ms=0) for n in range(2)]
    batch = device.batch(records) | {"device_time": (datetime.now(UTC) + HOUR).isoformat()}
    r = net.upload_pop(batch)
    assert r.json() == {"accepted": 2, "duplicates": 0, "rejected": []}, r.text
    stored = exported(net)
    for n, record in enumerate(records):
        got = stored[record["play_id"]]
        started = datetime.fromisoformat(got["started_at"])
        assert abs(started - (true_start + timedelta(seconds=11 * n))) < timedelta(seconds=2)
        assert abs(got["clock_offset_ms"] + 3_600_000) < 2_000  # the offset that was applied
        assert got["duration_ms"] == 10_000
    assert sum(by_hour(net).values()) == 2
    assert set(by_hour(net)) <= {hour_of(true_start), hour_of(datetime.now(UTC))}
    # what an agent older than `device_time` gets: such plays refused, and so lost
    late = device.record(net.campaign["id"], net.creative_id, clock_offset_ms=0,
                         started_at=datetime.now(UTC) + HOUR - timedelta(seconds=20))
    r = net.upload_pop(device.batch([late]))
    assert r.json()["rejected"] == [{"play_id": late["play_id"], "code": "in_the_future"}]

    # a clock the device corrected itself is left as it said
    record = device.record(net.campaign["id"], net.creative_id, clock_offset_ms=-3_600_000)
    # its own clock is an hour ahead, and the offset it measured says so: the batch took 1.5 s
    sent = datetime.now(UTC) + HOUR - timedelta(seconds=1.5)
    r = net.upload_pop(device.batch([record]) | {"device_time": sent.isoformat()})
    assert r.json()["accepted"] == 1, r.text
    got = exported(net)[record["play_id"]]
    assert got["started_at"] == record["started_at"]
    assert got["clock_offset_ms"] == -3_600_000
