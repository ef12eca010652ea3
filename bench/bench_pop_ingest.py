"""Benchmark: proof-of-play ingestion over HTTP, next to the database's own insert rate.

For SQLite and for PostgreSQL: a control plane served by uvicorn on loopback (its own processes,
one worker per core up to two) takes signed batches of 500 records from paired screens through
`POST /v1/device/pop` — signature check, record checks, eligibility, billing, the insert and the
rollups — from 32 client threads. The records are made and signed before the clock starts.
Each upload comes on a new connection, as from a fleet of screens: with a few long-lived
connections, which worker process gets which is luck, and a run where one worker got three of
four measures one process, not the server (the figure halved from run to run).

32 uploads in flight: the figure is the server's capacity, so the clients must keep it busy.
A process writes the batches waiting for the database's write lock in one transaction (group
commit, control_plane/reporting/writer.py) and checks its next batches while it waits, so it
needs several uploads of its own in flight; with 8 in all, the two workers' CPU sat a fifth
idle (SQLite ratio ~0.49 against ~0.55 with 32; 64 clients cost this machine's two cores more
in the client than they gain).

The baseline, measured in the same run on the same engine: the very rows ingestion stored, read
back and inserted with the driver's raw `executemany`, 500 per transaction, into the same table
(same indexes, same unique play id) of a freshly migrated database on the same disk or server.
Run: .venv/bin/python bench/bench_pop_ingest.py [--records 200000] [--screens 8] [--clients 32]
PostgreSQL: ADSBIN_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres)
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import queue
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import results
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from control_plane import migrate
from control_plane.app import create_app
from control_plane.campaigns.models import Campaign, Creative
from control_plane.db import make_engine
from control_plane.devices.models import Device
from control_plane.media.models import Media
from control_plane.orgs.models import Org
from control_plane.settings import Settings
from control_plane.venues.models import Screen, Venue
from shared.pop import rfc3339_ms, sign, signed_message

ALWAYS = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
POSTGRES_URL = os.environ.get("ADSBIN_BENCH_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BATCH = 500
COLUMNS = ("play_id", "batch", "device_id", "screen_id", "campaign_id", "creative_id",
           "media_sha256", "started_ms", "ended_ms", "duration_ms", "expected_ms", "completed",
           "clock_offset_ms", "billable", "impressions_milli", "spend_cents", "flag",
           "advertiser_org_id", "venue_org_id")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(settings: Settings, workers: int) -> Iterator[str]:
    """`uvicorn control_plane.app:create_app` on loopback, in its own process (as in
    production: the clients here must not share the server's interpreter)."""
    port = free_port()
    env = {**os.environ, "ADSBIN_DATA_DIR": str(settings.data_dir),
           "ADSBIN_DATABASE_URL": settings.database_url, "ADSBIN_RUN_WORKER": "false",
           "ADSBIN_RUN_BROKER": "false", "ADSBIN_RUN_SCHEDULER": "false"}
    command = [sys.executable, "-m", "uvicorn", "--factory", "control_plane.app:create_app",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
               "--workers", str(workers)]
    if os.environ.get("BENCH_SERVER_COMMAND"):  # e.g. a profiler around the server
        command = [*os.environ["BENCH_SERVER_COMMAND"].split(), str(port)]
    server = subprocess.Popen(
        command,
        env=env, cwd=Path(__file__).resolve().parents[1])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise SystemExit("the control plane did not start")
        time.sleep(0.1)
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def database(kind: str, tmp: Path, name: str) -> Iterator[str]:
    """A fresh, migrated database of this kind; dropped afterwards (PostgreSQL)."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp / (name + '.db')}"
        migrate.upgrade(url)
        yield url
        return
    admin_url = make_url(POSTGRES_URL)
    db = f"adsbin_bench_{name}_{secrets.token_hex(3)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    url = admin_url.set(database=db).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


def seed(app: Any, screens: int) -> list[tuple[str, str, str, Ed25519PrivateKey]]:
    """Screens in one venue, each with a paired device; four approved campaigns.

    Returns (screen id, device id, device token, key) per screen and leaves the campaigns'
    (id, creative id) pairs on `app.state.bench_campaigns`.
    """
    now = datetime.now(UTC)
    out = []
    with app.state.sessionmaker() as session:
        venue_org, advertiser = Org(name="Venues", kind="venue"), Org(name="Ads", kind="advertiser")
        session.add_all([venue_org, advertiser])
        session.flush()
        venue = Venue(org_id=venue_org.id, name="Bench bar", lat=48.8, lon=2.3,
                      timezone="Europe/Paris", venue_type_id=1, opening_hours=ALWAYS,
                      blocked_categories=[], house_media_ids=[], moderation="auto")
        session.add(venue)
        session.flush()
        media = Media(org_id=advertiser.id, sha256=secrets.token_hex(32), kind="image",
                      mime="image/png", size_bytes=1, original_key="media/x/original",
                      status="ready", info={})
        session.add(media)
        session.flush()
        campaigns = []
        for i in range(4):
            campaign = Campaign(org_id=advertiser.id, name=f"c{i}", category="1010",
                                start_at=now - timedelta(days=7), end_at=now + timedelta(days=7),
                                dayparts=[], targeting={}, budget_cents=10**9, cpm_cents=500,
                                currency="EUR", pacing="even", status="approved")
            campaign.creatives.append(Creative(media_id=media.id, duration_s=10,
                                               status="approved"))
            session.add(campaign)
            campaigns.append(campaign)
        for i in range(screens):
            screen = Screen(venue_id=venue.id, org_id=venue_org.id, name=f"s{i}", width_px=1920,
                            height_px=1080, audience_multiplier=1.5)
            session.add(screen)
            session.flush()
            key = Ed25519PrivateKey.generate()
            public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            prefix = secrets.token_hex(8)
            token = f"adsd_{prefix}_{secrets.token_urlsafe(32)}"
            device = Device(screen_id=screen.id, org_id=venue_org.id, fingerprint=prefix,
                            public_key=base64.b64encode(public).decode(),
                            token_prefix=prefix,
                            token_hash=hashlib.sha256(token.encode()).hexdigest())
            session.add(device)
            session.flush()
            out.append((screen.id, device.id, token, key))
        session.commit()
        app.state.bench_campaigns = [(c.id, c.creatives[0].id) for c in campaigns]
    return out


def make_batches(app: Any, devices: list[tuple[str, str, str, Ed25519PrivateKey]],
                 records: int) -> list[tuple[str, bytes]]:
    """Signed batches of 500, ready to send: each screen plays 10 s items back to back."""
    campaigns = [*app.state.bench_campaigns, (None, "house:default")]
    per_screen = records // len(devices)
    start = datetime.now(UTC) - timedelta(seconds=per_screen * 10 + 60)
    sha = "ab" * 32
    out = []
    for screen_id, device_id, token, key in devices:
        plays = []
        for k in range(per_screen):
            campaign_id, creative_id = campaigns[k % len(campaigns)]
            t = start + timedelta(seconds=k * 10)
            plays.append({"play_id": str(uuid.uuid4()), "screen_id": screen_id,
                          "campaign_id": campaign_id, "creative_id": creative_id,
                          "media_sha256": sha, "started_at": rfc3339_ms(t),
                          "ended_at": rfc3339_ms(t + timedelta(milliseconds=9_980)),
                          "duration_ms": 9_980, "expected_ms": 10_000,
                          "completed": k % 97 != 0, "clock_offset_ms": -3})
        for i in range(0, len(plays), BATCH):
            chunk = plays[i:i + BATCH]
            batch_id = secrets.token_hex(8)
            signature = sign(key, signed_message(batch_id, device_id, chunk))
            body = json.dumps({"schema": "adsbin.pop-batch/v1", "batch_id": batch_id,
                               "device_id": device_id, "records": chunk,
                               "signature": signature}).encode()
            out.append((token, body))
    return out


def send_all(url: str, batches: list[tuple[str, bytes]], clients: int) -> float:
    """Seconds to POST every batch with `clients` threads; every receipt must accept all."""
    work: queue.Queue[tuple[str, bytes]] = queue.Queue()
    for item in batches:
        work.put(item)
    errors: list[str] = []

    def client() -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            while True:
                try:
                    token, body = work.get_nowait()
                except queue.Empty:
                    return
                r = http.post("/v1/device/pop", content=body, headers={
                    "Authorization": f"Bearer {token}", "Content-Type": "application/json",
                    "Connection": "close"})  # a new connection for each: see the docstring
                if r.status_code != 200 or r.json()["accepted"] != BATCH:
                    errors.append(f"{r.status_code} {r.text[:300]}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"{len(errors)} batches failed, e.g. {errors[0]}")
    return elapsed


def stored_rows(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The batches and plays ingestion stored, in insertion order, as the driver reads them."""
    engine = make_engine(url)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT * FROM pop_batches")
        batches = [tuple(r) for r in cur.fetchall()]
        cur.execute(f"SELECT {', '.join(COLUMNS)} FROM pop_records ORDER BY seq")
        plays = [tuple(r) for r in cur.fetchall()]
    finally:
        raw.close()
        engine.dispose()
    return batches, plays


def baseline(url: str, batches: list[tuple[Any, ...]], plays: list[tuple[Any, ...]]) -> float:
    """Seconds to insert the plays with the driver's executemany, 500 per transaction."""
    engine = make_engine(url)
    raw = engine.raw_connection()
    mark = "?" if url.startswith("sqlite") else "%s"
    try:
        cur = raw.cursor()
        cur.executemany(f"INSERT INTO pop_batches VALUES ({', '.join([mark] * len(batches[0]))})",
                        batches)  # untimed: the plays' foreign key needs them
        raw.commit()
        sql = (f"INSERT INTO pop_records ({', '.join(COLUMNS)}) "
               f"VALUES ({', '.join([mark] * len(COLUMNS))})")
        t0 = time.perf_counter()
        for i in range(0, len(plays), BATCH):
            cur.executemany(sql, plays[i:i + BATCH])
            raw.commit()
        return time.perf_counter() - t0
    finally:
        raw.close()
        engine.dispose()


def run(kind: str, tmp: Path, records: int, screens: int, clients: int,
        workers: int) -> tuple[int, float, float]:
    """(records, HTTP seconds, baseline seconds) on one engine."""
    with database(kind, tmp, "ingest") as url:
        settings = Settings(data_dir=tmp / kind, database_url=url, run_worker=False,
                            run_broker=False, run_scheduler=False,
                            _env_file=None)  # type: ignore[call-arg]
        app = create_app(settings)
        devices = seed(app, screens)
        print(f"[{kind}] signing {records:,} records in batches of {BATCH}…", flush=True)
        batches = make_batches(app, devices, records)
        sent = len(batches) * BATCH
        with serve(settings, workers) as base:
            print(f"[{kind}] POST /v1/device/pop × {len(batches)} ({clients} clients)…",
                  flush=True)
            c0 = os.times()
            http_s = send_all(base, batches, clients)
            c1 = os.times()
            print(f"[{kind}]   {http_s:.1f} s; the clients used "
                  f"{c1.user + c1.system - c0.user - c0.system:.1f} s of CPU", flush=True)
        stored_batches, plays = stored_rows(url)
        assert len(plays) == sent, (len(plays), sent)
    with database(kind, tmp, "baseline") as url:
        print(f"[{kind}] baseline: executemany of the same {len(plays):,} rows…", flush=True)
        base_s = baseline(url, stored_batches, plays)
    return sent, http_s, base_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--screens", type=int, default=8)
    parser.add_argument("--clients", type=int, default=32,
                        help="uploads in flight at once (default 32)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="uvicorn worker processes (default: the cores, up to 2)")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs per engine; the figures are their medians (default 5)")
    args = parser.parse_args()
    rows: dict[str, list[tuple[int, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeat):
            for kind in args.engines.split(","):  # engines in turn, so both see the same load
                print(f"[{kind}] run {k + 1} of {args.repeat}", flush=True)
                run_dir = Path(tmp) / f"{kind}-{k}"
                run_dir.mkdir()
                rows.setdefault(kind, []).append(run(kind, run_dir, args.records, args.screens,
                                                     args.clients, args.workers))
                shutil.rmtree(run_dir)
    print()
    print(f"{'database':<11} {'run':>4} {'records':>9} | {'HTTP ingest rec/s':>17} | "
          f"{'raw executemany rec/s':>21} | {'ratio':>5}")
    figures = []
    for kind, runs in rows.items():
        for k, (n, http_s, base_s) in enumerate(runs, 1):
            print(f"{kind:<11} {k:>4} {n:>9,} | {n / http_s:>17,.0f} | {n / base_s:>21,.0f} | "
                  f"{base_s / http_s:>5.2f}")
        figure = results.median_figure(
            "proof-of-play ingestion over HTTP", [n / h for n, h, _ in runs], "records/s",
            better="higher", baseline_name="raw executemany, same rows",
            baselines=[n / b for n, _, b in runs], goal="ratio >= 0.5", engine=kind)
        ratios = sorted(b / h for _, h, b in runs)
        figure.met = statistics.median(ratios) >= 0.5
        print(f"{kind:<11} {'med':>4} {'':>9} | {figure.value:>17,.0f} | "
              f"{figure.baseline or 0:>21,.0f} | {statistics.median(ratios):>5.2f}  "
              f"(ratios {', '.join(f'{r:.2f}' for r in ratios)})")
        figures.append(figure)
    print(f"\nHTTP: uvicorn ({args.workers} worker processes) on loopback, {args.clients} client "
          f"threads, batches of {BATCH} signed records from {args.screens} screens; each batch")
    print("verified, checked, billed and rolled up in one transaction.")
    print(f"Baseline: the same rows with the driver's executemany, {BATCH} per transaction, into "
          "the same table of a fresh database.")
    print("Targets: ratio ≥ 0.5 on both engines (median of the runs), ≥ 20,000 records/s on "
          "SQLite.")
    results.save("bench_pop_ingest", figures, args=args)


if __name__ == "__main__":
    main()
