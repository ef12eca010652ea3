"""Impressions of some campaigns per hour and screen, read from the hourly rollup.

What engagement weighs scans by: a campaign's plays in an hour on each screen. The rollup's key
starts with the hour, so a span of hours is a range scan of it (narrowed through the
advertiser's index when the campaigns are one advertiser's), never a read of the plays.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_plane.reporting.models import PopHourly

CHUNK = 1000


class HourImpressions(NamedTuple):
    """A campaign's impressions (thousandths) on a screen in a UTC hour (since the epoch)."""

    campaign_id: str
    hour: int
    screen_id: str
    venue_org_id: str
    impressions_milli: int


def hourly_impressions(*, session: Session, campaign_ids: Iterable[str], start_hour: int,
                       end_hour: int, advertiser_org_id: str | None = None
                       ) -> list[HourImpressions]:
    """Per campaign, hour in [start_hour, end_hour) and screen: the impressions played
    (creatives added up; hours and screens without any are absent)."""
    ids = sorted(set(campaign_ids))
    out: list[HourImpressions] = []
    table = PopHourly
    for i in range(0, len(ids), CHUNK):
        query = (select(table.campaign_key, table.hour, table.screen_id, table.venue_org_id,
                        func.sum(table.impressions_milli))
                 .where(table.hour >= start_hour, table.hour < end_hour,
                        table.campaign_key.in_(ids[i:i + CHUNK]))
                 .group_by(table.campaign_key, table.hour, table.screen_id, table.venue_org_id))
        if advertiser_org_id is not None:
            query = query.where(table.advertiser_org_id == advertiser_org_id)
        out += [HourImpressions(c, int(h), s, v, int(m or 0))
                for c, h, s, v, m in session.execute(query)]
    return out
