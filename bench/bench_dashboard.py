"""Benchmark: every dashboard page, p50/p95 over HTTP, beside the JSON endpoints of its data.

For SQLite and for PostgreSQL: 10,000 screens (100 venue orgs × 25 venues × 4 screens), 400
campaigns of 50 advertisers, and 10,000,000 plays over 30 days, as the rollups ingestion keeps
(`bench_reports.py` writes them: the same seed and the same rows, on a larger fleet). Each
screen plays its venue's three busy hours a day, some 110 plays an hour, two campaigns and house
content: 10M plays spread this thinly make 2.7 million hourly rows (screen × campaign × creative
× hour), as many rows as a few minutes of seeding on this machine can write. Besides:
campaigns waiting for review, drafts and paused ones (no plays), 85 % of screens paired with a
device (four in five of them online, heartbeating, with what they play now), each campaign's
delivery and each screen's last batch. Invoices, statements and moderation items stay empty.

Then a control plane under uvicorn (one worker, loopback) answers each page as the person who
would open it, signed in with the `adsbin_session` cookie (the API's access token, which is
what the dashboard's session is), and, in the same round, the JSON endpoints a client of the
API would call for the same data (one sample: all of them, one after another). A page of the
table whose route does not exist yet is skipped ("not built yet"); a page the app has that the
table does not know is named, to add it here.
Run: .venv/bin/python bench/bench_dashboard.py [--engines sqlite,postgresql] [--repeat 40]
     [--quick] [--pages /campaigns,/admin]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from string import Formatter
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import results
from bench_pop_ingest import database, serve
from bench_reports import PASSWORD, Fleet, load, percentiles, seed
from sqlalchemy import func, insert, select, update

from control_plane.app import create_app
from control_plane.campaigns.models import Campaign, CampaignStatus, Creative
from control_plane.db import make_engine, make_sessionmaker, new_id
from control_plane.devices.models import Device
from control_plane.media.models import Media
from control_plane.reporting.models import CampaignDelivery, PopCampaignDaily, PopDaily, PopScreen
from control_plane.scheduling import service as scheduling_service
from control_plane.settings import Settings

DASHBOARD = Fleet(plays=10_000_000, days=30, open_h=3, venue_orgs=100, venues_per_org=25,
                  screens_per_venue=4, advertisers=50, campaigns_per_advertiser=8,
                  campaigns_per_venue=2)
QUICK = Fleet(plays=100_000, days=7, open_h=3, venue_orgs=4, venues_per_org=5,
              screens_per_venue=4, advertisers=4, campaigns_per_advertiser=4,
              campaigns_per_venue=2)
GOAL_S = 0.150
SLOW_S, SLOW_REPEAT = 1.0, 5  # a page this slow is timed this many times only
PAIRED, ONLINE = 0.85, 0.8  # the share of screens with a device, and of those online
AGENT_VERSIONS = ("1.4.2", "1.4.2", "1.4.2", "1.3.9")
CSRF = "bench-csrf-cookie-0123456789abcdef"  # a browser's CSRF cookie (20 to 100 characters)


@dataclass(frozen=True)
class Page:
    """A page, who opens it, and the JSON requests that fetch the same data through the API."""

    path: str  # with {campaign}, {venue}, {screen}, {media}… to fill (`seed_more` says which)
    role: str  # advertiser | venue | root | anonymous
    twins: tuple[str, ...]


REPORT = "/v1/reports/delivery?group_by="
PAGES = (
    Page("/login", "anonymous", ()),
    Page("/signup", "anonymous", ()),
    Page("/account/forgot-password", "anonymous", ()),
    Page("/sw.js", "anonymous", ()),
    Page("/", "advertiser", ("/v1/me", "/v1/campaigns")),
    Page("/", "venue", ("/v1/me", "/v1/venues")),
    Page("/", "root", ("/v1/me", "/v1/campaigns")),
    Page("/campaigns", "advertiser", ("/v1/campaigns",)),
    Page("/campaigns", "root", ("/v1/campaigns",)),
    Page("/campaigns/{campaign}", "advertiser",
         ("/v1/campaigns/{campaign}", f"{REPORT}day&campaign_id={{campaign}}",
          f"{REPORT}hour&campaign_id={{campaign}}&from={{two_days_ago}}",
          f"{REPORT}screen&campaign_id={{campaign}}")),
    Page("/campaigns/new", "advertiser", ("/v1/media", "/v1/venue-types", "/v1/ad-categories")),
    Page("/campaigns/{campaign}/edit", "advertiser", ("/v1/campaigns/{campaign}", "/v1/media")),
    Page("/campaigns/{campaign}/delivery.csv?group_by=screen", "advertiser",
         (f"{REPORT}screen&format=csv&campaign_id={{campaign}}",)),
    Page("/media", "advertiser", ("/v1/media",)),
    Page("/media/{media}", "advertiser", ("/v1/media/{media}",)),
    Page("/media/{media}/previews", "advertiser", ("/v1/media/{media}",)),
    Page("/invoices", "advertiser", ("/v1/invoices",)),
    Page("/invoices/{invoice}", "advertiser", ("/v1/invoices/{invoice}",)),
    Page("/venues", "venue", ("/v1/venues",)),
    Page("/venues/new", "venue", ("/v1/media", "/v1/venue-types", "/v1/ad-categories")),
    Page("/venues/{venue}/edit", "venue", ("/v1/venues/{venue}", "/v1/media")),
    Page("/venues/{venue}", "venue",
         ("/v1/venues/{venue}", "/v1/venues/{venue}/screens",
          f"{REPORT}day&venue_id={{venue}}")),
    Page("/screens/{screen}", "venue",
         ("/v1/screens/{screen}", "/v1/screens/{screen}/audience")),
    Page("/screens/{screen}/live", "venue", ("/v1/screens/{screen}",)),
    Page("/screens/{screen}/timeline", "venue", ("/v1/screens/{screen}/timeline",)),
    Page("/pair", "venue", ("/v1/venues",)),
    Page("/moderation", "venue", ("/v1/moderation/queue",)),
    Page("/earnings", "venue", (f"{REPORT}day", "/v1/payouts/statements?period_start="
                                                "{month_ago}&period_end={now}")),
    Page("/admin/review", "root", ("/v1/campaigns?state=pending_review",)),
    Page("/admin/review/{pending}", "root", ("/v1/campaigns/{pending}", "/v1/media/{media}")),
    Page("/admin/orgs", "root", ("/v1/orgs",)),
    Page("/admin/orgs/{advertiser_org}", "root", ("/v1/orgs/{advertiser_org}",
                                                 "/v1/orgs/{advertiser_org}/members")),
    Page("/admin/fleet", "root", ()),  # the API lists no fleet: screens by venue only
    Page("/admin/system", "root", ("/healthz",)),
    Page("/admin/system/health", "root", ("/healthz",)),
    Page("/admin/revenue", "root", ("/v1/revenue-share/policy", f"{REPORT}day")),
    Page("/account", "advertiser", ("/v1/me", "/v1/me/notification-preferences")),
    Page("/account/members", "advertiser", ("/v1/orgs/{advertiser_org}/members",
                                            "/v1/orgs/{advertiser_org}/invitations")),
    Page("/account/api-keys", "advertiser", ("/v1/api-keys",)),
    Page("/account/notifications", "advertiser", ("/v1/me/notification-preferences",)),
)


def seed_more(url: str, world: dict[str, Any], now: datetime) -> dict[str, Any]:
    """What the reports' seed has not: devices, campaigns without plays, delivery, batches."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    rng = random.Random(13)
    with sessions() as session:
        devices = []
        for i, (screen_id, _, org_id, _) in enumerate(world["screens"]):
            if i and rng.random() > PAIRED:
                continue  # unpaired (the first screen is always paired: its page is timed)
            online = i == 0 or rng.random() < ONLINE
            prefix = secrets.token_hex(8)
            seen = now - (timedelta(seconds=rng.randint(1, 20)) if online
                          else timedelta(minutes=rng.randint(5, 60 * 24 * 20)))
            devices.append({
                "id": new_id("dev"), "screen_id": screen_id, "org_id": org_id,
                "fingerprint": prefix, "public_key": "A" * 43 + "=", "token_prefix": prefix,
                "token_hash": hashlib.sha256(prefix.encode()).hexdigest(),
                "agent_version": rng.choice(AGENT_VERSIONS), "online": online,
                "status": "active", "display": {"width_px": 1920, "height_px": 1080},
                "last_seen_at": seen, "created_at": now - timedelta(days=40),
                "health": {"schema": "adsbin.heartbeat/v1", "sent_at": seen.isoformat(),
                           "agent_version": "1.4.2", "uptime_s": rng.randint(60, 10**6),
                           "now_playing": {"campaign_id": None,
                                           "creative_id": "house:default"},
                           "cache": {"files": 12, "bytes": 48_000_000,
                                     "quota_bytes": 2_000_000_000},
                           "disk_free_bytes": 8_000_000_000, "temperature_c": 51.0}})
        for i in range(0, len(devices), 2_000):
            session.execute(insert(Device), devices[i:i + 2_000])
        print(f"  devices: {len(devices):,} paired, "
              f"{sum(d['online'] for d in devices):,} online", flush=True)
        # every advertiser has a campaign waiting for review, a draft and a paused one
        media = dict(session.execute(select(Media.org_id, Media.id)).all())
        pending = {}
        for org_id, media_id in media.items():
            for status in (CampaignStatus.pending_review, CampaignStatus.draft,
                           CampaignStatus.paused):
                campaign = Campaign(
                    org_id=org_id, name=f"{status} campaign", category="1010",
                    start_at=now + timedelta(days=2), end_at=now + timedelta(days=30),
                    dayparts=[], targeting={}, budget_cents=500_000, cpm_cents=800,
                    currency="EUR", pacing="even", status=status,
                    submitted_at=now if status != CampaignStatus.draft else None)
                campaign.creatives.append(Creative(media_id=media_id, duration_s=10,
                                                   status="pending_review"))
                session.add(campaign)
                if status == CampaignStatus.pending_review:
                    pending[org_id] = campaign
        session.flush()
        # a campaign's whole delivery, and each screen's batches, as ingestion keeps them
        sums = (func.sum(PopCampaignDaily.plays), func.sum(PopCampaignDaily.billable_plays),
                func.sum(PopCampaignDaily.played_ms),
                func.sum(PopCampaignDaily.impressions_milli),
                func.sum(PopCampaignDaily.spend_cents))
        delivered = session.execute(
            select(PopCampaignDaily.campaign_key, *sums)
            .where(PopCampaignDaily.campaign_key != "")
            .group_by(PopCampaignDaily.campaign_key)).all()
        session.execute(insert(CampaignDelivery), [
            {"campaign_id": key, "plays": p, "billable_plays": b, "played_ms": ms,
             "impressions_milli": imp, "spend_cents": spend, "target_impressions_milli": 0,
             "carry_micros": 0, "updated_at": now}
            for key, p, b, ms, imp, spend in delivered])
        received = session.execute(select(PopDaily.screen_id, func.sum(PopDaily.plays))
                                   .group_by(PopDaily.screen_id)).all()
        session.execute(insert(PopScreen), [
            {"screen_id": screen_id, "batches": -(-int(n) // 500), "received": int(n),
             "last_batch_at": now - timedelta(minutes=rng.randint(1, 90))}
            for screen_id, n in received])
        advertiser = world["advertiser_org"]
        ids = {"campaign": world["a_campaign"], "pending": pending[advertiser].id,
               "media": media[advertiser], "venue": world["screens"][0][1],
               "screen": world["screens"][0][0], "venue_org": world["venue_org"],
               "advertiser_org": advertiser}
        session.commit()
    engine.dispose()
    return ids  # no {invoice}: invoices are not seeded


def heartbeat(url: str) -> None:
    """The online devices heard from just now (a fleet heartbeats every 30 s; the timing of a
    page outlasts that, so each page's timing starts from a fresh heartbeat)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(update(Device).where(Device.online.is_(True))
                     .values(last_seen_at=datetime.now(UTC)))
    engine.dispose()


def page_routes() -> list[Any]:
    """The dashboard's pages answering GET (their routes, as the app includes them)."""
    from control_plane.app import DASHBOARD_PAGES
    from control_plane.dashboard.web import PageRoute

    return [r for pages in DASHBOARD_PAGES for r in pages.router.routes
            if isinstance(r, PageRoute) and "GET" in r.methods]


def _built(routes: list[Any], path: str) -> bool:
    from starlette.routing import Match

    scope = {"type": "http", "path": path.split("?")[0], "method": "GET"}
    return any(r.matches(scope)[0] == Match.FULL for r in routes)


def _filled(template: str, ids: dict[str, str]) -> tuple[str, list[str]]:
    """The path with its ids, and the names of those the data set has none of."""
    missing = [name for _, name, _, _ in Formatter().parse(template)
               if name and name not in ids]
    return template.format(**{name: "none" for name in missing}, **ids), missing


@dataclass
class Timed:
    page: Page
    p50: float
    p95: float
    twin_p50: float | None
    twin_p95: float | None
    kb: float
    calls: int  # the JSON requests of a twin's sample


def time_pages(kind: str, http: httpx.Client, url: str, routes: list[Any],
               ids: dict[str, str], tokens: dict[str, str], repeat: int,
               only: list[str]) -> list[Timed]:
    """Each page, then its JSON twins, `repeat` times in turn; their p50/p95."""
    now = datetime.now(UTC).replace(microsecond=0)
    fill = {**ids, **{name: (now - ago).isoformat().replace("+00:00", "Z") for name, ago in (
        ("now", timedelta()), ("two_days_ago", timedelta(hours=48)),
        ("month_ago", timedelta(days=30)))}}
    out = []
    for page in PAGES:
        if only and not any(page.path.startswith(prefix) for prefix in only):
            continue
        path, missing = _filled(page.path, fill)
        name = f"{page.path} ({page.role})"
        if not _built(routes, path):
            print(f"[{kind}] {name}: not built yet", flush=True)
            continue
        if missing:
            print(f"[{kind}] {name}: no {', '.join(missing)} in the data set, not timed",
                  flush=True)
            continue
        token = tokens.get(page.role)
        cookies = {"Cookie": f"adsbin_session={token}; adsbin_csrf={CSRF}" if token
                   else f"adsbin_csrf={CSRF}"}
        bearer = {"Authorization": f"Bearer {token}"} if token else {}
        t = time.perf_counter()
        first = http.get(path, headers=cookies)
        first_s = time.perf_counter() - t
        if first.status_code != 200:
            print(f"[{kind}] {name}: answers {first.status_code}, not timed "
                  f"({first.text[:200]!r})", flush=True)
            continue
        twins = []
        for twin in (t.format(**fill) for t in page.twins):
            r = http.get(twin, headers=bearer)
            if r.status_code == 200:
                twins.append(twin)
            else:  # the bench's mistake, or the API's: said, and left out of the twin
                print(f"[{kind}] {name}: its twin {twin} answers {r.status_code}, left out "
                      f"({r.text[:200]!r})", flush=True)
        heartbeat(url)
        samples: list[float] = []
        twin_samples: list[float] = []
        n = repeat if first_s < SLOW_S else min(repeat, SLOW_REPEAT)
        if n < repeat:
            print(f"[{kind}] {name}: {first_s:.1f} s to answer; timed {n} times only",
                  flush=True)
        for _ in range(n):
            t = time.perf_counter()
            r = http.get(path, headers=cookies)
            samples.append(time.perf_counter() - t)
            r.raise_for_status()
            t = time.perf_counter()
            for twin in twins:
                http.get(twin, headers=bearer).raise_for_status()
            twin_samples.append(time.perf_counter() - t)
        p50, p95 = percentiles(samples)
        twin = percentiles(twin_samples) if twins else (None, None)
        out.append(Timed(page, p50, p95, *twin, len(first.content) / 1024, len(twins)))
        print(f"[{kind}] {name}: p95 {p95 * 1000:.0f} ms", flush=True)
    return out


def first_build(kind: str, settings: Settings) -> None:
    """One schedule build of the whole network, as the worker makes on every change and every
    hour: it publishes the playlists and keeps each screen's plan, which its timeline reads."""
    t0 = time.perf_counter()
    app = create_app(settings)
    try:
        with app.state.sessionmaker() as session:
            scheduling_service.request_rebuild(session=session, queue=app.state.jobs)
        scheduling_service.rebuild(app.state.jobs.context, {})
    finally:
        app.state.jobs.close()
    print(f"[{kind}] the schedule built and published in {time.perf_counter() - t0:.1f} s",
          flush=True)


def run(kind: str, tmp: Path, fleet: Fleet, repeat: int, only: list[str]) -> list[Timed]:
    """Seed one engine, serve it, time the pages."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with database(kind, tmp, "dashboard") as url:
        t0 = time.perf_counter()
        print(f"[{kind}] seeding {fleet.screens:,} screens and "
              f"{fleet.campaigns_per_advertiser * fleet.advertisers:,} campaigns…", flush=True)
        world = seed(url, now, fleet)
        print(f"[{kind}] {fleet.plays:,} plays of rollups…  ({time.perf_counter() - t0:.0f} s)",
              flush=True)
        plays = load(url, world, now, fleet, print_every=10)
        assert plays == fleet.plays, plays
        ids = seed_more(url, world, now)
        print(f"[{kind}] seeded in {time.perf_counter() - t0:.0f} s", flush=True)
        settings = Settings(data_dir=tmp / f"{kind}-data", database_url=url,
                            _env_file=None)  # type: ignore[call-arg]
        first_build(kind, settings)
        routes = page_routes()
        known = {_filled(p.path, ids)[0] for p in PAGES}
        for route in routes:
            if not any(_built([route], path) for path in known):
                print(f"[{kind}] a page the table does not know: GET {route.path}", flush=True)
        with serve(settings, 1) as base, httpx.Client(base_url=base, timeout=60) as http:
            tokens = {}
            for role in ("advertiser", "venue", "root"):
                r = http.post("/v1/auth/token", json={"email": f"{role}@bench.example.com",
                                                      "password": PASSWORD})
                r.raise_for_status()
                tokens[role] = r.json()["access_token"]
            return time_pages(kind, http, url, routes, ids, tokens, repeat, only)


def _ms(seconds: float | None) -> str:
    return f"{seconds * 1000:>7.1f}" if seconds is not None else f"{'—':>7}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--quick", action="store_true",
                        help=f"a small data set ({QUICK.screens} screens, "
                             f"{QUICK.plays:,} plays) for a smoke run")
    parser.add_argument("--plays", type=int, default=0,
                        help="plays of rollups instead of the data set's (pages that read no "
                             "delivery, such as a timeline, do not need 10,000,000)")
    parser.add_argument("--pages", default="",
                        help="only the pages whose path starts with one of these (comma-separated)")
    args = parser.parse_args()
    fleet = QUICK if args.quick else DASHBOARD
    if args.plays:
        fleet = replace(fleet, plays=args.plays)
    only = [p for p in args.pages.split(",") if p]
    tables = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.engines.split(","):
            tables[kind] = run(kind, Path(tmp), fleet, args.repeat, only)
    for kind, rows in tables.items():
        print(f"\n{kind}: {fleet.screens:,} screens, {fleet.plays:,} plays, "
              f"{args.repeat} requests of each")
        width = max([40, *(len(f"{t.page.path} ({t.page.role})") for t in rows)])
        print(f"{'page':<{width}} {'p50 ms':>7} {'p95 ms':>7} {'KB':>5} | {'JSON twin':>9} "
              f"{'p50 ms':>7} {'p95 ms':>7} | goal p95 ≤ {GOAL_S * 1000:.0f} ms")
        for t in rows:
            met = "met" if t.p95 <= GOAL_S else "MISSED"
            print(f"{t.page.path + ' (' + t.page.role + ')':<{width}} {_ms(t.p50)} {_ms(t.p95)} "
                  f"{t.kb:>5.0f} | {t.calls:>3} calls {_ms(t.twin_p50)} "
                  f"{_ms(t.twin_p95)} | {met}")
    print(f"\nA twin's sample: its JSON requests one after another. {os.cpu_count()} cores, "
          "uvicorn with one worker, one client on loopback.")
    results.save("bench_dashboard", [
        results.Figure(f"page p95: {t.page.path} ({t.page.role}), {fleet.screens:,} screens",
                       t.p95 * 1000, "ms", "lower",
                       f"its JSON twin p95 ({t.calls} calls)" if t.twin_p95 is not None else None,
                       t.twin_p95 * 1000 if t.twin_p95 is not None else None,
                       goal=f"p95 <= {GOAL_S * 1000:.0f} ms", met=t.p95 <= GOAL_S, engine=kind)
        for kind, rows in tables.items() for t in rows], args=args)


if __name__ == "__main__":
    main()
