"""Proof-of-play ingestion: a signed batch in, a receipt out; nothing lost, nothing counted twice.

1. The signature is checked over the records exactly as they arrived, with the key of the device
   the token (or the MQTT topic) names: a bad signature refuses the whole batch.
2. Each record is then checked on its own (shape, the device's own screen, clock sanity, length);
   a failing record is rejected with a stable code and the others go on. Its times are first
   corrected by the device clock's error as the batch shows it: the batch's `device_time` (the
   device's uncorrected clock as it sent it) against the time it arrived is the clock's offset
   now; a record whose own `clock_offset_ms` is more than `CLOCK_CORRECTION_MIN_MS` from it (a
   clock that went wrong after the device last measured it, or before it could: a unit that
   booted offline an hour off) is moved by the difference, and stored with the offset applied.
   A clock that changed again between the play and the upload cannot be seen, and is not.
3. What the checks need is read once per batch (the screen and its audience history, the
   campaigns the records name, the scheduler's rules for them), and what each play counts for
   is decided then: billable when eligible, completed, and at least its expected length −
   500 ms, and no more than `duration_tolerance_ms` over it (a play that ran longer is kept,
   flagged, and counts for nothing: the player hung or its timers ran late, and what was
   bought was a slot, not what it overran into); impressions from the screen's multiplier in
   effect when it started, or from the daypart of its audience profile; of those, for a
   campaign with an audience target, the target's share of that daypart's viewers are its
   target impressions (none from a flat multiplier: nothing says who watched).
4. The write phase (`writer.py`, `store.py`) is serialized, stores the plays that are new and
   adds them to the rollups in the same transaction, several batches of a process in one.

All of it runs in this process's turn (`turn.py`): one batch computes at a time, and a batch
that holds the database's write lock goes first.
"""

from __future__ import annotations

import hashlib
import zlib
from bisect import bisect_right
from datetime import datetime
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from control_plane import events
from control_plane.campaigns import service as campaigns_service
from control_plane.campaigns.service import Campaign
from control_plane.db import utcnow
from control_plane.devices.service import Device
from control_plane.reporting import store, writer
from control_plane.reporting.exceptions import BadSignature
from control_plane.reporting.models import HOUSE
from control_plane.reporting.schemas import IngestPolicy
from control_plane.reporting.store import Play, PlayRow, Terms
from control_plane.reporting.turn import TURN
from control_plane.scheduling import service as scheduling_service
from control_plane.scheduling.audience import share
from control_plane.scheduling.inputs import AudienceTarget, Split
from control_plane.scheduling.playtime import PlayRules, epoch_ms
from control_plane.venues import service as venues_service
from control_plane.venues.service import CompiledProfile, Screen
from shared.pop import PopBatch, PopReceipt, PopRecord, PopRejection, signed_message, verify

BILLABLE_SHORTFALL_MS = 500  # a play counts when it ran its expected length minus this
VIDEO_ROUNDING_MS = 1000  # a video creative's slot is its file's length rounded up to a second
MAX_EXPECTED_MS = 24 * 3_600_000
MAX_CLOCK_OFFSET_MS = 366 * 86_400_000
# below this, a record's offset and the batch's differ by the upload's own latency, not by a
# clock gone wrong: the record is kept as the device corrected it
CLOCK_CORRECTION_MIN_MS = 5_000
HOUR_MS, DAY_MS = 3_600_000, 86_400_000
_one = TypeAdapter(PopRecord)
_many = TypeAdapter(list[PopRecord])


def _play_id(raw: Any) -> str | None:
    value = raw.get("play_id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def _verified_message(batch: PopBatch, device: Device) -> bytes:
    """The bytes the batch's signature covers, checked with the device's key; `BadSignature`.

    They are rebuilt with orjson first (an eighth of the time of `json.dumps`): for what a
    device sends (strings, integers, booleans, null) its sorted, compact UTF-8 is byte for byte
    `signed_message`'s. Where the two could differ (floats, integers beyond 64 bits), a check
    that fails is tried again with `signed_message` itself, so the answer is exact either way.
    """
    fields = {"batch_id": batch.batch_id, "device_id": device.id, "records": batch.records}
    try:
        fast: bytes | None = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        fast = None
    if fast is not None and verify(device.public_key, fast, batch.signature):
        return fast
    message = signed_message(batch.batch_id, device.id, batch.records)
    if message != fast and verify(device.public_key, message, batch.signature):
        return message
    raise BadSignature("the batch signature does not verify with this device's key",
                       details={"batch_id": batch.batch_id, "device_id": device.id})


def _parse(raws: list[dict[str, Any]]) -> list[PopRecord | PopRejection]:
    """Each raw record as a PopRecord, or its rejection (one validator call when all are fine)."""
    try:
        return list(_many.validate_python(raws))
    except ValidationError:
        pass
    out: list[PopRecord | PopRejection] = []
    for raw in raws:
        try:
            out.append(_one.validate_python(raw))
        except ValidationError:
            out.append(PopRejection(play_id=_play_id(raw), code="invalid_record"))
    return out


class Batch:
    """One verified batch, checked record by record, with what its plays count for.

    It keeps plain values, not the ORM's objects: once checked, the batch waits for the write
    lock without its session's connection, and may be written by another thread (`writer.py`).
    """

    def __init__(self, session: Session, device: Device, batch: PopBatch, message: bytes,
                 policy: IngestPolicy, now: datetime,
                 received_at: datetime | None = None) -> None:
        self.batch = batch
        self.device_id, self.public_key = str(device.id), str(device.public_key)
        self.digest = hashlib.sha256(message).hexdigest()
        self.message_zlib = zlib.compress(message, 1)  # JSON of repeated ids: ~10× smaller
        self.rejected: list[PopRejection] = []
        self.repeats = 0
        device_offset_ms = (epoch_ms(received_at or now) - epoch_ms(batch.device_time)
                            if batch.device_time is not None
                            and batch.device_time.tzinfo is not None else None)
        checked = self._check(_parse(batch.records), device.screen_id, epoch_ms(now), policy,
                              device_offset_ms)
        TURN.pause()  # a batch of this process that holds the write lock goes first
        screen: Screen = venues_service.get_screen(session=session, screen_id=device.screen_id,
                                                   with_venue=True)
        self.screen_id, self.venue_id = str(screen.id), str(screen.venue_id)
        self.venue_org_id = str(screen.org_id)
        history = venues_service.audience_history(session=session, screen_id=screen.id)
        self._audience_from = [epoch_ms(at) for at, _ in history]
        self._audience = [round(m * 1000) for _, m in history] \
            or [round(screen.audience_multiplier * 1000)]
        self._profiles = venues_service.audience_timeline(session=session, screen=screen)
        self._shares: dict[tuple[str, int, str], float] = {}
        TURN.pause()
        named = {c[0].get("campaign_id") for c in checked}
        campaigns: dict[str, Campaign] = {c.id: c for c in campaigns_service.get_many(
            session=session, campaign_ids=[cid for cid in named if cid is not None])}
        self.campaigns = {cid: Terms(str(c.org_id), str(c.currency), int(c.budget_cents),
                                     int(c.cpm_cents), scheduling_service.audience_target(
                                         (c.targeting or {}).get("audience")))
                          for cid, c in campaigns.items()}
        self.rules: PlayRules = scheduling_service.play_rules(
            session=session, screen=screen, campaigns=campaigns.values(),
            grace_s=policy.clock_skew_s)
        TURN.pause()
        if checked:
            self.rules.prepare(min(c[1] for c in checked), max(c[1] for c in checked))
        self.plays = self._judge(checked)
        TURN.pause()
        self.tally = store.tally(self.plays, self.campaigns)
        self.carry: dict[str, int] = {}  # each campaign's fraction of a cent, once billed
        self.spent_out: list[str] = []  # campaigns whose budget this batch spent

    def _check(self, parsed: list[PopRecord | PopRejection], screen_id: str, now_ms: int,
               policy: IngestPolicy, device_offset_ms: int | None,
               ) -> list[tuple[PopRecord, int, int, int, int]]:
        """The records that pass the checks a record gets on its own, first of each play id,
        with their start and end (epoch ms, corrected), the clock offset that applies and how
        far the play ran over its length and tolerance (0: it did not); the others rejected or
        counted as repeats."""
        future_ms = now_ms + round(policy.clock_skew_s * 1000)
        oldest_ms = now_ms - policy.max_age_days * DAY_MS
        tolerance = policy.duration_tolerance_ms
        seen: set[str] = set()
        out = []
        for record in parsed:
            if isinstance(record, PopRejection):
                self.rejected.append(record)
                continue
            started_at, ended_at, expected = (record["started_at"], record["ended_at"],
                                              record["expected_ms"])
            offset = record["clock_offset_ms"]
            shift = 0
            if device_offset_ms is not None \
                    and abs(device_offset_ms - offset) > CLOCK_CORRECTION_MIN_MS:
                shift, offset = device_offset_ms - offset, device_offset_ms
            code, overran = None, 0
            if record["screen_id"] != screen_id:
                code = "wrong_screen"
            elif started_at.tzinfo is None or ended_at.tzinfo is None \
                    or expected > MAX_EXPECTED_MS \
                    or abs(offset) > MAX_CLOCK_OFFSET_MS:
                code = "invalid_record"
            else:
                started, ended = epoch_ms(started_at) + shift, epoch_ms(ended_at) + shift
                if ended < started:
                    code = "invalid_record"
                elif ended > future_ms:
                    code = "in_the_future"
                elif started < oldest_ms:
                    code = "too_old"
                elif (lasted := max(record["duration_ms"], ended - started)) \
                        > expected + tolerance:
                    overran = lasted - expected
            play_id = record["play_id"]
            if code is not None:
                self.rejected.append(PopRejection(play_id=play_id, code=code))
            elif play_id in seen:
                self.repeats += 1  # the same play twice in one batch: a duplicate
            else:
                seen.add(play_id)
                out.append((record, started, ended, offset, overran))
        return out

    def _judge(self, checked: list[tuple[PopRecord, int, int, int, int]]) -> list[Play]:
        """What each play counts for (house content and flagged plays: nothing)."""
        judge, campaigns = self.rules.judge, self.campaigns
        audience_from, audience = self._audience_from, self._audience
        profiles = self._profiles if self._profiles.starts_ms else None
        digest, device_id, screen_id = self.digest, self.device_id, self.screen_id
        venue_org_id = self.venue_org_id
        plays = []
        for r, started, ended, offset, overran in checked:
            campaign_id, expected, duration = r.get("campaign_id"), r["expected_ms"], \
                r["duration_ms"]
            flag, billable, impressions, advertiser, profile_id = None, False, 0, None, None
            audience_key, target = "", 0
            if campaign_id is not None:
                terms = campaigns.get(campaign_id)
                advertiser = terms.org_id if terms is not None else None
                flag = judge(campaign_id, r["creative_id"], started, expected,
                             VIDEO_ROUNDING_MS + BILLABLE_SHORTFALL_MS, BILLABLE_SHORTFALL_MS)
                if flag is None and overran:
                    flag = f"ran {overran / 1000:.1f} s over its {expected / 1000:g} s"
                if flag is None and r["completed"] \
                        and duration >= expected - BILLABLE_SHORTFALL_MS:
                    billable = True
                    profile = profiles.at(started) if profiles is not None else None
                    minute = profile.minute_of_week(started) if profile is not None else 0
                    counted = profile.per_minute[minute] if profile is not None else -1
                    if profile is None or counted < 0:  # no profile, or outside its dayparts
                        impressions = audience[max(bisect_right(audience_from, started) - 1,
                                                   0)]
                    else:
                        impressions, profile_id = counted, profile.id
                        part = profile.part_of_minute[minute]
                        audience_key = f"{profile.id}:{part}"
                        if terms is not None and terms.audience is not None:
                            target = round(impressions * self._share(
                                profile, part, campaign_id, terms.audience))
            row = PlayRow(r["play_id"], digest, device_id, screen_id, campaign_id,
                          r["creative_id"], r["media_sha256"], started, ended, duration,
                          expected, r["completed"], offset, billable, impressions,
                          0, flag, advertiser, venue_org_id, profile_id)
            plays.append(Play(r["play_id"], row, started // HOUR_MS, started // DAY_MS,
                              campaign_id or HOUSE, r["creative_id"], billable, impressions,
                              duration, audience_key, target))
        return plays

    def _share(self, profile: CompiledProfile, part: int, campaign_id: str,
               target: AudienceTarget) -> float:
        """The target's share of the viewers of a daypart of a profile, worked out once a
        batch (its plays fall in a few dayparts)."""
        key = (profile.id, part, campaign_id)
        found = self._shares.get(key)
        if found is None:
            split = profile.splits[part]
            found = self._shares[key] = share(Split(split.age, split.gender), target)
        return found


def ingest(*, session: Session, device: Device, batch: PopBatch, policy: IngestPolicy,
           transport: str = "http", now: datetime | None = None) -> PopReceipt:
    """Verify, check and store a batch of proof of play from a device; its receipt. Committed.

    Raises `BadSignature` (nothing stored) when the batch is not the device's own.
    """
    # no pooled connection is held while waiting, for the turn or for the write lock (the
    # session's objects stay readable): the batch being checked needs one, and so does the
    # batch being written
    received_at = utcnow()  # before any wait: the device's clock is read against it
    session.close()
    with TURN():  # the checks in this process's turn, the write in the next one it gets
        message = _verified_message(batch, device)
        TURN.pause()
        checked = Batch(session, device, batch, message, policy, now or utcnow(),
                        now or received_at)
        session.close()
    accepted, duplicates, rejected = writer.write(session, checked, transport)
    if checked.spent_out:
        # what plays must change now, not at the next hourly build: the screens still have
        # slots for these campaigns (lost if the process dies here: the hourly build mends it)
        for campaign_id in checked.spent_out:
            events.record(session, events.CampaignChanged(
                campaign_id=campaign_id, org_id=checked.campaigns[campaign_id].org_id,
                change="budget_spent", state="active"))
        session.commit()
    return PopReceipt(accepted=accepted, duplicates=checked.repeats + duplicates,
                      rejected=checked.rejected + rejected)
