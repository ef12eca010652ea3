"""The control plane's MQTT client: `shared.mqtt.MqttClient` on every screen's device topics.

It logs in with the service account and hands each message on a screen's `status`, `heartbeat`,
`acks` or `pop` topic to the handler of that leaf, with the screen's id. Reconnecting,
resubscribing, waiting for the broker's PUBACK and keeping handler errors away from paho's loop
are the base's; so is giving up on a login the broker refuses (`state` says so). MQTT only makes
things fast: devices and the server also speak HTTP, so a broker outage costs latency, never
correctness.

Each time it connects again after losing the broker, it calls its `on_reconnect` callbacks (off
paho's network thread): a broker that restarted may have lost its retained messages (Mosquitto
saves them at a clean stop and at its autosave interval, not at a crash), and the playlists'
announcements are put back from there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from shared import mqtt, topics
from shared.mqtt import ClientState, MqttClient

SUBSCRIBED_LEAVES = ("status", "heartbeat", "acks", "pop")

Handler = Callable[[str, bytes], None]  # (screen_id, payload)
RECONNECT_WATCH_S = 0.5  # how often the watcher looks for a connection made again

log = logging.getLogger(__name__)


class MqttBridge:
    """The service account's connection to the broker, with handlers per topic leaf."""

    def __init__(self, url: str, *, username: str, password: str,
                 client_id: str = "adsbin-control-plane", share_group: str | None = None
                 ) -> None:
        self.handlers: dict[str, Handler] = {}
        self.share_group = share_group  # MQTT 5 shared subscriptions: one of the group gets it
        self.client = MqttClient(url, username=username, password=password, client_id=client_id)
        self.host, self.port = self.client.host, self.client.port
        self._on_reconnect: list[Callable[[], object]] = []
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def connected(self) -> threading.Event:
        """Set while connected and subscribed."""
        return self.client.connected

    @property
    def state(self) -> ClientState:
        """Connected, connecting, refused (bad credentials: no more retries) or stopped."""
        return self.client.state

    def on(self, leaf: str, handler: Handler) -> None:
        """Call `handler(screen_id, payload)` for messages on every screen's `leaf` topic."""
        if leaf not in SUBSCRIBED_LEAVES:
            raise ValueError(f"the bridge does not listen to {leaf!r}")
        self.handlers[leaf] = handler

        def deliver(topic: str, payload: bytes) -> None:
            parsed = topics.parse(topic)
            if parsed is not None and parsed[1] == leaf:
                handler(parsed[0], payload)

        topic_filter = topics.any_screen(leaf)
        if self.share_group:
            topic_filter = f"$share/{self.share_group}/{topic_filter}"
        self.client.subscribe(topic_filter, deliver)

    def on_reconnect(self, callback: Callable[[], object]) -> None:
        """Call `callback()` each time the bridge connects again after losing the broker."""
        self._on_reconnect.append(callback)

    def start(self, *, wait_s: float | None = None) -> bool:
        """Connect in the background; whether it was connected within `wait_s` (default
        `shared.mqtt.CONNECT_TIMEOUT_S`); False at once if the broker refused the login."""
        self.client.start()
        connected = self.client.wait_connected(wait_s)
        if self._on_reconnect and self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="mqtt-reconnects",
                                             args=(max(1, self.client.connects),), daemon=True)
            self._watcher.start()
        return connected

    def stop(self) -> None:
        """Disconnect and stop the network loop."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        self.client.stop()

    def _watch(self, seen: int) -> None:
        """Call the `on_reconnect` callbacks for each connection after the `seen`th."""
        while not self._stopping.wait(RECONNECT_WATCH_S):
            connects = self.client.connects
            if connects <= seen or not self.client.connected.is_set():
                continue
            seen = connects
            for callback in self._on_reconnect:
                try:
                    callback()
                except Exception:  # one failing callback must not end the watch
                    log.exception("a callback after the broker came back failed")

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False,
                wait_s: float | None = mqtt.PUBACK_TIMEOUT_S) -> bool:
        """Publish; with `wait_s`, whether the broker acknowledged and accepted it in time."""
        return self.client.publish(topic, payload, qos=qos, retain=retain,
                                   wait=wait_s is not None, timeout_s=wait_s)
