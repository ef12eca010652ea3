"""The agent's MQTT connection: `shared.mqtt.MqttClient` on this screen's topics.

It logs in with the device's own credentials, leaves a retained last-will `offline` on its
`status` topic and says `online` (retained) on every connect, and hands messages on its
`playlist` and `commands` topics to one handler per leaf. Reconnecting, resubscribing, waiting
for acknowledgements and keeping handler errors away from paho's loop are the base's. A broker
that refuses the device's login stops the retries (`state` says so); everything MQTT carries also
goes over HTTP, so the agent carries on without it: the broker only makes things fast.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from shared import topics
from shared.device import MqttCredentials
from shared.mqtt import ClientState, Message, MqttClient

Handler = Callable[[bytes], None]


class AgentMqtt:
    """The device's broker connection, with a handler per subscribed leaf."""

    def __init__(self, credentials: MqttCredentials, *, screen_id: str, device_id: str,
                 keepalive_s: int | None = None) -> None:
        self.screen_id = screen_id
        self.handlers: dict[str, Handler] = {}
        status = topics.status(screen_id)
        self.farewell = Message(status, b"offline", retain=True)
        self.client = MqttClient(credentials.url, username=credentials.username,
                                 password=credentials.password, client_id=credentials.username,
                                 keepalive_s=keepalive_s, will=self.farewell,
                                 birth=Message(status, b"online", retain=True))
        self.host, self.port = self.client.host, self.client.port

    @property
    def connected(self) -> threading.Event:
        """Set while connected and subscribed."""
        return self.client.connected

    @property
    def connects(self) -> int:
        """How many times it has (re)connected: messages sent in between were lost to MQTT."""
        return self.client.connects

    @property
    def state(self) -> ClientState:
        """Connected, connecting, refused (bad credentials: no more retries) or stopped."""
        return self.client.state

    def on(self, leaf: str, handler: Handler) -> None:
        """Call `handler(payload)` for messages on this screen's `leaf` topic."""
        self.handlers[leaf] = handler
        self.client.subscribe(topics.screen_topic(self.screen_id, leaf),
                              lambda _topic, payload: handler(payload))

    def start(self) -> None:
        """Connect in the background (and keep reconnecting)."""
        self.client.start()

    def stop(self) -> None:
        """Say `offline` and disconnect cleanly (a clean disconnect sends no will)."""
        self.client.stop(farewell=self.farewell)

    def publish(self, leaf: str, payload: bytes | str, *, qos: int = 1,
                retain: bool = False) -> bool:
        """Publish on this screen's `leaf`; whether the broker took it (QoS 0: whether it was
        sent). False while disconnected: the caller falls back to HTTP, so nothing is queued."""
        if not self.connected.is_set():
            return False
        return self.client.publish(topics.screen_topic(self.screen_id, leaf), payload, qos=qos,
                                   retain=retain)
