"""`shared.mqtt.MqttClient` against a real Mosquitto (password file, ACLs) and the project's
dynamic-security broker: a subscription that returned True already receives, one the broker
refuses is False; a QoS 1 publish that returned True is on the broker, one the ACLs refuse is
False, one without PUBACK times out; a handler that raises does not stop the next messages; after
a broker restart the client is back, subscribed again, its birth message and what it published
meanwhile delivered; a login refused for its credentials is tried once and the state says why."""

from __future__ import annotations

import queue
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

import paho.mqtt.client as paho
import pytest
from paho.mqtt import publish as paho_publish
from paho.mqtt.enums import MQTTProtocolVersion

from control_plane.devices.broker import EmbeddedBroker
from shared import mqtt, topics
from shared.mqtt import ClientState, Message, MqttClient
from tests.helpers import until
from tests.live import free_port
from tests.shared.conftest import USERS, Mosquitto

WAIT_S = 5.0


@pytest.fixture(autouse=True)
def fast_reconnects(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff in tenths of a second, so a client that retries does so many times per test."""
    monkeypatch.setattr(mqtt, "RECONNECT_MIN_S", 0.05)
    monkeypatch.setattr(mqtt, "RECONNECT_MAX_S", 0.2)


@contextmanager
def client(broker: Mosquitto, user: str = "alice", password: str | None = None,
           **kwargs: object) -> Iterator[MqttClient]:
    """A base client (not started), stopped at the end."""
    c = MqttClient(broker.url, username=user,
                   password=USERS.get(user, "") if password is None else password,
                   client_id=f"{user}-{secrets.token_hex(3)}", **kwargs)  # type: ignore[arg-type]
    try:
        yield c
    finally:
        c.stop()


def send(broker: Mosquitto, topic: str, payload: bytes, *, retain: bool = False) -> None:
    """Publish from another client, as alice (QoS 1: back once the broker has it)."""
    paho_publish.single(topic, payload, qos=1, retain=retain, hostname="127.0.0.1",
                        port=broker.port, auth={"username": "alice", "password": USERS["alice"]},
                        protocol=paho.MQTTv5)


def inbox(c: MqttClient, topic_filter: str) -> tuple[queue.Queue[tuple[str, bytes]], bool]:
    """Subscribe `c` to `topic_filter`; what arrives, and what subscribe returned."""
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    granted = c.subscribe(topic_filter, lambda topic, payload: got.put((topic, payload)))
    return got, granted


def test_subscribe_returns_once_the_broker_granted_it_and_messages_arrive(mosquitto):
    with client(mosquitto) as c:
        early, granted = inbox(c, "test/early")
        assert not granted  # not connected yet: subscribed at the connect
        c.start()
        assert c.wait_connected(WAIT_S) and c.state is ClientState.CONNECTED
        send(mosquitto, "test/early", b"1")  # connected means subscribed: no sleep needed
        assert early.get(timeout=WAIT_S) == ("test/early", b"1")

        late, granted = inbox(c, "test/late/+")
        assert granted  # the SUBACK came back: a message sent now is ours
        send(mosquitto, "test/late/x", b"2")
        assert late.get(timeout=WAIT_S) == ("test/late/x", b"2")


def test_a_subscription_the_broker_refuses_is_false(tmp_path):
    # Mosquitto's ACL file grants every SUBSCRIBE (it filters deliveries); the project's broker,
    # dynamic security, answers a refused one with SUBACK "not authorized".
    with EmbeddedBroker(tmp_path, port=free_port()) as broker:
        broker.set_device(username="dev_1", password="device-secret", screen_id="scr_mine")
        c = MqttClient(broker.url, username="dev_1", password="device-secret",
                       client_id="dev_1")
        try:
            c.start()
            assert c.wait_connected(WAIT_S)
            assert not inbox(c, topics.commands("scr_other"))[1]
            assert inbox(c, topics.commands("scr_mine"))[1]
            assert c.state is ClientState.CONNECTED
        finally:
            c.stop()


def test_a_qos1_publish_returns_once_the_broker_has_it(mosquitto):
    with client(mosquitto) as c, client(mosquitto, "bob") as bob:
        assert not c.publish("test/retained", b"x")  # not connected: nothing sent
        c.start()
        bob.start()
        assert c.wait_connected(WAIT_S) and bob.wait_connected(WAIT_S)
        assert c.publish("test/retained", b"kept", retain=True)
        with client(mosquitto) as reader:
            got, _ = inbox(reader, "test/retained")
            reader.start()
            assert got.get(timeout=WAIT_S) == ("test/retained", b"kept")

        assert bob.publish("test/bob", b"mine")
        assert not bob.publish("test/alice", b"forged")  # PUBACK "not authorized": refused
        assert bob.state is ClientState.CONNECTED  # a refused publish is not a lost connection

        mosquitto.pause()  # no PUBACK will come
        try:
            started = time.monotonic()
            assert not c.publish("test/late", b"x", timeout_s=0.3)
            assert 0.3 <= time.monotonic() - started < 2
        finally:
            mosquitto.resume()


def test_a_handler_that_raises_does_not_stop_the_next_messages(mosquitto, caplog):
    seen: list[bytes] = []

    def buggy(_topic: str, payload: bytes) -> None:
        seen.append(payload)
        if payload == b"boom":
            raise RuntimeError("a bug in a handler")

    with client(mosquitto) as c:
        c.subscribe("test/r", buggy)
        other, _ = inbox(c, "test/s")
        c.start()
        assert c.wait_connected(WAIT_S)
        for payload in (b"boom", b"after"):
            send(mosquitto, "test/r", payload)
        until(lambda: seen == [b"boom", b"after"], WAIT_S, "both messages handled")
        send(mosquitto, "test/s", b"elsewhere")  # and other handlers carry on too
        assert other.get(timeout=WAIT_S) == ("test/s", b"elsewhere")
        assert c.state is ClientState.CONNECTED and c.connects == 1
    assert "handling a message on test/r failed" in caplog.text
    assert "a bug in a handler" in caplog.text


def test_after_a_broker_restart_it_is_back_subscribed_and_says_its_birth_again(mosquitto):
    birth = Message("test/status", b"online", retain=True)
    with client(mosquitto, birth=birth) as c:
        got, _ = inbox(c, "test/x")
        c.start()
        assert c.wait_connected(WAIT_S) and c.connects == 1

        mosquitto.stop()  # no persistence: it forgets subscriptions and retained messages
        until(lambda: not c.connected.is_set(), WAIT_S, "the connection lost")
        assert c.state is ClientState.CONNECTING
        # not sent now, but paho keeps a QoS 1 message and sends it once it is back
        assert not c.publish("test/x", b"while away", wait=False)
        mosquitto.start()
        assert c.wait_connected(WAIT_S) and c.connects == 2

        send(mosquitto, "test/x", b"after the restart")
        assert [got.get(timeout=WAIT_S)[1] for _ in range(2)] == [b"while away",
                                                                  b"after the restart"]
        with client(mosquitto) as reader:
            status, _ = inbox(reader, "test/status")
            reader.start()
            assert status.get(timeout=WAIT_S) == ("test/status", b"online")


@pytest.mark.parametrize("protocol", [MQTTProtocolVersion.MQTTv5, MQTTProtocolVersion.MQTTv311],
                         ids=["v5", "v3.1.1"])
@pytest.mark.parametrize(("user", "password"), [("alice", "not-her-password"),
                                                ("nobody", "whatever")],
                         ids=["wrong password", "unknown user"])
def test_a_login_refused_for_its_credentials_is_not_retried(mosquitto, protocol, user,
                                                            password, caplog):
    with client(mosquitto, user, password, protocol=protocol) as c:
        c.start()
        started = time.monotonic()
        assert not c.wait_connected(WAIT_S)
        assert time.monotonic() - started < 2  # refused: no need to wait for the timeout
        assert c.state is ClientState.REFUSED_CREDENTIALS and not c.connected.is_set()
        time.sleep(1.0)  # with 0.05 → 0.2 s of backoff, a retrying client tries 5+ more times
        # (the broker logs a refused client as <unknown>; ours is the only one that logs in)
        assert mosquitto.log().count("disconnected, not authorised") == 1, mosquitto.log()
        assert c.state is ClientState.REFUSED_CREDENTIALS
        assert not c.publish("test/x", b"x")
    assert c.state is ClientState.STOPPED
    assert "not retrying with these credentials" in caplog.text


def test_stop_sends_the_farewell_and_the_state_says_stopped(mosquitto):
    with client(mosquitto) as watcher:
        got, _ = inbox(watcher, "test/status")
        watcher.start()
        assert watcher.wait_connected(WAIT_S)
        with client(mosquitto) as c:
            assert c.state is ClientState.STOPPED
            c.start()
            assert c.wait_connected(WAIT_S)
            c.stop(farewell=Message("test/status", b"offline"))
            assert c.state is ClientState.STOPPED and not c.connected.is_set()
        assert got.get(timeout=WAIT_S) == ("test/status", b"offline")


@pytest.mark.parametrize("url", ["http://broker:1883", "mqtt://", "broker:1883"])
def test_what_is_not_a_broker_url_is_refused(url):
    with pytest.raises(ValueError, match="not a broker URL"):
        MqttClient(url, username="u", password="p", client_id="c")


def test_ports_default_by_scheme():
    assert MqttClient("mqtts://broker", username="u", password="p", client_id="c").port == 8883
    assert MqttClient("mqtt://broker", username="u", password="p", client_id="c").port == 1883
