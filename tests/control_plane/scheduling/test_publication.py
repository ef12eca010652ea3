"""Publishing playlists: kept in the database and announced only when the content changed (and
only once committed), served to the device with ETag / 304, and the media it names handed out as
signed redirects."""

from __future__ import annotations

import hashlib
import json
import queue
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from control_plane.app import create_app
from control_plane.media.models import Media
from control_plane.scheduling import publication, rollout
from control_plane.scheduling.plan import ScreenPlan
from shared import topics
from shared.playlist import Playlist, PlaylistItem, PlaylistMedia, PlaylistWindow, with_version
from tests.control_plane.devices.test_fleet import pair
from tests.helpers import bearer, error_code, with_settings
from tests.live import free_port

T0 = datetime(2026, 12, 4, 18, tzinfo=UTC)


def make_playlist(screen_id: str, sha: str, creative: str = "crv_1") -> Playlist:
    item = PlaylistItem(kind="campaign", campaign_id="cmp_1", creative_id=creative,
                        media_sha256=sha, duration_s=10, slots=1)
    return with_version(Playlist(
        screen_id=screen_id, generated_at=datetime.now(UTC), valid_from=T0,
        valid_until=T0 + timedelta(hours=48), loop_s=60, slot_s=10,
        media=[PlaylistMedia(sha256=sha, size_bytes=4, mime="image/png",
                             url=f"http://testserver/v1/device/media/{sha}")],
        timeline=[PlaylistWindow(start=T0, end=T0 + timedelta(hours=1), loop=[item] * 6)]))


def publish(app, playlist: Playlist, bridge=None) -> int:
    """Roll one playlist out as a build would; how many changed."""
    with app.state.sessionmaker() as session:
        out = rollout.Rollout(session=session, bridge=bridge, public_url="http://testserver",
                              built_at=datetime.now(UTC))
        out.add(ScreenPlan(playlist.screen_id, (), {}), playlist)
        return out.finish()


@pytest.fixture
def fleet(settings):
    app = create_app(with_settings(settings, run_broker=True, mqtt_port=free_port()))
    with TestClient(app) as client:
        yield app, client


def test_version_is_the_hash_of_the_content():
    sha = "a" * 64
    one, two = make_playlist("scr_1", sha), make_playlist("scr_1", sha)
    assert one.version == two.version and len(one.version) == 64  # generated_at differs
    assert make_playlist("scr_1", sha, creative="crv_2").version != one.version


def test_a_rollout_keeps_and_announces_only_changes(fleet):
    app, client = fleet
    _, screen, creds = pair(client)
    inbox: queue.Queue[bytes] = queue.Queue()
    device = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    device.username_pw_set(creds["mqtt"]["username"], creds["mqtt"]["password"])

    def on_message(_c, _u, msg):
        # by the time a device hears of a version, it is committed: the API serves it
        with app.state.sessionmaker() as session:
            served = publication.read(session=session, screen_id=screen["id"])
        inbox.put(json.dumps({"heard": json.loads(msg.payload),
                              "served": served and served.version}).encode())

    device.on_message = on_message
    host, port = creds["mqtt"]["url"].removeprefix("mqtt://").split(":")
    bridge = app.state.bridge
    playlist = make_playlist(screen["id"], "b" * 64)
    assert publish(app, playlist, bridge) == 1
    assert publish(app, make_playlist(screen["id"], "b" * 64), bridge) == 0
    # a device that connects later still gets the retained announcement
    device.connect(host, int(port))
    device.loop_start()
    try:
        device.subscribe(topics.playlist(screen["id"]), qos=1)
        message = json.loads(inbox.get(timeout=5))
        assert message["heard"]["version"] == playlist.version
        assert message["heard"]["url"] == "http://testserver/v1/device/playlist"
        assert message["served"] == playlist.version
        changed = make_playlist(screen["id"], "c" * 64)
        assert publish(app, changed, bridge) == 1
        message = json.loads(inbox.get(timeout=5))
        assert message["heard"]["version"] == changed.version
        assert message["served"] == changed.version
        assert inbox.empty()  # the unchanged one was never announced
    finally:
        device.disconnect()
        device.loop_stop()


def test_device_playlist_etag_and_304(client, app):
    _, screen, creds = pair(client)
    device = bearer(creds["device_token"])
    r = client.get("/v1/device/playlist", headers=device)
    assert r.status_code == 404 and error_code(r) == "no_playlist"
    playlist = make_playlist(screen["id"], "d" * 64)
    publish(app, playlist)
    r = client.get("/v1/device/playlist", headers=device)
    assert r.status_code == 200 and r.headers["etag"] == f'"{playlist.version}"'
    assert Playlist.model_validate(r.json()).version == playlist.version
    r = client.get("/v1/device/playlist", headers={**device, "If-None-Match": r.headers["etag"]})
    assert r.status_code == 304 and r.content == b""
    assert client.get("/v1/device/playlist").status_code == 401


def test_device_media_redirects_only_to_its_playlists_files(client, app):
    owner, screen, creds = pair(client)
    device = bearer(creds["device_token"])
    data = b"\x89PNG fake but stored"
    sha = hashlib.sha256(data).hexdigest()
    store = app.state.object_store
    store.put(f"media/{sha}/original", data, content_type="image/png")
    with app.state.sessionmaker() as session:
        session.add(Media(org_id=owner.org_id, sha256=sha, kind="image", mime="image/png",
                          size_bytes=len(data), original_key=f"media/{sha}/original",
                          status="ready", info={}))
        session.commit()
    r = client.get(f"/v1/device/media/{sha}", headers=device, follow_redirects=False)
    assert r.status_code == 404 and error_code(r) == "media_not_found"  # not in its playlist
    publish(app, make_playlist(screen["id"], sha))
    r = client.get(f"/v1/device/media/{sha}", headers=device, follow_redirects=False)
    assert r.status_code == 307
    assert client.get(r.headers["location"]).content == data
    assert client.get("/v1/device/media/nothex", headers=device).status_code == 422
