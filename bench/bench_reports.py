"""Benchmark: delivery reports over 10 million proof-of-play records, p50/p95 over HTTP.

For SQLite and for PostgreSQL: a fleet of 400 screens in 100 venues of 10 venue orgs, 100
campaigns of 20 advertisers, 30 days of plays, 16 open hours a day; 10,000,000 plays in all, as
the hourly and daily rollups ingestion keeps (with those per audience: 70 % of venues have an
audience profile of two dayparts), written straight into the database: reports read
nothing else, so the 10M play rows themselves (some 4 GB) would change no figure here, and the
tests prove the rollups equal the plays. Then a control plane under
uvicorn on loopback answers a set of reports as the people who would ask them (platform,
advertiser, venue org, API key), each many times; printed with p50/p95 next to the floor of the
same server: an authenticated `GET /v1/me`.
Run: .venv/bin/python bench/bench_reports.py [--engines sqlite,postgresql] [--repeat 40]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import results
from bench_pop_ingest import database, serve

from control_plane.campaigns.models import Campaign, Creative
from control_plane.db import make_engine, make_sessionmaker
from control_plane.media.models import Media
from control_plane.orgs import service as orgs_service
from control_plane.orgs.models import Org, Role
from control_plane.settings import Settings
from control_plane.venues.models import AudienceProfile, Screen, Venue

PASSWORD = "bench password 1"  # a throwaway login in a temporary database
AUDIENCE = ("screen_id", "campaign_key", "audience_key", "venue_id", "venue_org_id",
            "advertiser_org_id", "currency", "billable_plays", "impressions_milli")
AGES = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
SEXES = ("female", "male", "other")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURLY = ("hour", "screen_id", "campaign_key", "creative_id", "venue_id", "venue_org_id",
          "advertiser_org_id", "currency", "plays", "billable_plays", "played_ms",
          "impressions_milli", "spend_cents")


@dataclass(frozen=True)
class Fleet:
    """The shape of a data set: how many of each, and how the plays spread over them."""

    plays: int = 10_000_000
    days: int = 30
    open_h: int = 16  # hours a day a venue is open (and its screens play)
    venue_orgs: int = 10
    venues_per_org: int = 10
    screens_per_venue: int = 4
    advertisers: int = 20
    campaigns_per_advertiser: int = 5
    campaigns_per_venue: int = 6  # the campaigns a venue's screens play, house content aside

    @property
    def screens(self) -> int:
        return self.venue_orgs * self.venues_per_org * self.screens_per_venue


REPORTS = Fleet()  # this benchmark's; bench_dashboard.py has a larger fleet of its own


def seed(url: str, now: datetime, fleet: Fleet = REPORTS) -> dict[str, Any]:
    """Orgs, venues, screens, campaigns and the logins that will ask for reports."""
    sessions = make_sessionmaker(make_engine(url))
    rng = random.Random(7)
    with sessions() as session:
        orgs_service.ensure_superuser(session=session, email="root@bench.example.com",
                                      password=PASSWORD)
        venue_orgs = [Org(name=f"venues {i}", kind="venue") for i in range(fleet.venue_orgs)]
        advertisers = [Org(name=f"brand {i}", kind="advertiser") for i in range(fleet.advertisers)]
        session.add_all(venue_orgs + advertisers)
        session.flush()
        screens = []
        for org in venue_orgs:
            for v in range(fleet.venues_per_org):
                venue = Venue(org_id=org.id, name=f"{org.name} venue {v}", lat=48.8, lon=2.3,
                              timezone="UTC", venue_type_id=1, opening_hours={},
                              blocked_categories=[], house_media_ids=[], moderation="auto")
                session.add(venue)
                session.flush()
                for s in range(fleet.screens_per_venue):
                    screen = Screen(venue_id=venue.id, org_id=org.id, name=f"screen {s}",
                                    width_px=1920, height_px=1080,
                                    audience_multiplier=round(rng.uniform(0.5, 4), 2))
                    session.add(screen)
                    screens.append(screen)
        campaigns = []
        for org in advertisers:
            media = Media(org_id=org.id, sha256=f"{rng.getrandbits(256):064x}", kind="image",
                          mime="image/png", size_bytes=1, original_key="media/x/original",
                          status="ready", info={})
            session.add(media)
            session.flush()
            for c in range(fleet.campaigns_per_advertiser):
                campaign = Campaign(org_id=org.id, name=f"{org.name} campaign {c}",
                                    category="1010", start_at=now - timedelta(days=fleet.days + 1),
                                    end_at=now + timedelta(days=10), dayparts=[], targeting={},
                                    budget_cents=10**12, cpm_cents=rng.randint(200, 1500),
                                    currency=rng.choice(("EUR", "EUR", "USD")),
                                    pacing="even", status="approved")
                for _ in range(2):
                    campaign.creatives.append(Creative(media_id=media.id, duration_s=10,
                                                       status="approved"))
                session.add(campaign)
                campaigns.append(campaign)
        session.flush()
        # most venues describe their audience: two dayparts with splits of their own
        profiles: dict[str, str] = {}
        for venue_id in sorted({s.venue_id for s in screens}):
            if rng.random() < 0.3:
                continue  # counted by the flat multiplier: "unknown" in audience reports
            profile = AudienceProfile(
                venue_id=venue_id, version=1, source="owner_estimate", dwell_minutes=30,
                dayparts=[{"weekdays": list(WEEKDAYS), "start": "00:00", "end": "14:00",
                           "viewers_per_hour": 60, "age": _split(rng, AGES),
                           "gender": _split(rng, SEXES)},
                          {"weekdays": list(WEEKDAYS), "start": "14:00", "end": "24:00",
                           "viewers_per_hour": 90}],
                age=_split(rng, AGES), gender=_split(rng, SEXES),
                effective_from=now - timedelta(days=fleet.days + 2))
            session.add(profile)
            session.flush()
            profiles[venue_id] = profile.id
        logins = {"advertiser": advertisers[0], "venue": venue_orgs[0]}
        for kind, org in logins.items():
            user = orgs_service.create_user(session=session, email=f"{kind}@bench.example.com",
                                            name=kind, password=PASSWORD,
                                            email_verified=True)
            orgs_service.add_membership(session=session, org_id=org.id, user_id=user.id,
                                        role=Role.admin)
        session.commit()
        return {"screens": [(s.id, s.venue_id, s.org_id, s.audience_multiplier) for s in screens],
                "campaigns": [(c.id, c.org_id, c.currency, c.cpm_cents, [k.id for k in c.creatives])
                              for c in campaigns],
                "advertiser_org": advertisers[0].id, "venue_org": venue_orgs[0].id,
                "profiles": profiles,
                "a_campaign": campaigns[0].id}


def _split(rng: random.Random, names: tuple[str, ...]) -> dict[str, float]:
    weights = [rng.random() for _ in names]
    shares = [round(w / sum(weights), 3) for w in weights]
    shares[-1] = round(1 - sum(shares[:-1]), 3)
    return dict(zip(names, shares, strict=True))


def rollup_rows(world: dict[str, Any], now: datetime,
                fleet: Fleet = REPORTS) -> Iterator[tuple[Any, ...]]:
    """The hourly rollup of 10M plays: every screen, its open hours, its few campaigns."""
    rng = random.Random(11)
    days, open_h = fleet.days, fleet.open_h
    first_hour = int(now.timestamp()) // 3600 - days * 24
    screen_hours = len(world["screens"]) * days * open_h
    per_screen_hour = fleet.plays / screen_hours
    left = fleet.plays
    campaigns, per_venue = world["campaigns"], fleet.campaigns_per_venue
    venue_campaigns: dict[str, list[Any]] = {}
    venue_opens: dict[str, int] = {}
    for i, (screen_id, venue_id, venue_org, multiplier) in enumerate(world["screens"]):
        # a venue's screens are eligible for the same campaigns, and open the same hours
        mine = venue_campaigns.setdefault(venue_id, rng.sample(campaigns, per_venue))
        opens = venue_opens.setdefault(venue_id, rng.randrange(24))
        for day in range(days):
            for h in range(open_h):
                hour = first_hour + day * 24 + (opens + h) % 24
                budget = round(per_screen_hour * rng.uniform(0.8, 1.2))
                last = i == len(world["screens"]) - 1 and day == days - 1 and h == open_h - 1
                budget = left if last else min(budget, left)
                left -= budget
                house = budget // 5
                yield (hour, screen_id, "", "house:default", venue_id, venue_org, None, None,
                       house, 0, house * 10_000, 0, 0)
                shares = [rng.random() for _ in mine]
                total, given = sum(shares), 0
                for k, (cid, adv, currency, cpm, creatives) in enumerate(mine):
                    n = budget - house - given if k == len(mine) - 1 \
                        else int((budget - house) * shares[k] / total)
                    given += n
                    billable = n - n // 50
                    impressions = billable * round(multiplier * 1000)
                    yield (hour, screen_id, cid, creatives[hour % 2], venue_id, venue_org, adv,
                           currency, n, billable, n * 9_990, impressions,
                           impressions * cpm // 1_000_000)


def load(url: str, world: dict[str, Any], now: datetime, fleet: Fleet = REPORTS,
         print_every: int = 1) -> int:
    """Write the hourly and daily rollups; how many plays they add up to (a line of progress
    every `print_every` chunks of 50,000 rows)."""
    engine = make_engine(url)
    connection = engine.raw_connection()
    cursor = connection.cursor()
    sqlite = url.startswith("sqlite")
    mark = "?" if sqlite else "%s"
    daily: dict[tuple[Any, ...], list[int]] = {}
    venue_hourly: dict[tuple[Any, ...], list[int]] = {}
    venue_daily: dict[tuple[Any, ...], list[int]] = {}
    fleet_hourly: dict[tuple[Any, ...], list[int]] = {}
    fleet_daily: dict[tuple[Any, ...], list[int]] = {}
    audience_hourly: dict[tuple[Any, ...], list[int]] = {}
    audience_daily: dict[tuple[Any, ...], list[int]] = {}
    profiles = world["profiles"]
    chunk: list[tuple[Any, ...]] = []
    plays = written = 0
    insert = f"INSERT INTO pop_hourly ({', '.join(HOURLY)}) VALUES ({', '.join([mark] * 13)})"
    t0 = time.perf_counter()
    for row in rollup_rows(world, now, fleet):
        plays += row[8]
        venue_key = (row[4], row[2], row[3], row[5], row[6], row[7])
        for table, key in ((daily, (row[0] // 24, *row[1:8])),
                           (venue_hourly, (row[0], *venue_key)),
                           (venue_daily, (row[0] // 24, *venue_key)),
                           (fleet_hourly, (row[0], *row[2:4], *row[6:8])),
                           (fleet_daily, (row[0] // 24, *row[2:4], *row[6:8]))):
            sums = table.setdefault(key, [0, 0, 0, 0, 0])
            for i in range(5):
                sums[i] += row[8 + i]
        if row[9]:  # billable plays: kept per audience too (the venue's profile daypart)
            profile = profiles.get(row[4])
            audience = f"{profile}:{0 if row[0] % 24 < 14 else 1}" if profile else ""
            rest = (row[4], row[5], row[6], row[7])
            for into, key in ((audience_hourly, (row[0], row[1], row[2], audience, *rest)),
                              (audience_daily, (row[0] // 24, row[1], row[2], audience,
                                                *rest))):
                sums = into.setdefault(key, [0, 0])
                sums[0] += row[9]
                sums[1] += row[11]
        chunk.append(row)
        if len(chunk) == 50_000:
            written += _flush(cursor, connection, insert, chunk, sqlite)
            if written % (50_000 * print_every) == 0:
                print(f"  hourly rollup rows: {written:,} ({plays:,} plays, "
                      f"{time.perf_counter() - t0:.0f} s)", flush=True)
    written += _flush(cursor, connection, insert, chunk, sqlite)
    day_insert = insert.replace("pop_hourly", "pop_daily").replace("(hour,", "(day,")
    _flush(cursor, connection, day_insert, [(*k, *v) for k, v in daily.items()], sqlite)
    fleet = ("campaign_key", "creative_id", "advertiser_org_id", "currency", *HOURLY[8:])
    venue = ("venue_id", "campaign_key", "creative_id", "venue_org_id", "advertiser_org_id",
             "currency", *HOURLY[8:])
    for table, period, columns, rows in (
            ("pop_venue_hourly", "hour", venue, venue_hourly),
            ("pop_venue_daily", "day", venue, venue_daily),
            ("pop_campaign_hourly", "hour", fleet, fleet_hourly),
            ("pop_campaign_daily", "day", fleet, fleet_daily),
            ("pop_audience_hourly", "hour", AUDIENCE, audience_hourly),
            ("pop_audience_daily", "day", AUDIENCE, audience_daily)):
        _flush(cursor, connection, f"INSERT INTO {table} ({period}, {', '.join(columns)}) "
                                   f"VALUES ({', '.join([mark] * (len(columns) + 1))})",
               [(*k, *v) for k, v in rows.items()], sqlite)
    print(f"  rollup rows: {written:,} hourly and {len(daily):,} daily per screen, "
          f"{len(venue_hourly):,} and {len(venue_daily):,} per venue, "
          f"{len(fleet_hourly):,} and {len(fleet_daily):,} fleet-wide, "
          f"{len(audience_hourly):,} and {len(audience_daily):,} per audience, for "
          f"{plays:,} plays ({time.perf_counter() - t0:.0f} s)", flush=True)
    cursor.execute("ANALYZE")
    connection.commit()
    connection.close()
    engine.dispose()
    return plays


def _flush(cursor: Any, connection: Any, sql: str, rows: list[tuple[Any, ...]],
           sqlite: bool) -> int:
    n = len(rows)
    if not sqlite and rows:
        table = sql.split()[2]
        columns = sql[sql.index("(") + 1:sql.index(")")]
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    elif rows:
        cursor.executemany(sql, rows)
    connection.commit()
    rows.clear()
    return n


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(0.95 * len(ordered)) - 1)]


def run(kind: str, tmp: Path, repeat: int,
        fleet: Fleet = REPORTS) -> list[tuple[str, float, float, int]]:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with database(kind, tmp, "reports") as url:
        print(f"[{kind}] seeding the fleet and {fleet.plays:,} plays of rollups…", flush=True)
        world = seed(url, now, fleet)
        plays = load(url, world, now, fleet)
        assert plays == fleet.plays, plays
        settings = Settings(data_dir=tmp / f"{kind}-data", database_url=url,
                            _env_file=None)  # type: ignore[call-arg]
        with serve(settings, 1) as base, httpx.Client(base_url=base, timeout=60) as http:
            def login(email: str) -> dict[str, str]:
                r = http.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
                r.raise_for_status()
                return {"Authorization": f"Bearer {r.json()['access_token']}"}

            root = login("root@bench.example.com")
            advertiser = login("advertiser@bench.example.com")
            venue = login("venue@bench.example.com")
            key = http.post("/v1/api-keys", headers=root, json={"name": "warehouse"})
            platform_key = {"Authorization": f"Bearer {key.json()['key']}"}
            midnight = now.replace(hour=0)
            # "the last 30 days" and "the last 7 days", as a dashboard asks: from a midnight
            # until now (no `to`)
            month = {"from": (midnight - timedelta(days=fleet.days - 1)).isoformat()}
            week = {"from": (midnight - timedelta(days=6)).isoformat()}
            two_days = {"from": (now - timedelta(hours=48)).isoformat(), "to": now.isoformat()}
            queries = [
                ("platform: by campaign, 30 days", root, {"group_by": "campaign", **month}),
                ("platform: by day, 30 days", root, {"group_by": "day", **month}),
                ("platform: by venue, CSV, 30 days", root,
                 {"group_by": "campaign,venue", "format": "csv", **month}),
                ("platform key: by screen, 7 days", platform_key,
                 {"group_by": "screen", **week}),
                ("advertiser: by campaign × day, 30 days", advertiser,
                 {"group_by": "campaign,day", **month}),
                ("advertiser: by creative × hour, 48 h", advertiser,
                 {"group_by": "creative,hour", **two_days}),
                ("advertiser: one campaign by screen, 7 days", advertiser,
                 {"group_by": "screen", "campaign_id": world["a_campaign"], **week}),
                ("venue org: by screen × day, 30 days", venue,
                 {"group_by": "screen,day", **month}),
                ("venue org: by campaign × hour, 48 h", venue,
                 {"group_by": "campaign,hour", **two_days}),
                ("platform: by age band, 30 days", root, {"group_by": "age_band", **month}),
                ("advertiser: by campaign × age × gender, 30 d", advertiser,
                 {"group_by": "campaign,age_band,gender", **month}),
                ("venue org: by screen × age band, 7 days", venue,
                 {"group_by": "screen,age_band", **week}),
            ]
            total = http.get("/v1/reports/delivery", headers=root, params={
                "from": (now - timedelta(days=fleet.days + 1)).isoformat(),
                "to": now.isoformat()}).json()
            assert sum(t["plays"] for t in total["totals"]) == fleet.plays, total["totals"]
            by_age = http.get("/v1/reports/delivery", headers=root, params={
                "from": (now - timedelta(days=fleet.days + 1)).isoformat(), "to": now.isoformat(),
                "group_by": "age_band"}).json()
            assert round(sum(t["impressions"] for t in by_age["totals"]), 3) == round(
                sum(t["impressions"] for t in total["totals"]), 3), "audience ≠ impressions"
            table = []
            floor = []
            for _ in range(repeat):
                t = time.perf_counter()
                http.get("/v1/me", headers=advertiser).raise_for_status()
                floor.append(time.perf_counter() - t)
            table.append(("floor: GET /v1/me (same server, same auth)", *percentiles(floor),
                            0))
            print(f"[{kind}] {len(queries)} reports × {repeat}…", flush=True)
            everything = []
            for name, headers, params in queries:
                samples, rows = [], 0
                for _ in range(repeat):
                    t = time.perf_counter()
                    r = http.get("/v1/reports/delivery", headers=headers, params=params)
                    samples.append(time.perf_counter() - t)
                    r.raise_for_status()
                    rows = len(r.text.splitlines()) - 1 if params.get("format") == "csv" \
                        else len(r.json()["rows"])
                everything += samples
                table.append((name, *percentiles(samples), rows))
            table.append(("all reports", *percentiles(everything), 0))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--plays", type=int, default=REPORTS.plays,
                        help="plays of rollups (default 10,000,000; smaller for a smoke run)")
    args = parser.parse_args()
    fleet = replace(REPORTS, plays=args.plays)
    tables = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.engines.split(","):
            tables[kind] = run(kind, Path(tmp), args.repeat, fleet)
    print()
    print(f"{'report (' + format(fleet.plays, ',') + ' plays)':<46} " + " ".join(
        f"{kind + ' p50':>14} {kind + ' p95':>14} {'rows':>6}" for kind in tables))
    for i, (name, *_) in enumerate(next(iter(tables.values()))):
        cells = []
        for rows in tables.values():
            _, p50, p95, n = rows[i]
            cells.append(f"{p50 * 1000:>11.1f} ms {p95 * 1000:>11.1f} ms {n or '':>6}")
        print(f"{name:<46} " + " ".join(cells))
    print("\nTarget: p95 ≤ 200 ms. Reports read the hourly and daily rollups only; "
          f"{os.cpu_count()} cores, uvicorn with one worker.")
    figures = []
    for kind, rows in tables.items():
        floor_p95 = rows[0][2]
        figures += [results.Figure(f"delivery report p95: {name} ({fleet.plays:,} plays)",
                                   p95 * 1000, "ms", "lower", "GET /v1/me p95, same server",
                                   floor_p95 * 1000, goal="p95 <= 200 ms", met=p95 <= 0.2,
                                   engine=kind)
                    for name, _, p95, _ in rows[1:]]
    results.save("bench_reports", figures, args=args)


if __name__ == "__main__":
    main()
