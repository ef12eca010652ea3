"""Delivery reports split by who watched: `group_by` with `age_band` and/or `gender`.

Impressions are split, not plays or money (a play is not watched by a share of a person). They
are read from the audience rollups (`pop_audience_hourly` / `_daily`, kept by ingestion in the
transaction of the plays), which hold each group's billable impressions per audience key: the
daypart of the audience profile that counted them, whose split says who watched. Impressions
counted by a screen's flat multiplier have no split: they are `unknown`.

Each (group, audience key)'s milli-impressions are split by the shares — age × gender when both
are asked for (the profile gives each apart, so they are taken as independent) — in whole
milli-impressions by largest remainder, so every row adds up exactly, and the rows add up to
the total impressions of the same period in the plain report. The period is read as the plain
report reads it (`reports.py`): whole UTC hours, whole days from the daily rollup.

Target impressions (of a campaign with an audience target, those of its target, as counted at
ingestion) are split the same way, but only over the cells the target covers: a row of 65+
viewers holds none of an 18-34 target's. The rollups are read per targeting campaign where
they hold target impressions (the others together), since each campaign covers its own cells.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal_column, select
from sqlalchemy.orm import Session

from control_plane.campaigns import service as campaigns_service
from control_plane.errors import Invalid
from control_plane.reporting.models import HOUSE, PopAudienceDaily, PopAudienceHourly
from control_plane.reporting.reports import (
    _EPOCH,
    MAX_ROWS,
    Filters,
    Report,
    dimensions,
    hour_of,
    label,
    names_of,
    narrowed,
    parts,
)
from control_plane.reporting.scope import Scope
from control_plane.scheduling import service as scheduling_service
from control_plane.scheduling.audience import cells as target_cells
from control_plane.scheduling.inputs import AudienceTarget
from control_plane.venues import service as venues_service

AUDIENCE_GROUPS = frozenset({"age_band", "gender"})
WITH = ("campaign", "screen", "venue", "hour", "day")  # what audience rollups are kept by
UNKNOWN = "unknown"
NOTE = ("impressions split by the audience profile in force when each play played (age and "
        "gender taken as independent); `unknown`: counted by a screen's flat multiplier, "
        "with no profile to say who watched; target_impressions: of those, the ones of each "
        "campaign's audience target (none for campaigns without one, nor `unknown`)")


def wants_audience(group_by: Sequence[str]) -> bool:
    """Whether a report groups by who watched."""
    return bool(AUDIENCE_GROUPS & set(group_by))


@dataclass
class AudienceReport(Report):
    """A delivery report of impressions per group and audience."""

    impressions: dict[str | None, list[int]] | None = None  # milli, target milli per currency

    def metrics(self) -> tuple[str, ...]:
        return ("impressions", "target_impressions")

    def totals(self) -> list[dict[str, Any]]:
        return [{"currency": currency, "impressions": milli / 1000,
                 "target_impressions": target / 1000}
                for currency, (milli, target) in sorted((self.impressions or {}).items(),
                                                        key=lambda kv: kv[0] or "")]


def split_exactly(amount: int, weights: dict[tuple[str, ...], float]) -> dict[tuple[str, ...],
                                                                                  int]:
    """`amount` in whole parts proportional to `weights`, adding up to it exactly (largest
    remainder; ties go to the first cell)."""
    total = sum(weights.values())
    if amount == 0 or total <= 0:
        return {}
    exact = {cell: amount * w / total for cell, w in weights.items()}
    out = {cell: int(value) for cell, value in exact.items()}
    left = amount - sum(out.values())
    order = sorted(exact, key=lambda c: -(exact[c] - out[c]))
    for cell in order[:left]:
        out[cell] += 1
    return {cell: n for cell, n in out.items() if n}


def _weights(split: venues_service.Split | None,
             groups: Sequence[str]) -> dict[tuple[str, ...], float]:
    asked = [g for g in groups if g in AUDIENCE_GROUPS]
    if split is None:
        return {tuple(UNKNOWN for _ in asked): 1.0}
    cells: dict[tuple[str, ...], float] = {(): 1.0}
    for group in asked:
        shares = split.age if group == "age_band" else split.gender
        cells = {(*cell, name): weight * share for cell, weight in cells.items()
                 for name, share in shares.items()}
    return cells


def _target_weights(split: venues_service.Split, target: AudienceTarget,
                    groups: Sequence[str]) -> dict[tuple[str, ...], float]:
    """The weights of the cells asked for, counting only the viewers the target covers."""
    asked = [g for g in groups if g in AUDIENCE_GROUPS]
    out: dict[tuple[str, ...], float] = defaultdict(float)
    for band, gender in sorted(target_cells(target)):
        weight = split.age.get(band, 0.0) * split.gender.get(gender, 0.0)
        if weight:
            out[tuple(band if g == "age_band" else gender for g in asked)] += weight
    return out


def _query(table: Any, lo: int, hi: int, other: Sequence[str], scope: Scope,
           filters: Filters) -> Any:
    daily = table is PopAudienceDaily
    period = table.day if daily else table.hour
    # the campaign of rows with target impressions (NULL: the others); literal, not bound, so
    # that PostgreSQL sees the grouped expression as the selected one
    targeting = case((table.target_impressions_milli > literal_column("0"), table.campaign_key))
    dims = [*dimensions(table, other, daily=daily), table.currency, table.audience_key,
            targeting]
    query = select(*dims, func.sum(table.impressions_milli),
                   func.sum(table.target_impressions_milli)).where(period >= lo, period < hi)
    return narrowed(query, table, scope, filters).group_by(*dims).limit(MAX_ROWS + 1)


def audience_report(*, session: Session, scope: Scope, group_by: Sequence[str],
                    start: datetime, end: datetime, filters: Filters | None = None,
                    latest_play: datetime | None = None) -> AudienceReport:
    """Impressions over [start, end) (whole UTC hours) per group and audience, for `scope`."""
    unknown = [g for g in group_by if g not in (*WITH, *sorted(AUDIENCE_GROUPS))]
    if unknown:
        raise Invalid(f"with age_band or gender, group_by takes {', '.join(WITH)} too "
                      "(impressions per audience are kept per campaign, not per creative)",
                      code="invalid_group_by", details={"unknown": unknown})
    groups = tuple(dict.fromkeys(group_by))
    other = [g for g in groups if g not in AUDIENCE_GROUPS]
    start_hour, end_hour = hour_of(start), hour_of(end, ceil=True)
    if end_hour <= start_hour:
        raise Invalid("`to` must be after `from`", code="invalid_period")
    filters = filters or Filters()
    read_until = end_hour
    if latest_play is not None and end_hour > hour_of(latest_play):
        read_until = max(end_hour, -(-end_hour // 24) * 24)  # the rest of the day is empty
    found: dict[tuple[Any, ...], int] = defaultdict(int)  # (dims, currency, audience key)
    # (dims, currency, audience key, targeting campaign)
    targets: dict[tuple[Any, ...], int] = defaultdict(int)
    for table, lo, hi in parts(start_hour, read_until, "hour" in groups, PopAudienceHourly,
                               PopAudienceDaily):
        for got in session.connection().execute(_query(table, lo, hi, other, scope, filters)):
            found[tuple(got[:-3])] += int(got[-2] or 0)
            if got[-3] is not None:
                targets[tuple(got[:-2])] += int(got[-1] or 0)
        if len(found) + len(targets) > MAX_ROWS:
            raise Invalid(f"the report has more than {MAX_ROWS:,} rows; narrow the period "
                          "or group by less", code="report_too_large")
    splits = venues_service.audience_splits(session=session,
                                            audience_keys={k[-1] for k in found})
    aimed = {c.id: scheduling_service.audience_target((c.targeting or {}).get("audience"))
             for c in campaigns_service.get_many(session=session,
                                                 campaign_ids={k[-1] for k in targets})}
    # (values in `groups` order, currency) -> [milli-impressions, target milli-impressions]
    cells: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])

    def add(dims: Sequence[Any], currency: Any, pieces: dict[tuple[str, ...], int],
            at: int) -> None:
        for cell, part in pieces.items():
            values, dim_values, cell_values = [], iter(dims), iter(cell)
            for group in groups:
                values.append(next(cell_values) if group in AUDIENCE_GROUPS
                              else next(dim_values))
            cells[(*values, currency)][at] += part

    for key, milli in found.items():
        add(key[:-2], key[-2], split_exactly(milli, _weights(splits.get(key[-1]), groups)), 0)
    for key, milli in targets.items():
        split, target = splits.get(key[-2]), aimed.get(key[-1])
        if split is not None and target is not None:  # else its target or profile is gone
            add(key[:-3], key[-3], split_exactly(milli, _target_weights(split, target,
                                                                        groups)), 1)
    if len(cells) > MAX_ROWS:
        raise Invalid(f"the report has more than {MAX_ROWS:,} rows; narrow the period or "
                      "group by less", code="report_too_large")
    report = AudienceReport(start=_EPOCH + timedelta(hours=start_hour),
                            end=_EPOCH + timedelta(hours=end_hour), group_by=groups,
                            sees_spend=scope.sees_spend, notes=[NOTE], impressions={})
    names = names_of(session, groups, cells)  # type: ignore[arg-type]
    labels: dict[tuple[str, int], str] = {}
    assert report.impressions is not None
    for key, (milli, target_milli) in sorted(cells.items(), key=lambda kv: tuple(
            (v is None, v if v is not None else "") for v in kv[0])):
        row: dict[str, Any] = {}
        for group, value in zip(groups, key, strict=False):
            if group in ("hour", "day"):
                row[group] = label(labels, group, value)
            elif group == "campaign":
                row["campaign_id"] = None if value == HOUSE else value
                row["campaign_name"] = names["campaign"].get(value)
            elif group in ("screen", "venue"):
                row[f"{group}_id"] = value
                row[f"{group}_name"] = names[group].get(value)
            else:
                row[group] = value
        row.update(currency=key[-1], impressions=milli / 1000,
                   target_impressions=target_milli / 1000)
        report.rows.append(row)
        total = report.impressions.setdefault(key[-1], [0, 0])
        total[0] += milli
        total[1] += target_milli
    return report
