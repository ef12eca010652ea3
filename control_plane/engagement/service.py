"""Engagement: a campaign's tracked link (short URL and QR code), its scans, and reports.

Other domains are asked through their services: campaigns for the campaign (and its owner),
reporting for impressions and for whose rows a caller may read. Counting is in `scans.py`,
the split of scans among screens in `attribution.py`, reports in `report.py`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from control_plane.campaigns.service import Campaign
from control_plane.db import utcnow
from control_plane.engagement import scans
from control_plane.engagement.exceptions import TrackedLinkNotFound
from control_plane.engagement.models import ScanHour, TrackedLink
from control_plane.engagement.report import EngagementRows, add_to_delivery, engagement_report
from control_plane.engagement.urls import check_landing_url
from control_plane.jobs.queue import JobContext, registry

__all__ = ["EngagementRows", "TrackedLink", "active_link", "add_to_delivery", "disable",
           "engagement_report", "get_link", "record_scan", "scan_totals", "set_link", "short_url"]

CODE_BYTES = 6  # 8 URL-safe characters, 48 random bits
CODE_TRIES = 5
SHORT_PATH = "/r/"
FORGET_JOB = "engagement.forget_salts"


def short_url(*, public_url: str, link: TrackedLink) -> str:
    """The address printed under the QR code (and encoded in it)."""
    return f"{public_url.rstrip('/')}{SHORT_PATH}{link.code}"


def get_link(*, session: Session, campaign_id: str) -> TrackedLink:
    """The campaign's tracked link (enabled or not), or `TrackedLinkNotFound`."""
    found = session.scalar(select(TrackedLink).where(TrackedLink.campaign_id == campaign_id))
    if found is None:
        raise TrackedLinkNotFound("this campaign has no tracked link: PUT one first")
    return found


def set_link(*, session: Session, campaign: Campaign, landing_url: str) -> TrackedLink:
    """Create the campaign's link, or point it elsewhere (enabled again, same code);
    committed. `InvalidLandingUrl` (nothing changed) for a URL that may not be one."""
    landing_url = check_landing_url(landing_url)
    now = utcnow()
    found = session.scalar(select(TrackedLink).where(TrackedLink.campaign_id == campaign.id))
    if found is not None:
        found.landing_url, found.updated_at, found.disabled_at = landing_url, now, None
        session.commit()
        return found
    for _ in range(CODE_TRIES):  # a code already taken: 48 bits make it rare, so try again
        link = TrackedLink(campaign_id=campaign.id, advertiser_org_id=campaign.org_id,
                           code=secrets.token_urlsafe(CODE_BYTES), landing_url=landing_url,
                           created_at=now, updated_at=now)
        session.add(link)
        try:
            session.commit()
            return link
        except IntegrityError:
            session.rollback()
            found = session.scalar(select(TrackedLink)
                                   .where(TrackedLink.campaign_id == campaign.id))
            if found is not None:  # made at the same moment by another request: update it
                return set_link(session=session, campaign=campaign, landing_url=landing_url)
    raise RuntimeError("no free short-link code after several tries")


def disable(*, session: Session, campaign_id: str) -> TrackedLink:
    """Stop redirecting the campaign's link (its counts stay); committed."""
    link = get_link(session=session, campaign_id=campaign_id)
    if link.disabled_at is None:
        link.disabled_at = link.updated_at = utcnow()
        session.commit()
    return link


def active_link(*, session: Session, code: str) -> TrackedLink | None:
    """The enabled link with this code, if any."""
    return session.scalar(select(TrackedLink).where(TrackedLink.code == code,
                                                    TrackedLink.disabled_at.is_(None)))


def record_scan(*, session: Session, link: TrackedLink, method: str, client: str,
                user_agent: str, now: datetime | None = None) -> bool:
    """Count a request to the link as a scan unless it is a HEAD or a link preview; whether
    it was counted. Committed. Neither `client` nor `user_agent` is stored."""
    if not scans.is_counted(method=method, user_agent=user_agent):
        return False
    scans.record(session=session, link=link, client=client, user_agent=user_agent,
                 now=now or utcnow())
    return True


def scan_totals(*, session: Session, link_ids: Iterable[str]) -> dict[str, int]:
    """Scans counted so far per link (absent: none)."""
    ids = list(set(link_ids))
    if not ids:
        return {}
    rows = session.execute(select(ScanHour.link_id, func.sum(ScanHour.scans))
                           .where(ScanHour.link_id.in_(ids)).group_by(ScanHour.link_id))
    return {link_id: int(total) for link_id, total in rows}


@registry.job(FORGET_JOB, max_attempts=2, hourly=True)
def _forget_job(context: JobContext, payload: dict[str, object]) -> None:
    """Delete yesterday's salt and hashes even on a day without scans."""
    with context.sessionmaker() as session:
        scans.forget_past_days(session=session, today=int(utcnow().timestamp()) // scans.DAY_S)
        session.commit()
