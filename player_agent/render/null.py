"""A renderer that shows nothing and keeps perfect time: for simulated fleets and for tests.

It behaves like a real one where the agent can tell: an item is "playing" when started, "ended"
after its duration, its position advances meanwhile, a missing file is an error, and a
screenshot is a real PNG naming what plays. `hang()` makes it stop advancing, as a wedged
decoder would, so the watchdog can be shown to work.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

from player_agent.render.base import Event, Playable


class NullPlayer:
    """Plays in name only, on timers."""

    def __init__(self) -> None:
        self._events: queue.Queue[Event] = queue.Queue()
        self._lock = threading.Lock()
        self._token = 0
        self._current: Playable | None = None
        self._started_mono = 0.0
        self._timer: threading.Timer | None = None
        self._hung_at: float | None = None
        self.preloaded: Playable | None = None
        self.restarts = 0

    def _emit(self, kind: str, token: int) -> None:
        with self._lock:
            if token != self._token:
                return  # an item replaced before its timer fired
        self._events.put(Event(kind, token, time.time(), time.monotonic()))  # type: ignore[arg-type]

    def preload(self, item: Playable) -> None:
        """Nothing to load; remembered so tests can see what comes next."""
        self.preloaded = item

    def start(self, item: Playable) -> int:
        """Start `item`: playing now, ended after its duration."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._token += 1
            token = self._token
            self._current, self._started_mono, self._hung_at = item, time.monotonic(), None
        if not item.path.is_file():
            self._emit("error", token)
            return token
        self._emit("playing", token)
        self._timer = threading.Timer(item.duration_s, self._emit, ("ended", token))
        self._timer.daemon = True
        self._timer.start()
        return token

    def next_event(self, timeout_s: float) -> Event | None:
        """The next event, or None after `timeout_s`."""
        try:
            return self._events.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def position_ms(self) -> int | None:
        """Milliseconds since the current item started (frozen once hung)."""
        with self._lock:
            if self._current is None:
                return None
            now = self._hung_at if self._hung_at is not None else time.monotonic()
            return int((now - self._started_mono) * 1000)

    def hang(self) -> None:
        """Stop advancing and never end, like a wedged decoder."""
        with self._lock:
            self._hung_at = time.monotonic()
            if self._timer is not None:
                self._timer.cancel()

    def snapshot(self, path: Path) -> bool:
        """A PNG that says what plays."""
        from PIL import Image, ImageDraw  # only for a screenshot: a simulated unit never loads it

        with self._lock:
            label = self._current.label if self._current else "nothing playing"
        image = Image.new("RGB", (640, 360), (20, 20, 30))
        ImageDraw.Draw(image).text((20, 20), f"null renderer\n{label}", fill=(230, 230, 230))
        image.save(path, format="PNG")
        return True

    def restart(self) -> None:
        """Forget the current item."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._token += 1
            self._current = None
            self.restarts += 1

    def close(self) -> None:
        """Stop the timer."""
        self.restart()
