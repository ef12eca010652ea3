"""Proof-of-play ingestion over the API: signed by the paired device's own key, checked record by
record, counted once however often it is sent, and billed by the rules (DESIGN.md, "Proof of
play"; API.md, `POST /v1/device/pop`)."""

from __future__ import annotations

import copy
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import orjson
import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from control_plane.db import make_engine, make_sessionmaker, utcnow
from control_plane.devices.models import Device
from control_plane.events import OutboxEvent
from control_plane.reporting import ingest as ingestion
from control_plane.reporting import service as reporting_service
from control_plane.reporting import store, writer
from shared import topics
from shared.pop import PopBatch, rfc3339_ms, signed_message
from tests import media_samples
from tests.control_plane.reporting.conftest import pair_device
from tests.helpers import error_code, until


def delivery(net, campaign_id=None):
    r = net.client.get(f"/v1/campaigns/{campaign_id or net.campaign['id']}",
                       headers=net.advertiser.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    return {k: body[k] for k in ("plays", "billable_plays", "impressions", "spend_cents")}


def exported(net):
    """Every stored play, as the platform's export shows it, by play id."""
    r = net.client.get("/v1/pop?limit=10000", headers=net.admin)
    assert r.status_code == 200, r.text
    return {line["play_id"]: line for line in map(json.loads, r.text.splitlines())}


def test_a_replayed_batch_counts_nothing_twice(network):
    net, device = network, network.device
    records = [device.record(net.campaign["id"], net.creative_id) for _ in range(4)]
    batch = device.batch(records)

    r = net.upload_pop(batch)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 4, "duplicates": 0, "rejected": []}
    # multiplier 2.5 and CPM 10.00: 4 plays are 10 impressions and 10 cents
    once = delivery(net)
    assert once == {"plays": 4, "billable_plays": 4, "impressions": 10.0, "spend_cents": 10}

    assert net.upload_pop(batch).json() == {"accepted": 0, "duplicates": 4, "rejected": []}
    # the agent re-sends two of them in a new batch, with a new play and one twice
    fresh = device.record(net.campaign["id"], net.creative_id)
    again = device.batch([records[0], fresh, records[1], fresh])
    assert net.upload_pop(again).json() == {"accepted": 1, "duplicates": 3, "rejected": []}
    assert delivery(net) == {"plays": 5, "billable_plays": 5, "impressions": 12.5,
                             "spend_cents": 12}
    assert len(exported(net)) == 5



def test_overlapping_batches_uploaded_at_once_count_each_play_once(network):
    # an agent that lost its receipts sends again while the first uploads are still in
    # flight: uploads wait their turn in the process and the unique play id decides
    net, device = network, network.device
    records = [device.record(net.campaign["id"], net.creative_id) for _ in range(12)]
    batches = [device.batch(records[a:b]) for a, b in ((0, 6), (3, 9), (6, 12), (0, 12))] * 2
    with ThreadPoolExecutor(max_workers=len(batches)) as pool:
        receipts = [r.json() for r in pool.map(net.upload_pop, batches)]
    assert all(r["rejected"] == [] for r in receipts)
    assert sum(r["accepted"] for r in receipts) == 12
    assert sum(r["accepted"] + r["duplicates"] for r in receipts) == 60
    assert delivery(net) == {"plays": 12, "billable_plays": 12, "impressions": 30.0,
                             "spend_cents": 30}
    assert len(exported(net)) == 12

def test_uploads_waiting_to_be_written_hold_no_database_connection(network):
    # a process keeps many uploads in flight; those checked and waiting for the write lock
    # must not hold pooled connections, or the one checking next waits for a connection while
    # the one writing waits for it: a pool of two serves twelve uploads at once
    net, device = network, network.device
    engine = make_engine(net.app.state.settings.database_url, pool_size=2, max_overflow=0,
                         pool_timeout=10)
    sessions, net.app.state.sessionmaker = net.app.state.sessionmaker, make_sessionmaker(engine)
    try:
        batches = [device.batch([device.record(net.campaign["id"], net.creative_id)
                                 for _ in range(3)]) for _ in range(12)]
        with ThreadPoolExecutor(max_workers=len(batches)) as pool:
            receipts = list(pool.map(net.upload_pop, batches))
    finally:
        net.app.state.sessionmaker = sessions
        engine.dispose()
    assert [r.status_code for r in receipts] == [200] * 12, receipts[0].text
    assert sum(r.json()["accepted"] for r in receipts) == 36
    assert delivery(net)["plays"] == 36


def _pending(net, body):
    """A batch checked as ingestion checks it, ready for the write phase."""
    with net.app.state.sessionmaker() as session:
        device = session.get(Device, net.device.device_id)
        batch = PopBatch.model_validate(body)
        message = ingestion._verified_message(batch, device)
        policy = reporting_service.policy(net.app.state.settings)
        return writer._Pending(ingestion.Batch(session, device, batch, message, policy,
                                               utcnow()), "http")


def test_batches_written_in_one_transaction_count_as_if_one_after_another(network):
    # group commit: the batches waiting for the write lock go in one transaction; the second
    # and third repeat plays of those before them in the same transaction
    net, device = network, network.device
    records = [device.record(net.campaign["id"], net.creative_id) for _ in range(9)]
    group = [_pending(net, device.batch(records[a:b])) for a, b in ((0, 6), (3, 9), (0, 9))]
    with net.app.state.sessionmaker() as session:
        writer._write_group(session, group)
    assert [(p.result, p.error) for p in group] == [((6, 0, []), None), ((3, 3, []), None),
                                                    ((0, 9, []), None)]
    assert delivery(net) == {"plays": 9, "billable_plays": 9, "impressions": 22.5,
                             "spend_cents": 22}
    assert len(exported(net)) == 9


def test_a_batch_that_fails_in_a_group_fails_alone(network, monkeypatch):
    net, device = network, network.device
    group = [_pending(net, device.batch([device.record(net.campaign["id"], net.creative_id)
                                         for _ in range(2)])) for _ in range(3)]
    real_store = store._store

    def failing(sql, cursor, batch, *args):
        if batch is group[1].batch:
            raise RuntimeError("disk on fire")
        real_store(sql, cursor, batch, *args)

    monkeypatch.setattr(store, "_store", failing)
    with net.app.state.sessionmaker() as session:
        writer._write_group(session, group)
    assert [p.result for p in group] == [(2, 0, []), None, (2, 0, [])]
    assert isinstance(group[1].error, RuntimeError)
    assert delivery(net)["plays"] == 4 and len(exported(net)) == 4


def test_a_forged_signature_rejects_the_whole_batch(network):
    net, device = network, network.device
    records = [device.record(net.campaign["id"], net.creative_id) for _ in range(3)]
    forged = device.batch(records, key=Ed25519PrivateKey.generate())
    r = net.upload_pop(forged)
    assert r.status_code == 403 and error_code(r) == "bad_signature"

    tampered = copy.deepcopy(device.batch(records))
    tampered["records"][0]["duration_ms"] = 30_000  # changed after signing
    r = net.upload_pop(tampered)
    assert r.status_code == 403 and error_code(r) == "bad_signature"

    # the same bytes in another spelling are other bytes: the signature covers them as sent
    respelled = copy.deepcopy(device.batch(records))
    respelled["records"][1]["started_at"] = respelled["records"][1]["started_at"] \
        .replace("Z", "+00:00")
    assert error_code(net.upload_pop(respelled)) == "bad_signature"

    assert net.upload_pop(device.batch(records)).json()["accepted"] == 3
    assert delivery(net)["plays"] == 3


def test_another_devices_signature_is_rejected(network):
    net, device = network, network.device
    _, other = net.new_screen()
    records = [device.record(net.campaign["id"], net.creative_id)]
    # the other device signs as itself, but the token says it is this device's upload
    signed_by_other = other.batch(records, key=other.key, device_id=other.device_id)
    r = net.upload_pop(signed_by_other, device=device)
    assert r.status_code == 403 and error_code(r) == "bad_signature"
    # this device's own key, but claiming to be the other device
    claims_other = device.batch(records, device_id=other.device_id)
    assert error_code(net.upload_pop(claims_other)) == "bad_signature"
    # without a device token (or with a person's token) there is nobody to verify for
    r = net.client.post("/v1/device/pop", json=device.batch(records))
    assert r.status_code == 401
    r = net.client.post("/v1/device/pop", json=device.batch(records),
                        headers=net.venue_owner.headers)
    assert r.status_code == 401 and error_code(r) == "invalid_device_token"
    assert delivery(net)["plays"] == 0


def test_a_record_for_another_screen_is_rejected(network):
    net, device = network, network.device
    other_screen, other = net.new_screen()
    theirs = device.record(net.campaign["id"], net.creative_id)
    theirs["screen_id"] = other_screen["id"]
    mine = device.record(net.campaign["id"], net.creative_id)
    r = net.upload_pop(device.batch([theirs, mine]))
    assert r.json() == {"accepted": 1, "duplicates": 0,
                        "rejected": [{"play_id": theirs["play_id"], "code": "wrong_screen"}]}
    # the other device, signing properly, may not report plays of this screen either
    r = net.upload_pop(other.batch([device.record(net.campaign["id"], net.creative_id)]),
                       device=other)
    assert r.json()["rejected"][0]["code"] == "wrong_screen"
    assert set(exported(net)) == {mine["play_id"]}


def test_clock_sanity(network):
    net, device = network, network.device
    now = datetime.now(UTC)
    cid, crid = net.campaign["id"], net.creative_id

    def at(start, seconds=10.0, **changes):
        return device.record(cid, crid, started_at=start, seconds=seconds, **changes)

    slightly_ahead = at(now + timedelta(seconds=30))  # within the 120 s of allowed skew
    future = at(now + timedelta(minutes=10))
    ends_in_future = at(now - timedelta(seconds=5), seconds=200, expected_ms=200_000)
    backwards = at(now - timedelta(minutes=5))
    backwards["ended_at"] = rfc3339_ms(now - timedelta(minutes=6))
    too_long = at(now - timedelta(minutes=3), seconds=60)  # 60 s of a 10 s creative
    long_span = at(now - timedelta(minutes=4))
    long_span["ended_at"] = rfc3339_ms(now - timedelta(minutes=2))  # duration_ms says 10 s
    ancient = at(now - timedelta(days=400))
    naive = at(now - timedelta(minutes=7))
    naive["started_at"] = naive["started_at"].removesuffix("Z")
    garbage = {"play_id": "not-a-record", "screen_id": device.screen_id}
    nameless = {"nothing": "here"}
    records = [slightly_ahead, future, ends_in_future, backwards, too_long, long_span, ancient,
               naive, garbage, nameless]

    r = net.upload_pop(device.batch(records))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 3 and r.json()["duplicates"] == 0
    assert {x["play_id"]: x["code"] for x in r.json()["rejected"]} == {
        future["play_id"]: "in_the_future", ends_in_future["play_id"]: "in_the_future",
        backwards["play_id"]: "invalid_record", ancient["play_id"]: "too_old",
        naive["play_id"]: "invalid_record", "not-a-record": "invalid_record",
        None: "invalid_record"}
    stored = exported(net)
    assert set(stored) == {slightly_ahead["play_id"], too_long["play_id"], long_span["play_id"]}
    assert stored[slightly_ahead["play_id"]]["billable"] and not stored[
        slightly_ahead["play_id"]]["flag"]
    # a play that ran over its length (by its duration, or by its start and end) is kept, not
    # lost, but counts for nothing, and says why
    for overran, by in ((too_long, "50.0"), (long_span, "110.0")):
        play = stored[overran["play_id"]]
        assert not play["billable"] and play["impressions"] == 0, play
        assert play["flag"] == f"ran {by} s over its 10 s", play

    # sent again before its time, it is still refused, and nothing was stored meanwhile
    r = net.upload_pop(device.batch([future]))
    assert r.json()["rejected"] == [{"play_id": future["play_id"], "code": "in_the_future"}]


def test_what_counts(network):
    net, device = network, network.device
    cid, crid = net.campaign["id"], net.creative_id
    full = device.record(cid, crid)
    just_enough = device.record(cid, crid, seconds=9.5)  # expected − 500 ms
    short = device.record(cid, crid, seconds=9.49)
    crashed = device.record(cid, crid, seconds=3, completed=False)
    house = device.record(None, "house:default", seconds=10)
    stranger = device.record("cmp_nobody", "crv_nobody")
    wrong_creative = device.record(cid, "crv_of_another_campaign")
    lies_about_length = device.record(cid, crid, seconds=2, expected_ms=2_000)
    before_flight = device.record(cid, crid,
                                  started_at=datetime.now(UTC) - timedelta(days=3))
    r = net.upload_pop(device.batch([full, just_enough, short, crashed, house, stranger,
                                     wrong_creative, lies_about_length, before_flight]))
    assert r.json() == {"accepted": 9, "duplicates": 0, "rejected": []}

    plays = exported(net)
    billable = {p for p, line in plays.items() if line["billable"]}
    assert billable == {full["play_id"], just_enough["play_id"]}
    assert plays[house["play_id"]]["flag"] is None  # house content: stored, never billed
    assert plays[crashed["play_id"]]["completed"] is False
    assert plays[stranger["play_id"]]["flag"] == "unknown campaign"
    assert plays[wrong_creative["play_id"]]["flag"] == \
        "not an approved creative of the campaign"
    assert plays[lies_about_length["play_id"]]["flag"] == \
        "expected length 2000 ms is not the creative's (10000 ms)"
    assert plays[before_flight["play_id"]]["flag"] == "outside the campaign's flight"
    # the campaign's own plays are counted; only the billable ones make impressions and spend
    assert delivery(net) == {"plays": 7, "billable_plays": 2, "impressions": 5.0,
                             "spend_cents": 5}


def test_plays_of_a_paused_or_untargeted_campaign_are_flagged(network):
    net, device = network, network.device
    elsewhere = net.approved_campaign(net.advertiser, name="Elsewhere", targeting={
        "geo": {"lat": 43.3, "lon": 5.4, "radius_km": 5}})
    cid = net.campaign["id"]
    net.client.post(f"/v1/campaigns/{cid}/pause", headers=net.advertiser.headers)
    paused = device.record(cid, net.creative_id)
    far = device.record(elsewhere["id"], elsewhere["creatives"][0]["id"])
    assert net.upload_pop(device.batch([paused, far])).json()["accepted"] == 2
    plays = exported(net)
    assert plays[paused["play_id"]]["flag"] == "campaign paused"
    assert plays[far["play_id"]]["flag"].startswith("outside the geo radius")
    assert not any(line["billable"] for line in plays.values())


def test_outside_opening_hours_or_dayparts_is_flagged(network):
    net = network
    owner = net.venue_owner
    # a venue open on no day at all, and a campaign that only runs on no day of this week
    venue = net.client.post("/v1/venues", headers=owner.headers, json={
        "name": "Closed", "lat": 48.85, "lon": 2.35, "timezone": "Europe/Paris",
        "venue_type_id": 1, "opening_hours": {}}).json()
    screen = net.client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                             json={"name": "s", "width_px": 1920, "height_px": 1080}).json()
    closed = pair_device(net.client, owner, screen["id"])
    now = datetime.now(UTC)
    other_days = [d for i, d in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
                  if abs(i - now.weekday()) > 1 and abs(i - now.weekday()) < 6]
    late = net.approved_campaign(net.advertiser, name="Weekday lunch", dayparts=[
        {"weekdays": other_days, "start": "12:00", "end": "13:00"}])
    r = net.upload_pop(closed.batch([closed.record(net.campaign["id"], net.creative_id)]),
                       device=closed)
    assert r.json()["accepted"] == 1
    r = net.upload_pop(net.device.batch([net.device.record(late["id"],
                                                           late["creatives"][0]["id"])]))
    assert r.json()["accepted"] == 1
    flags = {line["flag"] for line in exported(net).values()}
    assert flags == {"outside the venue's opening hours", "outside the campaign's dayparts"}


def test_impressions_use_the_multiplier_in_effect_when_the_play_started(network):
    net, device = network, network.device
    cid, crid = net.campaign["id"], net.creative_id
    before = datetime.now(UTC) - timedelta(minutes=10)
    r = net.client.patch(f"/v1/screens/{device.screen_id}", headers=net.venue_owner.headers,
                         json={"audience_multiplier": 4.0, "audience_source": "camera count"})
    assert r.status_code == 200, r.text
    # an offline screen's play from before the change arrives after it: the old multiplier
    late = device.record(cid, crid, started_at=before)
    current = device.record(cid, crid, started_at=datetime.now(UTC))  # ends a little ahead
    assert net.upload_pop(device.batch([late, current])).json()["accepted"] == 2
    plays = exported(net)
    assert plays[late["play_id"]]["impressions"] == 2.5
    assert plays[current["play_id"]]["impressions"] == 4.0
    assert delivery(net)["impressions"] == 6.5


def test_spend_stops_at_the_budget(network):
    net, device = network, network.device
    small = net.approved_campaign(net.advertiser, name="Small", budget_cents=10,
                                  cpm_cents=1_000)
    crid = small["creatives"][0]["id"]
    # 2.5 impressions at 10.00 per thousand: 2.5 cents a play, 10 cents after 4 plays
    records = [device.record(small["id"], crid) for _ in range(7)]
    assert net.upload_pop(device.batch(records)).json()["accepted"] == 7
    assert delivery(net, small["id"]) == {"plays": 7, "billable_plays": 7,
                                          "impressions": 17.5, "spend_cents": 10}
    spends = [line["spend_cents"] for line in exported(net).values()]
    assert sum(spends) == 10 and sorted(spends) == [0, 0, 0, 2, 2, 3, 3]
    r = net.client.get(f"/v1/reports/delivery?campaign_id={small['id']}",
                       headers=net.advertiser.headers)
    assert r.json()["totals"][0]["spend_cents"] == 10

    # the scheduler's pacing sees the budget spent: no more slots on the screen, once the
    # rebuild that the spending batch asked for has published (the timeline shows the plan
    # published, or a fresh one while the request waits; a build under way shows the last)
    def excluded() -> bool:
        r = net.client.get(f"/v1/screens/{device.screen_id}/timeline",
                           headers=net.venue_owner.headers)
        return "budget spent" in r.json()["exclusions"].get(small["id"], "")

    until(excluded, 30, "the budget's exclusion on the timeline")


def test_more_plays_in_an_hour_than_the_loop_holds_are_rejected(network):
    net, device = network, network.device
    hour = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    cid, crid = net.campaign["id"], net.creative_id
    # a 10 s creative can play at most 360 times an hour (+1 for the hour's last instant)
    records = [device.record(cid, crid, started_at=hour + timedelta(seconds=i * 9.9))
               for i in range(364)]
    first = net.upload_pop(device.batch(records[:300])).json()
    assert first == {"accepted": 300, "duplicates": 0, "rejected": []}
    second = net.upload_pop(device.batch(records[299:])).json()
    assert second["accepted"] == 61 and second["duplicates"] == 1
    assert [x["play_id"] for x in second["rejected"]] == [r["play_id"] for r in records[361:]]
    assert {x["code"] for x in second["rejected"]} == {"too_many_plays"}
    # house content is limited by slots too, separately
    houses = [device.record(None, "house:default", started_at=hour + timedelta(seconds=i))
              for i in range(10)]
    assert net.upload_pop(device.batch(houses)).json()["accepted"] == 10


def test_a_batch_over_mqtt_counts_like_one_over_http(broker_network):
    net, device = broker_network, broker_network.device
    records = [device.record(net.campaign["id"], net.creative_id) for _ in range(3)]
    batch = device.batch(records)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.username_pw_set(device.mqtt["username"], device.mqtt["password"])
    host, port = device.mqtt["url"].removeprefix("mqtt://").split(":")
    publisher.connect(host, int(port))
    publisher.loop_start()
    try:
        publisher.publish(topics.pop(device.screen_id), json.dumps(batch), qos=1) \
            .wait_for_publish(10)
        # a forged batch on the same topic changes nothing
        forged = device.batch([device.record(net.campaign["id"], net.creative_id)],
                              key=Ed25519PrivateKey.generate())
        publisher.publish(topics.pop(device.screen_id), json.dumps(forged), qos=1) \
            .wait_for_publish(10)
        deadline = time.monotonic() + 30
        while delivery(net)["plays"] < 3:
            assert time.monotonic() < deadline, "the MQTT batch never arrived"
            time.sleep(0.05)
    finally:
        publisher.loop_stop()
        publisher.disconnect()
    # the agent uploads the same batch over HTTP to get its receipt: all duplicates
    assert net.upload_pop(batch).json() == {"accepted": 0, "duplicates": 3, "rejected": []}
    assert delivery(net)["plays"] == 3
    assert {line["play_id"] for line in exported(net).values()} == \
        {r["play_id"] for r in records}


def test_a_video_counts_for_its_own_length(network):
    net, device = network, network.device
    client, advertiser = net.client, net.advertiser
    with media_samples.mp4(net.tmp_path, seconds=3.0).open("rb") as f:
        media = client.post("/v1/media", headers=advertiser.headers,
                            files={"file": ("ad.mp4", f)}).json()
    deadline = time.monotonic() + 120
    while (media := client.get(f"/v1/media/{media['id']}",
                               headers=advertiser.headers).json())["status"] != "ready":
        assert time.monotonic() < deadline and media["status"] != "failed", media
        time.sleep(0.1)
    url = f"/v1/campaigns/{net.campaign['id']}"
    # a 3 s video given a 15 s slot: the agent expects the file's own length
    creative = client.post(f"{url}/creatives", headers=advertiser.headers,
                           json={"media_id": media["id"], "duration_s": 15}).json()
    client.post(f"{url}/submit", headers=advertiser.headers)
    assert client.post(f"{url}/approve", headers=net.admin).status_code == 200
    file_ms = max(r.get("duration_ms") or 0 for r in media["renditions"]) or 3000
    played = device.record(net.campaign["id"], creative["id"], seconds=file_ms / 1000,
                           expected_ms=file_ms)
    slot = device.record(net.campaign["id"], creative["id"], seconds=15, expected_ms=15_000)
    assert net.upload_pop(device.batch([played, slot])).json()["accepted"] == 2
    plays = exported(net)
    assert plays[played["play_id"]]["billable"] and plays[slot["play_id"]]["billable"]


def test_malformed_uploads_say_why(network):
    net, device = network, network.device
    r = net.client.post("/v1/device/pop", content=b"{not json", headers={
        **device.headers, "Content-Type": "application/json"})
    assert r.status_code == 422 and error_code(r) == "malformed_json"
    batch = device.batch([device.record(net.campaign["id"], net.creative_id)])
    del batch["signature"]
    r = net.upload_pop(batch)
    assert r.status_code == 422 and error_code(r) == "validation_error"
    assert ["body", "signature"] in [d["loc"] for d in r.json()["error"]["details"]]
    too_many = device.batch([device.record(None, "house:default") for _ in range(1001)])
    assert net.upload_pop(too_many).status_code in (413, 422)
    garbage_signature = {**device.batch([]), "signature": "not base64 at all!"}
    assert error_code(net.upload_pop(garbage_signature)) == "bad_signature"
    # an empty batch, properly signed, is simply nothing
    assert net.upload_pop(device.batch([])).json() == {"accepted": 0, "duplicates": 0,
                                                       "rejected": []}


# what a JSON request can hold, floats aside: the values a device's records are made of
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=100, deadline=None)
@given(records=st.lists(st.dictionaries(st.text(), _JSON, max_size=6), max_size=5),
       batch_id=st.text(max_size=64), device_id=st.text(max_size=40))
def test_the_fast_signed_bytes_are_the_published_ones(records, batch_id, device_id):
    # ingestion rebuilds the signed bytes with orjson (ingest._verified_message); for all a
    # device sends but floats they must be signed_message's, byte for byte
    fast = orjson.dumps({"batch_id": batch_id, "device_id": device_id, "records": records},
                        option=orjson.OPT_SORT_KEYS)
    assert fast == signed_message(batch_id, device_id, records)


def test_records_written_otherwise_by_orjson_still_verify(network):
    # floats and integers beyond 64 bits, in fields the server does not know: orjson writes
    # the first otherwise (1e16 for 1e+16) and refuses the second; the check falls back to the
    # published form, and the stored batch is the bytes that were signed
    net, device = network, network.device
    record = device.record(net.campaign["id"], net.creative_id,
                           meta={"ratio": 1e16, "tiny": 5e-324, "serial": 2**70,
                                 "note": "é\u2028"})
    batch = device.batch([record])
    assert net.upload_pop(batch).json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    play = exported(net)[record["play_id"]]
    stored = net.client.get(f"/v1/pop/batches/{play['batch']}", headers=net.admin).json()
    assert stored["verifies"] is True
    assert stored["message"].encode() == signed_message(batch["batch_id"], device.device_id,
                                                        [record])
    # and a forgery is still one
    forged = {**batch, "signature": device.batch([record])["signature"]}
    assert error_code(net.upload_pop(forged)) == "bad_signature"


def test_the_batch_that_spends_a_budget_asks_for_new_playlists_once(network):
    net, device = network, network.device
    small = net.approved_campaign(net.advertiser, name="Tiny", budget_cents=5,
                                  cpm_cents=1_000)
    crid = small["creatives"][0]["id"]

    def spent_events() -> list[dict]:
        with net.app.state.sessionmaker() as session:
            return [e.payload for e in session.scalars(select(OutboxEvent).where(
                OutboxEvent.kind == "campaign.changed"))
                if e.payload["change"] == "budget_spent"
                and e.payload["campaign_id"] == small["id"]]

    first = [device.record(small["id"], crid)]  # 2.5 of the 5 cents
    assert net.upload_pop(device.batch(first)).json()["accepted"] == 1
    assert spent_events() == []
    rest = [device.record(small["id"], crid) for _ in range(3)]
    assert net.upload_pop(device.batch(rest)).json()["accepted"] == 3
    assert len(spent_events()) == 1  # the screens drop it at once, not at the hourly build
    more = [device.record(small["id"], crid)]
    assert net.upload_pop(device.batch(more)).json()["accepted"] == 1
    assert len(spent_events()) == 1
