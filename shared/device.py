"""Wire models of the device protocol (DESIGN.md, "The device protocol"): pairing and health.

Both sides import these; readers ignore fields they do not know, so either side can be upgraded
first. Every message names its schema (`adsbin.<name>/v1`).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ED25519_PUBLIC_KEY_BYTES = 32


class Wire(BaseModel):
    """Base of every wire model: unknown fields are ignored, not refused."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Display(Wire):
    """What the agent knows of its display."""

    width_px: int = Field(ge=1, le=16384)
    height_px: int = Field(ge=1, le=16384)


class PairingRequest(Wire):
    """An unpaired agent asking for a pairing code."""

    schema_: Literal["adsbin.pairing-request/v1"] = Field(
        "adsbin.pairing-request/v1", alias="schema")
    fingerprint: str = Field(min_length=8, max_length=200,
                             description="A stable hash of the unit's hardware ids")
    public_key: str = Field(description="The agent's Ed25519 public key, standard base64")
    display: Display
    agent_version: str = Field(max_length=50)

    @field_validator("public_key")
    @classmethod
    def _ed25519(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("public_key must be standard base64") from exc
        if len(raw) != ED25519_PUBLIC_KEY_BYTES:
            raise ValueError("public_key must be a raw 32-byte Ed25519 public key")
        return value


class PairingTicket(Wire):
    """The code to show on screen, and how to poll for the claim."""

    pairing_id: str
    code: str
    expires_at: datetime
    poll_after_s: int


class MqttCredentials(Wire):
    """Where and as whom the device connects to the broker."""

    url: str
    username: str
    password: str


class PairingStatus(Wire):
    """The state of a pairing; credentials appear once, on the first poll after the claim."""

    status: Literal["pending", "claimed", "expired"]
    expires_at: datetime
    poll_after_s: int | None = None
    device_id: str | None = None
    screen_id: str | None = None
    device_token: str | None = None
    mqtt: MqttCredentials | None = None


class Heartbeat(Wire):
    """A device's health, every 30 s over MQTT (or HTTP when MQTT is unavailable)."""

    schema_: Literal["adsbin.heartbeat/v1"] = Field("adsbin.heartbeat/v1", alias="schema")
    sent_at: datetime
    agent_version: str = Field(max_length=50)
    now_playing: dict[str, Any] | None = None
    cache: dict[str, Any] | None = Field(None, description="files, bytes, quota_bytes")
    disk_free_bytes: int | None = Field(None, ge=0)
    temperature_c: float | None = Field(None, ge=-100, le=200)
    uptime_s: float | None = Field(None, ge=0)
    clock_offset_ms: int | None = None


class HeartbeatAck(Wire):
    """The server's answer to an HTTP heartbeat: its clock, to measure the offset."""

    server_time: datetime


CommandType = Literal["resync", "screenshot", "reboot", "identify", "clear_cache"]


class Command(Wire):
    """A remote command, sent QoS 1 on the screen's `commands` topic (and listed over HTTP)."""

    schema_: Literal["adsbin.command/v1"] = Field("adsbin.command/v1", alias="schema")
    id: str
    type: CommandType
    expires_at: datetime
    upload_url: str | None = Field(None, description="screenshot: where to PUT the PNG")
    screen_name: str | None = Field(None, description="identify: the name to show")


class CommandAck(Wire):
    """The device's word on a command: received it, then did it (or could not)."""

    schema_: Literal["adsbin.command-ack/v1"] = Field("adsbin.command-ack/v1", alias="schema")
    command_id: str = Field(max_length=64)
    status: Literal["delivered", "acked", "failed"]
    result: str | None = Field(None, max_length=500)
    details: dict[str, Any] | None = None
