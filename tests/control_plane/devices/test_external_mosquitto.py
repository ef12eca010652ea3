"""An external Mosquitto whose accounts the control plane keeps in its dynamic-security plugin
(scale mode): several processes, each with its own admin client, make the service login and the
devices' logins there; a device reaches only its own screen's topics; the bridges of several
processes share their subscriptions, so each device message is handled once."""

from __future__ import annotations

import secrets
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from control_plane.devices.bridge import MqttBridge
from control_plane.devices.broker import ExternalMosquitto
from control_plane.devices.exceptions import BrokerUnavailable
from shared import topics
from tests.helpers import until
from tests.scale import ADMIN, ADMIN_PASSWORD, external_mosquitto

SERVICE, SERVICE_PASSWORD = "adsbin-service", "service-secret-0123456789"


@pytest.fixture
def broker_url(tmp_path):
    with external_mosquitto(tmp_path / "mosquitto") as url:
        yield url


def accounts(url: str) -> ExternalMosquitto:
    return ExternalMosquitto(url, admin_username=ADMIN, admin_password=ADMIN_PASSWORD,
                             service_username=SERVICE, service_password=SERVICE_PASSWORD)


def connect(url: str, username: str, password: str) -> tuple[mqtt.Client, list[str], int]:
    """A client logged in (or refused): it, the topics it received, its CONNACK reason."""
    received: list[str] = []
    result: dict[str, int] = {}
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                         client_id=f"t-{secrets.token_hex(3)}")
    client.username_pw_set(username, password)

    def on_connect(_c, _u, _f, reason, _p):
        result["rc"] = reason.value
        done.set()

    client.on_connect = on_connect
    client.on_message = lambda _c, _u, m: received.append(m.topic)
    host, port = url.removeprefix("mqtt://").split(":")
    client.connect(host, int(port))
    client.loop_start()
    assert done.wait(5)
    return client, received, result["rc"]


def test_devices_made_by_one_process_are_removed_by_another_and_reach_only_their_topics(
        broker_url):
    a, b = accounts(broker_url), accounts(broker_url)
    a.start()
    b.start()  # the second finds the service role and login made: no error
    try:
        a.set_device(username="dev-1", password="pw-one-0123456789", screen_id="scr_1")
        b.set_device(username="dev-2", password="pw-two-0123456789", screen_id="scr_2")
        device, received, rc = connect(broker_url, "dev-1", "pw-one-0123456789")
        assert rc == 0
        service, _, rc = connect(broker_url, SERVICE, SERVICE_PASSWORD)
        assert rc == 0
        _, _, bad = connect(broker_url, "dev-1", "not-the-password")
        assert bad != 0
        device.subscribe(topics.playlist("scr_1"), qos=1)
        device.subscribe(topics.playlist("scr_2"), qos=1)  # not its screen: refused
        time.sleep(0.3)
        for screen in ("scr_1", "scr_2"):
            service.publish(topics.playlist(screen), b"{}", qos=1).wait_for_publish(5)
        until(lambda: received, 5, "its own playlist")
        time.sleep(0.3)
        assert received == [topics.playlist("scr_1")]
        # re-paired by the other process: the new password works, the old one no longer
        b.set_device(username="dev-1", password="pw-new-0123456789", screen_id="scr_1")
        assert connect(broker_url, "dev-1", "pw-one-0123456789")[2] != 0
        assert connect(broker_url, "dev-1", "pw-new-0123456789")[2] == 0
        a.remove_device(username="dev-1")
        assert connect(broker_url, "dev-1", "pw-new-0123456789")[2] != 0
        assert connect(broker_url, "dev-2", "pw-two-0123456789")[2] == 0
    finally:
        a.stop()
        b.stop()


def test_bridges_of_two_processes_share_device_messages(broker_url):
    admin = accounts(broker_url)
    admin.start()
    admin.set_device(username="dev-1", password="pw-one-0123456789", screen_id="scr_1")
    got: list[tuple[int, str]] = []
    bridges = [MqttBridge(broker_url, username=SERVICE, password=SERVICE_PASSWORD,
                          client_id=f"{SERVICE}-{n}", share_group="adsbin") for n in (1, 2)]
    try:
        for n, bridge in enumerate(bridges):
            bridge.on("heartbeat", lambda screen, payload, n=n: got.append((n, payload.decode())))
            assert bridge.start(wait_s=5)
        device, _, rc = connect(broker_url, "dev-1", "pw-one-0123456789")
        assert rc == 0
        for k in range(20):
            device.publish(topics.screen_topic("scr_1", "heartbeat"), str(k), qos=1)\
                .wait_for_publish(5)
        until(lambda: len(got) >= 20, 10, "the heartbeats")
        time.sleep(0.3)
        assert sorted(int(p) for _, p in got) == list(range(20))  # each once
        assert {n for n, _ in got} == {0, 1}  # shared between the two
    finally:
        for bridge in bridges:
            bridge.stop()
        admin.stop()


def test_a_wrong_admin_password_is_said_plainly(broker_url):
    wrong = ExternalMosquitto(broker_url, admin_username=ADMIN, admin_password="nope")
    with pytest.raises(BrokerUnavailable, match="refused our admin"):
        wrong.start(timeout_s=5)


def test_emqx_hooks_let_the_service_share_its_subscriptions_and_no_more(settings):
    from fastapi.testclient import TestClient

    from control_plane.app import create_app
    from tests.helpers import with_settings

    app = create_app(with_settings(settings, mqtt_auth_hook_secret="hook-secret",
                                   mqtt_service_username=SERVICE,
                                   mqtt_service_password=SERVICE_PASSWORD))
    with TestClient(app) as client:
        def acl(topic: str, action: str) -> str:
            return str(client.post("/v1/mqtt/acl", headers={"X-Adsbin-Hook-Secret": "hook-secret"},
                                   json={"username": SERVICE, "topic": topic, "action": action}
                                   ).json()["result"])

        assert acl("$share/adsbin/adsbin/v1/screens/+/pop", "subscribe") == "allow"
        assert acl("adsbin/v1/screens/+/pop", "subscribe") == "allow"
        assert acl("$share/adsbin/elsewhere/#", "subscribe") == "deny"
        assert acl("$share/adsbin", "subscribe") == "deny"
