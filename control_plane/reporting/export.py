"""The raw proof-of-play export for analytics pipelines: stored plays in commit order, by cursor.

The cursor is a play's `seq`; plays get their seq in the serialized write phase of ingestion, so
seq order is commit order and a reader that saw seq N has already seen every play before it.
Asking again with the last cursor after new plays arrived returns exactly the new ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.reporting.models import PopPlay
from control_plane.reporting.scope import Scope
from shared.pop import rfc3339_ms

MAX_LIMIT = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COLUMNS = ("seq", "play_id", "screen_id", "campaign_id", "creative_id", "media_sha256",
            "started_ms", "ended_ms", "duration_ms", "expected_ms", "completed",
            "clock_offset_ms", "device_id", "batch", "billable", "impressions_milli",
            "spend_cents", "flag", "audience_profile_id")


@dataclass
class ExportPage:
    """Up to `limit` plays after a cursor, and the cursor to ask with next."""

    lines: list[dict[str, Any]]
    next_cursor: int
    more: bool


def _at(ms: int) -> str:
    return rfc3339_ms(_EPOCH + timedelta(milliseconds=ms))


def export_page(*, session: Session, scope: Scope, after: int, limit: int) -> ExportPage:
    """The plays `scope` may read with seq > after, oldest first."""
    table = PopPlay.__table__
    query = select(*[table.c[name] for name in _COLUMNS]).where(table.c.seq > after)
    if scope.advertiser_org_id is not None:
        query = query.where(table.c.advertiser_org_id == scope.advertiser_org_id)
    if scope.venue_org_id is not None:
        query = query.where(table.c.venue_org_id == scope.venue_org_id)
    rows = session.execute(query.order_by(table.c.seq).limit(limit + 1)).all()
    more = len(rows) > limit
    lines = []
    for row in rows[:limit]:
        r = row._mapping
        line = {"cursor": str(r["seq"]), "play_id": r["play_id"], "screen_id": r["screen_id"],
                "campaign_id": r["campaign_id"], "creative_id": r["creative_id"],
                "media_sha256": r["media_sha256"], "started_at": _at(r["started_ms"]),
                "ended_at": _at(r["ended_ms"]), "duration_ms": r["duration_ms"],
                "expected_ms": r["expected_ms"], "completed": r["completed"],
                "clock_offset_ms": r["clock_offset_ms"], "device_id": r["device_id"],
                "batch": r["batch"], "billable": r["billable"],
                "impressions": r["impressions_milli"] / 1000, "flag": r["flag"],
                "audience_profile_id": r["audience_profile_id"]}
        if scope.sees_spend:
            line["spend_cents"] = r["spend_cents"]
        lines.append(line)
    return ExportPage(lines, rows[limit - 1].seq if more else (rows[-1].seq if rows else after),
                      more)
