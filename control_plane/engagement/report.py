"""The engagement report: scans, unique scanners, impressions and scans per 1,000 impressions,
by campaign, screen and/or hour, for whoever asks (reporting's scopes).

Scans are read from the hourly counts, impressions from reporting's hourly rollup (through its
service), and the scans of each hour are shared out among the screens that played the
campaign before them (`attribution.py`). An advertiser sees its campaigns; a venue org the
scans attributed to its own screens and their impressions (never the unattributed ones, which
belong to no screen); the platform everything. Unique scanners are distinct per link and UTC
hour, added up over the hours of a row (the salt changes every day, so no count can span
days anyway).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.campaigns import service as campaigns_service
from control_plane.engagement.attribution import HOUR_S, UNATTRIBUTED, attribute
from control_plane.engagement.models import ScanHour, TrackedLink
from control_plane.errors import Invalid
from control_plane.reporting import service as reporting_service
from control_plane.venues import service as venues_service

GROUPS = ("campaign", "screen", "hour")
MAX_ROWS = 50_000
CHUNK = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UNATTRIBUTED_NOTE = ("scans of an hour in which no screen played the campaign within the "
                     "attribution window are unattributed (screen_id null)")


@dataclass
class _Sums:
    scans: int = 0
    unique_scanners: int = 0
    impressions_milli: int = 0

    def row(self) -> dict[str, Any]:
        return {"scans": self.scans, "unique_scanners": self.unique_scanners,
                "impressions": self.impressions_milli / 1000,
                "scans_per_1000_impressions": _rate(self.scans, self.impressions_milli)}


@dataclass
class EngagementRows:
    """A report's rows (dimensions, then the figures) and their totals."""

    start: datetime
    end: datetime
    group_by: tuple[str, ...]
    window_s: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def columns(self) -> list[str]:
        """The columns of a row, in order (the CSV header)."""
        dims: list[str] = []
        for group in self.group_by:
            dims += {"campaign": ["campaign_id", "campaign_name"],
                     "screen": ["screen_id", "screen_name"]}.get(group, [group])
        return [*dims, "scans", "unique_scanners", "impressions", "scans_per_1000_impressions"]

    def csv_lines(self) -> Iterator[str]:
        """The report as CSV (RFC 4180, header first)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        columns = self.columns()
        writer.writerow(columns)
        for row in self.rows:
            writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
        yield buffer.getvalue()


def _links(session: Session, scope: reporting_service.Scope, campaign_id: str | None,
           start_hour: int, end_hour: int) -> dict[str, str]:
    """link id → campaign id of the links the report covers."""
    query = select(TrackedLink.id, TrackedLink.campaign_id)
    if scope.advertiser_org_id is not None:
        query = query.where(TrackedLink.advertiser_org_id == scope.advertiser_org_id)
    if campaign_id is not None:
        query = query.where(TrackedLink.campaign_id == campaign_id)
    if scope.venue_org_id is not None:  # only links scanned in the period can have its scans
        query = query.where(select(ScanHour.link_id).where(
            ScanHour.link_id == TrackedLink.id, ScanHour.hour >= start_hour,
            ScanHour.hour < end_hour).exists())
    return {link_id: campaign for link_id, campaign in session.execute(query)}


def _counts(session: Session, links: dict[str, str], start_hour: int,
            end_hour: int) -> dict[str, list[tuple[int, int, int]]]:
    """campaign id → its (hour, scans, unique scanners) in the period."""
    ids = sorted(links)
    out: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for i in range(0, len(ids), CHUNK):
        for link_id, hour, scans, unique in session.execute(
                select(ScanHour.link_id, ScanHour.hour, ScanHour.scans, ScanHour.unique_scanners)
                .where(ScanHour.link_id.in_(ids[i:i + CHUNK]), ScanHour.hour >= start_hour,
                       ScanHour.hour < end_hour)):
            out[links[link_id]].append((int(hour), int(scans), int(unique)))
    return out


def engagement_report(*, session: Session, scope: reporting_service.Scope,
                      group_by: Sequence[str], start: datetime, end: datetime,
                      window_s: float, campaign_id: str | None = None) -> EngagementRows:
    """Engagement over [start, end) (widened to whole UTC hours), grouped, for `scope`."""
    unknown = [g for g in group_by if g not in GROUPS]
    if unknown:
        raise Invalid(f"group_by takes {', '.join(GROUPS)}", code="invalid_group_by",
                      details={"unknown": unknown})
    groups = tuple(dict.fromkeys(group_by)) or ("campaign",)
    start_hour = int((start - _EPOCH).total_seconds()) // HOUR_S
    end_hour = -(-int((end - _EPOCH).total_seconds()) // HOUR_S)
    if end_hour <= start_hour:
        raise Invalid("`to` must be after `from`", code="invalid_period")
    links = _links(session, scope, campaign_id, start_hour, end_hour)
    counts = _counts(session, links, start_hour, end_hour)
    lookback = -(-int(window_s) // HOUR_S)
    # per campaign: hour → screen → impressions (thousandths); and each screen's venue org
    impressions: dict[str, dict[int, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    venue_orgs: dict[str, str] = {}
    for played in reporting_service.hourly_impressions(
            session=session, campaign_ids=set(links.values()), start_hour=start_hour - lookback,
            end_hour=end_hour, advertiser_org_id=scope.advertiser_org_id):
        impressions[played.campaign_id][played.hour][played.screen_id] = \
            played.impressions_milli
        venue_orgs[played.screen_id] = played.venue_org_id

    def mine(screen_id: str) -> bool:
        return scope.venue_org_id is None or (
            screen_id != UNATTRIBUTED and venue_orgs.get(screen_id) == scope.venue_org_id)

    def key(campaign: str, hour: int, screen_id: str) -> tuple[Any, ...]:
        values = {"campaign": campaign, "screen": screen_id, "hour": hour}
        return tuple(values[g] for g in groups)

    merged: dict[tuple[Any, ...], _Sums] = defaultdict(_Sums)
    total = _Sums()
    for campaign, by_hour in impressions.items():
        for hour, screens in by_hour.items():
            if hour < start_hour:
                continue  # read only to explain the first hours' scans
            for screen_id, milli in screens.items():
                if mine(screen_id):
                    merged[key(campaign, hour, screen_id)].impressions_milli += milli
                    total.impressions_milli += milli
    for campaign, hours in counts.items():
        for (hour, screen_id), (scans, unique) in attribute(hours, window_s,
                                                            impressions[campaign]).items():
            if mine(screen_id):
                sums = merged[key(campaign, hour, screen_id)]
                sums.scans += scans
                sums.unique_scanners += unique
                total.scans += scans
                total.unique_scanners += unique
    if len(merged) > MAX_ROWS:
        raise Invalid(f"the report has more than {MAX_ROWS:,} rows; narrow the period or "
                      "group by less", code="report_too_large")
    report = EngagementRows(start=_EPOCH + timedelta(hours=start_hour),
                            end=_EPOCH + timedelta(hours=end_hour), group_by=groups,
                            window_s=window_s, totals=total.row(), notes=[UNATTRIBUTED_NOTE])
    campaign_names = campaigns_service.names(
        session=session, campaign_ids={k[groups.index("campaign")] for k in merged}
        if "campaign" in groups else set())
    screen_names = venues_service.screen_names(
        session=session, screen_ids={k[groups.index("screen")] for k in merged} - {UNATTRIBUTED}
        if "screen" in groups else set())
    for k in sorted(merged, key=lambda k: tuple(str(v) if not isinstance(v, int)
                                                 else f"{v:012d}" for v in k)):
        row: dict[str, Any] = {}
        for group, value in zip(groups, k, strict=True):
            if group == "campaign":
                row.update(campaign_id=value, campaign_name=campaign_names.get(value))
            elif group == "screen":
                row.update(screen_id=value or None,
                           screen_name="unattributed" if value == UNATTRIBUTED
                           else screen_names.get(value))
            else:
                row["hour"] = (_EPOCH + timedelta(hours=value)).isoformat().replace(
                    "+00:00", "Z")
        row.update(merged[k].row())
        report.rows.append(row)
    return report



SCAN_COLUMNS = ("scans", "unique_scanners", "scans_per_1000_impressions")
NOT_BY_CREATIVE_NOTE = ("scans cannot be told apart by creative (a campaign has one link): "
                        "leave creative out of group_by to see them, or ask "
                        "/v1/reports/engagement")


def add_to_delivery(*, session: Session, scope: reporting_service.Scope,
                    report: reporting_service.Report, window_s: float,
                    campaign_id: str | None = None) -> None:
    """Put the scans of the report's period beside its impressions, row by row.

    The scans are counted as `/v1/reports/engagement` counts them (attributed to the screens
    that played before them), by campaign, and added to the row of their campaign's currency
    and the report's other groups (screen, venue, hour, day). Scans no row explains (on a
    screen and hour without plays of its own in the period, or unattributed) get a row of
    their own with no plays, so the rows add up to the totals. A report by creative has none:
    a campaign has one link for all its creatives.
    """
    groups = report.group_by
    if "creative" in groups:
        report.notes.append(NOT_BY_CREATIVE_NOTE)
        return
    asked = ["campaign", *(["screen"] if {"screen", "venue"} & set(groups) else []),
             *(["hour"] if {"hour", "day"} & set(groups) else [])]
    engagement = engagement_report(session=session, scope=scope, group_by=asked,
                                   start=report.start, end=report.end, window_s=window_s,
                                   campaign_id=campaign_id)
    scanned = [row for row in engagement.rows if row["scans"] or row["unique_scanners"]]
    currencies = campaigns_service.currencies(
        session=session, campaign_ids={row["campaign_id"] for row in scanned})
    venues = venues_service.venues_of(
        session=session, screen_ids={row["screen_id"] for row in scanned if row.get("screen_id")}
    ) if "venue" in groups else {}
    venue_names = venues_service.venue_names(session=session, venue_ids=set(venues.values()))
    dims = [f"{g}_id" if g in ("campaign", "screen", "venue") else g for g in groups]
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in scanned:
        values = dict(row)
        values["venue_id"] = venues.get(row.get("screen_id") or "")
        values["venue_name"] = venue_names.get(values["venue_id"] or "")
        values["day"] = row["hour"][:10] if "hour" in row else None
        values["currency"] = currencies.get(row["campaign_id"])
        key = (*(values.get(d) for d in dims), values["currency"])
        found = merged.setdefault(key, {**values, "scans": 0, "unique_scanners": 0})
        found["scans"] += row["scans"]
        found["unique_scanners"] += row["unique_scanners"]
    report.extra = SCAN_COLUMNS
    for row in report.rows:
        _put(row, merged.pop((*(row.get(d) for d in dims), row["currency"]), None))
    zero = {m: 0 for m in report.metrics()} | {"seconds": 0.0, "impressions": 0.0}
    names = report.columns()[:-len(SCAN_COLUMNS)]
    for _, found in sorted(merged.items(), key=lambda kv: [str(v) for v in kv[0]]):
        row = {name: found.get(name) for name in names} | zero
        _put(row, found)
        report.rows.append(row)
    for currency in report.sums.keys() | {row["currency"] for row in report.rows}:
        report.extra_totals[currency] = {"scans": 0, "unique_scanners": 0}
    for row in report.rows:
        totals = report.extra_totals[row["currency"]]
        totals["scans"] += row["scans"]
        totals["unique_scanners"] += row["unique_scanners"]
    for currency, totals in report.extra_totals.items():
        impressions = report.sums[currency].impressions_milli if currency in report.sums else 0
        totals["scans_per_1000_impressions"] = _rate(totals["scans"], impressions)
    if any(row.get("screen_id") is None for row in scanned) and "screen" in asked:
        report.notes.append(UNATTRIBUTED_NOTE)


def _put(row: dict[str, Any], found: dict[str, Any] | None) -> None:
    row["scans"] = found["scans"] if found else 0
    row["unique_scanners"] = found["unique_scanners"] if found else 0
    row["scans_per_1000_impressions"] = _rate(row["scans"], round(row["impressions"] * 1000))


def _rate(scans: int, impressions_milli: int) -> float | None:
    return None if not impressions_milli else round(scans * 1_000_000 / impressions_milli, 4)
