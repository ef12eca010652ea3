"""Campaigns: drafting, creatives, and the review states they move through.

    draft ──submit──▶ pending_review ──approve──▶ approved ──(flight)──▶ active ──▶ completed
      ▲                    │    ▲                    │  ▲
      └──edit── rejected ◀─┘    └──edit / creative───┘  └──resume── paused ◀──pause──┘

`approved` is stored; `active` and `completed` are read from the flight (`state()`). Editing a
campaign or its creatives after submission sends it back to review. Any other move answers 409
with the current state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from control_plane import events
from control_plane.campaigns.exceptions import CampaignNotFound, InvalidTransition
from control_plane.campaigns.models import Campaign as Campaign
from control_plane.campaigns.models import CampaignStatus
from control_plane.campaigns.models import Creative as Creative
from control_plane.campaigns.models import ReviewStatus as ReviewStatus
from control_plane.campaigns.schemas import (
    CampaignCreate,
    CampaignUpdate,
    CreativeCreate,
    check_flight,
)
from control_plane.db import utcnow
from control_plane.errors import Conflict, Invalid, NotFound
from control_plane.media import service as media_service
from control_plane.media.service import MediaStatus
from control_plane.taxonomy import service as taxonomy

S = CampaignStatus


def state(campaign: Campaign, now: datetime | None = None) -> str:
    """The campaign's state as people see it (approved campaigns become active, completed)."""
    if campaign.status != S.approved:
        return campaign.status
    now = now or utcnow()
    if now >= campaign.end_at:
        return "completed"
    return "active" if now >= campaign.start_at else "approved"


def _move(campaign: Campaign, action: str, allowed_from: tuple[str, ...], to: CampaignStatus,
          now: datetime) -> None:
    current = state(campaign, now)
    if current not in allowed_from:
        raise InvalidTransition(f"cannot {action} a campaign that is {current}",
                                details={"state": current, "action": action})
    campaign.status = to


def _changed(session: Session, campaign: Campaign, change: str) -> None:
    """Tell the other domains, in this transaction, what became of the campaign."""
    session.flush()  # a new campaign has its id from here on
    events.record(session, events.CampaignChanged(campaign_id=campaign.id,
                                                  org_id=campaign.org_id, change=change,
                                                  state=state(campaign)))


def _check(fields: dict[str, Any]) -> None:
    if fields.get("category") is not None:
        taxonomy.check_categories([fields["category"]])
    targeting = fields.get("targeting") or {}
    for venue_type_id in targeting.get("venue_type_ids") or []:
        taxonomy.check_venue_type(venue_type_id)


def create(*, session: Session, org_id: str, user_id: str | None,
           campaign_in: CampaignCreate) -> Campaign:
    """A draft campaign of the advertiser; committed."""
    fields = campaign_in.model_dump(mode="json")
    _check(fields)
    campaign = Campaign(org_id=org_id, created_by=user_id, status=S.draft, **{
        **fields, "start_at": campaign_in.start_at, "end_at": campaign_in.end_at})
    session.add(campaign)
    _changed(session, campaign, "created")
    session.commit()
    return campaign


def get(*, session: Session, campaign_id: str) -> Campaign:
    """The campaign, or `CampaignNotFound`."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignNotFound("campaign not found")
    return campaign


def unsaved(*, campaign_id: str, org_id: str, campaign_in: CampaignCreate) -> Campaign:
    """The campaign `campaign_in` describes, approved and never stored (a forecast plans it)."""
    return Campaign(id=campaign_id, org_id=org_id, status=S.approved,
                    **campaign_in.model_dump(mode="json", exclude={"start_at", "end_at"}),
                    start_at=campaign_in.start_at, end_at=campaign_in.end_at)


def get_creative(*, session: Session, creative_id: str) -> Creative | None:
    """The creative with this id, if any."""
    return session.get(Creative, creative_id)


def get_many(*, session: Session, campaign_ids: Iterable[str]) -> list[Campaign]:
    """The campaigns among these ids that exist, with their creatives loaded."""
    ids = list(set(campaign_ids))
    if not ids:
        return []
    return list(session.scalars(select(Campaign).where(Campaign.id.in_(ids))
                                .options(joinedload(Campaign.creatives))).unique())


def names(*, session: Session, campaign_ids: Iterable[str]) -> dict[str, str]:
    """The names of these campaigns, by id (unknown ids left out)."""
    return _column_of(session, Campaign.name, campaign_ids)


def _column_of(session: Session, column: Any, campaign_ids: Iterable[str]) -> dict[str, str]:
    ids = list(set(campaign_ids))
    found: dict[str, str] = {}
    for i in range(0, len(ids), 1000):
        found.update(session.execute(select(Campaign.id, column)
                                     .where(Campaign.id.in_(ids[i:i + 1000]))).all())
    return found


def currencies(*, session: Session, campaign_ids: Iterable[str]) -> dict[str, str]:
    """The currency each of these campaigns bills in, by id (unknown ids left out)."""
    return _column_of(session, Campaign.currency, campaign_ids)


def list_for(*, session: Session, org_id: str | None, status: str | None = None,
             with_creatives: bool = False) -> list[Campaign]:
    """The org's campaigns (all when None), newest first, optionally in one stored status;
    `with_creatives`: their creatives read too, in one more query (not one per campaign)."""
    query = select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id)
    if with_creatives:  # a list that shows no creative is spared reading them all
        query = query.options(selectinload(Campaign.creatives))
    if org_id is not None:
        query = query.where(Campaign.org_id == org_id)
    if status is not None:
        query = query.where(Campaign.status == status)
    return list(session.scalars(query))


def _back_to_review(campaign: Campaign, now: datetime) -> None:
    current = state(campaign, now)
    if current == "completed":
        raise InvalidTransition("a completed campaign cannot change",
                                details={"state": current, "action": "edit"})
    if campaign.status == S.rejected:
        campaign.status = S.draft
    elif campaign.status in (S.approved, S.paused):
        campaign.status = S.pending_review
        campaign.submitted_at = now


def update(*, session: Session, campaign: Campaign, campaign_in: CampaignUpdate) -> Campaign:
    """Change fields; a submitted campaign goes back to review. Committed."""
    changes = {k: v for k, v in campaign_in.model_dump(mode="json", exclude_unset=True).items()
               if v is not None}
    _check(changes)
    for key in ("start_at", "end_at"):
        if key in changes:
            changes[key] = getattr(campaign_in, key)
    start = changes.get("start_at", campaign.start_at)
    end = changes.get("end_at", campaign.end_at)
    try:
        check_flight(start, end)
    except ValueError as exc:
        raise Invalid(str(exc), code="invalid_flight",
                      details={"start_at": start.isoformat(), "end_at": end.isoformat()}) from exc
    _back_to_review(campaign, utcnow())
    for key, value in changes.items():
        setattr(campaign, key, value)
    _changed(session, campaign, "updated")
    session.commit()
    return campaign


def add_creative(*, session: Session, campaign: Campaign, creative_in: CreativeCreate) -> Creative:
    """Add ready media of the advertiser as a creative; the campaign goes back to review if it
    was submitted. Committed."""
    try:
        media = media_service.get_media(session=session, media_id=creative_in.media_id)
    except NotFound as exc:
        raise Invalid("no such media in your org", code="media_not_found",
                      details={"media_id": creative_in.media_id}) from exc
    if media.org_id != campaign.org_id:
        raise Invalid("no such media in your org", code="media_not_found",
                      details={"media_id": creative_in.media_id})
    if media.status != MediaStatus.ready:
        raise Conflict(f"the media is {media.status}, not ready; wait for its renditions",
                       code="media_not_ready", details={"status": media.status})
    duration = creative_in.duration_s
    if duration is None:
        if media.kind != "video":
            raise Invalid("an image needs a duration_s", code="duration_required")
        duration = max(1, math.ceil((media.info.get("duration_ms") or 0) / 1000))
    _back_to_review(campaign, utcnow())
    creative = Creative(campaign_id=campaign.id, media_id=media.id, duration_s=duration,
                        status=ReviewStatus.pending_review)
    campaign.creatives.append(creative)
    _changed(session, campaign, "creative_added")
    session.commit()
    return creative


def submit(*, session: Session, campaign: Campaign) -> Campaign:
    """Send a draft for review. Committed."""
    now = utcnow()
    if not campaign.creatives:
        raise Conflict("add at least one creative before submitting", code="no_creatives")
    if campaign.end_at <= now:
        raise Conflict("the flight has ended; change end_at first", code="flight_over")
    _move(campaign, "submit", (S.draft,), S.pending_review, now)
    campaign.submitted_at = now
    _changed(session, campaign, "submitted")
    session.commit()
    return campaign


def approve(*, session: Session, campaign: Campaign, reviewer_id: str | None) -> Campaign:
    """A super-admin approves the campaign and its pending creatives. Committed."""
    now = utcnow()
    _move(campaign, "approve", (S.pending_review,), S.approved, now)
    for creative in campaign.creatives:
        if creative.status == ReviewStatus.pending_review:
            creative.status = ReviewStatus.approved
    campaign.reviewed_by, campaign.reviewed_at, campaign.review_note = reviewer_id, now, None
    _changed(session, campaign, "approved")
    session.commit()
    return campaign


def reject(*, session: Session, campaign: Campaign, reviewer_id: str | None,
           reason: str) -> Campaign:
    """A super-admin rejects the campaign, saying why. Committed."""
    now = utcnow()
    _move(campaign, "reject", (S.pending_review,), S.rejected, now)
    for creative in campaign.creatives:
        if creative.status == ReviewStatus.pending_review:
            creative.status, creative.review_note = ReviewStatus.rejected, reason
    campaign.reviewed_by, campaign.reviewed_at, campaign.review_note = reviewer_id, now, reason
    _changed(session, campaign, "rejected")
    session.commit()
    return campaign


def pause(*, session: Session, campaign: Campaign) -> Campaign:
    """Stop an approved or running campaign from being scheduled. Committed."""
    _move(campaign, "pause", ("approved", "active"), S.paused, utcnow())
    _changed(session, campaign, "paused")
    session.commit()
    return campaign


def resume(*, session: Session, campaign: Campaign) -> Campaign:
    """Schedule a paused campaign again. Committed."""
    _move(campaign, "resume", (S.paused,), S.approved, utcnow())
    _changed(session, campaign, "resumed")
    session.commit()
    return campaign


def schedulable(*, session: Session, now: datetime) -> list[Campaign]:
    """Approved campaigns whose flight has not ended, with their approved creatives."""
    # the creatives in one more query, not one per campaign: a build reads every campaign's
    return list(session.scalars(select(Campaign).options(selectinload(Campaign.creatives))
                                .where(Campaign.status == S.approved, Campaign.end_at > now)))
