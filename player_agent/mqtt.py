"""The agent's MQTT connection: one class owns the paho client.

It logs in with the device's own credentials, leaves a retained last-will `offline` on its
`status` topic and says `online` (retained) on every connect, subscribes again to its
`playlist` and `commands` topics after each reconnect (clean session), reconnects with backoff
from 1 s to 30 s, and hands messages to handlers wrapped so that no handler error can kill
paho's loop. Everything it carries also goes over HTTP: the broker only makes things fast.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from shared import topics
from shared.device import MqttCredentials

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
KEEPALIVE_S = 30
PORTS = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883, "ws": 80, "wss": 443}

log = logging.getLogger(__name__)
Handler = Callable[[bytes], None]


class AgentMqtt:
    """The device's broker connection, with a handler per subscribed leaf."""

    def __init__(self, credentials: MqttCredentials, *, screen_id: str, device_id: str,
                 keepalive_s: int = KEEPALIVE_S) -> None:
        url = urlsplit(credentials.url)
        if url.scheme not in PORTS or not url.hostname:
            raise ValueError(f"not a broker URL: {credentials.url!r}")
        self.host, self.port = url.hostname, url.port or PORTS[url.scheme]
        self.screen_id = screen_id
        self.keepalive_s = keepalive_s
        self.handlers: dict[str, Handler] = {}
        self.connected = threading.Event()
        self.connects = 0
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                   client_id=f"{credentials.username}",
                                   transport="websockets" if url.scheme.startswith("ws")
                                   else "tcp")
        self._client.username_pw_set(credentials.username, credentials.password)
        if url.scheme in ("mqtts", "ssl", "wss"):
            self._client.tls_set()
        if url.scheme.startswith("ws") and url.path:
            self._client.ws_set_options(path=url.path)
        self._client.will_set(topics.status(screen_id), b"offline", qos=1, retain=True)
        self._client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def on(self, leaf: str, handler: Handler) -> None:
        """Call `handler(payload)` for messages on this screen's `leaf` topic."""
        topics.screen_topic(self.screen_id, leaf)  # refuses unknown leaves
        self.handlers[leaf] = handler

    def start(self) -> None:
        """Connect in the background (and keep reconnecting)."""
        self._client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        self._client.loop_start()

    def stop(self) -> None:
        """Say `offline` and disconnect cleanly (a clean disconnect sends no will)."""
        if self.connected.is_set():
            info = self._client.publish(topics.status(self.screen_id), b"offline", qos=1,
                                        retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(2.0)
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, leaf: str, payload: bytes | str, *, qos: int = 1,
                retain: bool = False) -> bool:
        """Publish on this screen's `leaf`; whether it was handed to the broker connection."""
        if not self.connected.is_set():
            return False
        info = self._client.publish(topics.screen_topic(self.screen_id, leaf), payload,
                                    qos=qos, retain=retain)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode,
                    _props: Any) -> None:
        if reason.is_failure:
            log.warning("the broker refused the device's login: %s", reason)
            return
        self.connects += 1
        client.publish(topics.status(self.screen_id), b"online", qos=1, retain=True)
        for leaf in self.handlers:
            client.subscribe(topics.screen_topic(self.screen_id, leaf), qos=1)
        self.connected.set()
        log.info("connected to the broker at %s:%d", self.host, self.port)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any,
                       reason: ReasonCode, _props: Any) -> None:
        self.connected.clear()
        log.info("disconnected from the broker (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any,
                    message: mqtt.MQTTMessage) -> None:
        parsed = topics.parse(message.topic)
        handler = self.handlers.get(parsed[1]) if parsed else None
        if handler is None:
            return
        try:
            handler(bytes(message.payload))
        except Exception:  # a handler's bug must not stop the network loop
            log.exception("handling a message on %s failed", message.topic)
