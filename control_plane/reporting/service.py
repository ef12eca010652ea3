"""What other domains ask of reporting. Proof-of-play ingestion (issue 7) fills the tables these
functions read; until it lands, no play has been recorded, so nothing has been delivered."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session


def delivered_impressions(*, session: Session, campaign_ids: Iterable[str]) -> dict[str, float]:
    """Billable impressions delivered so far per campaign (absent: none yet)."""
    return {}
