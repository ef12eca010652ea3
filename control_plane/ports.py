"""Narrow interfaces that several domains use and none of them owns, declared below them all.

`MqttPublisher` is what the rest of the control plane needs of the MQTT bridge: scheduling
announces new playlists (retained, without waiting) and remote commands go out (QoS 1, waiting
for the broker's PUBACK) through its one method. `devices.bridge.MqttBridge` is the real one; a
process that runs no bridge hands None instead. Typing users against this keeps the bridge's
connection handling, subscriptions and handlers out of their reach, and lets the job queue
(below devices) hold one.
"""

from __future__ import annotations

from typing import Protocol


class MqttPublisher(Protocol):
    """Publishes one message to the broker."""

    def publish(self, topic: str, payload: bytes | str, *, qos: int = ..., retain: bool = ...,
                wait_s: float | None = ...) -> bool:
        """Publish; with `wait_s`, whether the broker acknowledged and accepted it in time (with
        `wait_s=None`, whether it was sent)."""
        ...
