"""Proof-of-play ingestion: a signed batch in, a receipt out; nothing lost, nothing counted twice.

1. The signature is checked over the records exactly as they arrived, with the key of the device
   the token (or the MQTT topic) names: a bad signature refuses the whole batch.
2. Each record is then checked on its own (shape, the device's own screen, clock sanity, length);
   a failing record is rejected with a stable code and the others go on.
3. What the checks need is read once per batch: the screen and its audience history, the
   campaigns the records name and the scheduler's rules for them (`scheduling.playtime`).
4. The write phase is serialized (PostgreSQL: a transaction-scoped advisory lock; SQLite: its one
   writer), so what it reads is exact: plays already stored, plays already counted in the hour,
   each campaign's spend so far. Records go in with INSERT … ON CONFLICT (play_id) DO NOTHING
   RETURNING, duplicates are those that did not go in, and the rollups are added to in the same
   transaction: they always equal the sum of the stored records. Serializing also makes `seq`
   (the export cursor) follow commit order, so a reader never skips a late commit.

What a play counts for is decided once, here, and stored on the play: billable when it is
eligible, completed and ran at least its expected length − 500 ms; impressions = the screen's
multiplier in effect when it started, in thousandths; spend accrues per campaign (`_charge`).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from control_plane.campaigns import service as campaigns_service
from control_plane.campaigns.models import Campaign
from control_plane.db import utcnow
from control_plane.devices.models import Device
from control_plane.errors import Conflict, Forbidden
from control_plane.reporting.models import (
    HOUSE,
    CampaignDelivery,
    PopBatchRecord,
    PopDaily,
    PopHourly,
    PopPlay,
    PopScreen,
)
from control_plane.scheduling import service as scheduling_service
from control_plane.scheduling.playtime import PlayRules
from control_plane.venues import service as venues_service
from control_plane.venues.models import Screen
from shared.pop import PopBatch, PopReceipt, PopRecord, PopRejection, signed_message, verify

BILLABLE_SHORTFALL_MS = 500  # a play counts when it ran its expected length minus this
VIDEO_ROUNDING_MS = 1000  # a video creative's length is its file's, rounded up to a second
MAX_EXPECTED_MS = 24 * 3_600_000
MAX_CLOCK_OFFSET_MS = 366 * 86_400_000
MICROS_PER_CENT = 1_000_000  # milli-impressions × CPM cents are millionths of a cent
HOUR_MS, DAY_MS = 3_600_000, 86_400_000
ADVISORY_LOCK_KEY = 0x706F70  # "pop": one ingest writes at a time (PostgreSQL)
WRITE_ATTEMPTS = 3
TOTALS = ("plays", "billable_plays", "played_ms", "impressions_milli", "spend_cents")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_record = TypeAdapter(PopRecord)


class BadSignature(Forbidden):
    code = "bad_signature"


class IngestRaced(Conflict):
    code = "ingest_conflict"


@dataclass(frozen=True)
class IngestPolicy:
    """The limits a record is held to (from settings)."""

    clock_skew_s: float = 120.0
    duration_tolerance_ms: int = 2000
    max_age_days: int = 90


@dataclass
class _Account:
    """A campaign's spend so far, as read under the write lock."""

    budget_cents: int
    cpm_cents: int
    spend_cents: int
    carry_micros: int

    def charge(self, impressions_milli: int) -> int:
        """Whole cents a play adds: the exact amount accrues and cents are charged as they
        complete (the remainder carries to the next play); at the budget, nothing more."""
        cents, carry = divmod(self.carry_micros + impressions_milli * self.cpm_cents,
                              MICROS_PER_CENT)
        room = max(0, self.budget_cents - self.spend_cents)
        if cents >= room:
            cents, carry = room, 0
        self.spend_cents += cents
        self.carry_micros = carry
        return cents


def _ms(instant: datetime) -> int:
    return (instant - _EPOCH) // _MS


def _play_id(raw: Any) -> str | None:
    value = raw.get("play_id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def _check(record: PopRecord, screen_id: str, now_ms: int, policy: IngestPolicy) -> str | None:
    """The code a record is rejected with on its own, or None."""
    if record.screen_id != screen_id:
        return "wrong_screen"
    if record.started_at.tzinfo is None or record.ended_at.tzinfo is None:
        return "invalid_record"
    started, ended = _ms(record.started_at), _ms(record.ended_at)
    if ended < started or record.expected_ms > MAX_EXPECTED_MS \
            or abs(record.clock_offset_ms) > MAX_CLOCK_OFFSET_MS:
        return "invalid_record"
    if ended > now_ms + policy.clock_skew_s * 1000:
        return "in_the_future"
    if started < now_ms - policy.max_age_days * DAY_MS:
        return "too_old"
    if max(record.duration_ms, ended - started) > record.expected_ms + policy.duration_tolerance_ms:
        return "too_long"
    return None


def _insert(session: Session, model: Any) -> Any:
    """A Core INSERT into the model's table in the engine's own dialect (both have ON CONFLICT;
    Core, not the ORM: the rows are plain dicts and there are many)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model.__table__)


class _Batch:
    """One batch's records, checked, and everything they need from other domains."""

    def __init__(self, session: Session, device: Device, batch: PopBatch,
                 policy: IngestPolicy, now: datetime) -> None:
        self.device = device
        self.rejected: list[PopRejection] = []
        self.candidates: list[PopRecord] = []
        self.repeats = 0
        now_ms = _ms(now)
        seen: set[str] = set()
        for raw in batch.records:
            try:
                record = _record.validate_python(raw)
            except ValidationError:
                self.rejected.append(PopRejection(play_id=_play_id(raw), code="invalid_record"))
                continue
            code = _check(record, device.screen_id, now_ms, policy)
            if code is not None:
                self.rejected.append(PopRejection(play_id=record.play_id, code=code))
            elif record.play_id in seen:
                self.repeats += 1  # the same play twice in one batch: a duplicate
            else:
                seen.add(record.play_id)
                self.candidates.append(record)
        self.screen: Screen = venues_service.get_screen(session=session,
                                                        screen_id=device.screen_id)
        history = venues_service.audience_history(session=session, screen_id=self.screen.id)
        self.audience_from = [_ms(at) for at, _ in history]
        self.audience = [round(m * 1000) for _, m in history] \
            or [round(self.screen.audience_multiplier * 1000)]
        self.campaigns: dict[str, Campaign] = {c.id: c for c in campaigns_service.get_many(
            session=session, campaign_ids={r.campaign_id for r in self.candidates
                                           if r.campaign_id is not None})}
        self.rules: PlayRules = scheduling_service.play_rules(
            session=session, screen=self.screen, campaigns=self.campaigns.values(),
            grace_s=policy.clock_skew_s)

    def impressions_milli(self, started_ms: int) -> int:
        """The screen's multiplier when a play started, in thousandths of an impression."""
        i = bisect_right(self.audience_from, started_ms) - 1
        return self.audience[max(i, 0)]

    def flag(self, record: PopRecord) -> str | None:
        """Why a campaign play does not count although it was accepted, or None."""
        assert record.campaign_id is not None
        reason = self.rules.why_not(record.campaign_id, record.creative_id, record.started_at)
        if reason is not None:
            return reason
        length_s = self.rules.expected_s(record.campaign_id, record.creative_id)
        if length_s is not None and not (
                length_s * 1000 - VIDEO_ROUNDING_MS - BILLABLE_SHORTFALL_MS
                <= record.expected_ms <= length_s * 1000 + BILLABLE_SHORTFALL_MS):
            return f"expected length {record.expected_ms} ms is not the creative's {length_s} s"
        return None


def ingest(*, session: Session, device: Device, batch: PopBatch, policy: IngestPolicy,
           transport: str = "http", now: datetime | None = None) -> PopReceipt:
    """Verify, check and store a batch of proof of play from a device; its receipt. Committed.

    Raises `BadSignature` (nothing stored) when the batch is not the device's own.
    """
    message = signed_message(batch.batch_id, device.id, batch.records)
    if not verify(device.public_key, message, batch.signature):
        raise BadSignature("the batch signature does not verify with this device's key",
                           details={"batch_id": batch.batch_id, "device_id": device.id})
    checked = _Batch(session, device, batch, policy, now or utcnow())
    for _ in range(WRITE_ATTEMPTS):
        try:
            receipt = _write(session, checked, batch, message, transport)
        except IngestRaced:
            session.rollback()
            continue
        session.commit()
        return receipt
    raise IngestRaced("the same plays are being uploaded concurrently; send the batch again")


def _serialize(session: Session, screen_id: str) -> None:
    """Start the write phase: from here until commit, no other ingest writes."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    # on SQLite this first write takes the database's write lock
    stmt = _insert(session, PopScreen).values(screen_id=screen_id, batches=1, records=0,
                                              last_batch_at=utcnow())
    session.execute(stmt.on_conflict_do_update(
        index_elements=["screen_id"],
        set_={"batches": PopScreen.batches + 1, "last_batch_at": stmt.excluded.last_batch_at}))


def _stored(session: Session, play_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(play_ids), 1000):
        found.update(session.scalars(select(PopPlay.play_id).where(
            PopPlay.play_id.in_(play_ids[i:i + 1000]))))
    return found


def _counted(session: Session, screen_id: str, hours: Iterable[int]) -> dict[tuple[int, str], int]:
    rows = session.execute(select(PopHourly.hour, PopHourly.campaign_key,
                                  func.sum(PopHourly.plays))
                           .where(PopHourly.screen_id == screen_id,
                                  PopHourly.hour.in_(sorted(set(hours))))
                           .group_by(PopHourly.hour, PopHourly.campaign_key)).all()
    return {(hour, key): int(plays) for hour, key, plays in rows}


def _accounts(session: Session, campaigns: dict[str, Campaign]) -> dict[str, _Account]:
    stored = {row.campaign_id: row for row in session.scalars(select(CampaignDelivery).where(
        CampaignDelivery.campaign_id.in_(list(campaigns))))} if campaigns else {}
    out = {}
    for campaign_id, campaign in campaigns.items():
        row = stored.get(campaign_id)
        out[campaign_id] = _Account(campaign.budget_cents, campaign.cpm_cents,
                                    row.spend_cents if row else 0,
                                    row.carry_micros if row else 0)
    return out


def _write(session: Session, checked: _Batch, batch: PopBatch, message: bytes,
           transport: str) -> PopReceipt:
    device, screen = checked.device, checked.screen
    _serialize(session, screen.id)
    candidates = checked.candidates
    stored = _stored(session, [r.play_id for r in candidates])
    fresh = [r for r in candidates if r.play_id not in stored]
    rejected = list(checked.rejected)
    counted = _counted(session, screen.id, (_ms(r.started_at) // HOUR_MS for r in fresh))
    accounts = _accounts(session, {r.campaign_id: checked.campaigns[r.campaign_id]
                                   for r in fresh if r.campaign_id in checked.campaigns})
    digest = hashlib.sha256(message).hexdigest()
    rows: list[dict[str, Any]] = []
    for record in fresh:
        started = _ms(record.started_at)
        hour, key = started // HOUR_MS, record.campaign_id or HOUSE
        plays = counted.get((hour, key), 0) + 1
        if plays > checked.rules.max_plays_per_hour(record.campaign_id):
            rejected.append(PopRejection(play_id=record.play_id, code="too_many_plays"))
            continue
        counted[(hour, key)] = plays
        campaign = checked.campaigns.get(record.campaign_id or "")
        flag = checked.flag(record) if record.campaign_id is not None else None
        billable = (campaign is not None and flag is None and record.completed
                    and record.duration_ms >= record.expected_ms - BILLABLE_SHORTFALL_MS)
        impressions = checked.impressions_milli(started) if billable else 0
        spend = accounts[record.campaign_id].charge(impressions) \
            if billable and record.campaign_id else 0
        rows.append({
            "play_id": record.play_id, "batch": digest, "device_id": device.id,
            "screen_id": screen.id, "campaign_id": record.campaign_id,
            "creative_id": record.creative_id, "media_sha256": record.media_sha256,
            "started_ms": started, "ended_ms": _ms(record.ended_at),
            "duration_ms": record.duration_ms, "expected_ms": record.expected_ms,
            "completed": record.completed, "clock_offset_ms": record.clock_offset_ms,
            "billable": billable, "impressions_milli": impressions, "spend_cents": spend,
            "flag": flag, "advertiser_org_id": campaign.org_id if campaign else None,
            "venue_org_id": screen.org_id})
    if rows:
        session.execute(_insert(session, PopBatchRecord).values(
            id=digest, batch_id=batch.batch_id, device_id=device.id, screen_id=screen.id,
            venue_org_id=screen.org_id, public_key=device.public_key,
            signature=batch.signature, message=message.decode(), records=len(batch.records),
            transport=transport, received_at=utcnow()).on_conflict_do_nothing())
        inserted = session.scalars(
            _insert(session, PopPlay).on_conflict_do_nothing(index_elements=["play_id"])
            .returning(PopPlay.__table__.c.play_id), rows).all()
        if len(inserted) != len(rows):  # another writer got there first: read again
            raise IngestRaced("plays were stored concurrently")
        _roll_up(session, checked, rows, accounts)
    session.execute(update(PopScreen).where(PopScreen.screen_id == screen.id)
                    .values(records=PopScreen.records + len(rows)))
    duplicates = checked.repeats + len(candidates) - len(fresh)
    return PopReceipt(accepted=len(rows), duplicates=duplicates, rejected=rejected)


def _roll_up(session: Session, checked: _Batch, rows: list[dict[str, Any]],
             accounts: dict[str, _Account]) -> None:
    """Add the new plays to the hourly and daily rollups and to their campaigns' totals."""
    screen = checked.screen
    hourly: dict[tuple[int, str, str], list[int]] = defaultdict(lambda: [0] * 5)
    daily: dict[tuple[int, str, str], list[int]] = defaultdict(lambda: [0] * 5)
    totals: dict[str, list[int]] = defaultdict(lambda: [0] * 5)
    for row in rows:
        add = (1, int(row["billable"]), row["duration_ms"], row["impressions_milli"],
               row["spend_cents"])
        key = row["campaign_id"] or HOUSE
        for bucket in (hourly[(row["started_ms"] // HOUR_MS, key, row["creative_id"])],
                       daily[(row["started_ms"] // DAY_MS, key, row["creative_id"])],
                       *([totals[key]] if key in accounts else [])):
            for i, value in enumerate(add):
                bucket[i] += value
    for table, period, groups in ((PopHourly, "hour", hourly), (PopDaily, "day", daily)):
        params = []
        for (at, key, creative_id), sums in groups.items():
            campaign = checked.campaigns.get(key)
            params.append({period: at, "screen_id": screen.id, "campaign_key": key,
                           "creative_id": creative_id, "venue_id": screen.venue_id,
                           "venue_org_id": screen.org_id,
                           "advertiser_org_id": campaign.org_id if campaign else None,
                           "currency": campaign.currency if campaign else None,
                           **dict(zip(TOTALS, sums, strict=True))})
        stmt = _insert(session, table)
        session.execute(stmt.on_conflict_do_update(
            index_elements=[period, "screen_id", "campaign_key", "creative_id"],
            set_={name: getattr(table, name) + getattr(stmt.excluded, name)
                  for name in TOTALS}), params)
    if totals:
        stmt = _insert(session, CampaignDelivery)
        session.execute(stmt.on_conflict_do_update(
            index_elements=["campaign_id"],
            set_={**{name: getattr(CampaignDelivery, name) + getattr(stmt.excluded, name)
                     for name in TOTALS},
                  "carry_micros": stmt.excluded.carry_micros,
                  "updated_at": stmt.excluded.updated_at}),
            [{"campaign_id": campaign_id, **dict(zip(TOTALS, sums, strict=True)),
              "carry_micros": accounts[campaign_id].carry_micros, "updated_at": utcnow()}
             for campaign_id, sums in totals.items()])
