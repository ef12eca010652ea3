"""The broker layer against a real Mosquitto: device accounts reach only their own screen's
topics, removed accounts lose access at once, accounts and retained messages survive a restart,
and a device that vanishes gets its last will `offline` published. All clients speak MQTT v5,
so refusals come back as reason codes (CONNACK, SUBACK, PUBACK, DISCONNECT)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from control_plane.devices.accounts import ExternalBroker
from control_plane.devices.broker import KEEPALIVE_SWEEP_S, EmbeddedBroker
from control_plane.devices.exceptions import BrokerUnavailable
from shared import topics
from tests.live import free_port

WAIT_S = 3.0  # the longest we wait for something that should happen
QUIET_S = 0.3  # how long we watch for something that should not happen
NOT_AUTHORIZED = (0x86, 0x87)  # bad user name or password / not authorized
ADMINISTRATIVE_ACTION = 0x98


@dataclass
class Device:
    username: str
    password: str
    screen_id: str


def new_device(broker: EmbeddedBroker | ExternalBroker) -> Device:
    """A device account with a fresh username, password and screen id."""
    device = Device(f"dev_{secrets.token_hex(4)}", secrets.token_urlsafe(24),
                    f"scr_{secrets.token_urlsafe(6)}")
    broker.set_device(username=device.username, password=device.password,
                      screen_id=device.screen_id)
    return device


@pytest.fixture(scope="module")
def service(embedded_broker):
    """(username, password) of a service account made for this module."""
    username, password = f"svc_{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    embedded_broker.set_service(username=username, password=password)
    return username, password


class Peer:
    """One paho client on its own network thread, recording what the broker tells it."""

    def __init__(self, broker: EmbeddedBroker, username: str | None, password: str | None):
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                  client_id=f"{username or 'anon'}-{secrets.token_hex(3)}")
        if username is not None:
            self.client.username_pw_set(username, password)
        self.broker = broker
        self.messages: list[mqtt.MQTTMessage] = []
        self.connack: list = []
        self.disconnects: list = []
        self.acks: dict[int, list] = {}
        self.changed = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda _c, _u, msg: self._note(self.messages.append, msg)
        self.client.on_subscribe = lambda _c, _u, mid, rcs, _p: self._note(
            self.acks.__setitem__, mid, rcs)
        self.client.on_publish = lambda _c, _u, mid, rc, _p: self._note(
            self.acks.__setitem__, mid, [rc])

    # A refused or dropped peer stays down: paho would retry after a second, and these tests
    # check what the broker does to a session, not how a client recovers.
    def _on_connect(self, client, _userdata, _flags, reason, _props) -> None:
        if reason.is_failure:
            client.disconnect()
        self._note(self.connack.append, reason)

    def _on_disconnect(self, client, _userdata, _flags, reason, _props) -> None:
        client.disconnect()
        self._note(self.disconnects.append, reason)

    def _note(self, record, *args) -> None:
        with self.changed:
            record(*args)
            self.changed.notify_all()

    def wait(self, predicate, timeout: float = WAIT_S) -> bool:
        """Wait until `predicate()` holds, re-checked whenever the broker tells us something."""
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    def connect(self):
        """Connect and return the CONNACK reason code."""
        self.client.connect(self.broker.host, self.broker.port, keepalive=30)
        self.client.loop_start()
        assert self.wait(lambda: self.connack), "no CONNACK"
        return self.connack[0]

    def subscribe(self, topic: str):
        """Subscribe at QoS 1 and return the SUBACK reason code."""
        _, mid = self.client.subscribe(topic, qos=1)
        assert self.wait(lambda: mid in self.acks), "no SUBACK"
        return self.acks[mid][0]

    def publish(self, topic: str, payload: bytes, *, retain: bool = False):
        """Publish at QoS 1 and return the PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        assert self.wait(lambda: info.mid in self.acks), "no PUBACK"
        return self.acks[info.mid][0]

    def received(self, topic: str) -> list[bytes]:
        """The payloads received on `topic` so far."""
        with self.changed:
            return [m.payload for m in self.messages if m.topic == topic]

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def peer(broker: EmbeddedBroker, username: str | None, password: str | None,
         *, subscribe: tuple[str, ...] = ()) -> Iterator[Peer]:
    """A connected peer (asserted), subscribed to `subscribe` (asserted granted)."""
    p = Peer(broker, username, password)
    try:
        assert p.connect() == 0
        for topic in subscribe:
            assert ok(p.subscribe(topic))
        yield p
    finally:
        p.close()


def ok(reason) -> bool:
    """Success, including PUBACK's 0x10 "no matching subscribers"."""
    return not reason.is_failure


def refused(broker: EmbeddedBroker, username: str | None, password: str | None) -> int:
    """The CONNACK reason code of a login with these credentials (0 if it was accepted)."""
    p = Peer(broker, username, password)
    try:
        return p.connect().value
    finally:
        p.close()


# -- topics ------------------------------------------------------------------------------------


def test_topic_names_follow_the_design():
    assert topics.playlist("scr_AbC-12_x") == "adsbin/v1/screens/scr_AbC-12_x/playlist"
    assert topics.commands("s") == "adsbin/v1/screens/s/commands"
    assert [getattr(topics, leaf)("s").rsplit("/", 1)[1] for leaf in topics.DEVICE_TO_SERVER] == [
        "status", "heartbeat", "acks", "pop"]
    assert topics.any_screen("heartbeat") == "adsbin/v1/screens/+/heartbeat"
    for leaf in topics.SERVER_TO_DEVICE + topics.DEVICE_TO_SERVER:
        assert topics.parse(topics.screen_topic("scr_AbC-12_x", leaf)) == ("scr_AbC-12_x", leaf)


@pytest.mark.parametrize("bad", ["", "a/b", "+", "a#", "x\x00y"])
def test_screen_ids_that_could_escape_their_level_are_refused(bad):
    with pytest.raises(ValueError):
        topics.status(bad)


@pytest.mark.parametrize("name", [
    "adsbin/v1/screens/+/status", "adsbin/v1/screens/#", "adsbin/v1/screens/s/other",
    "adsbin/v1/screens/s/status/more", "adsbin/v1/screens/s", "x/adsbin/v1/screens/s/status",
    "adsbin/v2/screens/s/status", "adsbin/v1/screens//status",
])
def test_parse_ignores_what_is_not_one_of_our_topics(name):
    assert topics.parse(name) is None


# -- the rules in Python -----------------------------------------------------------------------


def test_rules_answered_in_python():
    rules = ExternalBroker("mqtt://broker.example:1883")
    a, b = new_device(rules), new_device(rules)
    rules.set_service(username="svc", password="service-secret")
    own, other = a.screen_id, b.screen_id
    assert rules.allowed(a.username, topics.playlist(own), "read")
    assert rules.allowed(a.username, topics.commands(own), "read")
    assert not rules.allowed(a.username, topics.playlist(own), "write")
    for leaf in topics.DEVICE_TO_SERVER:
        assert rules.allowed(a.username, topics.screen_topic(own, leaf), "write")
        assert not rules.allowed(a.username, topics.screen_topic(own, leaf), "read")
        assert not rules.allowed(a.username, topics.screen_topic(other, leaf), "write")
    assert not rules.allowed(a.username, topics.playlist(other), "read")
    assert not rules.allowed(a.username, topics.any_screen("playlist"), "read")
    assert not rules.allowed(a.username, "#", "read")
    assert rules.allowed("svc", topics.any_screen("heartbeat"), "read")
    assert rules.allowed("svc", "adsbin/v1/#", "read")
    assert rules.allowed("svc", topics.commands(own), "write")
    assert not rules.allowed("svc", topics.any_screen("commands"), "write")
    assert not rules.allowed("svc", "#", "read")
    assert not rules.allowed("svc", "$CONTROL/dynamic-security/v1", "write")
    assert not rules.allowed("nobody", topics.status(own), "write")
    assert rules.check_login(a.username, a.password)
    assert rules.check_login("svc", "service-secret")
    assert not rules.check_login(a.username, b.password)
    assert not rules.check_login("nobody", "")
    rules.remove_device(username=a.username)
    assert not rules.check_login(a.username, a.password)
    assert not rules.allowed(a.username, topics.status(own), "write")
    with pytest.raises(ValueError):
        rules.remove_device(username="svc")
    with pytest.raises(ValueError):
        rules.set_device(username="svc", password="x", screen_id="s")
    with pytest.raises(ValueError):
        rules.set_device(username="d", password="x", screen_id="a/b")


# -- the broker enforcing them -----------------------------------------------------------------


def test_a_device_reads_only_its_own_server_topics(embedded_broker, service):
    a, b = new_device(embedded_broker), new_device(embedded_broker)
    with peer(embedded_broker, a.username, a.password) as dev, \
            peer(embedded_broker, *service) as svc:
        assert dev.subscribe(topics.playlist(b.screen_id)).value in NOT_AUTHORIZED
        assert dev.subscribe(topics.commands(b.screen_id)).value in NOT_AUTHORIZED
        assert dev.subscribe(topics.any_screen("commands")).value in NOT_AUTHORIZED
        assert ok(dev.subscribe(topics.commands(a.screen_id)))
        for screen in (b.screen_id, a.screen_id):
            assert ok(svc.publish(topics.commands(screen), f"to {screen}".encode()))
        assert dev.wait(lambda: dev.received(topics.commands(a.screen_id)))
        time.sleep(QUIET_S)
        assert [m.payload for m in dev.messages] == [f"to {a.screen_id}".encode()]


def test_a_device_writes_only_its_own_device_topics(embedded_broker, service):
    a, b = new_device(embedded_broker), new_device(embedded_broker)
    watched = [topics.screen_topic(s, leaf) for s in (a.screen_id, b.screen_id)
               for leaf in ("status", "heartbeat", "playlist")]
    with peer(embedded_broker, a.username, a.password) as dev, \
            peer(embedded_broker, *service, subscribe=tuple(watched)) as svc:
        assert dev.publish(topics.heartbeat(b.screen_id), b"forged").value in NOT_AUTHORIZED
        assert dev.publish(topics.status(b.screen_id), b"forged").value in NOT_AUTHORIZED
        assert dev.publish(topics.playlist(a.screen_id), b"forged").value in NOT_AUTHORIZED
        assert ok(dev.publish(topics.heartbeat(a.screen_id), b"beat"))
        assert svc.wait(lambda: svc.received(topics.heartbeat(a.screen_id)))
        time.sleep(QUIET_S)
        assert [(m.topic, m.payload) for m in svc.messages] == [
            (topics.heartbeat(a.screen_id), b"beat")]


def test_the_broker_and_allowed_agree(embedded_broker, service):
    a, b = new_device(embedded_broker), new_device(embedded_broker)
    names = [topics.screen_topic(s, leaf) for s in (a.screen_id, b.screen_id)
             for leaf in topics.SERVER_TO_DEVICE + topics.DEVICE_TO_SERVER]
    names += ["adsbin/v1/other", "elsewhere", "$CONTROL/dynamic-security/v1"]
    filters = [topics.any_screen("status"), "adsbin/v1/#", "#", "$CONTROL/#"]
    for username, password in ((a.username, a.password), service):
        with peer(embedded_broker, username, password) as p:
            for name in names + filters:
                granted = ok(p.subscribe(name))
                assert granted == embedded_broker.allowed(username, name, "read"), name
            for name in names:
                published = ok(p.publish(name, b"x"))
                assert published == embedded_broker.allowed(username, name, "write"), name


def test_replacing_a_device_moves_it_and_ends_the_old_session(embedded_broker):
    a = new_device(embedded_broker)
    with peer(embedded_broker, a.username, a.password) as old_session:
        embedded_broker.set_device(username=a.username, password="rotated", screen_id="scr_new")
        assert old_session.wait(lambda: old_session.disconnects)
    assert refused(embedded_broker, a.username, a.password) in NOT_AUTHORIZED
    with peer(embedded_broker, a.username, "rotated") as dev:
        assert ok(dev.subscribe(topics.playlist("scr_new")))
        assert dev.subscribe(topics.playlist(a.screen_id)).value in NOT_AUTHORIZED
        # setting the same values again is a no-op: the session is not kicked
        embedded_broker.set_device(username=a.username, password="rotated", screen_id="scr_new")
        time.sleep(QUIET_S)
        assert dev.disconnects == []


def test_anonymous_and_wrong_password_logins_are_refused(embedded_broker):
    a = new_device(embedded_broker)
    assert refused(embedded_broker, None, None) in NOT_AUTHORIZED
    assert refused(embedded_broker, a.username, a.password + "x") in NOT_AUTHORIZED
    assert refused(embedded_broker, "nobody", a.password) in NOT_AUTHORIZED


def test_removing_a_device_locks_it_out_at_once(embedded_broker, service):
    a = new_device(embedded_broker)
    with peer(embedded_broker, a.username, a.password,
              subscribe=(topics.commands(a.screen_id),)) as dev, \
            peer(embedded_broker, *service, subscribe=(topics.heartbeat(a.screen_id),)) as svc:
        started = time.monotonic()
        embedded_broker.remove_device(username=a.username)
        assert dev.wait(lambda: dev.disconnects, timeout=2.0), "the live session was kept"
        assert time.monotonic() - started < 1.0
        assert dev.disconnects[0].value == ADMINISTRATIVE_ACTION
        assert ok(svc.publish(topics.commands(a.screen_id), b"reboot"))
        dev.client.publish(topics.heartbeat(a.screen_id), b"still here?", qos=1)
        time.sleep(QUIET_S)
        assert dev.messages == [] and svc.messages == []
    assert refused(embedded_broker, a.username, a.password) in NOT_AUTHORIZED
    assert not embedded_broker.check_login(a.username, a.password)


def test_a_retained_playlist_reaches_a_device_that_connects_later(embedded_broker, service):
    a = new_device(embedded_broker)
    with peer(embedded_broker, *service) as svc:
        assert ok(svc.publish(topics.playlist(a.screen_id), b'{"version":"v1"}', retain=True))
    with peer(embedded_broker, a.username, a.password,
              subscribe=(topics.playlist(a.screen_id),)) as dev:
        assert dev.wait(lambda: dev.messages)
        assert dev.messages[0].payload == b'{"version":"v1"}' and dev.messages[0].retain


def test_a_subscriber_that_falls_behind_loses_nothing(embedded_broker, service):
    """The bridge's one subscription takes every screen's messages; Mosquitto holds only 1,000
    for a client that has not caught up by default, and drops the rest."""
    screen = f"scr_{secrets.token_hex(4)}"
    count = 3 * 1000
    with peer(embedded_broker, *service, subscribe=(topics.any_screen("heartbeat"),)) as slow, \
            peer(embedded_broker, *service) as fleet:
        slow.client.loop_stop()  # reads nothing now: the broker has to hold what comes
        for n in range(count - 1):
            fleet.client.publish(topics.heartbeat(screen), str(n).encode(), qos=1)
        assert ok(fleet.publish(topics.heartbeat(screen), b"last"))
        slow.client.loop_start()
        assert slow.wait(lambda: len(slow.messages) >= count, timeout=30), len(slow.messages)
        assert len({m.payload for m in slow.messages}) == count


def test_accounts_and_retained_messages_survive_a_restart(embedded_broker, service):
    a, b = new_device(embedded_broker), new_device(embedded_broker)
    with peer(embedded_broker, *service) as svc:
        assert ok(svc.publish(topics.playlist(a.screen_id), b"kept", retain=True))
    embedded_broker.stop()
    embedded_broker.start()
    assert embedded_broker.check_login(a.username, a.password)
    assert embedded_broker.allowed(a.username, topics.status(a.screen_id), "write")
    with peer(embedded_broker, a.username, a.password,
              subscribe=(topics.playlist(a.screen_id),)) as dev:
        assert dev.subscribe(topics.playlist(b.screen_id)).value in NOT_AUTHORIZED
        assert dev.wait(lambda: dev.messages)
        assert dev.messages[0].payload == b"kept"
    embedded_broker.remove_device(username=b.username)  # changes still work after the restart
    assert refused(embedded_broker, b.username, b.password) in NOT_AUTHORIZED


@pytest.mark.parametrize("how", ["socket closed", "silent"])
def test_last_will_marks_a_vanished_device_offline(embedded_broker, service, how):
    keepalive_s = 1
    a = new_device(embedded_broker)
    status = topics.status(a.screen_id)
    with peer(embedded_broker, *service, subscribe=(status,)) as svc:
        device = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                             client_id=a.username)
        device.username_pw_set(a.username, a.password)
        device.will_set(status, b"offline", qos=1, retain=True)
        device.connect(embedded_broker.host, embedded_broker.port, keepalive=keepalive_s)
        online = device.publish(status, b"online", qos=1, retain=True)
        deadline = time.monotonic() + WAIT_S
        while not online.is_published() and time.monotonic() < deadline:
            device.loop(timeout=0.05)  # CONNACK, then PUBACK
        assert svc.wait(lambda: svc.received(status) == [b"online"])
        sock = device.socket()
        assert sock is not None
        # No loop runs from here on: the device sends nothing more, not even PINGREQ.
        started = time.monotonic()
        if how == "socket closed":  # the process died; the kernel closed its socket
            sock.close()
            budget_s = 1.5 * keepalive_s + 0.5
        else:  # hung, or its network vanished: only the broker's keepalive sweep notices
            # (Mosquitto's clock counts whole seconds: up to one more)
            budget_s = 1.5 * keepalive_s + KEEPALIVE_SWEEP_S + 1.5
        try:
            assert svc.wait(lambda: svc.received(status) == [b"online", b"offline"], budget_s)
            assert time.monotonic() - started <= budget_s
        finally:
            sock.close()
    with peer(embedded_broker, *service, subscribe=(status,)) as late:
        assert late.wait(lambda: late.received(status) == [b"offline"])  # kept, retained


def test_start_reports_why_mosquitto_died(embedded_broker, tmp_path):
    clash = EmbeddedBroker(tmp_path, port=embedded_broker.port)
    with pytest.raises(BrokerUnavailable, match=r"(?s)exited with status.*Address already in use"):
        clash.start(timeout_s=5)
    clash.stop()


def test_url_and_context_manager(tmp_path):
    port = free_port()
    with EmbeddedBroker(tmp_path, port=port) as broker:
        assert broker.url == f"mqtt://127.0.0.1:{port}"
        assert refused(broker, None, None) in NOT_AUTHORIZED
    assert broker._proc is None
