"""The venue form of the venue owner's pages: its fields as text, the API's shape of them, and
the choices it offers (venue types, ad categories by tier 1, the org's ready media as house
content). The API's own schemas (`VenueCreate`, `VenueUpdate`) judge what is posted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from control_plane.taxonomy import service as taxonomy
from control_plane.venues.schemas import WEEKDAYS

FIELDS = ("name", "public_name", "address", "lat", "lon", "timezone", "venue_type_id",
          "opening_hours", "blocked_categories", "moderation", "house_media_ids")
TEXT = ("name", "public_name", "address", "lat", "lon", "timezone", "venue_type_id",
        "moderation")
DAY_NAMES = dict(zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                "Saturday", "Sunday"), strict=True))
MAX_TEXT = 600


@dataclass
class Values:
    """What the form shows: its text fields, the hours per day, and the chosen ids."""

    text: dict[str, str] = field(default_factory=dict)
    hours: dict[str, str] = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)
    house: list[str] = field(default_factory=list)

    def get(self, name: str, default: str = "") -> str:
        """A text field's value."""
        return self.text.get(name, default)


def blank() -> Values:
    """An empty form (automatic moderation, open every day 08:00–23:00)."""
    return Values(text={"moderation": "auto", "timezone": "Europe/Paris"},
                  hours={d: "08:00-23:00" for d in WEEKDAYS})


def of_venue(venue: Any) -> Values:
    """The form filled with a venue's fields."""
    text = {name: "" if getattr(venue, name) is None else str(getattr(venue, name))
            for name in TEXT}
    hours = {d: ", ".join(f"{a}-{b}" for a, b in venue.opening_hours.get(d, []))
             for d in WEEKDAYS}
    return Values(text, hours, list(venue.blocked_categories), list(venue.house_media_ids))


def read(form: FormData) -> Values:
    """The posted form as text (each value cut short: the schema judges it)."""
    text = {name: str(form.get(name) or "").strip()[:MAX_TEXT] for name in TEXT}
    hours = {d: str(form.get(f"hours_{d}") or "").strip()[:200] for d in WEEKDAYS}
    blocked = [str(v)[:20] for v in form.getlist("blocked_categories")][:600]
    house = [str(v)[:40] for v in form.getlist("house_media_ids")][:50]
    return Values(text, hours, blocked, house)


def _ranges(text: str) -> list[Any]:
    """ "08:00-12:00, 14:00-02:00" as [["08:00", "12:00"], ["14:00", "02:00"]]; a part that is
    no range is passed as it is, for the schema to name it."""
    out: list[Any] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip().replace("–", "-")
        if part:
            start, sep, end = part.partition("-")
            out.append([start.strip(), end.strip()] if sep else part)
    return out


def body(values: Values, *, update: bool) -> dict[str, Any]:
    """The API's body of the form (for `VenueCreate`, or every field for `VenueUpdate`)."""
    # a new venue leaves out what is empty (the schema names what is missing); a change sends
    # every field, so an emptied one is refused or cleared rather than silently kept
    data: dict[str, Any] = {name: values.get(name) for name in TEXT
                            if update or values.get(name)}
    data["opening_hours"] = {d: _ranges(values.hours[d]) for d in WEEKDAYS if values.hours[d]}
    data["blocked_categories"] = values.blocked
    data["house_media_ids"] = values.house
    return data


def venue_types() -> list[tuple[str, str]]:
    """The OpenOOH venue types, each indented under its parent."""
    tree = taxonomy.venue_tree()
    return [(str(vt.id), "\u2003" * len(tree.ancestors(vt.id)) + vt.name)
            for vt in taxonomy.venue_types().values()]


def categories() -> list[tuple[str, list[tuple[str, str]]]]:
    """The IAB categories by tier 1, for a select with groups."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for category in taxonomy.ad_categories().values():
        groups.setdefault(category.tier1, []).append((category.id, category.name))
    return sorted(groups.items())


def category_names(ids: list[str]) -> list[str]:
    """The names of these categories (an unknown id as it is)."""
    known = taxonomy.ad_categories()
    return [known[i].name if i in known else i for i in ids]


def venue_type_name(venue_type_id: int) -> str:
    """The name of a venue type."""
    found = taxonomy.venue_types().get(venue_type_id)
    return found.name if found else str(venue_type_id)
