"""`adsbin serve --demo` (what `make run` does): once the API answers, the demo accounts set up a
venue with a screen, an advertiser's approved campaign, and a real player agent paired to that
screen — all through the public API, the way people would — so a new user sees the whole loop:
schedule → playlist → playback → proof of play.

Idempotent: a second `make run` finds the venue, screen, campaign and paired agent in place.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw, ImageFont

from control_plane.demo import DEMO_PASSWORD

VENUE = {"name": "Demo Bar", "address": "1 Demo Street", "lat": 48.8566, "lon": 2.3522,
         "timezone": "Europe/Paris", "venue_type_id": 804,  # OpenOOH entertainment.bars
         "opening_hours": {d: [["00:00", "24:00"]] for d in
                           ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
SCREEN = {"name": "Bar TV", "width_px": 1920, "height_px": 1080}
CAMPAIGN = "Fresh Coffee (demo)"
WAIT_S = 120.0

log = logging.getLogger(__name__)


class DemoError(RuntimeError):
    """The demo could not be set up; the message says what to do."""


def _token(http: httpx.Client, email: str) -> dict[str, str]:
    r = http.post("/v1/auth/token", json={"email": email, "password": DEMO_PASSWORD})
    if r.status_code != 200:
        raise DemoError(f"cannot sign in as {email}: run `adsbin demo` first")
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _ok(r: httpx.Response) -> Any:
    if r.status_code >= 400:
        raise DemoError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}")
    return r.json()


def _until(what: str, check: Any, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.5)
    raise DemoError(f"timed out waiting for {what}")


def _answers(http: httpx.Client) -> bool:
    try:
        return http.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


def ad_image() -> bytes:
    """The demo advertiser's creative: a 1920×1080 poster drawn here, not downloaded."""
    image = Image.new("RGB", (1920, 1080), (92, 52, 30))
    draw = ImageDraw.Draw(image)
    draw.rectangle([80, 80, 1840, 1000], outline=(250, 214, 160), width=12)
    for text, size, y in (("Fresh Coffee", 200, 280), ("2 for 1 before 10 am", 90, 560),
                          ("at the Demo Bar", 70, 720)):
        font = ImageFont.load_default(size=size)
        box = draw.textbbox((0, 0), text, font=font)
        draw.text(((1920 - (box[2] - box[0])) // 2, y), text, font=font, fill=(250, 214, 160))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def ensure_screen(http: httpx.Client, venue_owner: dict[str, str]) -> dict[str, Any]:
    """The demo venue's screen, made if missing."""
    venues = _ok(http.get("/v1/venues", headers=venue_owner))["items"]
    venue = next((v for v in venues if v["name"] == VENUE["name"]), None)
    if venue is None:
        venue = _ok(http.post("/v1/venues", headers=venue_owner, json=VENUE))
    screens = _ok(http.get(f"/v1/venues/{venue['id']}/screens", headers=venue_owner))["items"]
    screen = next((s for s in screens if s["name"] == SCREEN["name"]), None)
    if screen is None:
        screen = _ok(http.post(f"/v1/venues/{venue['id']}/screens", headers=venue_owner,
                               json=SCREEN))
    return dict(screen)


def ensure_campaign(http: httpx.Client, advertiser: dict[str, str],
                    admin: dict[str, str]) -> dict[str, Any]:
    """The demo advertiser's approved campaign, made if missing."""
    campaigns = _ok(http.get("/v1/campaigns", headers=advertiser))["items"]
    campaign = next((c for c in campaigns if c["name"] == CAMPAIGN), None)
    if campaign is not None:
        return dict(campaign)
    media = _ok(http.post("/v1/media", headers=advertiser,
                          files={"file": ("fresh-coffee.png", ad_image(), "image/png")}))
    _until("the demo creative's renditions", lambda: _ok(http.get(
        f"/v1/media/{media['id']}", headers=advertiser))["status"] == "ready")
    now = time.time()
    campaign = _ok(http.post("/v1/campaigns", headers=advertiser, json={
        "name": CAMPAIGN, "category": "1133",  # IAB: Coffee and Tea
        "start_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600)),
        "end_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 30 * 86400)),
        "budget_cents": 50_000, "cpm_cents": 800, "currency": "EUR", "pacing": "even",
        "share_of_voice": 0.5}))
    _ok(http.post(f"/v1/campaigns/{campaign['id']}/creatives", headers=advertiser,
                  json={"media_id": media["id"], "duration_s": 10}))
    _ok(http.post(f"/v1/campaigns/{campaign['id']}/submit", headers=advertiser))
    return dict(_ok(http.post(f"/v1/campaigns/{campaign['id']}/approve", headers=admin)))


def renderer() -> str:
    """VLC when libvlc works here, else the null renderer (it still plays, in name)."""
    try:
        import vlc

        return "vlc" if vlc.Instance(["--intf=dummy", "--quiet"]) is not None else "null"
    except (ImportError, OSError, NameError):
        return "null"


def start_agent(base_url: str, state_dir: Path, log_file: Path) -> subprocess.Popen[bytes]:
    """A player agent as its own process, logging to `log_file`."""
    state_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "player_agent", "--server", base_url, "--state-dir",
            str(state_dir), "--renderer", renderer()]
    with log_file.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=out)  # noqa: S603 - our own module


def pair(http: httpx.Client, technician: dict[str, str], screen: dict[str, Any],
         state_dir: Path, agent: subprocess.Popen[bytes]) -> str:
    """Claim the code the agent shows for the demo screen (skipped if already paired)."""
    def status() -> dict[str, Any]:
        if agent.poll() is not None:
            raise DemoError(f"the player agent stopped (exit {agent.returncode}); see its log")
        try:
            current = dict(json.loads((state_dir / "status.json").read_text()))
        except (OSError, ValueError):
            return {}
        return current if current.get("pid") == agent.pid else {}  # not an earlier run's

    current = _until("the agent to start", lambda: status().get("state") and status())
    if current.get("state") == "paired":
        return "already paired"
    code = _until("the agent's pairing code", lambda: status().get("pairing_code"))
    _ok(http.post(f"/v1/screens/{screen['id']}/pair", headers=technician, json={"code": code}))
    return f"paired with code {code}"


class Processes:
    """The processes the demo starts, stopped together however the server ends.

    `adsbin serve --demo` sets the demo up in a thread while the server runs; the server may be
    stopped (Ctrl-C, SIGTERM from `make`) at any moment of it, even while the agent it just
    started is still pairing. So the agent is registered the moment it starts, under a lock
    that `stop` takes too: nothing starts after `stop`, and `stop` ends all that started.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: list[subprocess.Popen[bytes]] = []
        self.stopped = False

    def start(self, make: Callable[[], subprocess.Popen[bytes]]
              ) -> subprocess.Popen[bytes] | None:
        """The process `make` starts, kept to be stopped; None once stopping has begun."""
        with self._lock:
            if self.stopped:
                return None
            process = make()
            self._running.append(process)
            return process

    def stop(self, timeout_s: float = 30) -> None:
        """Stop every process started (SIGTERM, then SIGKILL after `timeout_s`)."""
        with self._lock:
            self.stopped = True
            running, self._running = self._running, []
        for process in running:
            if process.poll() is None:
                process.terminate()
        for process in running:
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout_s)


def run(base_url: str, data_dir: Path, processes: Processes,
        say: Callable[[str], None] = print) -> subprocess.Popen[bytes] | None:
    """Set the demo up against the running API; the agent process (`processes` stops it)."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        _until("the API", lambda: _answers(http), 60)
        screen = ensure_screen(http, _token(http, "venue@demo.example.com"))
        ensure_campaign(http, _token(http, "advertiser@demo.example.com"),
                        _token(http, "admin@demo.example.com"))
        state_dir = data_dir / "agent"
        agent = processes.start(lambda: start_agent(base_url, state_dir,
                                                    data_dir / "agent.log"))
        if agent is None:
            return None
        how = pair(http, _token(http, "tech@demo.example.com"), screen, state_dir, agent)
    say(f"player agent on screen '{screen['name']}' ({how}); log {data_dir / 'agent.log'}; "
        f"state: adsbin agent status --state-dir {state_dir}")
    return agent
