"""The fleet over a real Mosquitto (the app's embedded broker): heartbeats and last wills, remote
commands acknowledged over MQTT or HTTP or left to expire, screenshots, and the EMQX hooks."""

from __future__ import annotations

import io
import json
import queue
import time

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from PIL import Image

from control_plane.app import create_app
from control_plane.db import utcnow
from control_plane.devices.bridge import MqttBridge
from shared import topics
from shared.mqtt import ClientState
from tests.control_plane.devices.test_pairing import ask_code, venue_screen
from tests.helpers import bearer, error_code, until, with_settings
from tests.live import free_port

HOOK_SECRET = "hook-secret-for-tests"


@pytest.fixture
def fleet(settings):
    app = create_app(with_settings(settings, run_broker=True, mqtt_port=free_port(),
                                   mqtt_auth_hook_secret=HOOK_SECRET))
    with TestClient(app) as client:
        yield app, client


def pair(client):
    owner, screen = venue_screen(client)
    ticket = ask_code(client)
    client.post(f"/v1/screens/{screen['id']}/pair", headers=owner.headers,
                json={"code": ticket["code"]})
    creds = client.get(f"/v1/device/pairings/{ticket['pairing_id']}").json()
    return owner, screen, creds


class Device:
    """A display unit's MQTT side, as the agent will do it."""

    def __init__(self, creds: dict, keepalive_s: int = 5) -> None:
        self.screen_id = creds["screen_id"]
        self.inbox: queue.Queue[bytes] = queue.Queue()
        host, port = creds["mqtt"]["url"].removeprefix("mqtt://").split(":")
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=creds["device_id"],
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(creds["mqtt"]["username"], creds["mqtt"]["password"])
        self.client.will_set(topics.status(self.screen_id), b"offline", qos=1, retain=True)
        self.client.on_message = lambda c, u, msg: self.inbox.put(msg.payload)
        connected = queue.Queue()
        self.client.on_connect = lambda c, u, f, reason, p: connected.put(reason)
        self.client.connect(host, int(port), keepalive=keepalive_s)
        self.client.loop_start()
        assert not connected.get(timeout=5).is_failure
        self.client.subscribe(topics.commands(self.screen_id), qos=1)
        self.publish(topics.status(self.screen_id), b"online", retain=True)

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def heartbeat(self, **facts) -> None:
        self.publish(topics.heartbeat(self.screen_id), json.dumps(
            {"schema": "adsbin.heartbeat/v1", "sent_at": utcnow().isoformat(),
             "agent_version": "0.2.0", **facts}))

    def ack(self, command_id: str, status: str, **extra) -> None:
        self.publish(topics.acks(self.screen_id), json.dumps(
            {"schema": "adsbin.command-ack/v1", "command_id": command_id, "status": status,
             **extra}))

    def kill(self) -> None:
        """Drop the connection without a DISCONNECT, as a crash or a pulled cable would."""
        self.client.loop_stop()
        self.client.socket().close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()




def screen_status(client, owner, screen):
    return client.get(f"/v1/screens/{screen['id']}", headers=owner.headers).json()


def test_heartbeat_online_and_last_will_offline(fleet):
    _, client = fleet
    owner, screen, creds = pair(client)
    device = Device(creds)
    device.heartbeat(now_playing={"creative_id": "cr_9"}, disk_free_bytes=123)
    state = until(lambda: (s := screen_status(client, owner, screen))["status"] == "online"
                  and s["now_playing"] and s)
    assert state["now_playing"] == {"creative_id": "cr_9"} and state["agent_version"] == "0.2.0"
    started = time.monotonic()
    device.kill()
    until(lambda: screen_status(client, owner, screen)["status"] == "offline")
    assert time.monotonic() - started < 1.5 * 5


def test_a_command_is_delivered_and_acked_over_mqtt(fleet):
    _, client = fleet
    owner, screen, creds = pair(client)
    device = Device(creds)
    try:
        r = client.post(f"/v1/screens/{screen['id']}/commands", headers=owner.headers,
                        json={"type": "identify", "ttl_s": 60})
        assert r.status_code == 201 and r.json()["status"] == "queued"
        assert r.json()["published"] is True
        command = json.loads(device.inbox.get(timeout=5))
        assert command["type"] == "identify" and command["id"] == r.json()["id"]
        url = f"/v1/screens/{screen['id']}/commands/{command['id']}"
        device.ack(command["id"], "delivered")
        until(lambda: client.get(url, headers=owner.headers).json()["status"] == "delivered")
        device.ack(command["id"], "acked", result="blinked for 10 s")
        body = until(lambda: (b := client.get(url, headers=owner.headers).json())["status"]
                     == "acked" and b)
        assert body["result"] == "blinked for 10 s" and body["delivered_at"]
    finally:
        device.close()


def test_an_unacknowledged_command_expires(fleet):
    _, client = fleet
    owner, screen, _ = pair(client)
    r = client.post(f"/v1/screens/{screen['id']}/commands", headers=owner.headers,
                    json={"type": "reboot", "ttl_s": 1})
    url = f"/v1/screens/{screen['id']}/commands/{r.json()['id']}"
    assert client.get(url, headers=owner.headers).json()["status"] == "queued"
    time.sleep(1.3)
    assert client.get(url, headers=owner.headers).json()["status"] == "expired"


def test_screenshot_over_the_http_fallback(fleet):
    _, client = fleet
    owner, screen, creds = pair(client)
    device = bearer(creds["device_token"])
    r = client.post(f"/v1/screens/{screen['id']}/commands", headers=owner.headers,
                    json={"type": "screenshot"})
    command_id = r.json()["id"]
    pending = client.get("/v1/device/commands", headers=device).json()
    assert [c["id"] for c in pending] == [command_id]
    upload_url = pending[0]["upload_url"]
    png = io.BytesIO()
    Image.new("RGB", (64, 36), (200, 30, 30)).save(png, "PNG")
    assert client.put(upload_url, content=png.getvalue(),
                      headers={"Content-Type": "image/png"}).status_code == 201
    r = client.post(f"/v1/device/commands/{command_id}/ack", headers=device,
                    json={"status": "acked"})
    assert r.status_code == 200 and r.json()["status"] == "acked"
    assert client.get("/v1/device/commands", headers=device).json() == []
    shot = screen_status(client, owner, screen)["last_screenshot_url"]
    assert Image.open(io.BytesIO(client.get(shot).content)).size == (64, 36)
    # acking again the same way is harmless; contradicting a finished command is a 409
    assert client.post(f"/v1/device/commands/{command_id}/ack", headers=device,
                       json={"status": "acked"}).status_code == 200
    r = client.post(f"/v1/device/commands/{command_id}/ack", headers=device,
                    json={"status": "failed"})
    assert r.status_code == 409 and error_code(r) == "command_finished"


def test_a_screenshot_acked_without_the_picture_fails(fleet):
    _, client = fleet
    owner, screen, creds = pair(client)
    r = client.post(f"/v1/screens/{screen['id']}/commands", headers=owner.headers,
                    json={"type": "screenshot"})
    r = client.post(f"/v1/device/commands/{r.json()['id']}/ack",
                    headers=bearer(creds["device_token"]), json={"status": "acked"})
    assert r.json()["status"] == "failed" and "not uploaded" in r.json()["result"]


def test_devices_cannot_touch_other_screens_commands(fleet):
    _, client = fleet
    owner, screen, _ = pair(client)
    _, _, other = pair(client)
    r = client.post(f"/v1/screens/{screen['id']}/commands", headers=owner.headers,
                    json={"type": "resync"})
    r = client.post(f"/v1/device/commands/{r.json()['id']}/ack",
                    headers=bearer(other["device_token"]), json={"status": "acked"})
    assert r.status_code == 404


def test_broker_hooks_answer_the_same_rules(fleet):
    _, client = fleet
    owner, screen, creds = pair(client)
    _, other_screen, _ = pair(client)
    hook = {"X-Adsbin-Hook-Secret": HOOK_SECRET}
    user, password = creds["mqtt"]["username"], creds["mqtt"]["password"]

    def auth(u, p, headers=hook):
        return client.post("/v1/mqtt/auth", headers=headers,
                           json={"username": u, "password": p})

    def acl(topic, action):
        return client.post("/v1/mqtt/acl", headers=hook, json={
            "username": user, "topic": topic, "action": action}).json()["result"]

    assert auth(user, password).json()["result"] == "allow"
    assert auth(user, password + "x").json()["result"] == "deny"
    assert auth("nobody", "x").json()["result"] == "deny"
    assert auth(user, password, headers={}).status_code == 401
    assert acl(topics.commands(screen["id"]), "subscribe") == "allow"
    assert acl(topics.heartbeat(screen["id"]), "publish") == "allow"
    assert acl(topics.playlist(screen["id"]), "publish") == "deny"
    assert acl(topics.commands(other_screen["id"]), "subscribe") == "deny"
    assert acl(topics.heartbeat(other_screen["id"]), "publish") == "deny"
    assert acl("adsbin/v1/screens/+/commands", "subscribe") == "deny"
    client.delete(f"/v1/screens/{screen['id']}/device", headers=owner.headers)
    assert auth(user, password).json()["result"] == "deny"


def test_hooks_are_off_without_a_secret(client):
    r = client.post("/v1/mqtt/auth", json={"username": "u", "password": "p"})
    assert r.status_code == 404 and error_code(r) == "hooks_not_configured"


def test_the_bridge_reconnects_and_resubscribes_after_a_broker_restart(fleet):
    app, client = fleet
    owner, screen, creds = pair(client)
    broker, bridge = app.state.broker, app.state.bridge
    broker.stop()
    until(lambda: not bridge.connected.is_set())
    broker.start()
    until(lambda: bridge.connected.is_set(), timeout_s=40)  # paho backs off 1 s → 30 s
    device = Device(creds)
    try:
        device.heartbeat(now_playing={"creative_id": "after-restart"})
        until(lambda: screen_status(client, owner, screen)["now_playing"] ==
              {"creative_id": "after-restart"})
    finally:
        device.close()


def test_the_bridge_gives_up_on_a_login_the_broker_refuses(embedded_broker):
    embedded_broker.set_service(username="svc-refused", password="the-real-one")
    bridge = MqttBridge(embedded_broker.url, username="svc-refused", password="a-stale-one")
    try:
        started = time.monotonic()
        assert not bridge.start(wait_s=10)
        assert time.monotonic() - started < 5  # answered by the refusal, not the timeout
        assert bridge.state is ClientState.REFUSED_CREDENTIALS
        assert not bridge.publish(topics.commands("scr_any"), b"{}")
    finally:
        bridge.stop()
    assert bridge.state is ClientState.STOPPED
