"""Benchmark: one event told to 10,000 people by email, against posting the same emails straight.

A fresh migrated database (SQLite by default, or a new database on the PostgreSQL server of
`--db postgresql://…`, dropped afterwards) holds one advertiser org with 10,000 active admins.
The email channel is Resend's SDK pointed at the local fake of Resend's API
(`tests/resend_fake.py`), run in a process of its own, as Resend would be. The clock starts when
`notify` is called for one `invoice.issued` event and stops when every delivery is `sent`:
`notify` writes the notifications and deliveries and queues one `notifications.deliver_batch`
job per 100 emails, which the app's embedded worker (its lifespan: `ADSBIN_QUEUE_WORKERS`
threads, huey on SQLite in the data dir) runs through the channel: one request to Resend's batch
endpoint (`POST /emails/batch`) per 100 emails, which is what the product does. With `--no-batch`
the same event is told once more, to another org of as many admins, through the single-send
path (one `notifications.deliver` job and one `POST /emails` per email, what the product does
for an email alone), and both are reported. With `--queue redis://…` (the scale mode) the jobs
go through Redis and are run by `--worker-processes` separate `adsbin worker` processes.

The baseline, measured in the same run against the same server: the same 10,000 emails (the
channel's own rendering of each, the same headers) posted straight with `requests`, one
`POST /emails` each, by as many threads as the product has workers. The baseline posts singly
while the product batches: the comparison is the product's whole path (database, queue,
rendering, requests) against the cheapest way to hand Resend the same emails one by one, and in
production Resend's rate limit (2 requests a second by default) counts requests, not emails.
Target: the fan-out at ≥ 0.5 × the baseline's rate.
Run: .venv/bin/python bench/bench_notifications.py [--recipients 10000] [--db postgresql://…]
     [--no-batch] [--queue redis://127.0.0.1:6379/0 --worker-processes 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests
import results
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from control_plane import migrate
from control_plane.app import create_app
from control_plane.db import new_id
from control_plane.notifications import sending
from control_plane.notifications import service as notifications_service
from control_plane.notifications.channels.base import Message
from control_plane.notifications.channels.email import ResendChannel
from control_plane.notifications.models import Delivery, DeliveryStatus
from control_plane.orgs.models import Membership, Org, User
from control_plane.settings import Settings

API_KEY = "re_bench"
KIND = "invoice.issued"  # an org kind its admins get by email (and push, with no browser here)
POLL_S = 0.1  # how often the fan-out's progress is read
SHOW_S = 1.0  # and printed


# --- the fake Resend, in its own process --------------------------------------------------

def _serve_fake(pipe: Connection) -> None:
    from tests.resend_fake import ResendFake

    with ResendFake(api_key=API_KEY) as fake:
        pipe.send(fake.url)
        while pipe.recv() == "count":  # anything else: stop
            pipe.send(len(fake.emails))


@contextmanager
def resend_fake() -> Iterator[tuple[str, Connection]]:
    """The URL of a fake Resend in a child process, and a pipe that asks it how many emails
    it took."""
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_serve_fake, args=(theirs,),
                                                           daemon=True)
    process.start()
    try:
        yield str(ours.recv()), ours
    finally:
        ours.send("stop")
        process.join(timeout=10)


def emails_taken(pipe: Connection) -> int:
    pipe.send("count")
    return int(pipe.recv())


# --- the database ---------------------------------------------------------------------------

@contextmanager
def database(db: str, tmp: Path) -> Iterator[str]:
    """A fresh, migrated database: a file for "sqlite", else a new database on that
    PostgreSQL server, dropped afterwards."""
    if db == "sqlite":
        url = f"sqlite:///{tmp / 'bench.db'}"
        migrate.upgrade(url)
        yield url
        return
    admin_url = make_url(db)
    if admin_url.drivername == "postgresql":
        admin_url = admin_url.set(drivername="postgresql+psycopg")
    name = f"adsbin_bench_notifications_{secrets.token_hex(3)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(sessions: Any, n: int, prefix: str = "admin") -> str:
    """One advertiser org with n active admins (`<prefix><i>@bench.example`); its id."""
    org_id = new_id("org")
    users = [{"id": new_id("usr"), "email": f"{prefix}{i}@bench.example", "name": f"Admin {i}",
              "status": "active", "is_superadmin": False} for i in range(n)]
    with sessions() as session:
        session.execute(insert(Org), [{"id": org_id, "name": "Bench brand",
                                       "kind": "advertiser"}])
        session.execute(insert(User), users)
        session.execute(insert(Membership), [{"id": new_id("mem"), "org_id": org_id,
                                              "user_id": u["id"], "role": "admin"}
                                             for u in users])
        session.commit()
    return org_id


# --- the two runs -----------------------------------------------------------------------------

def baseline(url: str, n: int, threads: int) -> float:
    """Seconds to post n of the channel's own emails straight to the server, `threads` at
    once."""
    channel = ResendChannel(api_key=API_KEY, api_url=url, sender="ADSBIN <n@adsbin.local>",
                            timeout_s=15.0, unsubscribe=_tokens())
    bodies = [channel.render(Message(
        delivery_id=f"base_{i}", to=f"admin{i}@bench.example", subject="Invoice INV-1 is ready",
        text="Invoice INV-1 for 120.00 EUR is ready.\n\nhttp://127.0.0.1:8000/v1/invoices/x",
        link="http://127.0.0.1:8000/v1/invoices/x", kind=KIND, user_id=f"usr_{i}"))
        for i in range(n)]
    local = threading.local()

    def post(i: int) -> None:
        http = getattr(local, "http", None)
        if http is None:
            http = local.http = requests.Session()
        answer = http.post(f"{url}/emails", json=bodies[i], timeout=15,
                           headers={"Authorization": f"Bearer {API_KEY}",
                                    "Idempotency-Key": f"base_{i}"})
        assert answer.status_code == 200 and answer.json()["id"], answer.text

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for done, _ in enumerate(pool.map(post, range(n)), 1):
            if done % 1000 == 0 or done == n:
                elapsed = time.perf_counter() - started
                print(f"\r  baseline: {done:,} / {n:,} ({elapsed:.1f} s, "
                      f"{done / elapsed:,.0f}/s)", end="", flush=True)
    print()
    return time.perf_counter() - started


def _tokens() -> Any:
    from control_plane.notifications.unsubscribe import UnsubscribeTokens

    return UnsubscribeTokens(b"k" * 32, "http://127.0.0.1:8000")


def _workers(settings: Settings, processes: int) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "ADSBIN_DATA_DIR": str(settings.data_dir),
           "ADSBIN_DATABASE_URL": settings.database_url,
           "ADSBIN_QUEUE_URL": settings.queue_url or "", "ADSBIN_QUEUE_NAME": settings.queue_name,
           "ADSBIN_RESEND_API_KEY": API_KEY, "ADSBIN_RESEND_API_URL": settings.resend_api_url,
           "ADSBIN_RUN_BROKER": "false"}
    adsbin = Path(sys.executable).parent / "adsbin"
    return [subprocess.Popen([str(adsbin), "worker", "--workers", str(settings.queue_workers),
                              "--log-level", "error"], env=env, stdout=subprocess.DEVNULL)
            for _ in range(processes)]


def fan_out(settings: Settings, n: int, worker_processes: int,
            batched: bool = True) -> dict[str, float]:
    """Seconds from `notify` to every delivery sent, through the app and its worker(s): the
    emails in batches of 100, or each alone."""
    app = create_app(settings)
    sessions = app.state.sessionmaker
    org_id = seed(sessions, n, "admin" if batched else "alone")
    workers = _workers(settings, worker_processes) if worker_processes else []
    batch_max = sending.EMAIL_BATCH_MAX
    sending.EMAIL_BATCH_MAX = batch_max if batched else 1  # where notify chooses the jobs
    try:
        with TestClient(app):  # the lifespan: the embedded worker, unless scale mode
            started = time.perf_counter()
            with sessions() as session:
                queued = notifications_service.notify(
                    session=session, queue=app.state.jobs, kind=KIND, org_id=org_id,
                    title="Invoice INV-1 is ready", body="Invoice INV-1 for 120.00 EUR is ready.",
                    link="/v1/invoices/x", dedupe_key=f"invoice:{secrets.token_hex(4)}")
            notified = time.perf_counter() - started
            assert len(queued) == n, len(queued)
            print(f"  notify: {n:,} notifications and deliveries written and "
                  f"{'queued by the hundred' if batched else 'queued one by one'} in "
                  f"{notified:.2f} s", flush=True)
            shown = 0.0
            while True:
                with sessions() as session:
                    left = int(session.scalar(select(func.count()).select_from(Delivery).where(
                        Delivery.status.in_([DeliveryStatus.queued,
                                             DeliveryStatus.sending]))) or 0)
                elapsed = time.perf_counter() - started
                if elapsed - shown >= SHOW_S or not left:
                    shown = elapsed
                    print(f"\r  fan-out: {n - left:,} / {n:,} sent ({elapsed:.1f} s, "
                          f"{(n - left) / elapsed:,.0f}/s)", end="", flush=True)
                if not left:
                    break
                time.sleep(POLL_S)
            total = time.perf_counter() - started
            print()
    finally:
        sending.EMAIL_BATCH_MAX = batch_max
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
    with sessions() as session:  # this run's and any earlier one's
        statuses = dict(session.execute(select(Delivery.status, func.count())
                                        .group_by(Delivery.status)).all())
    assert set(statuses) == {DeliveryStatus.sent} and statuses[DeliveryStatus.sent] % n == 0, \
        statuses
    app.state.engine.dispose()
    return {"notify": notified, "total": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--db", default="sqlite", help='"sqlite", or a postgresql:// URL')
    parser.add_argument("--workers", type=int, default=Settings(
        _env_file=None).queue_workers, help="worker threads (ADSBIN_QUEUE_WORKERS)")  # type: ignore[call-arg]
    parser.add_argument("--queue", default=None,
                        help="a redis:// URL: scale mode (huey on Redis, separate workers)")
    parser.add_argument("--worker-processes", type=int, default=2,
                        help="`adsbin worker` processes in scale mode")
    parser.add_argument("--no-batch", action="store_true",
                        help="also tell the event through the single-send path (one request "
                             "per email)")
    args = parser.parse_args()
    n, processes = args.recipients, (args.worker_processes if args.queue else 0)
    where = "SQLite" if args.db == "sqlite" else "PostgreSQL"
    mode = (f"huey on Redis, {processes} worker processes × {args.workers} threads"
            if args.queue else f"embedded worker, huey on SQLite, {args.workers} threads")
    threads = args.workers * max(processes, 1)
    print(f"[{where}] one {KIND} event to {n:,} admins by email; {mode}", flush=True)
    print(f"  the product sends through Resend's batch endpoint ({sending.EMAIL_BATCH_MAX} "
          "emails per request); the baseline posts each email alone", flush=True)
    paths = [True, False] if args.no_batch else [True]
    with tempfile.TemporaryDirectory() as tmp, resend_fake() as (url, pipe), \
            database(args.db, Path(tmp)) as db_url:
        settings = Settings(data_dir=Path(tmp) / "var", database_url=db_url,
                            resend_api_key=SecretStr(API_KEY), resend_api_url=url,
                            queue_url=args.queue, queue_workers=args.workers,
                            queue_name=f"bench-{secrets.token_hex(3)}", run_broker=False,
                            run_scheduler=False, run_worker=not args.queue,
                            _env_file=None)  # type: ignore[call-arg]
        base_s = baseline(url, n, threads)
        outcomes = {}
        for batched in paths:
            print(f"  fan-out {'in batches' if batched else 'one email per request'}:",
                  flush=True)
            outcomes[batched] = fan_out(settings, n, processes, batched)
        taken = emails_taken(pipe)
    assert taken == (1 + len(paths)) * n, taken  # the baseline's and the product's, each once
    base_rate = n / base_s
    print()
    for batched, result in outcomes.items():
        rate = n / result["total"]
        how = (f"batches of {sending.EMAIL_BATCH_MAX}, {-(-n // sending.EMAIL_BATCH_MAX):,} "
               "requests" if batched else f"one request per email, {n:,} requests")
        print(f"  fan-out ({how}): {rate:,.0f} emails/s ({result['total']:.2f} s end to end, "
              f"notify {result['notify']:.2f} s of it); ratio {rate / base_rate:.2f} × the "
              "baseline")
    print(f"  baseline (one POST /emails per email, {n:,} requests): {base_rate:,.0f} emails/s "
          f"({base_s:.2f} s, {threads} threads)")
    rate = n / outcomes[True]["total"]
    print(f"  ratio:    {rate / base_rate:.2f} × the baseline, in batches (target ≥ 0.5 ×)")
    engine = "sqlite" if args.db == "sqlite" else "postgresql"
    results.save(f"bench_notifications_{engine}" + ("_redis" if args.queue else ""), [
        results.Figure(f"one event told to {n:,} people by email "
                       f"({'batches' if batched else 'one request each'}; {mode})",
                       n / result["total"], "emails/s", "higher",
                       "the same emails posted straight, one request each", base_rate,
                       goal="ratio >= 0.5" if batched else None,
                       met=(n / result["total"]) / base_rate >= 0.5 if batched else None,
                       engine=engine)
        for batched, result in outcomes.items()], args=args)


if __name__ == "__main__":
    main()
