"""A real control plane on loopback (worker, embedded Mosquitto, local store), reached by the
agent through TCP proxies that a test can cut or slow down, and the agent itself — in-process
with the null renderer, or as a subprocess that a test can kill -9.

Every agent test is about the agent, so its control plane runs on SQLite only (the database
tests of the control plane cover PostgreSQL).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from control_plane.app import create_app
from control_plane.orgs import service as orgs_service
from player_agent.agent import Agent
from player_agent.render.null import NullPlayer
from player_agent.settings import AgentSettings
from tests.helpers import PASSWORD, Account, bearer, signup, until, with_settings
from tests.live import free_port, serve_app

ALWAYS_OPEN = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat",
                                                  "sun")}
AGENT_TIMINGS = {"poll_interval_s": 3.0, "poll_jitter_s": 0.5, "heartbeat_interval_s": 1.0,
                 "pop_upload_interval_s": 0.3, "retry_min_s": 0.2, "retry_max_s": 1.0,
                 "card_s": 1.0, "stall_s": 3.0, "start_timeout_s": 5.0, "identify_s": 2.0,
                 "clock_check_interval_s": 30.0}


class Proxy:
    """A TCP forwarder to `target_port` that can be cut (a network outage) and throttled."""

    def __init__(self, target_port: int, *, rate_bytes_s: float | None = None) -> None:
        self.target_port = target_port
        self.rate_bytes_s = rate_bytes_s
        self.port = free_port()
        self.bytes_down = 0  # what came back from the target
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restore(self) -> None:
        """Listen (again) and forward."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            doomed = list(self._sockets)
            self._sockets.clear()
        if listener is not None:
            # shutdown wakes the blocked accept(); close() alone leaves the port listening
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for s in doomed:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, upstream}
            for a, b, down in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(a, b, down), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, down: bool) -> None:
        try:
            while data := src.recv(16384):
                dst.sendall(data)
                if down:
                    self.bytes_down += len(data)
                if self.rate_bytes_s:
                    time.sleep(len(data) / self.rate_bytes_s)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


@dataclass
class Stack:
    """A control plane, a venue with one always-open screen, and proxies for the agent."""

    app: Any
    url: str
    http: httpx.Client
    owner: Account
    venue: dict[str, Any]
    screen: dict[str, Any]
    admin: dict[str, str]
    api_proxy: Proxy
    mqtt_proxy: Proxy

    @property
    def agent_url(self) -> str:
        """Where agents reach the control plane (through the proxy)."""
        return self.api_proxy.url

    def claim(self, code: str, screen_id: str | None = None) -> dict[str, Any]:
        """Pair the code for the screen, as its venue owner."""
        r = self.http.post(f"/v1/screens/{screen_id or self.screen['id']}/pair",
                           headers=self.owner.headers, json={"code": code})
        assert r.status_code == 200, r.text
        return dict(r.json())

    def campaign(self, media: Path, *, duration_s: int | None = 5, category: str = "1010",
                 share_of_voice: float | None = None) -> dict[str, Any]:
        """An approved campaign of one creative, targeting the whole network (asap: every slot
        it can get, unless given a share of voice)."""
        advertiser = signup(self.http, "advertiser", app=self.app)
        with media.open("rb") as f:
            uploaded = self.http.post("/v1/media", headers=advertiser.headers,
                                      files={"file": (media.name, f)}).json()
        until(lambda: self.http.get(f"/v1/media/{uploaded['id']}", headers=advertiser.headers)
              .json()["status"] == "ready", 60, "media ready")
        campaign = self.http.post("/v1/campaigns", headers=advertiser.headers, json={
            "name": f"Campaign {media.name}", "category": category,
            "start_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "end_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
            "budget_cents": 10_000_000, "cpm_cents": 500, "currency": "EUR",
            "pacing": "asap"} | ({"share_of_voice": share_of_voice} if share_of_voice else {})
                                  ).json()
        url = f"/v1/campaigns/{campaign['id']}"
        body = {"media_id": uploaded["id"]} | ({"duration_s": duration_s} if duration_s else {})
        assert self.http.post(f"{url}/creatives", headers=advertiser.headers,
                              json=body).status_code == 201
        self.http.post(f"{url}/submit", headers=advertiser.headers)
        approved = self.http.post(f"{url}/approve", headers=self.admin).json()
        assert approved["state"] == "active", approved
        return dict(approved) | {"advertiser_headers": advertiser.headers}

    def pops(self, screen_id: str | None = None) -> list[dict[str, Any]]:
        """The proof-of-play records the server holds for the screen (the NDJSON export)."""
        import json

        screen_id = screen_id or self.screen["id"]
        records: list[dict[str, Any]] = []
        cursor = None
        while True:
            r = self.http.get("/v1/pop", headers=self.admin,
                              params={"limit": 1000} | ({"after": cursor} if cursor else {}))
            assert r.status_code == 200, r.text
            lines = [json.loads(line) for line in r.text.splitlines() if line.strip()]
            page = [x for x in lines if "play_id" in x]
            records += [x for x in page if x["screen_id"] == screen_id]
            cursor = r.headers["x-next-cursor"]
            if r.headers.get("x-more") != "true":
                return records


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """SQLite only for agent tests (see the module docstring)."""
    from control_plane import migrate

    url = f"sqlite:///{tmp_path_factory.mktemp('agent-db') / 'adsbin.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
def stack(settings: Any) -> Iterator[Stack]:
    """The control plane on loopback with its worker and embedded broker, behind proxies."""
    port, mqtt_port = free_port(), free_port()
    api_proxy = Proxy(port)
    mqtt_proxy = Proxy(mqtt_port)
    app = create_app(with_settings(settings, run_worker=True, run_broker=True,
                                   mqtt_port=mqtt_port, public_url=api_proxy.url,
                                   mqtt_device_url=f"mqtt://127.0.0.1:{mqtt_proxy.port}"))
    with serve_app(app, port) as url, httpx.Client(base_url=url, timeout=30) as http:
        owner = signup(http, "venue", app=app)
        venue = http.post("/v1/venues", headers=owner.headers, json={
            "name": "Gym", "lat": 48.85, "lon": 2.35, "timezone": "Europe/Paris",
            "venue_type_id": 1, "opening_hours": ALWAYS_OPEN}).json()
        screen = http.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                           json={"name": "Front", "width_px": 1920, "height_px": 1080}).json()
        with app.state.sessionmaker() as session:
            orgs_service.ensure_superuser(session=session, email="root@example.com",
                                          password=PASSWORD)
        token = http.post("/v1/auth/token", json={"email": "root@example.com",
                                                  "password": PASSWORD}).json()["access_token"]
        try:
            yield Stack(app, url, http, owner, venue, screen, bearer(token), api_proxy,
                        mqtt_proxy)
        finally:
            api_proxy.cut()
            mqtt_proxy.cut()


class CountingPlayer(NullPlayer):
    """The null renderer, counting what it was asked to start (by file name)."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[str] = []

    def start(self, item: Any) -> int:
        self.started.append(item.path.name)
        return super().start(item)


class RunningAgent:
    """An agent running in a thread of the test process."""

    def __init__(self, settings: AgentSettings, player: NullPlayer | None = None) -> None:
        self.player = player or CountingPlayer()
        self.agent = Agent(settings, player=self.player)
        self.thread = threading.Thread(target=self.agent.run, daemon=True)

    def __enter__(self) -> RunningAgent:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the agent and wait for it."""
        self.agent.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the agent did not stop"

    def code(self) -> str:
        """The pairing code the agent shows."""
        return str(until(lambda: self.agent.pairing and self.agent.pairing.ticket
                         and self.agent.pairing.ticket.code, 30, "a pairing code"))

    def paired(self, stack: Stack) -> RunningAgent:
        """Claim the agent's code for the stack's screen and wait for its session."""
        stack.claim(self.code())
        until(lambda: self.agent.session and self.agent.session.syncer.version, 30,
              "the first playlist")
        return self


def agent_settings(stack: Stack, state_dir: Path, **changes: Any) -> AgentSettings:
    """Agent settings for tests: fast timings, the null renderer, the proxied control plane."""
    return AgentSettings(server_url=stack.agent_url, state_dir=state_dir, renderer="null",
                         **(AGENT_TIMINGS | changes))


_spawned: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def no_agent_left_behind() -> Iterator[None]:
    """Kill agent processes a failed test did not stop."""
    yield
    while _spawned:
        proc = _spawned.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def agent_process(stack: Stack, state_dir: Path, *, wrapper: tuple[str, ...] = (),
                  **changes: Any) -> subprocess.Popen[bytes]:
    """`python -m player_agent` as its own process (to be killed with -9), under `wrapper` if
    given (strace); it logs to `agent.log` beside its state dir."""
    env = {**os.environ, **{f"ADSBIN_AGENT_{k.upper()}": str(v)
                            for k, v in (AGENT_TIMINGS | changes).items()}}
    with (state_dir.parent / "agent.log").open("ab") as log:
        proc = subprocess.Popen([*wrapper, sys.executable, "-m", "player_agent", "--server",
                                 stack.agent_url, "--state-dir", str(state_dir), "--renderer",
                                 "null"], env=env, stdout=log, stderr=log)
    _spawned.append(proc)
    return proc
