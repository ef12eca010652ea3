"""The screen's timeline as its page shows it: the period asked for (the next 6, 24 or 48 hours,
or from/to), and the windows of the schedule with like ones merged and campaigns by name.

The windows come from `scheduling.preview.timeline` as the API's `GET /v1/screens/{id}/timeline`
has them; the campaigns' names from the campaigns service, in one query for the whole page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from control_plane.campaigns import service as campaigns_service
from control_plane.dashboard.web import FormErrors
from control_plane.scheduling.schemas import Timeline

HOURS = (6, 24, 48)  # the periods offered, from now
DEFAULT_HOURS = 24
MAX_SPAN = timedelta(days=7)
PLANNED_AHEAD = timedelta(hours=48)  # how far the schedule is built (scheduling's horizon)
FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S")


@dataclass
class Period:
    """The period shown, what the form says (its fields as typed), and what was wrong."""

    start: datetime
    end: datetime
    hours: int | None
    typed: dict[str, str] = field(default_factory=dict)
    errors: FormErrors = field(default_factory=FormErrors)


def _instant(text: str) -> datetime | None:
    """A time typed as 2026-12-07T18:00 (UTC, as the page's times are) or in RFC 3339."""
    for fmt in FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found.astimezone(UTC) if found.tzinfo else found.replace(tzinfo=UTC)


def period(now: datetime, hours: str | None, start: str | None, end: str | None) -> Period:
    """The period the form asks for; with the errors by field (and the next 24 hours shown)
    when it asks for something that cannot be shown."""
    typed = {"from": (start or "").strip(), "to": (end or "").strip()}
    fallback = Period(now, now + timedelta(hours=DEFAULT_HOURS), DEFAULT_HOURS, typed)
    if not typed["from"] and not typed["to"]:
        chosen = int(hours) if hours and hours.isdigit() and int(hours) in HOURS \
            else DEFAULT_HOURS
        return Period(now, now + timedelta(hours=chosen), chosen, typed)
    errors = FormErrors()
    found: dict[str, datetime] = {}
    example = f"{now:%Y-%m-%dT%H:00}"
    for name in ("from", "to"):
        instant = _instant(typed[name]) if typed[name] else None
        if instant is not None:
            found[name] = instant
        elif not typed[name]:
            errors[name] = f"Give the {name} time too, e.g. {example} (UTC)"
        else:
            errors[name] = f"{typed[name]!r} is no time: write it as {example} (UTC)"
    if not errors:
        if found["to"] <= found["from"]:
            errors["to"] = "The end comes after the start"
        elif found["to"] - found["from"] > MAX_SPAN:
            errors["to"] = "Ask for 7 days at most"
    if errors:
        fallback.errors = errors
        return fallback
    return Period(found["from"], found["to"], None, typed)


@dataclass
class Row:
    """Windows in a row that play the same loop for the same reasons, shown as one."""

    start: datetime
    end: datetime
    loop: list[tuple[str, str | None, int, int]]  # kind, campaign, seconds, times in the loop
    explain: list[str]


ID = re.compile(r"\bcmp_[\w-]+")


def named(text: str, names: dict[str, str]) -> str:
    """A sentence of the schedule's with the campaigns it names by id named by their names."""
    return ID.sub(lambda m: names.get(m.group(0), m.group(0)), text)


def rows(timeline: Timeline, names: dict[str, str]) -> list[Row]:
    """The timeline's windows with each loop's repeats counted, like windows merged, and the
    campaigns its explanations name by id named by `names`."""
    out: list[Row] = []
    for window in timeline.windows:
        loop: list[tuple[str, str | None, int, int]] = []
        for item in window.loop:
            key = (item.kind, item.campaign_id, item.duration_s)
            if loop and loop[-1][:3] == key:
                loop[-1] = (*key, loop[-1][3] + item.slots)
            else:
                loop.append((*key, item.slots))
        explain = [named(e, names) for e in window.explain]
        last = out[-1] if out else None
        if last and last.end == window.start and last.loop == loop and last.explain == explain:
            last.end = window.end
        else:
            out.append(Row(window.start, window.end, loop, explain))
    return out


def exclusions(timeline: Timeline, names: dict[str, str]) -> list[tuple[str, str]]:
    """What may not play and why: (campaign name, the reasons), by name."""
    return sorted((names.get(campaign_id, campaign_id),
                   "; ".join(named(r, names) for r in reasons))
                  for campaign_id, reasons in timeline.exclusions.items())


def campaign_names(session: Session, timeline: Timeline) -> dict[str, str]:
    """The names of the campaigns the timeline names (what plays and what may not), by id."""
    ids = {item.campaign_id for w in timeline.windows for item in w.loop if item.campaign_id}
    ids |= {found for w in timeline.windows for e in w.explain for found in ID.findall(e)}
    return campaigns_service.names(session=session, campaign_ids=ids | set(timeline.exclusions))
