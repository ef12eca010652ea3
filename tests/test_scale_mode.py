"""Scale mode end to end, as README's "Running at scale" sets it up, every part a real process:
PostgreSQL (a database of its own), the job queue on Redis (a queue name of its own), an external
Mosquitto whose per-device accounts and ACLs the control plane keeps in its dynamic-security
plugin, two `adsbin serve` behind a round-robin proxy, two `adsbin worker`s, one
`adsbin scheduler`, S3 storage on moto_server, and a simulated fleet (the real agent, null
renderer) that pairs, gets its playlists (announced over MQTT by a worker), plays and proves it.
Midway one API process and one worker (the one transcoding a video) are killed with -9; at the
end every unit's plays are on the server once each, the reports count them, and no job was
lost. Sign-in attempts are counted across the two API processes (the limits' window in Redis).

`make test` runs a few units; the long version (`make test-long`) runs more, for longer.
"""

from __future__ import annotations

import os
import secrets
import signal
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import func, select

from control_plane import migrate
from control_plane.app import create_app
from control_plane.jobs.models import Job, JobStatus
from control_plane.orgs import service as orgs_service
from control_plane.settings import Settings
from player_agent.settings import AgentSettings
from tests import media_samples
from tests.conftest import new_postgres_database
from tests.helpers import PASSWORD, Account, bearer, signup, until
from tests.live import free_port
from tests.player_agent.conftest import AGENT_TIMINGS, ALWAYS_OPEN, CountingPlayer, RunningAgent
from tests.scale import ADMIN, ADMIN_PASSWORD, Processes, RoundRobinProxy, external_mosquitto

REDIS_URL = "redis://127.0.0.1:6379/0"
SERVICE_USERNAME = "adsbin-control-plane"
LOGINS_PER_MINUTE = 4
UNDONE = (JobStatus.queued, JobStatus.running, JobStatus.retrying)
# a unit polls rarely: a playlist that reaches it within seconds came over MQTT
FLEET_TIMINGS = AGENT_TIMINGS | {"poll_interval_s": 120.0, "poll_jitter_s": 1.0,
                                 "heartbeat_interval_s": 3.0, "pop_upload_interval_s": 1.0}


@dataclass
class Scale:
    """The running installation: its proxy (what users and devices reach), its processes, an
    in-process twin of its configuration (for link tokens and the database), a venue owner
    with a venue, a super-admin."""

    proxy: RoundRobinProxy
    processes: Processes
    app: Any
    http: httpx.Client
    owner: Account
    admin: dict[str, str]
    venue: dict[str, Any]
    backends: list[str]  # each API process's own address

    def jobs_undone(self) -> int:
        with self.app.state.sessionmaker() as session:
            return int(session.scalar(select(func.count()).select_from(Job)
                                      .where(Job.status.in_(UNDONE))) or 0)


@contextmanager
def scale_mode(tmp_path: Path, s3_url: str, bucket: str) -> Iterator[Scale]:
    """Every process of the documented scale configuration, on free ports, torn down after."""
    queue_name = f"adsbin-scale-{secrets.token_hex(4)}"
    api_ports = [free_port(), free_port()]
    proxy = RoundRobinProxy(api_ports)
    with ExitStack() as stack:
        db_url = stack.enter_context(new_postgres_database())
        mqtt_url = stack.enter_context(external_mosquitto(tmp_path / "mosquitto"))
        migrate.upgrade(db_url)  # `adsbin migrate`, once per release
        config: dict[str, Any] = {
            "data_dir": tmp_path / "var", "database_url": db_url,
            "storage_url": f"s3://{bucket}", "s3_endpoint_url": s3_url,
            "queue_url": REDIS_URL, "queue_name": queue_name,
            "mqtt_url": mqtt_url, "mqtt_service_username": SERVICE_USERNAME,
            "mqtt_service_password": secrets.token_urlsafe(16),
            "mqtt_admin_username": ADMIN, "mqtt_admin_password": ADMIN_PASSWORD,
            "run_worker": False, "run_scheduler": False, "public_url": proxy.url,
            "password_hashing": "fast", "login_attempts_per_minute": LOGINS_PER_MINUTE,
            # a dead worker's job is taken back within seconds, not the minute of production
            "job_lease_s": 2.0, "minor_tick_s": 1.0, "job_retry_base_s": 0.2,
            "heartbeat_interval_s": 2.0}
        env = {f"ADSBIN_{k.upper()}": str(v) for k, v in config.items()}
        # the signing keys every API host shares (README), made once before any process starts
        twin = create_app(Settings(**config))  # type: ignore[arg-type]
        assert twin.state.keyring.current is not None
        with twin.state.sessionmaker() as session:
            orgs_service.ensure_superuser(session=session, email="root@example.com",
                                          password=PASSWORD)
        processes = stack.enter_context(Processes(env, tmp_path / "logs"))
        for n, port in enumerate(api_ports, 1):
            processes.adsbin(f"api-{n}", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning")
        for n in (1, 2):
            processes.adsbin(f"worker-{n}", "worker", "--workers", "1", "--log-level",
                             "warning")
        processes.adsbin("scheduler", "scheduler", "--log-level", "warning")
        for n, port in enumerate(api_ports, 1):
            processes.wait_http(f"api-{n}", f"http://127.0.0.1:{port}/healthz")
        # idle connections dropped before uvicorn's 5 s keep-alive ends them under a request
        http = stack.enter_context(httpx.Client(base_url=proxy.url, timeout=30,
                                                limits=httpx.Limits(keepalive_expiry=1.0)))
        owner = signup(http, "venue", app=twin)
        venue = http.post("/v1/venues", headers=owner.headers, json={
            "name": "Scale Gym", "lat": 48.85, "lon": 2.35, "timezone": "Europe/Paris",
            "venue_type_id": 1, "opening_hours": ALWAYS_OPEN}).json()
        token = http.post("/v1/auth/token", json={"email": "root@example.com",
                                                  "password": PASSWORD}).json()["access_token"]
        try:
            yield Scale(proxy, processes, twin, http, owner, bearer(token), venue,
                        [f"http://127.0.0.1:{port}" for port in api_ports])
        finally:
            proxy.close()
            twin.state.jobs.close()
            twin.state.engine.dispose()
            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(f"*{queue_name}*"):
                client.delete(key)


@pytest.fixture
def scale(tmp_path, moto_s3, s3_bucket) -> Iterator[Scale]:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is part of this machine and must be up: {exc}")
    with scale_mode(tmp_path, moto_s3, s3_bucket) as running:
        yield running


def _upload(scale: Scale, account: Account, path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        r = scale.http.post("/v1/media", headers=account.headers, files={"file": (path.name, f)})
    assert r.status_code in (201, 202), r.text
    return dict(r.json())


def _media_status(scale: Scale, account: Account, media_id: str) -> str:
    return str(scale.http.get(f"/v1/media/{media_id}", headers=account.headers).json()["status"])


def _campaign(scale: Scale, advertiser: Account, media_id: str) -> dict[str, Any]:
    """An approved campaign of one 5 s creative, every slot it can get, on the whole network."""
    campaign = scale.http.post("/v1/campaigns", headers=advertiser.headers, json={
        "name": "Scale campaign", "category": "1010",
        "start_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "end_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
        "budget_cents": 10_000_000, "cpm_cents": 500, "currency": "EUR",
        "pacing": "asap"}).json()
    url = f"/v1/campaigns/{campaign['id']}"
    assert scale.http.post(f"{url}/creatives", headers=advertiser.headers,
                           json={"media_id": media_id, "duration_s": 5}).status_code == 201
    assert scale.http.post(f"{url}/submit", headers=advertiser.headers).status_code == 200
    approved = scale.http.post(f"{url}/approve", headers=scale.admin).json()
    assert approved["state"] == "active", approved
    return dict(approved)


def _pops(scale: Scale) -> list[dict[str, Any]]:
    """Every stored play (the NDJSON export, as a super-admin)."""
    import json

    records: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = scale.http.get("/v1/pop", headers=scale.admin,
                           params={"limit": 1000} | ({"after": cursor} if cursor else {}))
        assert r.status_code == 200, r.text
        records += [x for line in r.text.splitlines() if line.strip()
                    if "play_id" in (x := json.loads(line))]
        cursor = r.headers["x-next-cursor"]
        if r.headers.get("x-more") != "true":
            return records


def _ffmpeg_parent(pids: dict[str, int]) -> tuple[str, int] | None:
    """The worker (name) running ffmpeg now, and the ffmpeg process's id."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:]
        ppid = int(rest.split()[1])
        if name == "ffmpeg":
            for worker, pid in pids.items():
                if pid == ppid:
                    return worker, int(entry.name)
    return None


def _kill_midway(scale: Scale, advertiser: Account, folder: Path, *, api: str,
                 seconds: float) -> tuple[str, list[str]]:
    """kill -9 the worker transcoding a new video of `seconds` (and its ffmpeg), and the API
    process `api`; once the other worker has taken the job back and finished it, the video's
    id and the names of the processes killed."""
    folder.mkdir(parents=True, exist_ok=True)
    video = _upload(scale, advertiser, media_samples.mp4(folder, seconds=seconds))
    assert video["status"] == "processing", video  # new bytes: a job to run
    workers = {name: scale.processes.running[name].pid for name in ("worker-1", "worker-2")}
    worker, ffmpeg = until(lambda: _ffmpeg_parent(workers), 30, "a worker transcoding the video")
    scale.processes.kill(worker)
    os.kill(ffmpeg, signal.SIGKILL)  # orphaned by its worker (and started by us)
    scale.processes.kill(api)
    # the worker left takes the job back once its lease runs out (the scheduler's next
    # minor tick), and finishes it
    until(lambda: _media_status(scale, advertiser, video["id"]) == "ready", 90,
          "the video done by the worker left")
    return video["id"], [worker, api]


def _restart(scale: Scale, names: list[str]) -> None:
    for name in names:
        scale.processes.restart(name)
    for name in names:
        if name.startswith("api-"):
            backend = scale.backends[int(name.removeprefix("api-")) - 1]
            scale.processes.wait_http(name, f"{backend}/healthz")


def _sign_in_attempts_are_counted_across_processes(scale: Scale) -> None:
    """Wrong passwords, each on a new connection (the proxy sends them to both processes in
    turn): the limit holds for the two together, not per process."""
    email = scale.owner.email
    before = dict(scale.proxy.connections)
    codes = []
    for n in range(LOGINS_PER_MINUTE + 2):
        with httpx.Client(base_url=scale.proxy.url, timeout=30) as fresh:
            codes.append(fresh.post("/v1/auth/token", json={
                "email": email, "password": f"wrong-{n:04d}"}).status_code)
    assert codes == [401] * LOGINS_PER_MINUTE + [429, 429]
    assert all(scale.proxy.connections[p] - before[p] >= 2 for p in before)  # both answered


def run_fleet(scale: Scale, tmp_path: Path, *, units: int, plays_before: int,
              plays_after: int, rounds: int = 1) -> None:
    """Pair `units` simulated display units, run a campaign on them, kill -9 an API process
    and the worker transcoding a video midway (`rounds` times: the killed ones restarted and
    the others killed in the next), and check that nothing was lost."""
    _sign_in_attempts_are_counted_across_processes(scale)
    screens = [scale.http.post(f"/v1/venues/{scale.venue['id']}/screens",
                               headers=scale.owner.headers,
                               json={"name": f"unit-{n:03d}", "width_px": 1920,
                                     "height_px": 1080}).json() for n in range(units)]
    agents = [RunningAgent(AgentSettings(server_url=scale.proxy.url,
                                         state_dir=tmp_path / f"unit-{n:03d}", renderer="null",
                                         **FLEET_TIMINGS), player=CountingPlayer())
              for n in range(units)]
    with ExitStack() as running:
        for agent in agents:
            running.enter_context(agent)
        for agent, screen in zip(agents, screens, strict=True):  # the technician claims each
            r = scale.http.post(f"/v1/screens/{screen['id']}/pair", headers=scale.owner.headers,
                                json={"code": agent.code()})
            assert r.status_code == 200, r.text
        # each unit logged in to the external broker with its own account
        until(lambda: all(a.agent.session and a.agent.session.mqtt.connected.is_set()
                          for a in agents), 60, "every unit on MQTT")

        advertiser = signup(scale.http, "advertiser", app=scale.app)
        image = _upload(scale, advertiser, media_samples.png(tmp_path))
        until(lambda: _media_status(scale, advertiser, image["id"]) == "ready", 60,
              "the image's renditions (a worker, into S3)")
        _campaign(scale, advertiser, image["id"])
        sha = until(lambda: all(a.agent.programme.playlist and a.agent.programme.playlist.media
                                for a in agents)
                    and agents[0].agent.programme.playlist.media[0].sha256, 30,
                    "the campaign's playlist on every unit (announced over MQTT)")

        def starts(agent: RunningAgent) -> int:
            return sum(1 for name in agent.player.started if name == sha)

        until(lambda: all(starts(a) >= plays_before for a in agents), 60 + 10 * plays_before,
              "plays")

        videos: list[str] = []
        killed: list[str] = []
        for round_ in range(rounds):
            if killed:  # the killed ones come back, the others go down this time
                _restart(scale, killed)
            video_id, killed = _kill_midway(scale, advertiser, tmp_path / f"round-{round_}",
                                            api=f"api-{round_ % 2 + 1}",
                                            seconds=4.0 + round_ * 0.4)  # other bytes each
            videos.append(video_id)
            target = plays_before + (round_ + 1) * plays_after
            until(lambda t=target: all(starts(a) >= t for a in agents),
                  90 + 10 * plays_after, "plays after the kills")
        assert [a.agent.journal.stats()["dropped"] for a in agents] == [0] * units
    # every unit stopped (sending what it journaled): each play is on the server, once
    records = _pops(scale)
    by_screen = Counter(r["screen_id"] for r in records if r["media_sha256"] == sha)
    assert Counter(r["play_id"] for r in records).most_common(1)[0][1] == 1  # none twice
    for agent, screen in zip(agents, screens, strict=True):
        assert by_screen[screen["id"]] == starts(agent), screen["name"]  # none lost
    report = scale.http.get("/v1/reports/delivery", headers=advertiser.headers,
                            params={"group_by": "screen", "from": (datetime.now(UTC) - timedelta(
                                hours=2)).isoformat(), "to": datetime.now(UTC).isoformat()})
    assert report.status_code == 200, report.text
    reported = {row["screen_id"]: row["plays"] for row in report.json()["rows"]}
    assert reported == {s["id"]: by_screen[s["id"]] for s in screens}
    until(lambda: scale.jobs_undone() == 0, 30, "every job done (none lost)")
    for video_id in videos:  # each killed job was run again, to its end
        with scale.app.state.sessionmaker() as session:
            transcoded = session.scalars(select(Job).where(Job.subject == f"media:{video_id}")
                                         ).all()
        assert any(j.attempts >= 2 and j.status == JobStatus.succeeded for j in transcoded), \
            [(j.kind, j.status, j.attempts) for j in transcoded]


@pytest.mark.postgres
@pytest.mark.timeout(600)  # five processes starting on a machine other work loads
def test_scale_mode_pairs_plays_reports_and_survives_kills(scale, tmp_path):
    run_fleet(scale, tmp_path, units=3, plays_before=1, plays_after=1)


@pytest.mark.long
@pytest.mark.postgres
@pytest.mark.timeout(1200)
def test_scale_mode_with_a_larger_fleet_for_longer(scale, tmp_path):
    run_fleet(scale, tmp_path, units=20, plays_before=5, plays_after=6, rounds=3)
