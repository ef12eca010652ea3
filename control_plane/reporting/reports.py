"""Delivery reports: plays, seconds, impressions and money over a period, grouped as asked,
read from the rollups (never from the raw plays, so a report over months costs milliseconds).

A period is whole UTC hours: `from` is floored and `to` ceiled to the hour, and the answer says
which hours it covers. Whole UTC days inside the period are read from the daily rollup, the
hours at either end from the hourly one, unless the report groups by hour. A report that
does not need screens reads the rollups per venue, and one that needs neither screens nor
venues (nor is a venue org's) the fleet-wide ones, per campaign and creative: far fewer rows.
A period that reaches past the latest instant a stored play can start (now + the allowed clock
skew) reads today from the daily rollup too: nothing can be in the rest of the day yet. Every
row is also split by currency: money in different currencies is never added up.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_plane.campaigns import service as campaigns_service
from control_plane.errors import Invalid
from control_plane.reporting.models import (
    HOUSE,
    PopCampaignDaily,
    PopCampaignHourly,
    PopDaily,
    PopHourly,
    PopVenueDaily,
    PopVenueHourly,
)
from control_plane.reporting.scope import Scope
from control_plane.reporting.sums import TOTALS, Sums
from control_plane.revenue.service import Timeline
from control_plane.venues import service as venues_service

GROUPS = ("campaign", "creative", "screen", "venue", "hour", "day")
FLEET_GROUPS = frozenset({"campaign", "creative", "hour", "day"})
MAX_ROWS = 50_000
EARNINGS_NOTE = ("earnings_cents is your share of what advertisers were charged for these "
                 "plays, by the revenue-share policy in force when each played; the payable "
                 "figures are on your statements (/v1/payouts/statements)")
BPS = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR_MS, DAY_MS = 3_600_000, 86_400_000
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
    sums: dict[str | None, Sums] = field(default_factory=dict)  # per currency
    earnings: dict[str | None, int] = field(default_factory=dict)  # per currency (venues)
    # measures another domain adds to the rows (engagement's scans), with their totals
    extra: tuple[str, ...] = ()
    extra_totals: dict[str | None, dict[str, Any]] = field(default_factory=dict)

    def totals(self) -> list[dict[str, Any]]:
        """The rows added up (exactly, in integers), per currency."""
        out = []
        for currency, sums in sorted(self.sums.items(), key=lambda kv: kv[0] or ""):
            total = {"currency": currency, "plays": sums.plays,
                     "billable_plays": sums.billable_plays, "seconds": sums.played_ms / 1000,
                     "impressions": sums.impressions_milli / 1000}
            if self.sees_spend:
                total["spend_cents"] = sums.spend_cents
            else:
                total["earnings_cents"] = self.earnings.get(currency, 0)
            total.update(self.extra_totals.get(currency, {}))
            out.append(total)
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
        return [*dims, "currency", *self.metrics(), *self.extra]

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


def _grain(groups: Sequence[str], scope: Scope, filters: Filters) -> tuple[Any, Any]:
    """The (hourly, daily) rollups a report reads: the coarsest that has what it groups and
    filters by (fleet-wide, per venue, per screen)."""
    if filters.screen_id is not None or "screen" in groups:
        return PopHourly, PopDaily
    if set(groups) <= FLEET_GROUPS and scope.venue_org_id is None and filters.venue_id is None:
        return PopCampaignHourly, PopCampaignDaily
    return PopVenueHourly, PopVenueDaily


def parts(start_hour: int, end_hour: int, by_hour: bool, hourly: Any,
           daily: Any) -> list[tuple[Any, int, int]]:
    """(table, first, last+1) pieces covering [start_hour, end_hour): whole days from the
    daily rollup, the rest from the hourly one."""
    first_day, last_day = -(-start_hour // 24), end_hour // 24
    if by_hour or first_day >= last_day:
        return [(hourly, start_hour, end_hour)]
    parts: list[tuple[Any, int, int]] = [(daily, first_day, last_day)]
    if start_hour < first_day * 24:
        parts.append((hourly, start_hour, first_day * 24))
    if last_day * 24 < end_hour:
        parts.append((hourly, last_day * 24, end_hour))
    return parts


def _query(table: Any, lo: int, hi: int, group_by: Sequence[str], scope: Scope,
           filters: Filters, *, shares: bool = False) -> Any:
    daily = table in (PopDaily, PopVenueDaily, PopCampaignDaily)
    period = table.day if daily else table.hour
    dims = [*dimensions(table, group_by, daily=daily), table.currency]
    if shares:  # a venue's share depends on the venue and on when the plays were
        dims += [table.venue_id, period]
    query = select(*dims, *[func.sum(getattr(table, name)) for name in TOTALS]).where(
        period >= lo, period < hi)
    return narrowed(query, table, scope, filters).group_by(*dims).limit(MAX_ROWS + 1)


def dimensions(table: Any, group_by: Sequence[str], *, daily: bool) -> list[Any]:
    """The rollup columns (or expressions) a report groups by, in order."""
    dims = []
    for group in group_by:
        if group == "hour":
            dims.append(table.hour)
        elif group == "day":
            dims.append(table.day if daily else table.hour // 24)
        else:
            dims.append(getattr(table, _ID_COLUMNS[group]))
    return dims


def narrowed(query: Any, table: Any, scope: Scope, filters: Filters) -> Any:
    """A rollup query kept to what `scope` may read and `filters` ask for."""
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
    return query


def delivery_report(*, session: Session, scope: Scope, group_by: Sequence[str],
                    start: datetime, end: datetime, filters: Filters | None = None,
                    latest_play: datetime | None = None,
                    shares: Timeline | None = None) -> Report:
    """Delivery over [start, end) (widened to whole UTC hours) grouped as asked, for `scope`.

    `latest_play`: no stored play starts after it (now + the allowed clock skew). `shares`:
    the revenue-share policy, for a venue org's earnings (each rollup row earns the share of
    its venue under the version in force at its hour or day; the exact shares are added up
    per row, the total rounded down and handed out by largest remainder, as statements are).
    """
    unknown = [g for g in group_by if g not in GROUPS]
    if unknown:
        raise Invalid(f"group_by takes {', '.join(GROUPS)}", code="invalid_group_by",
                      details={"unknown": unknown})
    groups = tuple(dict.fromkeys(group_by))
    start_hour, end_hour = hour_of(start), hour_of(end, ceil=True)
    if end_hour <= start_hour:
        raise Invalid("`to` must be after `from`", code="invalid_period")
    filters = filters or Filters()
    merged: dict[tuple[Any, ...], Sums] = {}
    width = len(groups) + 1
    read_until = end_hour
    if latest_play is not None and end_hour > hour_of(latest_play):
        read_until = max(end_hour, -(-end_hour // 24) * 24)  # the rest of the day is empty
    earning = shares is not None and not scope.sees_spend
    exact: dict[tuple[Any, ...], int] = defaultdict(int)  # in 1/10000 of a cent
    # a version that starts inside a day: read by hour, so no row spans two versions
    by_hour = "hour" in groups or (earning and shares is not None and any(
        start_hour * HOUR_MS < b < read_until * HOUR_MS and b % DAY_MS
        for b in shares.boundaries))
    for table, lo, hi in parts(start_hour, read_until, by_hour,
                                *_grain(groups, scope, filters)):
        rows = session.connection().execute(_query(table, lo, hi, groups, scope, filters,
                                                   shares=earning)).all()
        if earning and len(rows) > MAX_ROWS:
            raise Invalid(f"the report has more than {MAX_ROWS:,} rows; narrow the period "
                          "or group by less", code="report_too_large")
        daily = table in (PopDaily, PopVenueDaily, PopCampaignDaily)
        for row in rows:
            key = tuple(row[:width])
            at = width
            if earning:
                assert shares is not None
                venue_id, period = row[width], int(row[width + 1])
                at += 2
            sums = Sums.of(tuple(row[at:]))
            into = merged.get(key)
            if into is None:
                merged[key] = sums
            else:
                into.add(sums)
            if earning and sums.spend_cents:
                version = shares.at(period * (DAY_MS if daily else HOUR_MS))  # type: ignore[union-attr]
                exact[key] += sums.spend_cents * version.bps(venue_id)
        if len(merged) > MAX_ROWS:
            raise Invalid(f"the report has more than {MAX_ROWS:,} rows; narrow the period "
                          "or group by less", code="report_too_large")
    report = Report(start=_EPOCH + timedelta(hours=start_hour),
                    end=_EPOCH + timedelta(hours=end_hour), group_by=groups,
                    sees_spend=scope.sees_spend,
                    notes=[] if scope.sees_spend else [EARNINGS_NOTE])
    names = names_of(session, groups, merged)
    labels: dict[tuple[str, int], str] = {}
    earned = _largest_remainder(exact) if earning else {}
    for key, sums in sorted(merged.items(), key=lambda kv: tuple(
            (v is None, v if v is not None else "") for v in kv[0])):
        report.rows.append(_row(report, key, sums, names, labels, earned.get(key, 0)))
        report.sums.setdefault(key[-1], Sums()).add(sums)
        if earning:
            report.earnings[key[-1]] = report.earnings.get(key[-1], 0) + earned.get(key, 0)
    return report


def _largest_remainder(exact: dict[tuple[Any, ...], int]) -> dict[tuple[Any, ...], int]:
    """Whole cents per row from exact shares (1/10000 cent): per currency (a key's last part),
    the total rounded down, each row its share rounded down plus one of the cents left if
    its fraction is among the largest (`revenue/allocation.py`'s rule)."""
    out = {key: value // BPS for key, value in exact.items()}
    currencies: dict[Any, list[tuple[Any, ...]]] = defaultdict(list)
    for key in exact:
        currencies[key[-1]].append(key)
    for keys in currencies.values():
        left = sum(exact[k] for k in keys) // BPS - sum(out[k] for k in keys)
        order = sorted(keys, key=lambda k: (-(exact[k] % BPS), -exact[k],
                                            tuple(str(v) for v in k)))
        for k in order[:left]:
            out[k] += 1
    return out


def names_of(session: Session, groups: Sequence[str],
           merged: dict[tuple[Any, ...], Sums]) -> dict[str, dict[str, str]]:
    """Names of the campaigns, screens and venues in the rows, to make a report readable."""
    ids: dict[str, set[str]] = {g: set() for g in ("campaign", "screen", "venue")}
    for key in merged:
        for group, value in zip(groups, key, strict=False):
            if group in ids and value:
                ids[group].add(value)
    return {"campaign": campaigns_service.names(session=session, campaign_ids=ids["campaign"]),
            "screen": venues_service.screen_names(session=session, screen_ids=ids["screen"]),
            "venue": venues_service.venue_names(session=session, venue_ids=ids["venue"])}


def label(labels: dict[tuple[str, int], str], group: str, value: int) -> str:
    """An hour as RFC 3339 or a day as a date (many rows share one)."""
    found = labels.get((group, value))
    if found is None:
        found = labels[(group, value)] = (
            (_EPOCH + timedelta(hours=value)).isoformat().replace("+00:00", "Z")
            if group == "hour" else (_EPOCH + timedelta(days=value)).date().isoformat())
    return found


def _row(report: Report, key: tuple[Any, ...], sums: Sums, names: dict[str, dict[str, str]],
         labels: dict[tuple[str, int], str], earnings: int) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for group, value in zip(report.group_by, key, strict=False):
        if group in ("hour", "day"):
            row[group] = label(labels, group, value)
        elif group == "campaign":
            row["campaign_id"] = None if value == HOUSE else value
            row["campaign_name"] = "house content" if value == HOUSE \
                else names["campaign"].get(value)
        else:
            row[f"{group}_id"] = value
            if group in names:
                row[f"{group}_name"] = names[group].get(value)
    row.update(currency=key[-1], plays=sums.plays, billable_plays=sums.billable_plays,
               seconds=sums.played_ms / 1000, impressions=sums.impressions_milli / 1000)
    if report.sees_spend:
        row["spend_cents"] = sums.spend_cents
    else:
        row["earnings_cents"] = earnings
    return row
