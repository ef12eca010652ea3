"""What an advertiser sees of the network: inventory by venue type and area, not other tenants'.

Screens and venues belong to venue orgs. An advertiser deciding where to buy needs to know how
much there is, of which kind and roughly where, and why their campaign would not play on some of
it; not another tenant's internal ids or the names venues go by in their own org. So screens are
grouped by venue type, area (coordinates rounded to `AREA_DECIMALS`, about 11 km, plus the
venue's time zone) and the venue's public name when its owner published one (venues without one
merge with their neighbours of the same type); each group counts venues, screens, the screens the
campaign may play on, and the screens each reason rules out. Pure: no database, no HTTP.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from control_plane.scheduling.eligibility import Eligibility
from control_plane.taxonomy import service as taxonomy

AREA_DECIMALS = 1  # 0.1° of latitude is about 11 km: a district or a town, not an address
AREA_KM = 11


@dataclass(frozen=True, slots=True)
class Place:
    """What may be said of a screen's venue to any advertiser."""

    venue_id: str  # used to count venues, never shown
    venue_type_id: int
    lat: float
    lon: float
    timezone: str
    public_name: str | None


@dataclass(slots=True)
class Offer:
    """One group of screens of the same venue type in the same area."""

    venue_type_id: int
    venue_type: str
    lat: float
    lon: float
    timezone: str
    public_name: str | None
    venues: int = 0
    screens: int = 0
    eligible_screens: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


def area(lat: float, lon: float) -> tuple[float, float]:
    """The coordinates of a point's area (rounded; -0.0 read as 0.0)."""
    return round(lat, AREA_DECIMALS) + 0.0, round(lon, AREA_DECIMALS) + 0.0


def offers(verdicts: Iterable[tuple[Place, Eligibility]]) -> list[Offer]:
    """The network as inventory groups, with the campaign's verdicts counted in each."""
    groups: dict[tuple[int, float, float, str, str | None], Offer] = {}
    venues: dict[tuple[int, float, float, str, str | None], set[str]] = {}
    types = taxonomy.venue_types()
    for place, verdict in verdicts:
        lat, lon = area(place.lat, place.lon)
        name = place.public_name.strip() if place.public_name else None
        key = (place.venue_type_id, lat, lon, place.timezone, name or None)
        if key not in groups:
            found = types.get(place.venue_type_id)
            groups[key] = Offer(place.venue_type_id, found.name if found else "", lat, lon,
                                place.timezone, name or None)
            venues[key] = set()
        offer = groups[key]
        venues[key].add(place.venue_id)
        offer.screens += 1
        offer.eligible_screens += verdict.eligible
        offer.reasons.update(verdict.reasons)
    for key, offer in groups.items():
        offer.venues = len(venues[key])
    return sorted(groups.values(), key=lambda o: (-o.eligible_screens, -o.screens, o.venue_type,
                                                  o.lat, o.lon, o.public_name or ""))
