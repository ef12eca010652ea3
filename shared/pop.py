"""Proof of play on the wire (DESIGN.md, device protocol 5), for the agent and the control plane.

A record says one play happened; a batch carries records signed with the device's Ed25519 key.
The signed message is the UTF-8 bytes of `{"batch_id", "device_id", "records"}` with sorted keys
and no whitespace, so anyone holding the device's public key can check a play without our code.
A batch also says what the device's own clock read when it was sent (`device_time`, outside the
signature): a clock that went wrong since the device last measured its offset is seen there.
A verifier must check the records exactly as they arrived (the JSON objects of the request), not
a re-serialisation of parsed models: `12:00:00.100Z` and `12:00:00.1Z` are the same instant but
not the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NotRequired, Protocol

from pydantic import Field
from typing_extensions import TypedDict  # pydantic needs it for TypedDicts before 3.12

from shared.device import Wire

BATCH_SCHEMA = "adsbin.pop-batch/v1"
MAX_BATCH_RECORDS = 1000


class PopRecord(TypedDict):
    """One play, as the device saw it (times are UTC, device clock plus the measured offset).

    A typed dict, not a model: the record is a JSON object on the wire and stays one here
    (unknown fields are ignored), and the server validates 500 of them per batch.
    """

    play_id: Annotated[str, Field(min_length=1, max_length=64,
                                  description="UUID; the idempotency key")]
    screen_id: Annotated[str, Field(max_length=64)]
    campaign_id: NotRequired[Annotated[str | None, Field(
        max_length=64, description="null (or absent) for house content")]]
    creative_id: Annotated[str, Field(max_length=64)]
    media_sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
    started_at: datetime
    ended_at: datetime
    duration_ms: Annotated[int, Field(ge=0)]
    expected_ms: Annotated[int, Field(ge=0)]
    completed: bool
    clock_offset_ms: int


class PopBatch(Wire):
    """What `POST /v1/device/pop` takes (and the device's `pop` topic carries)."""

    schema_: Literal["adsbin.pop-batch/v1"] = Field("adsbin.pop-batch/v1", alias="schema")
    batch_id: str = Field(min_length=1, max_length=64)
    device_id: str | None = Field(None, max_length=64,
                                  description="Informative: the server signs for the device "
                                              "the token names")
    records: list[dict[str, Any]] = Field(max_length=MAX_BATCH_RECORDS,
                                          description="PopRecord objects, exactly as signed")
    signature: str = Field(max_length=200, description="Ed25519 signature, standard base64")
    device_time: datetime | None = Field(
        None, description="The device's own clock, uncorrected, as it sent the batch (not "
                          "signed): the server measures the clock's error from it and corrects "
                          "plays whose clock_offset_ms missed that error")


class PopRejection(Wire):
    """A record the server would not take, and why (a stable code)."""

    play_id: str | None
    code: str


class PopReceipt(Wire):
    """The server's answer: everything in the batch is now accepted, a duplicate or rejected."""

    accepted: int
    duplicates: int
    rejected: list[PopRejection] = Field(default_factory=list)


def rfc3339_ms(instant: datetime) -> str:
    """An instant as RFC 3339 UTC with milliseconds and a `Z` (the records' time format)."""
    if instant.tzinfo is None:
        raise ValueError("proof-of-play times must be timezone-aware")
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def signed_message(batch_id: str, device_id: str, records: list[dict[str, Any]]) -> bytes:
    """The exact bytes a batch's signature covers."""
    return json.dumps({"batch_id": batch_id, "device_id": device_id, "records": records},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Signer(Protocol):
    """An Ed25519 private key: `cryptography`'s, or the agent's own `DeviceKey` (PyNaCl)."""

    def sign(self, data: bytes, /) -> bytes:
        """The 64-byte signature of `data`."""
        ...


def sign(key: Signer, message: bytes) -> str:
    """The message's Ed25519 signature, standard base64."""
    return base64.b64encode(key.sign(message)).decode()


def verify(public_key_b64: str, message: bytes, signature_b64: str) -> bool:
    """Whether `signature_b64` is the device key's signature of `message`."""
    # imported here: the agent signs and never verifies, and cryptography costs it 8 MB
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
        key.verify(base64.b64decode(signature_b64, validate=True), message)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
