"""Benchmark: the schedule engine over 1k, 5k and 10k screens with 1,000 active campaigns.

The fleet is synthetic but shaped like the real one: ~40 time zones (half- and quarter-hour
offsets, both hemispheres' DST), screens clustered around a city per zone, mixed opening
hours (some past midnight, some at minute precision), venue types from the whole OpenOOH
taxonomy, blocked categories on 30% of venues, house content on most. Campaigns: categories
from every IAB tier, 20% geo-targeted, 10% screen-id-targeted, half venue-type-targeted, 30%
with dayparts, even/asap mix, some share of voice and hourly caps.

Printed next to two baselines measured in the same run: the time to merely loop over
screens × campaigns doing one comparison (what any engine that looks at every pair pays), and
the time to serialise the plans it produced to canonical JSON (what publishing them costs).
Run: .venv/bin/python bench/bench_schedule.py [--sizes 1000,5000,10000] [--campaigns 1000]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time as clock
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import results

from control_plane.scheduling.engine import build, canonical
from control_plane.scheduling.inputs import (
    Campaign,
    Creative,
    Daypart,
    Params,
    Screen,
)
from control_plane.taxonomy import service as taxonomy

NOW = datetime(2026, 3, 27, 14, 37, tzinfo=UTC)  # the Friday before Europe's DST change
ZONES = [  # (zone, city lat, city lon)
    ("Europe/Paris", 48.86, 2.35), ("Europe/London", 51.51, -0.13),
    ("Europe/Berlin", 52.52, 13.40), ("Europe/Madrid", 40.42, -3.70),
    ("Europe/Rome", 41.90, 12.50), ("Europe/Amsterdam", 52.37, 4.90),
    ("Europe/Lisbon", 38.72, -9.14), ("Europe/Warsaw", 52.23, 21.01),
    ("Europe/Athens", 37.98, 23.73), ("Europe/Istanbul", 41.01, 28.98),
    ("Europe/Helsinki", 60.17, 24.94), ("Europe/Dublin", 53.35, -6.26),
    ("America/New_York", 40.71, -74.01), ("America/Chicago", 41.88, -87.63),
    ("America/Denver", 39.74, -104.99), ("America/Los_Angeles", 34.05, -118.24),
    ("America/Phoenix", 33.45, -112.07), ("America/Toronto", 43.65, -79.38),
    ("America/Mexico_City", 19.43, -99.13), ("America/Sao_Paulo", -23.55, -46.63),
    ("America/Argentina/Buenos_Aires", -34.60, -58.38), ("America/Bogota", 4.71, -74.07),
    ("America/St_Johns", 47.56, -52.71), ("America/Halifax", 44.65, -63.58),
    ("Asia/Tokyo", 35.68, 139.69), ("Asia/Seoul", 37.57, 126.98),
    ("Asia/Shanghai", 31.23, 121.47), ("Asia/Singapore", 1.35, 103.82),
    ("Asia/Kolkata", 19.08, 72.88), ("Asia/Kathmandu", 27.72, 85.32),
    ("Asia/Dubai", 25.20, 55.27), ("Asia/Jakarta", -6.21, 106.85),
    ("Asia/Manila", 14.60, 120.98), ("Australia/Sydney", -33.87, 151.21),
    ("Australia/Adelaide", -34.93, 138.60), ("Australia/Perth", -31.95, 115.86),
    ("Pacific/Auckland", -36.85, 174.76), ("Africa/Johannesburg", -26.20, 28.05),
    ("Africa/Lagos", 6.52, 3.38), ("Africa/Cairo", 30.04, 31.24),
]
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS = [  # opening-hour templates
    {d: (("09:00", "20:00"),) for d in WEEK[:6]},  # shop
    {d: (("17:00", "02:00"),) for d in WEEK},  # bar, past midnight
    {**{d: (("16:30", "01:00"),) for d in WEEK[:4]},
     **{d: (("16:30", "03:00"),) for d in WEEK[4:6]}},  # late bar, minute precision
    {d: (("07:00", "19:00"),) for d in WEEK},  # café
    {d: (("00:00", "24:00"),) for d in WEEK},  # 24/7
    {d: (("08:00", "18:00"),) for d in WEEK[:5]},  # office lobby
    {d: (("06:00", "22:00"),) for d in WEEK},  # gym
    {d: (("05:00", "01:00"),) for d in WEEK},  # transit
    {**{d: (("11:30", "14:30"), ("18:30", "23:00")) for d in WEEK[1:]}},  # restaurant
    {d: (("10:00", "22:00"),) for d in WEEK},  # mall
]
SENSITIVE = ["1002", "1361", "1544", "1049", "1001", "1474", "1259", "1576", "1519", "1003",
             "1262"]
DAYPARTS = [(time(7), time(10)), (time(11, 30), time(14)), (time(17), time(21, 30)),
            (time(20), time(2)), (time(6), time(12))]


def _creatives(rng: random.Random, prefix: str, n: int) -> tuple[Creative, ...]:
    return tuple(Creative(f"{prefix}-cr{k}", f"{rng.getrandbits(256):064x}",
                          rng.choice((10, 10, 10, 15, 20, 30))) for k in range(n))


def make_screens(n: int, rng: random.Random) -> list[Screen]:
    """n screens, two or three per venue."""
    types = [t for t in taxonomy.venue_types().values() if t.parent_id is not None]
    screens: list[Screen] = []
    venue = 0
    while len(screens) < n:
        venue += 1
        zone, lat, lon = rng.choice(ZONES)
        lat, lon = lat + rng.uniform(-0.3, 0.3), lon + rng.uniform(-0.4, 0.4)
        blocked = tuple(rng.sample(SENSITIVE, rng.randint(1, 3))) if rng.random() < 0.3 else ()
        hours = rng.choice(HOURS)
        vtype = rng.choice(types).id
        house = _creatives(rng, f"v{venue}", rng.randint(1, 3)) if rng.random() < 0.7 else ()
        for _ in range(rng.randint(2, 3)):
            screens.append(Screen(
                f"s{len(screens):06d}", f"v{venue:05d}", zone, opening_hours=hours,
                venue_type_id=vtype, lat=lat, lon=lon, blocked_categories=blocked,
                audience_multiplier=round(rng.uniform(0.5, 20), 2), house=house))
    return screens[:n]


def make_campaigns(n: int, screens: list[Screen], rng: random.Random) -> list[Campaign]:
    """n approved campaigns, active now."""
    categories = sorted(taxonomy.ad_categories())
    venue_types = sorted(taxonomy.venue_types())
    out = []
    for k in range(n):
        start = NOW - timedelta(days=rng.uniform(0, 30))
        end = NOW + (timedelta(hours=rng.uniform(2, 40)) if rng.random() < 0.05
                     else timedelta(days=rng.uniform(2, 60)))
        budget, cpm = rng.randint(1_000, 50_000) * 100, rng.randint(200, 1500)
        geo = None
        if rng.random() < 0.2:
            _, lat, lon = rng.choice(ZONES)
            geo = (lat + rng.uniform(-0.2, 0.2), lon + rng.uniform(-0.2, 0.2),
                   float(rng.choice((5, 10, 25, 50, 100))))
        picks = rng.sample(screens, rng.randint(5, 50)) if rng.random() < 0.1 else []
        dayparts = tuple(Daypart(frozenset(rng.sample(range(7), rng.randint(3, 7))), a, b)
                         for a, b in rng.sample(DAYPARTS, rng.randint(1, 2))
                         ) if rng.random() < 0.3 else ()
        out.append(Campaign(
            f"c{k:05d}", f"adv{k % 300}", rng.choice(categories), start, end,
            dayparts=dayparts,
            venue_type_ids=tuple(rng.sample(venue_types, rng.randint(1, 3)))
            if rng.random() < 0.5 else (),
            geo=geo, screen_ids=tuple(s.id for s in picks),
            budget_cents=budget, cpm_cents=cpm,
            pacing="asap" if rng.random() < 0.3 else "even",
            delivered_impressions=budget * 1000 / cpm * rng.uniform(0, 0.8),
            max_plays_per_hour=rng.choice((60, 120, 240)) if rng.random() < 0.2 else None,
            share_of_voice=rng.choice((0.1, 0.2, 0.5)) if rng.random() < 0.05 else None,
            creatives=_creatives(rng, f"c{k}", rng.randint(1, 3))))
    # some venues reject a campaign or two in moderation
    for s in rng.sample(screens, len(screens) // 50):
        s.excluded.update({c.id: "not for our customers" for c in rng.sample(out, 2)})
    return out


def _progress(n: int) -> Callable[[str, int, int], None]:
    started = clock.perf_counter()

    def report(stage: str, done: int, total: int) -> None:
        if done % 2500 == 0 or done == total:
            print(f"[{n:>6,} screens]   {stage}: {done:,}/{total:,} "
                  f"({clock.perf_counter() - started:.1f} s)", flush=True)
    return report


def baseline_pairs(screens: list[Screen], campaigns: list[Campaign]) -> float:
    """Seconds to touch every screen × campaign pair once."""
    t = clock.perf_counter()
    hits = 0
    for s in screens:
        vt = s.venue_type_id
        for c in campaigns:
            if c.cpm_cents > vt:
                hits += 1
    return clock.perf_counter() - t


def main() -> None:
    """Run the sizes and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--campaigns", type=int, default=1000)
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    rng = random.Random(20260327)
    print(f"generating {max(sizes):,} screens and {args.campaigns:,} campaigns…", flush=True)
    all_screens = make_screens(max(sizes), rng)
    campaigns = make_campaigns(args.campaigns, all_screens, rng)
    params = Params(now=NOW)
    taxonomy.venue_tree(), taxonomy.category_tree()  # load the taxonomies outside the timings
    rows = []
    for n in sizes:
        screens = all_screens[:n]
        print(f"[{n:>6,} screens] baseline: screens × campaigns loop…", flush=True)
        pairs_s = baseline_pairs(screens, campaigns)
        print(f"[{n:>6,} screens] building plans…", flush=True)
        gc.collect()
        t = clock.perf_counter()
        plans = build(screens, campaigns, params, progress=_progress(n))
        build_s = clock.perf_counter() - t
        windows = sum(len(p.windows) for p in plans.values())
        sold = sum(1 for p in plans.values() for w in p.windows
                   for i in w.loop if i.kind == "campaign")
        print(f"[{n:>6,} screens] built in {build_s:.1f} s ({windows:,} windows, "
              f"{sold / max(1, windows):.2f} campaign items per loop); serialising…", flush=True)
        t = clock.perf_counter()
        size = sum(len(canonical(p)) for p in plans.values())
        json_s = clock.perf_counter() - t
        rows.append((n, build_s, pairs_s, json_s, size))
        del plans
        gc.collect()
    per_screen_1k = rows[0][1] / rows[0][0]
    print()
    print(f"{'screens':>8} {'campaigns':>9} {'build s':>8} {'screens/s':>10} "
          f"{'µs/pair':>8} {'linearity':>9} | {'pairs-loop s':>12} {'json s':>7} {'MB':>6}")
    for n, build_s, pairs_s, json_s, size in rows:
        print(f"{n:>8,} {len(campaigns):>9,} {build_s:>8.2f} {n / build_s:>10,.0f} "
              f"{build_s / (n * len(campaigns)) * 1e6:>8.3f} "
              f"{build_s / n / per_screen_1k:>9.2f} | {pairs_s:>12.2f} {json_s:>7.2f} "
              f"{size / 1e6:>6.1f}")
    print("\nlinearity: time per screen ÷ time per screen at the first size (1.00 = linear)")
    results.save("bench_schedule", [
        results.Figure(f"schedule build, {n:,} screens × {len(campaigns):,} campaigns", build_s,
                       "s", "lower", "screens × campaigns loop, one comparison a pair", pairs_s)
        for n, build_s, pairs_s, _, _ in rows], args=args)


if __name__ == "__main__":
    main()
