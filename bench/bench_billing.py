"""Benchmark: closing a month of billable plays into invoices, against summing them.

For SQLite and for PostgreSQL, each on a fresh migrated database: 1,000 campaigns of 10
advertiser orgs, 10,000 screens in venues of 10 venue orgs (each campaign on ~100 of them), and
10,000,000 billable plays spread over the previous calendar month of a fixed `now`, written
straight into `pop_records` (COPY on PostgreSQL, big `executemany` transactions on SQLite),
`seq` ascending with the start times, each play charged the 0 or 1 cent its exact cost completes
(as ingestion does), one `pop_batches` row per screen. Then, on the same database in the same
run: the baseline — one `GROUP BY campaign, screen` of the month's billable plays, fetched in
full — and `billing_service.close` of that month (offline settings), with its split (reading the
groups, writing invoices, lines and statement lines), and `issue` with the offline provider.
Target: close ≤ 3 × the baseline.
Run: .venv/bin/python bench/bench_billing.py [--engines sqlite,postgresql] [--plays 200000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import results
from bench_pop_ingest import database
from sqlalchemy import insert, text

from control_plane.billing import closing
from control_plane.billing import service as billing_service
from control_plane.campaigns.models import Campaign
from control_plane.db import make_engine, make_sessionmaker, new_id
from control_plane.orgs.models import Org
from control_plane.payments.registry import make_payment_provider
from control_plane.reporting import billable
from control_plane.revenue import service as revenue_service
from control_plane.revenue.service import to_ms
from control_plane.settings import Settings
from control_plane.venues.models import Screen, Venue

NOW = datetime(2026, 12, 15, 12, tzinfo=UTC)  # the month billed: November 2026
ADVERTISERS, VENUE_ORGS, SCREENS_PER_VENUE = 10, 10, 10
COLUMNS = ("seq", "play_id", "batch", "device_id", "screen_id", "campaign_id", "creative_id",
           "media_sha256", "started_ms", "ended_ms", "duration_ms", "expected_ms", "completed",
           "clock_offset_ms", "billable", "impressions_milli", "spend_cents", "flag",
           "advertiser_org_id", "venue_org_id")
CHUNK = 200_000
BASELINE = ("SELECT campaign_id, screen_id, COUNT(*), SUM(impressions_milli), SUM(spend_cents) "
            "FROM pop_records WHERE billable AND started_ms >= :a AND started_ms < :b "
            "GROUP BY campaign_id, screen_id")


def seed(url: str, campaigns: int, screens: int, per_campaign: int) -> dict[str, Any]:
    """Orgs, venues, screens and campaigns by plain inserts into the real tables."""
    rng = random.Random(3)
    sessions = make_sessionmaker(make_engine(url))
    adv = [{"id": new_id("org"), "name": f"brand {i}", "kind": "advertiser"}
           for i in range(ADVERTISERS)]
    ven = [{"id": new_id("org"), "name": f"venues {i}", "kind": "venue"}
           for i in range(VENUE_ORGS)]
    venues, screen_rows = [], []
    for v in range((screens + SCREENS_PER_VENUE - 1) // SCREENS_PER_VENUE):
        org = ven[v % VENUE_ORGS]["id"]
        venues.append({"id": new_id("ven"), "org_id": org, "name": f"venue {v}", "lat": 48.8,
                       "lon": 2.3, "timezone": "UTC", "venue_type_id": 1, "opening_hours": {},
                       "blocked_categories": [], "house_media_ids": [], "moderation": "auto"})
    for s in range(screens):
        venue = venues[s // SCREENS_PER_VENUE]
        screen_rows.append({"id": new_id("scr"), "venue_id": venue["id"],
                            "org_id": venue["org_id"], "name": f"screen {s}", "width_px": 1920,
                            "height_px": 1080,
                            "audience_multiplier": round(rng.uniform(0.5, 1.0), 3)})
    campaign_rows = [{"id": new_id("cmp"), "org_id": adv[c % ADVERTISERS]["id"],
                      "name": f"campaign {c}", "category": "1010",
                      "start_at": NOW - timedelta(days=90), "end_at": NOW + timedelta(days=30),
                      "dayparts": [], "targeting": {}, "budget_cents": 10**12,
                      "cpm_cents": rng.randint(100, 900),
                      "currency": "USD" if c % 4 == 3 else "EUR", "pacing": "even",
                      "status": "approved"} for c in range(campaigns)]
    with sessions() as session:
        session.execute(insert(Org), adv + ven)
        session.execute(insert(Venue), venues)
        session.execute(insert(Screen), screen_rows)
        session.execute(insert(Campaign), campaign_rows)
        session.commit()
    return {"screens": [(s["id"], s["org_id"], round(s["audience_multiplier"] * 1000))
                        for s in screen_rows],
            "campaigns": [(c["id"], c["org_id"], c["cpm_cents"],
                           rng.sample(range(screens), min(per_campaign, screens)))
                          for c in campaign_rows]}


def plays(world: dict[str, Any], n: int, start_ms: int, end_ms: int) -> Iterator[tuple[Any, ...]]:
    """n billable plays, in start order (so `seq` ascends with time), 0/1 cent each."""
    rng = random.Random(5)
    screens, campaigns = world["screens"], world["campaigns"]
    carried = [0] * len(campaigns)  # each campaign's exact cost so far, in millionths of a cent
    span = end_ms - start_ms
    for i in range(n):
        c = rng.randrange(len(campaigns))
        campaign_id, advertiser, cpm, mine = campaigns[c]
        screen_id, venue_org, impressions = screens[mine[rng.randrange(len(mine))]]
        before = carried[c]
        carried[c] = after = before + impressions * cpm
        started = start_ms + i * span // n
        yield (i + 1, f"p{i:012d}", f"b{screen_id}", f"d{screen_id}", screen_id, campaign_id,
               "crv_bench", "0" * 64, started, started + 10_000, 10_000, 10_000, True, 0, True,
               impressions, after // 1_000_000 - before // 1_000_000, None, advertiser,
               venue_org)


def load(url: str, world: dict[str, Any], n: int, start_ms: int, end_ms: int) -> None:
    """The batches and the plays, through the driver's fastest path, with progress."""
    engine = make_engine(url)
    sqlite = url.startswith("sqlite")
    connection = engine.raw_connection()
    cursor = connection.cursor()
    mark = "?" if sqlite else "%s"
    batch_sql = (f"INSERT INTO pop_batches (id, batch_id, device_id, screen_id, venue_org_id, "
                 f"public_key, signature, message_zlib, records, transport, received_at) "
                 f"VALUES ({', '.join([mark] * 11)})")
    cursor.executemany(batch_sql, [(f"b{s}", f"b{s}", f"d{s}", s, v, "k", "s", b"", 0, "http",
                                    NOW.isoformat() if sqlite else NOW)
                                   for s, v, _ in world["screens"]])
    connection.commit()
    if sqlite:
        cursor.execute("PRAGMA synchronous = OFF")
    play_sql = f"INSERT INTO pop_records ({', '.join(COLUMNS)}) " \
               f"VALUES ({', '.join([mark] * len(COLUMNS))})"
    t0 = time.perf_counter()
    chunk: list[tuple[Any, ...]] = []
    written = 0

    def flush() -> None:
        nonlocal written
        if sqlite:
            cursor.executemany(play_sql, chunk)
        else:
            with cursor.copy(f"COPY pop_records ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in chunk:
                    copy.write_row(row)
        connection.commit()
        written += len(chunk)
        chunk.clear()
        elapsed = time.perf_counter() - t0
        print(f"\r  plays: {written:,} / {n:,} ({100 * written / n:.0f} %, {elapsed:.0f} s, "
              f"{written / max(elapsed, 1e-9):,.0f}/s)", end="", flush=True)

    for row in plays(world, n, start_ms, end_ms):
        chunk.append(row)
        if len(chunk) == CHUNK:
            flush()
    if chunk:
        flush()
    print()
    if not sqlite:  # the sequence behind seq goes on after the rows written with their own
        cursor.execute("SELECT setval(pg_get_serial_sequence('pop_records', 'seq'), %s)", (n,))
    cursor.execute("ANALYZE")
    connection.commit()
    connection.close()
    engine.dispose()


@contextmanager
def timed(owner: Any, name: str, spent: dict[str, float]) -> Iterator[None]:
    """Time every call of `owner.name` (a module's function) into `spent[name]`."""
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - t

    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, original)


def run(kind: str, tmp: Path, n: int, campaigns: int, screens: int,
        per_campaign: int) -> dict[str, Any]:
    start, end = billing_service.period_of(Settings(_env_file=None),  # type: ignore[call-arg]
                                           NOW.replace(day=1) - timedelta(days=1))
    with database(kind, tmp, "billing") as url:
        print(f"[{kind}] {campaigns:,} campaigns, {screens:,} screens, {n:,} plays in "
              f"{start:%Y-%m}…", flush=True)
        world = seed(url, campaigns, screens, per_campaign)
        load(url, world, n, to_ms(start), to_ms(end))
        settings = Settings(data_dir=tmp / f"{kind}-data", database_url=url,
                            _env_file=None)  # type: ignore[call-arg]
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        baseline = []
        for _ in range(2):  # the better of two: both the baseline and the close read warm
            with engine.connect() as conn:
                t = time.perf_counter()
                groups = conn.execute(text(BASELINE),
                                      {"a": to_ms(start), "b": to_ms(end)}).fetchall()
                baseline.append(time.perf_counter() - t)
        spent: dict[str, float] = {}
        with sessions() as session, timed(billable, "by_version", spent), \
                timed(billable, "by_hour", spent), timed(closing, "_write", spent), \
                timed(revenue_service, "accrue", spent), timed(session, "commit", spent):
            t = time.perf_counter()
            result = billing_service.close(session=session, settings=settings,
                                           period_start=start, period_end=end, now=NOW)
            close_s = time.perf_counter() - t
            assert result.created
            cycle_id = result.cycle.id
        provider = make_payment_provider(settings, sessions)
        with sessions() as session:
            t = time.perf_counter()
            cycle = billing_service.issue(session=session, settings=settings, provider=provider,
                                          cycle_id=cycle_id)
            issue_s = time.perf_counter() - t
            invoices = len(billing_service.list_invoices(session=session, org_id=None,
                                                         limit=1_000_000))
            assert cycle.status.value == "closed", cycle.status
            total = session.execute(text("SELECT SUM(plays), SUM(amount_cents) FROM invoices")
                                    ).one()
        assert int(total[0]) == n, total
        assert int(total[1]) == sum(int(g[4]) for g in groups), total
        engine.dispose()
    return {"kind": kind, "plays": n, "groups": len(groups), "baseline": min(baseline),
            "close": close_s, "issue": issue_s, "invoices": invoices, "spent": spent}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--plays", type=int, default=10_000_000)
    parser.add_argument("--campaigns", type=int, default=1_000)
    parser.add_argument("--screens", type=int, default=10_000)
    parser.add_argument("--screens-per-campaign", type=int, default=100)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.engines.split(","):
            rows.append(run(kind, Path(tmp), args.plays, args.campaigns, args.screens,
                               args.screens_per_campaign))
    print()
    print(f"{'database':<11} {'plays':>12} {'groups':>9} {'baseline s':>11} {'close s':>9} "
          f"{'ratio':>6} {'goal ≤ 3×':>10} {'issue s':>9} {'invoices':>9}")
    for r in rows:
        ratio = r["close"] / r["baseline"]
        print(f"{r['kind']:<11} {r['plays']:>12,} {r['groups']:>9,} {r['baseline']:>11.2f} "
              f"{r['close']:>9.2f} {ratio:>6.2f} {'met' if ratio <= 3 else 'NOT MET':>10} "
              f"{r['issue']:>9.2f} {r['invoices']:>9,}")
    print("\nWhere the close's time goes (s):")
    for r in rows:
        s = r["spent"]
        reading = s.get("by_version", 0) + s.get("by_hour", 0)
        writing = s.get("_write", 0) + s.get("commit", 0)
        print(f"  {r['kind']:<11} reading the groups {reading:.2f} (this month "
              f"{s.get('by_version', 0):.2f}, late plays by hour {s.get('by_hour', 0):.2f}); "
              f"writing invoices, lines and statements {writing:.2f} (of which statement "
              f"lines {s.get('accrue', 0):.2f}, commit {s.get('commit', 0):.2f}); "
              f"the rest {r['close'] - reading - writing:.2f}")
        if r["close"] / r["baseline"] > 3:
            print(f"  {r['kind']}: the goal (close ≤ 3 × baseline) is NOT met")
    results.save("bench_billing", [
        results.Figure(f"closing a month of {r['plays']:,} plays into invoices", r["close"], "s",
                       "lower", "one GROUP BY campaign, screen of the month's plays",
                       r["baseline"], goal="ratio <= 3", met=r["close"] / r["baseline"] <= 3,
                       engine=r["kind"])
        for r in rows], args=args)


if __name__ == "__main__":
    main()
