"""What a campaign delivered, as its page shows it: charts per day and per hour of the day,
and where it played, from the report the API's `/v1/reports/delivery` makes (the same
services, scope and filters, scans included), so the page, its CSV and the API's agree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from markupsafe import Markup
from sqlalchemy.orm import Session

from control_plane.auth.policy import Principal
from control_plane.dashboard import charts
from control_plane.db import utcnow
from control_plane.engagement import service as engagement_service
from control_plane.reporting import service as reporting_service
from control_plane.settings import Settings

Metric = Literal["plays", "impressions", "spend"]
Grouping = Literal["day", "hour", "screen", "venue"]
METRICS: dict[str, str] = {"plays": "Plays", "impressions": "Impressions", "spend": "Spend"}
PERIODS = (7, 30, 90)


def report(*, session: Session, settings: Settings, principal: Principal, campaign_id: str,
           days: int, group_by: list[str]) -> reporting_service.Report:
    """The delivery report of one campaign over the last `days`, as the API makes it."""
    scope = reporting_service.scope_of(principal)
    end = utcnow()
    start, end = reporting_service.period(end - timedelta(days=days), end)
    found = reporting_service.delivery_report(
        session=session, scope=scope, start=start, end=end, group_by=group_by,
        filters=reporting_service.Filters(campaign_id, None, None),
        latest_play=utcnow() + timedelta(seconds=settings.pop_clock_skew_s))
    # the scans beside the plays, as the API's report adds them (`reporting/router.py`)
    engagement_service.add_to_delivery(session=session, scope=scope, report=found,
                                       window_s=settings.scan_attribution_window_s,
                                       campaign_id=campaign_id)
    return found


def _value(row: dict[str, Any], metric: str) -> float:
    if metric == "spend":
        return float(row.get("spend_cents") or 0) / 100
    return float(row.get(metric) or 0)


@dataclass(frozen=True)
class Delivery:
    """The charts and the table of where it played."""

    by_day: Markup
    by_hour: Markup
    places: list[dict[str, Any]]
    total: float


def delivery(*, session: Session, settings: Settings, principal: Principal,
             campaign_id: str, currency: str, days: int, metric: str) -> Delivery:
    """The campaign's delivery over the last `days`: `metric` per day and per hour of the day
    (UTC), and plays, impressions and spend per screen."""
    unit = f" {currency}" if metric == "spend" else ""
    fmt: Callable[[float], str] = (lambda v: f"{v:,.2f}") if metric == "spend" else \
        (lambda v: f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}")
    daily = report(session=session, settings=settings, principal=principal,
                   campaign_id=campaign_id, days=days, group_by=["day"])
    per_day: dict[str, float] = {}
    for row in daily.rows:
        per_day[row["day"]] = per_day.get(row["day"], 0.0) + _value(row, metric)
    first, last = daily.start.date(), (daily.end - timedelta(microseconds=1)).date()
    day_bars = [charts.Bar(day.strftime("%m-%d"), per_day.get(day.isoformat(), 0.0))
                for day in (first + timedelta(days=i) for i in range((last - first).days + 1))]
    hourly = report(session=session, settings=settings, principal=principal,
                    campaign_id=campaign_id, days=days, group_by=["hour"])
    per_hour = [0.0] * 24
    for row in hourly.rows:
        per_hour[int(row["hour"][11:13])] += _value(row, metric)
    name = METRICS.get(metric, metric)
    by_day = charts.bars(f"{name} per day, last {days} days", day_bars, unit=unit, fmt=fmt,
                         x_title="Day (UTC)", y_title=name)
    by_hour = charts.bars(f"{name} by hour of the day, last {days} days",
                          [charts.Bar(f"{h:02d}", v) for h, v in enumerate(per_hour)],
                          unit=unit, fmt=fmt, x_title="Hour (UTC)", y_title=name)
    places = report(session=session, settings=settings, principal=principal,
                    campaign_id=campaign_id, days=days, group_by=["venue", "screen"]).rows
    places.sort(key=lambda r: -r["plays"])
    return Delivery(by_day, by_hour, places, sum(v.value for v in day_bars))
