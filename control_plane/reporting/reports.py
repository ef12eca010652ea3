"""Delivery reports: plays, seconds, impressions and money over a period, grouped as asked,
read from the rollups (never from the raw plays, so a report over months costs milliseconds).

A period is whole UTC hours: `from` is floored and `to` ceiled to the hour, and the answer says
which hours it covers. Whole UTC days inside the period are read from the daily rollup, the
hours at either end from the hourly one, unless the report groups by hour. Every row is also
split by currency: money in different currencies is never added up.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_plane.campaigns import service as campaigns_service
from control_plane.errors import Invalid
from control_plane.reporting.models import HOUSE, PopDaily, PopHourly
from control_plane.reporting.scope import Scope
from control_plane.venues import service as venues_service

GROUPS = ("campaign", "creative", "screen", "venue", "hour", "day")
TOTALS = ("plays", "billable_plays", "played_ms", "impressions_milli", "spend_cents")
MAX_ROWS = 50_000
EARNINGS_NOTE = ("earnings_cents is empty until the revenue-share policy exists; plays, "
                 "seconds and impressions are final")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ID_COLUMNS = {"campaign": "campaign_key", "creative": "creative_id", "screen": "screen_id",
               "venue": "venue_id"}


@dataclass(frozen=True)
class Filters:
    """Optional narrowing to one campaign, screen or venue."""

    campaign_id: str | None = None
    screen_id: str | None = None
    venue_id: str | None = None


@dataclass
class Report:
    """A delivery report: rows of totals per group and currency."""

    start: datetime
    end: datetime
    group_by: tuple[str, ...]
    sees_spend: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def totals(self) -> list[dict[str, Any]]:
        """The rows added up, per currency."""
        sums: dict[str | None, dict[str, Any]] = {}
        for row in self.rows:
            total = sums.setdefault(row["currency"], dict.fromkeys(self.metrics(), 0))
            for name in self.metrics():
                if row.get(name) is not None:
                    total[name] += row[name]
        out = []
        for currency, total in sorted(sums.items(), key=lambda kv: kv[0] or ""):
            total["seconds"] = round(total["seconds"], 3)
            total["impressions"] = round(total["impressions"], 3)
            if not self.sees_spend:
                total["earnings_cents"] = None
            out.append({"currency": currency, **total})
        return out

    def metrics(self) -> tuple[str, ...]:
        """The numeric columns of a row."""
        money = "spend_cents" if self.sees_spend else "earnings_cents"
        return ("plays", "billable_plays", "seconds", "impressions", money)

    def columns(self) -> list[str]:
        """The columns of a row, in order (the CSV header)."""
        dims: list[str] = []
        for group in self.group_by:
            dims += {"campaign": ["campaign_id", "campaign_name"],
                     "creative": ["creative_id"],
                     "screen": ["screen_id", "screen_name"],
                     "venue": ["venue_id", "venue_name"]}.get(group, [group])
        return [*dims, "currency", *self.metrics()]

    def csv_lines(self) -> Iterator[str]:
        """The report as CSV (RFC 4180, header first), a line at a time."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        columns = self.columns()
        writer.writerow(columns)
        for row in self.rows:
            writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
            if buffer.tell() > 65536:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()


def hour_of(instant: datetime, *, ceil: bool = False) -> int:
    """Hours since the epoch at an aware instant, floored (or ceiled)."""
    seconds = (instant - _EPOCH) // timedelta(seconds=1)
    return -(-seconds // 3600) if ceil else seconds // 3600


def _parts(start_hour: int, end_hour: int, by_hour: bool) -> list[tuple[Any, int, int]]:
    """(table, first, last+1) pieces covering [start_hour, end_hour): whole days from the
    daily rollup, the rest from the hourly one."""
    first_day, last_day = -(-start_hour // 24), end_hour // 24
    if by_hour or first_day >= last_day:
        return [(PopHourly, start_hour, end_hour)]
    parts: list[tuple[Any, int, int]] = [(PopDaily, first_day, last_day)]
    if start_hour < first_day * 24:
        parts.append((PopHourly, start_hour, first_day * 24))
    if last_day * 24 < end_hour:
        parts.append((PopHourly, last_day * 24, end_hour))
    return parts


def _query(table: Any, lo: int, hi: int, group_by: Sequence[str], scope: Scope,
           filters: Filters) -> Any:
    daily = table is PopDaily
    period = table.day if daily else table.hour
    dims = []
    for group in group_by:
        if group == "hour":
            dims.append(table.hour)
        elif group == "day":
            dims.append(table.day if daily else table.hour // 24)
        else:
            dims.append(getattr(table, _ID_COLUMNS[group]))
    dims.append(table.currency)
    query = select(*dims, *[func.sum(getattr(table, name)) for name in TOTALS]).where(
        period >= lo, period < hi)
    if scope.advertiser_org_id is not None:
        query = query.where(table.advertiser_org_id == scope.advertiser_org_id)
    if scope.venue_org_id is not None:
        query = query.where(table.venue_org_id == scope.venue_org_id)
    if filters.campaign_id is not None:
        query = query.where(table.campaign_key == filters.campaign_id)
    if filters.screen_id is not None:
        query = query.where(table.screen_id == filters.screen_id)
    if filters.venue_id is not None:
        query = query.where(table.venue_id == filters.venue_id)
    return query.group_by(*dims).limit(MAX_ROWS + 1)


def delivery_report(*, session: Session, scope: Scope, group_by: Sequence[str],
                    start: datetime, end: datetime, filters: Filters | None = None) -> Report:
    """Delivery over [start, end) (widened to whole UTC hours) grouped as asked, for `scope`."""
    unknown = [g for g in group_by if g not in GROUPS]
    if unknown:
        raise Invalid(f"group_by takes {', '.join(GROUPS)}", code="invalid_group_by",
                      details={"unknown": unknown})
    groups = tuple(dict.fromkeys(group_by))
    start_hour, end_hour = hour_of(start), hour_of(end, ceil=True)
    if end_hour <= start_hour:
        raise Invalid("`to` must be after `from`", code="invalid_period")
    merged: dict[tuple[Any, ...], list[int]] = {}
    for table, lo, hi in _parts(start_hour, end_hour, "hour" in groups):
        for row in session.execute(_query(table, lo, hi, groups, scope,
                                          filters or Filters())):
            key = tuple(row[:len(groups) + 1])
            into = merged.setdefault(key, [0] * len(TOTALS))
            for i, value in enumerate(row[len(groups) + 1:]):
                into[i] += int(value or 0)
            if len(merged) > MAX_ROWS:
                raise Invalid(f"the report has more than {MAX_ROWS:,} rows; narrow the period "
                              "or group by less", code="report_too_large")
    report = Report(start=_EPOCH + timedelta(hours=start_hour),
                    end=_EPOCH + timedelta(hours=end_hour), group_by=groups,
                    sees_spend=scope.sees_spend,
                    notes=[] if scope.sees_spend else [EARNINGS_NOTE])
    names = _names(session, groups, merged)
    for key, sums in sorted(merged.items(), key=lambda kv: tuple(
            (v is None, v if v is not None else "") for v in kv[0])):
        report.rows.append(_row(report, key, sums, names))
    return report


def _names(session: Session, groups: Sequence[str],
           merged: dict[tuple[Any, ...], list[int]]) -> dict[str, dict[str, str]]:
    """Names of the campaigns, screens and venues in the rows, to make a report readable."""
    ids: dict[str, set[str]] = {g: set() for g in ("campaign", "screen", "venue")}
    for key in merged:
        for group, value in zip(groups, key, strict=False):
            if group in ids and value:
                ids[group].add(value)
    return {"campaign": campaigns_service.names(session=session, campaign_ids=ids["campaign"]),
            "screen": venues_service.screen_names(session=session, screen_ids=ids["screen"]),
            "venue": venues_service.venue_names(session=session, venue_ids=ids["venue"])}


def _row(report: Report, key: tuple[Any, ...], sums: list[int],
         names: dict[str, dict[str, str]]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for group, value in zip(report.group_by, key, strict=False):
        if group == "hour":
            row["hour"] = (_EPOCH + timedelta(hours=value)).isoformat().replace("+00:00", "Z")
        elif group == "day":
            row["day"] = (_EPOCH + timedelta(days=value)).date().isoformat()
        elif group == "campaign":
            row["campaign_id"] = None if value == HOUSE else value
            row["campaign_name"] = "house content" if value == HOUSE \
                else names["campaign"].get(value)
        else:
            row[f"{group}_id"] = value
            if group in names:
                row[f"{group}_name"] = names[group].get(value)
    plays, billable, played_ms, impressions_milli, spend = sums
    row.update(currency=key[-1], plays=plays, billable_plays=billable,
               seconds=played_ms / 1000, impressions=impressions_milli / 1000)
    if report.sees_spend:
        row["spend_cents"] = spend
    else:
        row["earnings_cents"] = None
    return row
