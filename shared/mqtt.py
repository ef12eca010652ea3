"""One broker connection, owned by one class, for the agent and the control plane alike.

`MqttClient` owns a paho client on its own network thread. It reconnects with backoff (paho's,
doubling from `RECONNECT_MIN_S` to `RECONNECT_MAX_S`), publishes a birth message and subscribes
again to every filter on each (re)connect (the session is clean, so the broker forgets them), and
only then reports `connected`: from that moment, a message on a subscribed topic reaches us.
Callers that need to know a subscription or a publish took get the broker's SUBACK or PUBACK
(with a timeout), read as a reason code, so a refusal by the ACLs is a `False`, not a success.
Handlers run wrapped: an exception in one is logged and never stops paho's loop.

A login refused for its credentials (CONNACK "bad user name or password" or "not authorized")
stops the retries: the same credentials would be refused forever, hammering the broker. The owner
reads why in `state` (`refused_credentials`). Other refusals (server busy, unavailable) retry.
Shaped after Home Assistant's MQTT client (`homeassistant/components/mqtt/client.py`).
"""

from __future__ import annotations

import enum
import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

# Timings, read when used (so tests can patch them small).
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 30.0
KEEPALIVE_S = 30
CONNECT_TIMEOUT_S = 10.0  # how long `wait_connected` waits by default
SUBACK_TIMEOUT_S = 5.0
PUBACK_TIMEOUT_S = 5.0
STOP_PUBACK_TIMEOUT_S = 2.0  # a farewell message is worth this much of a shutdown

PORTS = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883, "ws": 80, "wss": 443}
# CONNACK codes that retrying with the same login cannot change: MQTT v5 reason codes 0x86 (bad
# user name or password) and 0x87 (not authorized), v3.1.1 return codes 4 and 5 (paho maps those
# to the v5 codes, but a raw one must not slip through either).
REFUSED_CREDENTIALS = frozenset({0x86, 0x87, 4, 5})

log = logging.getLogger(__name__)
MessageHandler = Callable[[str, bytes], None]  # (topic, payload)
_P = ParamSpec("_P")


class ClientState(enum.StrEnum):
    """Where the connection stands, for the owner's status and health."""

    STOPPED = "stopped"  # not started, or stopped by its owner
    CONNECTING = "connecting"  # (re)connecting, or waiting for the SUBACK of its filters
    CONNECTED = "connected"
    REFUSED_CREDENTIALS = "refused_credentials"  # the broker refused the login; no more retries


@dataclass(frozen=True)
class Message:
    """A message the client sends on the owner's behalf (birth, last will, farewell)."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True)
class _Subscription:
    qos: int
    handler: MessageHandler


def _never_raises(callback: Callable[_P, None]) -> Callable[_P, None]:
    """`callback`, with any exception logged: an exception in paho's thread would end it."""
    @functools.wraps(callback)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            callback(*args, **kwargs)
        except Exception:
            log.exception("the MQTT callback %s failed", callback.__name__)
    return guarded


class MqttClient:
    """A broker connection that reconnects, resubscribes and waits for acknowledgements."""

    def __init__(self, url: str, *, username: str, password: str, client_id: str,
                 keepalive_s: int | None = None,
                 protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
                 will: Message | None = None, birth: Message | None = None) -> None:
        parsed = urlsplit(url)
        if parsed.scheme not in PORTS or not parsed.hostname:
            raise ValueError(f"not a broker URL (mqtt://, mqtts://, ws://, wss://): {url!r}")
        self.host, self.port = parsed.hostname, parsed.port or PORTS[parsed.scheme]
        self.client_id = client_id
        self.keepalive_s = KEEPALIVE_S if keepalive_s is None else keepalive_s
        self.birth = birth
        self.connected = threading.Event()  # set while `state` is CONNECTED
        self.connects = 0  # completed (re)connects, subscriptions included
        self._state = ClientState.STOPPED
        self._changed = threading.Condition()  # guards everything below, wakes waiters
        self._subscriptions: dict[str, _Subscription] = {}
        self._resubscribe: tuple[int, list[str]] | None = None  # (mid, filters) of this connect
        self._subacks: dict[int, list[ReasonCode]] = {}  # for threads waiting on a SUBACK
        self._abandoned: set[int] = set()  # SUBACKs whose waiter gave up
        self._drops = 0  # lost connections, so a waiter knows its SUBACK will not come
        self._refused_publishes: dict[int, ReasonCode] = {}
        self._network_thread: int | None = None
        websockets = parsed.scheme in ("ws", "wss")
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                   protocol=protocol,
                                   transport="websockets" if websockets else "tcp")
        self._client.username_pw_set(username, password)
        if parsed.scheme in ("mqtts", "ssl", "wss"):
            self._client.tls_set()
        if websockets and parsed.path:
            self._client.ws_set_options(path=parsed.path)
        if will is not None:
            self._client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        # paho takes ints in its annotations; fractions of a second work (and tests use them)
        self._client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)  # type: ignore[arg-type]
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message

    @property
    def state(self) -> ClientState:
        """Where the connection stands now."""
        return self._state

    def start(self) -> None:
        """Connect in the background, and keep reconnecting until stopped or refused."""
        with self._changed:
            if self._state not in (ClientState.STOPPED, ClientState.REFUSED_CREDENTIALS):
                return
            self._set_state(ClientState.CONNECTING)
        self._client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        self._client.loop_start()

    def wait_connected(self, timeout_s: float | None = None) -> bool:
        """Wait until connected and subscribed, or refused; whether it is connected."""
        timeout = CONNECT_TIMEOUT_S if timeout_s is None else timeout_s
        with self._changed:
            self._changed.wait_for(lambda: self._state is not ClientState.CONNECTING, timeout)
            return self._state is ClientState.CONNECTED

    def stop(self, *, farewell: Message | None = None) -> None:
        """Send `farewell` if connected (waiting briefly for its PUBACK), then disconnect."""
        if farewell is not None and self.connected.is_set():
            self.publish(farewell.topic, farewell.payload, qos=farewell.qos,
                         retain=farewell.retain, timeout_s=STOP_PUBACK_TIMEOUT_S)
        with self._changed:
            self._set_state(ClientState.STOPPED)
        self._client.disconnect()  # a clean disconnect: the broker sends no last will
        self._client.loop_stop()

    def subscribe(self, topic_filter: str, handler: MessageHandler, *, qos: int = 1,
                  timeout_s: float | None = None) -> bool:
        """Call `handler(topic, payload)` for messages matching `topic_filter`, after every
        reconnect too; whether the broker granted it now (if not connected: at the next connect).
        """
        # Filters should not overlap: an MQTT v5 broker may send a message once per matching
        # subscription, and every copy goes to every matching handler.
        with self._changed:
            self._subscriptions[topic_filter] = _Subscription(qos, handler)
            drops = self._drops
        # Registered first: a connect from now on includes it, and one already made gets it here
        # (a second SUBSCRIBE of the same filter only replaces the first).
        if not self._client.is_connected():
            return False
        rc, mid = self._client.subscribe(topic_filter, qos=qos)
        if rc != mqtt.MQTT_ERR_SUCCESS or mid is None:
            return False
        if self._on_network_thread():  # the SUBACK comes through this very thread, later
            with self._changed:
                self._abandoned.add(mid)
            return True
        timeout = SUBACK_TIMEOUT_S if timeout_s is None else timeout_s
        with self._changed:
            self._changed.wait_for(lambda: mid in self._subacks or self._drops != drops, timeout)
            reasons = self._subacks.pop(mid, None)
            if reasons is None:
                self._abandoned.add(mid)
                log.warning("no SUBACK for %s within %s s", topic_filter, timeout)
                return False
        if any(r.is_failure for r in reasons):
            log.warning("the broker refused the subscription to %s: %s", topic_filter,
                        reasons[0])
            return False
        return True

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False,
                wait: bool = True, timeout_s: float | None = None) -> bool:
        """Publish; with `wait` (and QoS ≥ 1), whether the broker acknowledged and accepted it
        in time, else whether it was sent. False while disconnected, though paho still keeps a
        QoS ≥ 1 message and sends it after the reconnect."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.info("publish to %s not sent now (%s)", topic, mqtt.error_string(info.rc))
            return False
        if not wait or qos == 0 or self._on_network_thread():
            return True
        timeout = PUBACK_TIMEOUT_S if timeout_s is None else timeout_s
        try:
            info.wait_for_publish(timeout=timeout)
        except (RuntimeError, ValueError):
            return False
        if not info.is_published():
            log.warning("no PUBACK for %s within %s s", topic, timeout)
            return False
        # _on_publish ran for this message before paho marked it published
        with self._changed:
            refused = self._refused_publishes.pop(info.mid, None)
        if refused is not None:
            log.warning("the broker refused the publish to %s: %s", topic, refused)
            return False
        return True

    # --- paho's callbacks, on its network thread ---------------------------------------------

    def _on_network_thread(self) -> bool:
        return threading.get_ident() == self._network_thread

    def _set_state(self, state: ClientState) -> None:
        """Change the state (holding `_changed`) and wake whoever waits on it."""
        if state is ClientState.CONNECTED and self._state is not ClientState.CONNECTED:
            self.connects += 1
            self.connected.set()
        elif state is not ClientState.CONNECTED:
            self.connected.clear()
        self._state = state
        self._changed.notify_all()

    @_never_raises
    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode,
                    _props: Any) -> None:
        self._network_thread = threading.get_ident()
        if reason.value in REFUSED_CREDENTIALS:
            log.error("the broker at %s:%d refused the login of %s (%s): not retrying with "
                      "these credentials", self.host, self.port, self.client_id, reason)
            with self._changed:
                self._set_state(ClientState.REFUSED_CREDENTIALS)
            client.disconnect()  # ends paho's loop, which would retry forever
            return
        if reason.is_failure:  # busy, unavailable, …: paho tries again after its backoff
            log.warning("the broker at %s:%d refused %s (%s); retrying", self.host, self.port,
                        self.client_id, reason)
            return
        if self.birth is not None:
            client.publish(self.birth.topic, self.birth.payload, qos=self.birth.qos,
                           retain=self.birth.retain)
        with self._changed:
            self._abandoned.clear()  # SUBACKs of an earlier connection never come
            filters = {f: s.qos for f, s in self._subscriptions.items()}
        if not filters:
            self._connected()
            return
        rc, mid = client.subscribe(list(filters.items()))
        if rc != mqtt.MQTT_ERR_SUCCESS or mid is None:  # the connection just went again
            return
        with self._changed:
            self._resubscribe = (mid, list(filters))

    def _connected(self) -> None:
        with self._changed:
            if self._state is ClientState.CONNECTING:
                self._set_state(ClientState.CONNECTED)
        log.info("connected to the broker at %s:%d as %s", self.host, self.port, self.client_id)

    @_never_raises
    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, mid: int,
                      reasons: list[ReasonCode], _props: Any) -> None:
        with self._changed:
            resubscribe, self._resubscribe = self._resubscribe, None
            if resubscribe is None or resubscribe[0] != mid:
                self._resubscribe = resubscribe
                if mid in self._abandoned:
                    self._abandoned.discard(mid)
                else:
                    self._subacks[mid] = reasons
                    self._changed.notify_all()
                return
        for topic_filter, reason in zip(resubscribe[1], reasons, strict=False):
            if reason.is_failure:
                log.warning("the broker refused the subscription to %s: %s", topic_filter,
                            reason)
        self._connected()

    @_never_raises
    def _on_publish(self, _client: mqtt.Client, _userdata: Any, mid: int, reason: ReasonCode,
                    _props: Any) -> None:
        # Only refusals are kept (for the publisher waiting on this mid); a success clears what
        # an earlier message of the same mid left.
        with self._changed:
            if reason.is_failure:
                self._refused_publishes[mid] = reason
            else:
                self._refused_publishes.pop(mid, None)

    @_never_raises
    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any,
                       reason: ReasonCode, _props: Any) -> None:
        with self._changed:
            self._drops += 1
            self._resubscribe = None
            if self._state in (ClientState.STOPPED, ClientState.REFUSED_CREDENTIALS):
                self._changed.notify_all()
                return
            self._set_state(ClientState.CONNECTING)
        log.log(logging.WARNING if reason.is_failure else logging.INFO,
                "lost the broker at %s:%d (%s); reconnecting", self.host, self.port, reason)

    @_never_raises
    def _on_message(self, _client: mqtt.Client, _userdata: Any,
                    message: mqtt.MQTTMessage) -> None:
        with self._changed:
            matching = [s.handler for f, s in self._subscriptions.items()
                        if mqtt.topic_matches_sub(_unshared(f), message.topic)]
        payload = bytes(message.payload)
        for handler in matching:
            try:
                handler(message.topic, payload)
            except Exception:  # a handler's bug must not stop the network loop, nor the others
                log.exception("handling a message on %s failed", message.topic)


def _unshared(topic_filter: str) -> str:
    """The filter a shared subscription (`$share/<group>/<filter>`) matches topics with."""
    if topic_filter.startswith("$share/"):
        return topic_filter.split("/", 2)[2]
    return topic_filter
