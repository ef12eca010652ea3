"""The campaign form of the wizard and of a draft's edit page: the posted fields turned into the
API's own `CampaignCreate` (so the same validation, and the errors next to the fields), and a
stored campaign turned back into the form's values.

What a person types differs from the API's body only where a form must: money as "250.00"
rather than cents, a flight as two local times read in UTC (a `datetime-local` input has no
zone), dayparts as up to `DAYPARTS` rows of weekday boxes and times, the geo radius as three
plain numbers (a map would need tiles from the internet), the audience as one segment of age
bands and genders with a minimum share in per cent (more segments, made through the API, are
kept as they are).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.datastructures import FormData

from control_plane.campaigns.schemas import CampaignCreate, Weekday
from control_plane.campaigns.service import Campaign
from control_plane.dashboard.web import FormErrors, validate
from control_plane.taxonomy import service as taxonomy
from control_plane.taxonomy.demographics import AGE_BANDS, GENDERS

DAYPARTS = 3  # empty rows a form shows
MAX_DAYPARTS = 50  # as many as a campaign may have (`CampaignFields.dayparts`)
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "CAD", "AUD")
FIELDS = ("name", "category", "start_at", "end_at", "dayparts", "venue_type_ids", "lat", "lon",
          "radius_km", "budget", "cpm", "currency", "pacing", "max_plays_per_hour",
          "share_of_voice", "audience")
_RENAMED = {"budget_cents": "budget", "cpm_cents": "cpm"}
MAX_TEXT = 200


@dataclass
class Values:
    """What the form shows: the text of each field, the dayparts' rows and the venue types."""

    text: dict[str, str] = field(default_factory=dict)
    dayparts: list[dict[str, Any]] = field(default_factory=list)
    venue_type_ids: list[int] = field(default_factory=list)
    audience_ages: list[str] = field(default_factory=list)
    audience_genders: list[str] = field(default_factory=list)
    audience_more: str = ""  # the segments after the first, as JSON (the form shows one)

    def get(self, name: str, default: str = "") -> str:
        """A field's text."""
        return self.text.get(name, default)


def blank() -> Values:
    """The form of a new campaign."""
    values = Values(text={"currency": "EUR", "pacing": "even", "duration_s": "10"})
    values.dayparts = [{"weekdays": [], "start": "", "end": ""} for _ in range(DAYPARTS)]
    return values


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip()[:MAX_TEXT] if isinstance(value, str) else ""


def read(form: FormData) -> Values:
    """The posted form as the values to show again."""
    values = Values(text={name: _text(form, name)
                          for name in (*FIELDS, "duration_s", "audience_min_share")
                          if name not in ("dayparts", "venue_type_ids", "audience")})
    values.audience_ages = [b for b in AGE_BANDS if b in form.getlist("audience_ages")]
    values.audience_genders = [g for g in GENDERS if g in form.getlist("audience_genders")]
    more = form.get("audience_more")
    values.audience_more = more[:20_000] if isinstance(more, str) else ""
    for i in range(MAX_DAYPARTS):  # a draft made through the API may have more than three
        days = [d for d in form.getlist(f"daypart-{i}-days") if d in WEEKDAYS]
        part = {"weekdays": days, "start": _text(form, f"daypart-{i}-start"),
                "end": _text(form, f"daypart-{i}-end")}
        if i < DAYPARTS or days or part["start"] or part["end"]:
            values.dayparts.append(part)
    for raw in form.getlist("venue_type_ids")[:200]:
        if isinstance(raw, str) and raw.strip().isdigit():
            values.venue_type_ids.append(int(raw))
    return values


def _cents(text: str) -> int | str | None:
    """An amount typed as "250" or "250.00" in cents; the text itself when it is no amount
    (the schema then says so), None when empty."""
    if not text:
        return None
    try:
        amount = Decimal(text.replace(",", "").replace(" ", ""))
        if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
            return text
    except InvalidOperation:  # not a number, or one too large to have cents ("1e400")
        return text
    return int(amount * 100)


def _instant(text: str) -> str | None:
    """A `datetime-local` value read in UTC (a value with its own zone is kept as is)."""
    if not text:
        return None
    has_zone = text.endswith("Z") or "+" in text[10:] or "-" in text[10:]
    return text if has_zone else f"{text}Z"


def body(values: Values) -> dict[str, Any]:
    """The API's request body the values stand for."""
    text = values.text
    data: dict[str, Any] = {k: text[k] for k in ("name", "category", "currency", "pacing")
                            if text.get(k)}
    for key in ("start_at", "end_at"):
        if (instant := _instant(text.get(key, ""))) is not None:
            data[key] = instant
    for key, name in (("budget_cents", "budget"), ("cpm_cents", "cpm")):
        if (cents := _cents(text.get(name, ""))) is not None:
            data[key] = cents
    for key in ("max_plays_per_hour", "share_of_voice"):
        if text.get(key):
            data[key] = text[key]
    data["dayparts"] = [{"weekdays": p["weekdays"], "start": p["start"], "end": p["end"]}
                        for p in values.dayparts if p["weekdays"] or p["start"] or p["end"]]
    targeting: dict[str, Any] = {"venue_type_ids": values.venue_type_ids}
    geo = {k: text[k] for k in ("lat", "lon", "radius_km") if text.get(k)}
    if geo:
        targeting["geo"] = geo
    audience = _audience(values)
    if audience is not None:
        targeting["audience"] = audience
    data["targeting"] = targeting
    return data


def _audience(values: Values) -> dict[str, Any] | None:
    """The audience target the form stands for; None when nothing of it is filled in."""
    share = values.text.get("audience_min_share", "")
    try:
        more = json.loads(values.audience_more) if values.audience_more else []
    except ValueError:
        more = []
    more = more if isinstance(more, list) else []
    if not (values.audience_ages or values.audience_genders or share or more):
        return None
    segments = [{"age_bands": values.audience_ages, "genders": values.audience_genders},
                *more] if values.audience_ages or values.audience_genders or not more else more
    try:
        min_share: Any = float(Decimal(share) / 100) if share else None
    except (InvalidOperation, ValueError):
        min_share = share  # not a number: the schema says so
    return {"segments": segments, "min_share": min_share}


def check(values: Values) -> tuple[CampaignCreate | None, FormErrors]:
    """The values as the API's `CampaignCreate`, or the errors by the form's field names."""
    found, errors = validate(CampaignCreate, body(values), [*FIELDS, *_RENAMED])
    errors = FormErrors({_RENAMED.get(k, k): v for k, v in errors.items()})
    flight = errors.get("", "").lower()
    if "end_at" in flight or "flight" in flight:  # the flight's own rule names no field
        message = errors.pop("")
        errors["end_at"] = "The end must be after the start" if "end_at must be after" \
            in flight else message
    for name in ("budget", "cpm"):
        if name in errors and "integer" in errors[name].lower():
            errors[name] = "Give an amount like 250 or 250.00"
    return found, errors


def of(campaign: Campaign) -> Values:
    """A stored campaign as the form's values (to edit a draft)."""
    targeting = campaign.targeting or {}
    geo = targeting.get("geo") or {}
    values = Values(text={
        "name": campaign.name, "category": campaign.category,
        "start_at": campaign.start_at.strftime("%Y-%m-%dT%H:%M"),
        "end_at": campaign.end_at.strftime("%Y-%m-%dT%H:%M"),
        "budget": f"{campaign.budget_cents / 100:.2f}", "cpm": f"{campaign.cpm_cents / 100:.2f}",
        "currency": campaign.currency, "pacing": campaign.pacing,
        "max_plays_per_hour": str(campaign.max_plays_per_hour or ""),
        "share_of_voice": str(campaign.share_of_voice or ""),
        **{k: str(geo[k]) for k in ("lat", "lon", "radius_km") if k in geo}})
    values.dayparts = [dict(p) for p in campaign.dayparts][:MAX_DAYPARTS]
    values.dayparts += [{"weekdays": [], "start": "", "end": ""}
                        for _ in range(DAYPARTS - len(values.dayparts))]
    values.venue_type_ids = list(targeting.get("venue_type_ids") or [])
    audience = targeting.get("audience") or {}
    segments = list(audience.get("segments") or [])
    if segments:
        values.audience_ages = list(segments[0].get("age_bands") or [])
        values.audience_genders = list(segments[0].get("genders") or [])
        values.audience_more = json.dumps(segments[1:]) if segments[1:] else ""
    if audience.get("min_share") is not None:
        values.text["audience_min_share"] = f"{float(audience['min_share']) * 100:g}"
    return values


def as_create(campaign: Campaign) -> CampaignCreate:
    """A stored campaign as the body that would draft it again (for its forecast)."""
    return CampaignCreate.model_validate({name: getattr(campaign, name)
                                          for name in CampaignCreate.model_fields})


def categories() -> list[tuple[str, list[tuple[str, str]]]]:
    """The IAB categories by tier 1, for a select with groups."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for category in taxonomy.ad_categories().values():
        groups.setdefault(category.tier1, []).append((category.id, category.name))
    return sorted(groups.items())


def venue_types() -> list[tuple[int, str]]:
    """The OpenOOH venue types, each indented under its parent."""
    types = taxonomy.venue_types()
    tree = taxonomy.venue_tree()
    return [(vt.id, "\u2003" * len(tree.ancestors(vt.id)) + vt.name) for vt in types.values()]
