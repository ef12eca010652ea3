"""The schedule worker end to end: approve → playlist in storage (local and S3) → retained MQTT
message on a real Mosquitto → GET /v1/device/playlist 200 then 304; pause → a new version
without the campaign."""

from __future__ import annotations

import json
import queue
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from control_plane.app import create_app
from control_plane.orgs import service as orgs_service
from control_plane.scheduling import publication
from shared import topics
from shared.playlist import Playlist
from tests import media_samples
from tests.control_plane.devices.test_pairing import ask_code
from tests.helpers import PASSWORD, bearer, login, signup, until, with_settings
from tests.live import free_port

ALWAYS_OPEN = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat",
                                                  "sun")}


@pytest.fixture(params=["local", "s3"])
def stack(request, settings):
    changes = {"run_worker": True, "run_broker": True, "mqtt_port": free_port()}
    if request.param == "s3":
        changes |= {"storage_url": f"s3://{request.getfixturevalue('s3_bucket')}",
                    "s3_endpoint_url": request.getfixturevalue("moto_s3")}
    app = create_app(with_settings(settings, **changes))
    with TestClient(app) as client:
        yield app, client




def test_approve_publish_poll_pause(stack, tmp_path):
    app, client = stack
    owner = signup(client, "venue")
    venue = client.post("/v1/venues", headers=owner.headers, json={
        "name": "Gym", "lat": 48.85, "lon": 2.35, "timezone": "Europe/Paris",
        "venue_type_id": 1, "opening_hours": ALWAYS_OPEN}).json()
    screen = client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                         json={"name": "Front", "width_px": 1920, "height_px": 1080}).json()
    ticket = ask_code(client)
    client.post(f"/v1/screens/{screen['id']}/pair", headers=owner.headers,
                json={"code": ticket["code"]})
    creds = client.get(f"/v1/device/pairings/{ticket['pairing_id']}").json()
    device = bearer(creds["device_token"])

    inbox: queue.Queue[bytes] = queue.Queue()
    subscriber = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    subscriber.username_pw_set(creds["mqtt"]["username"], creds["mqtt"]["password"])
    subscriber.on_message = lambda c, u, msg: inbox.put(msg.payload)
    host, port = creds["mqtt"]["url"].removeprefix("mqtt://").split(":")
    subscriber.connect(host, int(port))
    subscriber.loop_start()
    subscriber.subscribe(topics.playlist(screen["id"]), qos=1)

    try:
        # the screen's first playlist: house content only
        first = json.loads(inbox.get(timeout=30))
        empty = client.get("/v1/device/playlist", headers=device).json()
        assert empty["version"] == first["version"]
        assert all(i["kind"] == "house" for w in empty["timeline"] for i in w["loop"])

        advertiser = signup(client, "advertiser")
        with media_samples.png(tmp_path).open("rb") as f:
            media = client.post("/v1/media", headers=advertiser.headers,
                                files={"file": ("ad.png", f)}).json()
        until(lambda: client.get(f"/v1/media/{media['id']}", headers=advertiser.headers)
              .json()["status"] == "ready")
        campaign = client.post("/v1/campaigns", headers=advertiser.headers, json={
            "name": "Protein bars", "category": "1010",
            "start_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "end_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
            "budget_cents": 100_000, "cpm_cents": 500, "currency": "EUR",
            "pacing": "asap"}).json()
        url = f"/v1/campaigns/{campaign['id']}"
        client.post(f"{url}/creatives", headers=advertiser.headers,
                    json={"media_id": media["id"], "duration_s": 10})
        client.post(f"{url}/submit", headers=advertiser.headers)
        with app.state.sessionmaker() as session:
            orgs_service.ensure_superuser(session=session, email="root@example.com",
                                          password=PASSWORD)
        assert client.post(f"{url}/approve", headers=bearer(
            login(client, "root@example.com"))).json()["state"] == "active"

        announced = json.loads(inbox.get(timeout=30))
        assert announced["version"] != first["version"]
        r = client.get("/v1/device/playlist", headers=device)
        assert r.status_code == 200 and r.headers["etag"] == f'"{announced["version"]}"'
        playlist = Playlist.model_validate(r.json())
        played = {i.campaign_id for w in playlist.timeline for i in w.loop}
        assert campaign["id"] in played
        rendition = next(m for m in playlist.media)
        assert rendition.mime == "image/jpeg"  # the 1920x1080 rendition, not the PNG original
        r304 = client.get("/v1/device/playlist",
                          headers={**device, "If-None-Match": r.headers["etag"]})
        assert r304.status_code == 304 and r304.content == b""
        with app.state.sessionmaker() as session:
            stored = publication.read(session=session, screen_id=screen["id"])
        assert stored is not None and stored.version == announced["version"]
        assert Playlist.model_validate_json(stored.body).version == announced["version"]

        client.post(f"{url}/pause", headers=advertiser.headers)
        paused = json.loads(inbox.get(timeout=30))
        assert paused["version"] not in (announced["version"],)
        after = client.get("/v1/device/playlist", headers=device).json()
        assert campaign["id"] not in {i["campaign_id"] for w in after["timeline"]
                                      for i in w["loop"]}
    finally:
        subscriber.disconnect()
        subscriber.loop_stop()


def test_the_ticker_asks_for_rebuilds_on_the_clock(app):
    from sqlalchemy import select

    from control_plane.jobs.models import Job
    from control_plane.scheduling.models import ScheduleRequest
    from control_plane.scheduling.ticker import Ticker, seconds_to_next

    assert seconds_to_next(3600, now=7200 + 59 * 60) == 60  # 02:59 → one minute to go
    ticker = Ticker(app.state.sessionmaker, app.state.jobs, interval_s=0.2)
    ticker.start()
    try:
        until(lambda: ticker.ticks >= 2, timeout_s=5)
    finally:
        ticker.stop()
    with app.state.sessionmaker() as session:
        assert session.scalars(select(ScheduleRequest.screen_id)).all() == ["*"]
        queued = session.scalars(select(Job).where(Job.kind == "schedule.rebuild")).all()
        assert len(queued) == 1  # the ticks coalesced into one waiting rebuild


def test_between_ticks_the_ticker_asks_for_the_jobs_wanted_every_minute(app):
    from sqlalchemy import select

    from control_plane.jobs.models import Job
    from control_plane.scheduling.ticker import Ticker

    ticker = Ticker(app.state.sessionmaker, app.state.jobs, interval_s=3600,
                    minor_interval_s=0.1)
    assert "notifications.screens" in app.state.jobs.kinds.frequent
    ticker.start()
    try:
        until(lambda: ticker.minor_ticks >= 2, timeout_s=5)
    finally:
        ticker.stop()
    assert ticker.ticks == 0  # the hour has not come
    with app.state.sessionmaker() as session:
        kinds = set(session.scalars(select(Job.kind)))
    assert "notifications.screens" in kinds and "schedule.rebuild" not in kinds


def test_one_build_at_a_time(app):
    """A build that read the database earlier must never publish after a later one."""
    import threading

    from control_plane.scheduling.service import _release_lease, _take_lease

    sessions = app.state.sessionmaker
    _take_lease(sessions, "first")
    second_has_it = threading.Event()

    def second() -> None:
        _take_lease(sessions, "second")
        second_has_it.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not second_has_it.wait(0.5)  # waits while the first build holds the lease
    _release_lease(sessions, "first")
    assert second_has_it.wait(5)
    _release_lease(sessions, "second")
    thread.join()


def test_a_build_holds_the_collector_off_and_gives_it_back(app, monkeypatch):
    """The cyclic collector is off while a build plans (its passes over every live object
    cost a fifth of the build), and back on after it, whether the build ends or fails."""
    import gc

    from control_plane.scheduling import service as scheduling_service
    from control_plane.scheduling.models import ScheduleRequest

    seen: list[bool] = []
    real = scheduling_service.build_each

    def watched(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(scheduling_service, "build_each", watched)
    context = app.state.jobs.context
    with app.state.sessionmaker() as session:
        session.merge(ScheduleRequest(screen_id=scheduling_service.ALL_SCREENS))
        session.commit()
    scheduling_service._rebuild(context)
    assert seen == [False] and gc.isenabled()

    def failing(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(scheduling_service, "build_each", failing)
    with app.state.sessionmaker() as session:
        session.merge(ScheduleRequest(screen_id=scheduling_service.ALL_SCREENS))
        session.commit()
    with pytest.raises(RuntimeError):
        scheduling_service._rebuild(context)
    assert gc.isenabled()
