"""Reporting: proof-of-play ingestion, what campaigns delivered, reports and the raw export.

Other domains ask here, never the tables: campaigns read `delivery()`; the scheduler's pacing
is answered `delivered_impressions()` through the upcall it declares (reporting builds on the
scheduler, whose rules judge proof of play). Both read the campaign rollup that ingestion keeps
in the same transaction as the plays, so they are exact and cost one primary-key lookup per
campaign.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.db import utcnow
from control_plane.devices import messaging as device_messages
from control_plane.devices.service import Device
from control_plane.errors import Invalid
from control_plane.reporting import billable, reports
from control_plane.reporting import ingest as ingestion
from control_plane.reporting.audience_reports import audience_report, wants_audience
from control_plane.reporting.billable import BillableGroup, Window
from control_plane.reporting.exceptions import BadSignature, BatchNotFound
from control_plane.reporting.export import ExportPage, export_page
from control_plane.reporting.impressions import HourImpressions, hourly_impressions
from control_plane.reporting.models import CampaignDelivery, PopBatchRecord
from control_plane.reporting.reports import Filters, Report
from control_plane.reporting.schemas import IngestPolicy
from control_plane.reporting.scope import Scope, scope_of
from control_plane.reporting.turn import TURN
from control_plane.revenue.service import Timeline
from control_plane.scheduling import service as scheduling_service
from control_plane.settings import Settings
from shared.pop import PopBatch, PopReceipt

__all__ = ["BadSignature", "BillableGroup", "Delivery", "ExportPage", "Filters",
           "HourImpressions", "IngestPolicy", "Report", "Scope", "Window", "batch", "billable",
           "delivered_impressions", "delivery", "delivery_report", "export_page",
           "hourly_impressions", "ingest", "ingest_turn", "period", "policy", "scope_of"]

DEFAULT_PERIOD = timedelta(days=30)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def delivery_report(*, session: Session, scope: Scope, group_by: list[str], start: datetime,
                    end: datetime, filters: Filters | None = None,
                    latest_play: datetime | None = None,
                    shares: Timeline | None = None) -> Report:
    """Delivery over a period grouped as asked (`reports.py`), or impressions split by who
    watched when `group_by` names age_band or gender (`audience_reports.py`)."""
    if wants_audience(group_by):
        return audience_report(session=session, scope=scope, group_by=group_by, start=start,
                               end=end, filters=filters, latest_play=latest_play)
    return reports.delivery_report(session=session, scope=scope, group_by=group_by,
                                   start=start, end=end, filters=filters,
                                   latest_play=latest_play, shares=shares)


def period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """A report's period from its `from` and `to` (each optional: the last 30 days to now);
    422 `invalid_period` for a time without a zone or outside 1970–9000."""
    end = end or utcnow()
    start = start or end - DEFAULT_PERIOD
    for name, value in (("from", start), ("to", end)):
        if value.tzinfo is None:
            raise Invalid(f"`{name}` needs a time zone (RFC 3339, e.g. 2026-12-01T00:00:00Z)",
                          code="invalid_period")
        if not EARLIEST <= value <= LATEST:
            raise Invalid(f"`{name}` must be between 1970 and 9000", code="invalid_period")
    return start, end


@dataclass(frozen=True)
class Delivery:
    """What a campaign delivered so far, from stored proof of play."""

    plays: int = 0
    billable_plays: int = 0
    seconds: float = 0.0
    impressions: float = 0.0
    spend_cents: int = 0
    # of the impressions, those of its audience target as it was when each play arrived (each
    # play's × the target's share of the viewers of the profile daypart that counted it; none
    # from a flat multiplier); 0 without a target: whether it has one is the campaign's to say
    target_impressions: float = 0.0


def ingest(*, session: Session, device: Device, batch: PopBatch, policy: IngestPolicy,
           transport: str = "http") -> PopReceipt:
    """Verify, check and store a device's signed batch of proof of play; its receipt.
    Committed. `BadSignature` (nothing stored) when the device did not sign it."""
    return ingestion.ingest(session=session, device=device, batch=batch, policy=policy,
                            transport=transport)


@device_messages.ingest_pop.provide  # proof of play over MQTT
def _ingest_over_mqtt(*, session: Session, device: Device, batch: PopBatch, settings: Settings,
                      transport: str) -> PopReceipt:
    return ingest(session=session, device=device, batch=batch, policy=policy(settings),
                  transport=transport)


def ingest_turn() -> AbstractContextManager[None]:
    """This process's turn to run ingestion's Python (`turn.py`), for a caller with more to do
    for a batch before `ingest` (its token checked, its JSON parsed); give it up before
    calling `ingest`, which takes it itself."""
    return TURN()


def policy(settings: Settings) -> IngestPolicy:
    """The limits records are held to, from the settings."""
    return IngestPolicy(clock_skew_s=settings.pop_clock_skew_s,
                        duration_tolerance_ms=settings.pop_duration_tolerance_ms,
                        max_age_days=settings.pop_max_age_days)


def _rows(session: Session, campaign_ids: Iterable[str]) -> list[CampaignDelivery]:
    ids = list(set(campaign_ids))
    rows: list[CampaignDelivery] = []
    for i in range(0, len(ids), 1000):
        rows += session.scalars(select(CampaignDelivery).where(
            CampaignDelivery.campaign_id.in_(ids[i:i + 1000])))
    return rows


def delivery(*, session: Session, campaign_ids: Iterable[str]) -> dict[str, Delivery]:
    """Each campaign's delivery so far (absent: nothing played yet)."""
    return {row.campaign_id: Delivery(plays=row.plays, billable_plays=row.billable_plays,
                                      seconds=row.played_ms / 1000,
                                      impressions=row.impressions_milli / 1000,
                                      spend_cents=row.spend_cents,
                                      target_impressions=row.target_impressions_milli / 1000)
            for row in _rows(session, campaign_ids)}


@scheduling_service.delivered_impressions.provide  # pacing closes over delivery
def delivered_impressions(*, session: Session, campaign_ids: Iterable[str]) -> dict[str, float]:
    """Billable impressions delivered so far per campaign (absent: none yet)."""
    return {row.campaign_id: row.impressions_milli / 1000
            for row in _rows(session, campaign_ids)}


def batch(*, session: Session, scope: Scope, batch_digest: str) -> PopBatchRecord:
    """A stored batch (the signed bytes, signature and key), if `scope` may read it.

    The signature covers the whole batch, so reading it shows every play of that screen in it:
    the screen's venue org and the platform may; an advertiser asks the platform.
    """
    found = session.get(PopBatchRecord, batch_digest)
    if found is None or not (scope.everything or found.venue_org_id == scope.venue_org_id):
        raise BatchNotFound("proof-of-play batch not found")
    return found
