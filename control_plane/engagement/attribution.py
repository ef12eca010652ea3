"""Which screens a campaign's scans came from: split by the impressions played before them.

A scan cannot say where its QR code was seen, so the scans of an hour are shared out among
the screens that played the campaign in the `window_s` seconds before: in proportion to each
screen's impressions there, as whole scans whose sum is exactly the hour's scans (largest
remainder, ties by screen id). Scans are counted per UTC hour, so for the scans of hour H the
window is [start of H − window_s, end of H]: any scan of H has all its own window inside it.
Impressions are read per hour too (reporting's hourly rollup, not the plays: it stays cheap on
a table of ten million plays), so an hour that the window covers only in part weighs its
impressions by the part it covers (an hour of plays, half in the window: half its
impressions). An hour with no impression in its window is `UNATTRIBUTED`. Unique scanners
are shared out the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

HOUR_S = 3600
UNATTRIBUTED = ""  # the screen key of scans that no play explains


def window_hours(hour: int, window_s: float) -> dict[int, int]:
    """The hours whose plays explain scans of `hour`, each with how many of its seconds lie
    in [start of hour − window_s, end of hour]."""
    lo = hour * HOUR_S - int(window_s)
    hi = (hour + 1) * HOUR_S
    out = {}
    for h in range(lo // HOUR_S, hour + 1):
        overlap = min(hi, (h + 1) * HOUR_S) - max(lo, h * HOUR_S)
        if overlap > 0:
            out[h] = overlap
    return out


def largest_remainder(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """`total` as whole shares in proportion to `weights` (integers), summing exactly to it:
    each its share rounded down, then one more to the largest fractions (ties by key)."""
    whole = sum(weights.values())
    if total == 0 or whole <= 0:
        return {}
    shares = {k: total * w // whole for k, w in weights.items() if w > 0}
    left = total - sum(shares.values())
    order = sorted(shares, key=lambda k: (-(total * weights[k] % whole), k))
    for k in order[:left]:
        shares[k] += 1
    return {k: v for k, v in shares.items() if v}


def weights_for(hour: int, window_s: float,
                impressions: Mapping[int, Mapping[str, int]]) -> dict[str, int]:
    """Per screen, its impressions (thousandths) in the window of `hour`'s scans, each hour's
    weighed by the seconds of it inside the window (so in thousandth-impression-seconds)."""
    weights: dict[str, int] = defaultdict(int)
    for h, seconds in window_hours(hour, window_s).items():
        for screen_id, milli in impressions.get(h, {}).items():
            weights[screen_id] += milli * seconds
    return dict(weights)


def attribute(counts: Iterable[tuple[int, int, int]], window_s: float,
              impressions: Mapping[int, Mapping[str, int]]
              ) -> dict[tuple[int, str], tuple[int, int]]:
    """Per (hour, screen or `UNATTRIBUTED`): the (scans, unique scanners) of one campaign's
    `counts` (hour, scans, unique scanners), given its impressions per hour and screen."""
    out: dict[tuple[int, str], tuple[int, int]] = {}
    for hour, scans, unique in counts:
        weights = weights_for(hour, window_s, impressions)
        by_scans = largest_remainder(scans, weights)
        by_unique = largest_remainder(unique, weights)
        if not by_scans and not by_unique:
            out[(hour, UNATTRIBUTED)] = (scans, unique)
            continue
        for screen_id in sorted(by_scans.keys() | by_unique.keys()):
            out[(hour, screen_id)] = (by_scans.get(screen_id, 0), by_unique.get(screen_id, 0))
    return out
