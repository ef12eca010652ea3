"""Benchmark: the player agent's figures, each next to a baseline measured in the same run.

1. Gap between items, from libvlc's own event times (end of one item → "playing" of the next),
   with the agent's playback loop (two players taking turns, the next item preloaded) over a
   playlist of 1080p and 720p videos and images. Baseline: one libvlc player given the next file
   only when the previous one ends (what a naive player does).
2. Resident memory of the whole agent (`python -m player_agent`, real VLC, headless) playing a
   video playlist from its cache — offline, so only playback is measured — sampled from
   /proc/<pid>/status. Baseline: a bare python-vlc script playing the same files; also the agent
   with the null renderer (what Python itself costs) and with one decoder thread.
3. Sync: an unchanged playlist poll against a real control plane answers 304 with an empty
   body; over many polls each media file is downloaded exactly once. Baseline: the 200 poll.
4. With --minutes M, only memory over a long run: the null agent, the VLC agent and bare VLC side
   by side for M minutes, sampled every 2 s: start, peak, end and growth per hour.
Run: .venv/bin/python bench/bench_agent.py [--seconds 40] [--minutes 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import results

from player_agent.cache import MediaCache
from player_agent.clock import Clock
from player_agent.journal import Journal
from player_agent.playback import Playback
from player_agent.programme import Programme
from player_agent.render.vlc import VlcPlayer, vlc_options
from tests import media_samples
from tests.player_agent.local import AWAY, cached_playlist, offline_unit

HD, SD = (1920, 1080), (1280, 720)


def files(dir: Path) -> list[tuple[Path, int]]:
    """Two 1080p videos, a 720p video and two pictures: what a playlist looks like."""
    out = []
    for n, (size, seconds) in enumerate([(HD, 3.0), (SD, 2.0), (HD, 2.0)]):
        d = dir / f"v{n}"
        d.mkdir()
        out.append((media_samples.mp4(d, seconds=seconds, size=size, fps=30), int(seconds)))
        p = dir / f"p{n}"
        p.mkdir()
        if n < 2:
            out.append((media_samples.png(p, size=HD), 1))
    return out


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return (f"median {statistics.median(ordered):6.1f} ms   p95 {p95:6.1f} ms   "
            f"max {ordered[-1]:6.1f} ms   n={len(ordered)}")


def agent_gaps(dir: Path, seconds: float) -> list[float]:
    player = VlcPlayer(headless=True)
    cache = MediaCache(dir / "cache", quota_bytes=10**10)
    clock = Clock()
    programme = Programme(cache=cache, clock=clock, cards_dir=dir / "cards", screen_size=HD,
                          card_s=1)
    programme.adopt(cached_playlist(cache, files(dir)))
    playback = Playback(player=player, programme=programme, journal=Journal(dir / "j.db"),
                        clock=clock, screen_id=lambda: "scr_bench", stall_s=10,
                        start_timeout_s=10)
    thread = threading.Thread(target=playback.run, daemon=True)
    thread.start()
    time.sleep(seconds)
    playback.stop()
    thread.join(timeout=30)
    player.close()
    return list(playback.gaps_ms)


def naive_gaps(dir: Path, seconds: float) -> list[float]:
    import queue

    import vlc

    instance = vlc.Instance(vlc_options(headless=True, rotation_deg=0, extra=[]))
    player = instance.media_player_new()
    events: queue.Queue[tuple[str, float]] = queue.Queue()
    manager = player.event_manager()
    manager.event_attach(vlc.EventType.MediaPlayerPlaying,
                         lambda _e: events.put(("playing", time.monotonic())))
    manager.event_attach(vlc.EventType.MediaPlayerEndReached,
                         lambda _e: events.put(("ended", time.monotonic())))
    playlist = files(dir)
    gaps, ended_at, n = [], None, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        path, duration = playlist[n % len(playlist)]
        media = instance.media_new_path(str(path))
        if path.suffix == ".png":
            media.add_option(f":image-duration={duration}")
        player.set_media(media)
        player.play()
        while True:
            kind, at = events.get(timeout=30)
            if kind == "playing" and ended_at is not None:
                gaps.append((at - ended_at) * 1000)
            if kind == "ended":
                ended_at = at
                break
        n += 1
    player.release()
    instance.release()
    return gaps


def vm_rss_mb(pid: int) -> float:
    """A process's resident memory now (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_s(pid: int) -> float:
    """CPU time a process has used (user + system), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_samples(argv: list[str], seconds: float, env: dict[str, str]) -> list[float]:
    """VmRSS of a process, in MB, every 0.25 s after a 3 s warm-up."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []
    try:
        time.sleep(3)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and proc.poll() is None:
            samples.append(vm_rss_mb(proc.pid))
            time.sleep(0.25)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if not samples:
        raise RuntimeError(f"{argv[:3]} exited early")
    return samples


BARE_VLC = """
import sys, time, vlc
inst = vlc.Instance(["--intf=dummy", "--vout=dummy", "--aout=dummy", "--quiet"])
p = inst.media_player_new()
files = sys.argv[1:]
n = 0
while True:
    p.set_media(inst.media_new_path(files[n % len(files)])); p.play()
    time.sleep(0.2)
    while p.get_state() not in (vlc.State.Ended, vlc.State.Error):
        time.sleep(0.05)
    n += 1
"""


def agent_argv(state_dir: Path, renderer: str) -> list[str]:
    """The agent as the systemd unit runs it."""
    return [sys.executable, "-m", "player_agent", "--server", f"http://{AWAY}",
            "--state-dir", str(state_dir), "--renderer", renderer]


AGENT_ENV = {"ADSBIN_AGENT_HEADLESS": "true"}
NULL_GOAL_MB = 45.0


def memory(dir: Path, seconds: float) -> dict[str, float]:
    videos = [(p, d) for p, d in files(dir) if p.suffix == ".mp4"]
    agent = agent_argv(offline_unit(dir / "agent", videos), "vlc")
    bare = [sys.executable, "-c", BARE_VLC, *[str(p) for p, _ in videos]]
    env = os.environ | AGENT_ENV
    print(f"\n2. resident memory playing {len(videos)} videos (1080p and 720p H.264, software "
          f"decoding), {seconds:.0f} s of samples each")
    one_thread = {"ADSBIN_AGENT_VLC_OPTIONS": '["--avcodec-threads=1"]'}
    medians: dict[str, float] = {}
    for label, argv, extra in (
            ("baseline: bare python-vlc script", bare, {}),
            ("agent, null renderer (Python side)", [*agent[:-1], "null"], {}),
            ("agent, VLC", agent, {}),
            ("agent, VLC --avcodec-threads=1", agent, one_thread)):
        rss = rss_samples(argv, seconds, env | extra)
        medians[label] = statistics.median(rss)
        print(f"   {label:40s} median {statistics.median(rss):6.1f} MB   max {max(rss):6.1f} MB")
    print(f"   goals: null renderer ≤ {NULL_GOAL_MB:.0f} MB; the VLC agent no higher than bare "
          "VLC; flat over a long run: --minutes")
    return medians


def slope_mb_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per hour."""
    mean_t = statistics.fmean(t for t, _ in points)
    mean_m = statistics.fmean(m for _, m in points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return 3600 * sum((t - mean_t) * (m - mean_m) for t, m in points) / spread if spread else 0.0


def soak(dir: Path, minutes: float, every_s: float = 2.0) -> None:
    """The null agent, the VLC agent and bare VLC side by side for `minutes`: resident memory
    at the start, its peak and at the end, and the growth per hour (least squares)."""
    videos = [(p, d) for p, d in files(dir) if p.suffix == ".mp4"]
    runs = {"agent, null renderer": agent_argv(offline_unit(dir / "null", videos), "null"),
            "agent, VLC": agent_argv(offline_unit(dir / "vlc", videos), "vlc"),
            "baseline: bare python-vlc script": [sys.executable, "-c", BARE_VLC,
                                                 *[str(p) for p, _ in videos]]}
    env = os.environ | AGENT_ENV
    procs = {label: subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL) for label, argv in runs.items()}
    warm_up_s = min(30.0, minutes * 6)  # imports, the first files opened, caches filled
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label in runs}
    print(f"\nresident memory over {minutes:g} min, the three side by side (a sample every "
          f"{every_s:g} s after {warm_up_s:.0f} s of warm-up), {len(videos)} videos looping")
    try:
        time.sleep(warm_up_s)
        start = time.monotonic()
        cpu_at_start = {label: cpu_s(proc.pid) for label, proc in procs.items()}
        while (now := time.monotonic()) - start < minutes * 60:
            for label, proc in procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{label} exited ({proc.returncode})")
                samples[label].append((now - start, vm_rss_mb(proc.pid)))
            time.sleep(every_s)
        cpu = {label: 100 * (cpu_s(proc.pid) - cpu_at_start[label]) / (time.monotonic() - start)
               for label, proc in procs.items()}
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=30)
    medians = {}
    for label, points in samples.items():
        tenth = max(1, len(points) // 10)  # start and end: medians of the first and last tenth
        first = statistics.median(m for _, m in points[:tenth])
        last = statistics.median(m for _, m in points[-tenth:])
        medians[label] = statistics.median(m for _, m in points)
        print(f"   {label:34s} start {first:6.1f}  peak {max(m for _, m in points):6.1f}  end "
              f"{last:6.1f} MB   median {medians[label]:6.1f} MB   growth "
              f"{slope_mb_per_hour(points):+7.1f} MB/h   CPU {cpu[label]:3.0f} %   "
              f"n={len(points)}")
    null, vlc, bare = medians.values()
    print(f"   goals: null renderer ≤ {NULL_GOAL_MB:.0f} MB (median {null:.1f}); VLC agent ≤ bare "
          f"VLC (medians {vlc:.1f} vs {bare:.1f}); both flat: growth ≈ 0 MB/h over 30 min "
          "(VLC's own swings as files open and close make a short run's slope noisy)")


def sync(dir: Path, seconds: float) -> tuple[float, float]:
    """Polls of an unchanged playlist against a real control plane, and the downloads."""
    import httpx

    from control_plane import migrate
    from control_plane.app import create_app
    from control_plane.orgs import service as orgs_service
    from control_plane.settings import Settings
    from player_agent.agent import Agent
    from player_agent.render.null import NullPlayer
    from player_agent.settings import AgentSettings
    from tests.live import free_port, serve_app

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(data_dir=dir / "var", database_url=f"sqlite:///{dir / 'cp.db'}",
                        public_url=url, run_broker=False, run_scheduler=False,
                        _env_file=None)  # type: ignore[call-arg]
    settings.data_dir.mkdir()
    migrate.upgrade(settings.database_url)
    app = create_app(settings)
    with serve_app(app, port), httpx.Client(base_url=url, timeout=60) as http:
        def account(kind: str) -> dict[str, str]:
            r = http.post("/v1/auth/signup", json={
                "email": f"{kind}@bench.example.com", "password": "bench-password-1",
                "name": kind, "org_name": kind, "org_kind": kind}).json()
            with app.state.sessionmaker() as session:  # as an operator would vouch for it
                user = orgs_service.get_user(session=session, user_id=r["user"]["id"])
                assert user is not None
                orgs_service.mark_email_verified(session=session, user=user)
                session.commit()
            return {"Authorization": f"Bearer {r['access_token']}"}

        owner, advertiser = account("venue"), account("advertiser")
        with app.state.sessionmaker() as session:
            orgs_service.ensure_superuser(session=session, email="root@bench.example.com",
                                          password="bench-password-1")
        admin = {"Authorization": "Bearer " + http.post("/v1/auth/token", json={
            "email": "root@bench.example.com", "password": "bench-password-1"}
            ).json()["access_token"]}
        venue = http.post("/v1/venues", headers=owner, json={
            "name": "Bench", "lat": 0, "lon": 0, "timezone": "UTC", "venue_type_id": 1,
            "opening_hours": {d: [["00:00", "24:00"]] for d in
                              ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}).json()
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        flight = [(today + timedelta(days=d)).isoformat() for d in (-1, 365)]  # ≤ 731 days
        screen = http.post(f"/v1/venues/{venue['id']}/screens", headers=owner,
                           json={"name": "S", "width_px": 1920, "height_px": 1080}).json()
        for n in range(3):
            d = dir / f"ad{n}"
            d.mkdir()
            with media_samples.png(d, size=(640 + n, 360)).open("rb") as f:
                media = http.post("/v1/media", headers=advertiser,
                                  files={"file": ("ad.png", f)}).json()
            while http.get(f"/v1/media/{media['id']}", headers=advertiser
                           ).json()["status"] != "ready":
                time.sleep(0.2)
            c = http.post("/v1/campaigns", headers=advertiser, json={
                "name": f"c{n}", "category": ["1010", "1058", "1082"][n],
                "start_at": flight[0], "end_at": flight[1],
                "budget_cents": 10**8, "cpm_cents": 100, "currency": "EUR", "pacing": "asap",
                "share_of_voice": 0.3}).json()
            http.post(f"/v1/campaigns/{c['id']}/creatives", headers=advertiser,
                      json={"media_id": media["id"], "duration_s": 5})
            http.post(f"/v1/campaigns/{c['id']}/submit", headers=advertiser)
            http.post(f"/v1/campaigns/{c['id']}/approve", headers=admin)

        agent_settings = AgentSettings(server_url=url, state_dir=dir / "agent", renderer="null",
                                       poll_interval_s=0.25, poll_jitter_s=0.0)
        agent = Agent(agent_settings, player=NullPlayer())
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        while not (agent.pairing and agent.pairing.ticket):
            time.sleep(0.05)
        http.post(f"/v1/screens/{screen['id']}/pair", headers=owner,
                  json={"code": agent.pairing.ticket.code})
        while not (agent.session and agent.programme.playlist
                   and len(agent.programme.playlist.media) == 3):
            time.sleep(0.05)
        token = {"Authorization": f"Bearer {agent.credentials.device_token}"}
        time.sleep(seconds)
        stats = agent.session.syncer.stats()
        downloads, files_ = agent.cache.downloads, agent.cache.stats()["files"]
        agent.stop()
        thread.join(timeout=30)

        def timed(headers: dict[str, str]) -> tuple[int, int, float]:
            times, last = [], None
            for _ in range(200):
                start = time.perf_counter()
                last = http.get("/v1/device/playlist", headers=headers)
                times.append((time.perf_counter() - start) * 1000)
            assert last is not None
            return last.status_code, len(last.content), statistics.median(times)

        full = timed(token)
        etag = http.get("/v1/device/playlist", headers=token).headers["etag"]
        unchanged = timed(token | {"If-None-Match": etag})
    print(f"\n3. sync against a real control plane (SQLite, loopback), {seconds:.0f} s of polls "
          "every 0.25 s")
    print(f"   unchanged poll: HTTP {unchanged[0]}, {unchanged[1]} body bytes, median "
          f"{unchanged[2]:.1f} ms   |  baseline, full poll: HTTP {full[0]}, {full[1]:,} body "
          f"bytes, median {full[2]:.1f} ms")
    print(f"   agent: {stats['polls']} polls, {stats['not_modified']} answered 304; "
          f"{downloads} downloads for {files_} distinct files (target: one per hash)")
    return unchanged[2], full[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--minutes", type=float, default=None,
                        help="Only memory over a long run: the null agent, the VLC agent and "
                             "bare VLC side by side for this many minutes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.minutes is not None:
            soak(root, args.minutes)
            return
        print(f"1. gap between items over {args.seconds:.0f} s (libvlc event times)")
        (root / "a").mkdir()
        (root / "b").mkdir()
        ours = agent_gaps(root / "a", args.seconds)
        print(f"   agent (two players, preloaded):   {summary(ours)}")
        naive = naive_gaps(root / "b", args.seconds)
        print(f"   baseline (one player, on end):    {summary(naive)}")
        print("   target: agent median ≤ 50 ms")
        (root / "m").mkdir()
        rss = memory(root / "m", min(args.seconds, 20))
        (root / "s").mkdir()
        unchanged_ms, full_ms = sync(root / "s", min(args.seconds, 20))
        shutil.rmtree(root, ignore_errors=True)
    gap = statistics.median(ours)
    bare, null, vlc = (rss["baseline: bare python-vlc script"],
                       rss["agent, null renderer (Python side)"], rss["agent, VLC"])
    results.save("bench_agent", [
        results.Figure("gap between items, median", gap, "ms", "lower",
                       "one player, started on end, median", statistics.median(naive),
                       goal="<= 50 ms", met=gap <= 50),
        results.Figure("agent RSS, null renderer (Python side), median", null, "MB", "lower",
                       "bare python-vlc script", bare, goal=f"<= {NULL_GOAL_MB:.0f} MB",
                       met=null <= NULL_GOAL_MB),
        results.Figure("agent RSS, VLC, median", vlc, "MB", "lower", "bare python-vlc script",
                       bare, goal="<= bare VLC", met=vlc <= bare),
        results.Figure("unchanged playlist poll (304), median", unchanged_ms, "ms", "lower",
                       "full poll (200), median", full_ms)], args=args)


if __name__ == "__main__":
    main()
