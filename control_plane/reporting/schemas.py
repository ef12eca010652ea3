"""Wire shapes of reports and stored batches (the upload's are in `shared/pop.py`), and the
limits ingestion holds records to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DeliveryReport(BaseModel):
    """A delivery report as JSON (the CSV has the same rows and columns, without totals)."""

    model_config = ConfigDict(populate_by_name=True)

    start: datetime = Field(alias="from", description="Start of the first whole hour covered")
    end: datetime = Field(alias="to", description="End of the last whole hour covered")
    group_by: list[str]
    notes: list[str] = Field(default_factory=list)
    rows: list[dict[str, Any]] = Field(description=(
        "Per group and currency: plays (every stored play), billable_plays, seconds played, "
        "impressions, and spend_cents (advertisers, platform) or earnings_cents (venues); "
        "scans, unique_scanners and scans_per_1000_impressions of the campaigns' tracked "
        "links, attributed to the screens that played them as in /v1/reports/engagement "
        "(not by creative); grouped by age_band or gender: impressions split by the audience "
        "profile in force at each play, and target_impressions (those of each campaign's "
        "audience target)"))
    totals: list[dict[str, Any]] = Field(description="The rows added up, per currency")


class BatchRead(BaseModel):
    """A stored batch: `message` is the exact UTF-8 text the device signed."""

    id: str = Field(description="sha256 of the signed message (the `batch` of exported plays)")
    batch_id: str
    device_id: str
    screen_id: str
    public_key: str = Field(description="The device's raw Ed25519 public key, standard base64")
    signature: str = Field(description="Ed25519 signature of `message`, standard base64")
    message: str
    records: int
    transport: str
    received_at: datetime
    verifies: bool = Field(description="Whether the signature verifies now (it always should)")


@dataclass(frozen=True)
class IngestPolicy:
    """The limits a record is held to (from settings)."""

    clock_skew_s: float = 120.0
    duration_tolerance_ms: int = 2000
    max_age_days: int = 90
