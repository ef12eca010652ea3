"""`adsbin simulate --screens N`: a fleet of N display units spread over worker processes.

The parent makes the screens (`simulate.ensure_screens`) and starts processes of `per_process`
units each (multiprocessing, spawned), as one process's GIL would not keep up with them all;
each worker runs its units (the real agent, null renderer, a state dir each under one root),
pairs them with the venue owner's sign-in, and reports its counters to the parent, which shows
the fleet's progress. Units play in real time: the agent has no time factor, and the server
judges plays by the real clock (plays from the future are refused, a play's length is checked
against the creative's), so an accelerated fleet would only measure itself.

When the time is up the parent stops the workers (each stops its agents, which send what their
journals hold first), then sets every unit's journal against the server's plays
(`fleet_ledger`), and reads what the fleet cost: the control plane's CPU and memory (the process
listening on the server's port, if it is on this machine) and the broker's connections
(`fleet_figures`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import resource
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from player_agent import fleet_figures, fleet_ledger, simulate
from player_agent.settings import AgentSettings

PER_PROCESS = 200  # units per worker (each holds ~9 file descriptors and 8 threads)
PAIR_TIMEOUT_S = 300.0  # a big fleet pairs at the server's 600 codes a minute per person
START_PER_S = 10.0  # units started a second, fleet-wide: each makes a key and draws its card
PAIR_ATTEMPTS = 3
PAIR_RETRY_S = 10.0  # enough for a unit whose claim went through to hear of it
STOP_TIMEOUT_S = 120.0
SINCE_SLACK_MS = 1000
# A waiting thread asks the GIL's holder to let go every switch interval (5 ms by default); with
# ~1,600 agent threads in a worker, a 1,000-unit fleet's start kept both cores in the kernel
# (165,000 context switches a second, 79 % system time; 27,000 and 31 % at 50 ms). The agents'
# threads wait on events, not on the CPU, so a longer interval costs them nothing they notice.
SWITCH_INTERVAL_S = 0.05
COUNTERS = ("units", "paired", "playing", "mqtt", "plays", "card_plays", "accepted", "rejected",
            "backlog", "dropped")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FleetOptions:
    """What to run: how many units, against which server, for how long."""

    server_url: str
    screens: int
    settings: AgentSettings  # every unit's, its state dir the fleet's root
    email: str
    password: str
    seconds: float | None  # of play once paired; None: until `stop` is set
    every_s: float = 2.0
    per_process: int = PER_PROCESS
    pair_timeout_s: float = PAIR_TIMEOUT_S
    start_per_s: float = START_PER_S
    server_pid: int | None = None  # the control plane's process (default: found by its port)
    house: bool = True  # give the fleet venue house content, so every slot is a reported play


@dataclass(frozen=True)
class Snapshot:
    """Where the fleet stands, for a progress display."""

    phase: str  # starting, pairing, playing, stopping, checking
    played_s: float
    seconds: float | None
    counts: dict[str, int]
    processes: int


@dataclass
class FleetRun:
    """What a run did and cost."""

    screens: int
    processes: int
    played_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # the last ones before stopping
    comparison: fleet_ledger.Comparison | None = None
    control_plane: tuple[fleet_figures.Usage, fleet_figures.Usage] | None = None
    control_plane_peak_mb: float = 0.0
    server_pid: int | None = None
    broker: fleet_figures.Connections | None = None
    fleet_rss_mb: float = 0.0
    not_stopped: int = 0  # workers killed after STOP_TIMEOUT_S
    log_dir: Path | None = None


@dataclass(frozen=True)
class _Job:
    index: int
    screens: list[dict[str, Any]]
    settings_json: str
    server_url: str
    token: str
    every_s: float
    pair_timeout_s: float
    start_interval_s: float  # between two of this worker's units
    log_file: str


def run(options: FleetOptions, *, stop: threading.Event,
        progress: Callable[[Snapshot], None] = lambda _: None,
        say: Callable[[str], None] = print) -> FleetRun:
    """Set the fleet up, play until `options.seconds` pass (or `stop` is set), stop it, and
    compare every unit's journal with the server."""
    root = options.settings.state_dir
    with httpx.Client(base_url=options.server_url, timeout=60) as http:
        try:
            token = simulate.sign_in(http, options.email, options.password)
            owner = {"Authorization": f"Bearer {token}"}
            say(f"making {options.screens} screens in venue '{simulate.VENUE_NAME}'")
            screens = simulate.ensure_screens(http, owner, options.screens)
            if options.house:
                say("the venue's house content fills every slot no campaign does")
                simulate.ensure_house_content(http, owner)
        except httpx.TransportError as exc:
            raise simulate.SimulationError(f"cannot reach {options.server_url} ({exc}): start "
                                           "it with `make run` or `adsbin serve`") from exc
    chunks = [screens[i:i + options.per_process]
              for i in range(0, len(screens), options.per_process)]
    server_pid = options.server_pid or _local_listener(options.server_url)
    result = FleetRun(screens=len(screens), processes=len(chunks), log_dir=root,
                      server_pid=server_pid)
    since_ms = int(time.time() * 1000) - SINCE_SLACK_MS
    root.mkdir(parents=True, exist_ok=True)
    say(f"starting {len(screens)} units (null renderer) in {len(chunks)} processes of up to "
        f"{options.per_process}; state dirs and logs in {root}")
    context = multiprocessing.get_context("spawn")
    events: multiprocessing.Queue[tuple[str, int, Any]] = context.Queue()
    stop_workers = context.Event()
    settings_json = options.settings.model_dump_json()
    workers = [context.Process(target=_worker, name=f"fleet-{k}", daemon=True, args=(
        _Job(k, chunk, settings_json, options.server_url, token, options.every_s,
             options.pair_timeout_s, len(chunks) / options.start_per_s,
             str(root / f"worker-{k}.log")), events, stop_workers))
               for k, chunk in enumerate(chunks)]
    for worker in workers:
        worker.start()
    try:
        _drive(options, result, workers, events, stop, progress, server_pid)
    finally:
        progress(Snapshot("stopping", result.played_s, options.seconds, result.counts,
                          len(workers)))
        result.fleet_rss_mb = fleet_figures.tree_rss_mb(os.getpid())
        stop_workers.set()
        result.not_stopped = _join(workers, events)
    progress(Snapshot("checking", result.played_s, options.seconds, result.counts, len(workers)))
    result.comparison = check(options, screens, since_ms=since_ms)
    return result


def _drive(options: FleetOptions, result: FleetRun, workers: list[Any],
           events: multiprocessing.Queue[tuple[str, int, Any]], stop: threading.Event,
           progress: Callable[[Snapshot], None], server_pid: int | None) -> None:
    """Pair, then play for the time asked, keeping the counters and the figures."""
    latest: dict[int, dict[str, int]] = {}
    started = time.monotonic()
    pair_deadline_s = options.pair_timeout_s + result.screens / options.start_per_s
    playing_since: float | None = None
    first: fleet_figures.Usage | None = None
    broker_url: str | None = None
    while not stop.is_set():
        try:
            kind, index, payload = events.get(timeout=options.every_s)
        except queue.Empty:
            kind, index, payload = "tick", -1, None
        if kind == "error":
            raise simulate.SimulationError(f"worker {index}: {payload}")
        if kind == "counts":
            latest[index] = payload["counts"]
            broker_url = broker_url or payload["broker_url"]
        if dead := [w.name for w in workers if not w.is_alive()]:
            raise simulate.SimulationError(f"{', '.join(dead)} ended early: see its log in "
                                           f"{options.settings.state_dir}")
        counts = {name: sum(c.get(name, 0) for c in latest.values()) for name in COUNTERS}
        counts["units"] = result.screens
        now = time.monotonic()
        if playing_since is None and counts["paired"] == result.screens:
            playing_since = now
            first = fleet_figures.usage(server_pid) if server_pid else None
        elif playing_since is None and now - started > pair_deadline_s:
            raise simulate.SimulationError(
                f"only {counts['paired']} of {result.screens} units paired within "
                f"{pair_deadline_s:g} s: see the workers' logs in {options.settings.state_dir}")
        result.played_s = now - playing_since if playing_since is not None else 0.0
        result.counts = counts
        if playing_since is not None:
            last = fleet_figures.usage(server_pid) if server_pid else None
            if first is not None and last is not None:
                result.control_plane = (first, last)
                result.control_plane_peak_mb = max(result.control_plane_peak_mb, last.rss_mb)
        progress(Snapshot("playing" if playing_since is not None else "pairing",
                          result.played_s, options.seconds, counts, len(workers)))
        if options.seconds is not None and result.played_s >= options.seconds:
            break
    if broker_url is not None and playing_since is not None:
        result.broker = fleet_figures.broker_connections(broker_url)  # before the fleet stops


def _join(workers: list[Any], events: multiprocessing.Queue[tuple[str, int, Any]]) -> int:
    """Wait for the workers to stop their units; how many had to be killed."""
    deadline = time.monotonic() + STOP_TIMEOUT_S
    killed = 0
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            events.get(timeout=0.2)  # drained, so no worker blocks on a full pipe
    for worker in workers:
        if worker.is_alive():
            log.warning("%s did not stop within %g s; killing it", worker.name, STOP_TIMEOUT_S)
            worker.kill()
            killed += 1
        worker.join(timeout=10)
    return killed


def check(options: FleetOptions, screens: list[dict[str, Any]], *,
          since_ms: int) -> fleet_ledger.Comparison:
    """Every unit's journal (from `since_ms` on) against the server's plays of its screen, read
    with a short-lived API key of the venue owner's org."""
    root = options.settings.state_dir
    journals = [fleet_ledger.read(root / s["name"], since_ms=since_ms) for s in screens]
    with httpx.Client(base_url=options.server_url, timeout=120) as http:
        owner = {"Authorization": "Bearer "
                 + simulate.sign_in(http, options.email, options.password)}
        key = http.post("/v1/api-keys", headers=owner, json={"name": "adsbin simulate check"})
        if key.status_code != 201:
            raise simulate.SimulationError(
                f"cannot make an API key to read the plays back ({key.status_code} "
                f"{key.text[:200]}): the venue owner must be the org's admin")
        try:
            server = fleet_ledger.server_plays(
                http, {"Authorization": f"Bearer {key.json()['key']}"},
                screen_ids=[s["id"] for s in screens], since_ms=since_ms)
        finally:
            http.delete(f"/v1/api-keys/{key.json()['id']}", headers=owner)
    return fleet_ledger.compare(journals, server)


def _local_listener(url: str) -> int | None:
    parsed = urlsplit(url)
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    return fleet_figures.listener_pid(parsed.port or (443 if parsed.scheme == "https" else 80))


# --- the worker process ------------------------------------------------------------------------

def _worker(job: _Job, events: multiprocessing.Queue[tuple[str, int, Any]],
            stop: ProcessEvent) -> None:
    """Run `job.screens`' units until `stop` is set (or the parent is gone)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops us
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    logging.basicConfig(filename=job.log_file, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    settings = AgentSettings.model_validate_json(job.settings_json)
    _drive_paho_with_poll()
    parent = os.getppid()
    units: list[simulate.Unit] = []
    failed: list[str] = []
    starter: threading.Thread | None = None
    halt = threading.Event()
    try:
        for screen in job.screens:
            fleet_ledger.keep(settings.state_dir / screen["name"])
        starter = threading.Thread(target=_start_and_pair, name="pairing", daemon=True,
                                   args=(job, settings, units, failed, halt))
        starter.start()
        while not stop.wait(job.every_s) and os.getppid() == parent:
            if failed:
                events.put(("error", job.index, failed[0]))
                break
            broker = next((u.agent.credentials.mqtt.url for u in units if u.agent.credentials),
                          None)
            events.put(("counts", job.index, {"counts": simulate.summary(units),
                                              "broker_url": broker}))
    except Exception as exc:
        log.exception("the worker failed")
        events.put(("error", job.index, str(exc)))
    finally:
        halt.set()  # the starter starts no more units
        if starter is not None:
            starter.join(timeout=10)  # a unit being started; a wait for a code is dropped
        simulate.stop_units(units)
        events.put(("stopped", job.index, None))


def _start_and_pair(job: _Job, settings: AgentSettings, units: list[simulate.Unit],
                    failed: list[str], halt: threading.Event) -> None:
    """Start the units a few at a time (a unit's start is its busiest moment), claiming each
    code as it shows, so that no unit polls for long; then wait for the codes still to come.
    A claim that timed out may have gone through (its code is then spent), so the units are
    given time to hear of it before the next attempt."""
    owner = {"Authorization": f"Bearer {job.token}"}
    with httpx.Client(base_url=job.server_url, timeout=60) as http:
        for attempt in range(1, PAIR_ATTEMPTS + 1):
            try:
                for screen in job.screens[len(units):]:
                    if halt.wait(job.start_interval_s):
                        return
                    try:
                        units += simulate.start_units([screen], settings,
                                                      operator_token=job.token)
                    except simulate.SimulationError as exc:  # its state dir is in use
                        failed.append(str(exc))
                        return
                    simulate.claim_ready(http, owner, units)
                simulate.pair_units(http, owner, units, timeout_s=job.pair_timeout_s)
                return
            except (simulate.SimulationError, httpx.HTTPError) as exc:
                log.warning("pairing, attempt %d of %d: %s", attempt, PAIR_ATTEMPTS, exc)
                if attempt == PAIR_ATTEMPTS:
                    failed.append(f"pairing its units: {exc or type(exc).__name__}")
                    return
                if halt.wait(PAIR_RETRY_S):
                    return


def _drive_paho_with_poll() -> None:
    """Make paho wait on its sockets with poll() in this process.

    paho's network loop calls `select.select()`, which refuses a file descriptor above 1,023
    (a client whose socket got one never connects: paho takes the ValueError for a lost
    connection and retries forever), and a unit holds ~9 descriptors: without this, one process
    runs at most ~110 units. A real unit runs one client and is not touched; only the fleet's
    workers call this.
    """
    import paho.mqtt.client as paho_client

    setattr(paho_client, "select", _PollSelect)  # noqa: B010 - paho reads `select.select`


class _PollSelect:
    """`select.select` (readable, writable, nothing exceptional) answered by poll()."""

    @staticmethod
    def select(rlist: list[Any], wlist: list[Any], _xlist: list[Any],
               timeout: float | None = None) -> tuple[list[Any], list[Any], list[Any]]:
        """Which of `rlist` can be read and of `wlist` written, waiting up to `timeout` s."""
        masks: dict[int, int] = {}
        objects: dict[int, Any] = {}
        for wanted, mask in ((rlist, select.POLLIN), (wlist, select.POLLOUT)):
            for item in wanted:
                fd = item if isinstance(item, int) else item.fileno()
                if fd < 0:
                    raise ValueError("file descriptor cannot be a negative integer")
                masks[fd] = masks.get(fd, 0) | mask
                objects[fd] = item
        poller = select.poll()
        for fd, mask in masks.items():
            poller.register(fd, mask)
        ready = poller.poll(None if timeout is None else timeout * 1000)
        failed = select.POLLERR | select.POLLHUP | select.POLLNVAL  # select says "ready" too
        readable = [objects[fd] for fd, ev in ready
                    if masks[fd] & select.POLLIN and ev & (select.POLLIN | failed)]
        writable = [objects[fd] for fd, ev in ready
                    if masks[fd] & select.POLLOUT and ev & (select.POLLOUT | failed)]
        return readable, writable, []
