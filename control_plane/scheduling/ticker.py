"""The scheduler role: asks for a rebuild on the hour, so pacing follows delivery.

Even pacing spreads what is left of a budget over what is left of a flight; both change every
hour, so every screen's plan is rebuilt once an hour even when nobody changed anything. `adsbin
serve` runs this in a thread unless `ADSBIN_RUN_SCHEDULER=false`; `adsbin scheduler` runs it on
its own. Several schedulers at once only coalesce into the same rebuild.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.orm import Session, sessionmaker

from control_plane import events
from control_plane.jobs.queue import JobQueue
from control_plane.scheduling import service as scheduling_service

log = logging.getLogger(__name__)


def seconds_to_next(interval_s: float, now: float | None = None) -> float:
    """Seconds until the next multiple of `interval_s` (the top of the hour, for 3600)."""
    now = time.time() if now is None else now
    return interval_s - (now % interval_s)


class Ticker:
    """Requests a rebuild of every screen every `interval_s`, aligned to the clock."""

    def __init__(self, sessions: sessionmaker[Session], queue: JobQueue, *,
                 interval_s: float, minor_interval_s: float | None = None) -> None:
        self.sessions = sessions
        self.queue = queue
        self.interval_s = interval_s
        # between the ticks, the jobs other domains asked for every minute (an offline
        # screen's alert should not wait for the hour)
        self.minor_interval_s = min(minor_interval_s or interval_s, interval_s)
        self.ticks = 0
        self.minor_ticks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        """Ask for one rebuild now (and deliver domain events whose delivery was lost, and
        queue the jobs other domains asked to run every hour)."""
        with self.sessions() as session:
            scheduling_service.request_rebuild(session=session, queue=self.queue)
        events.sweep(self.queue)
        self.queue.requeue_abandoned()
        for kind in self.queue.kinds.hourly:  # other domains' hourly work (billing, payouts)
            self.queue.enqueue_once(kind)
        self.ticks += 1

    def minor_tick(self) -> None:
        """Queue again the jobs a dead process left running, and the jobs other domains
        asked to run every minute."""
        self.queue.requeue_abandoned()
        for kind in self.queue.kinds.frequent:
            self.queue.enqueue_once(kind)
        self.minor_ticks += 1

    def run(self) -> None:
        """Tick on every interval boundary (and minor tick on every minor one) until
        stopped."""
        while not self._stop.wait(seconds_to_next(self.minor_interval_s)):
            major = seconds_to_next(self.interval_s) >= self.interval_s - self.minor_interval_s
            try:
                if major:
                    self.tick()
                else:
                    self.minor_tick()
            except Exception:  # a database hiccup must not end the ticks
                log.exception("the scheduling tick failed; trying again next time")

    def start(self) -> None:
        """Run in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name="adsbin-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
