"""The control plane's MQTT client: one class owns the paho client for the whole process.

It logs in with the service account, subscribes to every screen's `status`, `heartbeat`, `acks`,
`pop` (again after every reconnect: the session is clean), reconnects with backoff from 1 s to
30 s, and hands each message to a handler wrapped so that no handler error can kill paho's loop.
Publishing waits for the broker's PUBACK when asked to. MQTT only makes things fast: devices and
the server also speak HTTP, so a broker outage costs latency, never correctness.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from shared import topics

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
KEEPALIVE_S = 30
CONNECT_TIMEOUT_S = 10.0
PUBLISH_TIMEOUT_S = 5.0
SUBSCRIBED_LEAVES = ("status", "heartbeat", "acks", "pop")

log = logging.getLogger(__name__)
Handler = Callable[[str, bytes], None]  # (screen_id, payload)


class MqttBridge:
    """The service account's connection to the broker, with handlers per topic leaf."""

    def __init__(self, url: str, *, username: str, password: str,
                 client_id: str = "adsbin-control-plane") -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"the broker URL must be mqtt:// or mqtts://, not {url!r}")
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or (8883 if parsed.scheme == "mqtts" else 1883)
        self.handlers: dict[str, Handler] = {}
        self.connected = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                   protocol=mqtt.MQTTv5)
        self._client.username_pw_set(username, password)
        if parsed.scheme == "mqtts":
            self._client.tls_set()
        self._client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def on(self, leaf: str, handler: Handler) -> None:
        """Call `handler(screen_id, payload)` for messages on every screen's `leaf` topic."""
        self.handlers[leaf] = handler

    def start(self, *, wait_s: float = CONNECT_TIMEOUT_S) -> bool:
        """Connect in the background; whether the broker answered within `wait_s`."""
        self._client.connect_async(self.host, self.port, keepalive=KEEPALIVE_S)
        self._client.loop_start()
        return self.connected.wait(wait_s)

    def stop(self) -> None:
        """Disconnect and stop the network loop."""
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False,
                wait_s: float | None = PUBLISH_TIMEOUT_S) -> bool:
        """Publish; with `wait_s`, whether the broker acknowledged it in time."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("publish to %s not sent (%s)", topic, mqtt.error_string(info.rc))
            return False
        if wait_s is None:
            return True
        try:
            info.wait_for_publish(timeout=wait_s)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object,
                    reason: ReasonCode, _props: Properties | None) -> None:
        if reason.is_failure:
            log.error("the broker refused the control plane: %s", reason)
            return
        for leaf in SUBSCRIBED_LEAVES:
            client.subscribe(topics.any_screen(leaf), qos=1)
        self.connected.set()
        log.info("connected to the broker at %s:%s", self.host, self.port)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: object, _flags: object,
                       reason: ReasonCode, _props: Properties | None) -> None:
        self.connected.clear()
        if reason.is_failure:
            log.warning("lost the broker (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: object,
                    msg: mqtt.MQTTMessage) -> None:
        parsed = topics.parse(msg.topic)
        if parsed is None:
            return
        screen_id, leaf = parsed
        handler = self.handlers.get(leaf)
        if handler is None:
            return
        try:
            handler(screen_id, bytes(msg.payload))
        except Exception:  # a bad message or a handler bug must never stop the loop
            log.exception("handling %s failed", msg.topic)
