"""python-vlc behind `MediaPlayer`: two libvlc players taking turns, so the next item is opened
while the current one plays, and the switch costs only starting an already-parsed file.

The new item starts on the idle player; the old one is stopped only once the new one reports
"playing", so a display always has a picture on it. libvlc calls our event handlers on its own
threads, where calling back into libvlc can deadlock: the handlers only queue events, and all
control (including stopping the old player) happens on the playback thread in `next_event`.

Headless (no display): `--intf=dummy --vout=dummy --aout=dummy`; snapshots still work there.
With a display: fullscreen, no title overlay, the mouse hidden, rotated by the transform filter.
"""

from __future__ import annotations

import ctypes
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from player_agent.render.base import Event, Playable, RendererUnavailable

HEADLESS_OPTIONS = ("--intf=dummy", "--vout=dummy", "--aout=dummy")
# Every file plays from the local cache, so a tenth of a second of input caching is plenty;
# libvlc's default (1 s, for network streams) keeps about a second of decoded frames queued,
# some 30 × 3 MB at 1080p (bench_agent.py: 234 → 188 MB resident while playing)
COMMON_OPTIONS = ("--quiet", "--no-video-title-show", "--no-snapshot-preview",
                  "--no-osd", "--mouse-hide-timeout=0", "--file-caching=100")
PARSE_TIMEOUT_MS = 2000
# glibc serves an allocation of 128 KiB or more with mmap and gives it back when it is freed, but a
# freed mmapped block raises that threshold to its own size: from then on decoded frames (3 MB at
# 1080p) come from the malloc arenas of libvlc's decoder threads, which keep what is freed there,
# and with two players taking turns the agent grew without bound (bench_agent.py --minutes:
# 212 → 341 MB in 30 minutes, where a bare player went 182 → 189). A threshold set once stays put:
# frames live in mmap and go back to the system (3 minutes side by side: 173 → 222 MB as before,
# 133 → 139 MB with it).
FRAME_MMAP_THRESHOLD_BYTES = 1024 * 1024
M_MMAP_THRESHOLD = -3  # glibc's malloc.h

log = logging.getLogger(__name__)


def vlc_options(*, headless: bool, rotation_deg: int, extra: list[str]) -> list[str]:
    """The libvlc options for this display."""
    options = [*COMMON_OPTIONS, *(HEADLESS_OPTIONS if headless else ("--fullscreen",))]
    if rotation_deg:
        options += ["--video-filter=transform", f"--transform-type={rotation_deg}"]
    return options + list(extra)


def _frames_in_mmap() -> None:
    """Have glibc serve large blocks (decoded frames) with mmap for good; elsewhere, nothing."""
    try:
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, FRAME_MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):  # not glibc: its allocator has no such threshold
        log.debug("mallopt is not available: frames stay where the allocator puts them")


class VlcPlayer:
    """Gapless playback with two libvlc media players taking turns."""

    def __init__(self, *, headless: bool, rotation_deg: int = 0,
                 extra_options: list[str] | None = None) -> None:
        try:
            import vlc
        except (ImportError, OSError) as exc:
            raise RendererUnavailable(f"libvlc is missing ({exc}): apt install libvlc5 "
                                      "vlc-plugin-base") from exc
        self._vlc: Any = vlc
        _frames_in_mmap()
        self.headless = headless
        self.options = vlc_options(headless=headless, rotation_deg=rotation_deg,
                                   extra=extra_options or [])
        self._events: queue.Queue[Event] = queue.Queue()
        self._lock = threading.Lock()
        self._token = 0
        self._build()

    def _build(self) -> None:
        vlc = self._vlc
        self._instance = vlc.Instance(self.options)
        if self._instance is None:
            raise RendererUnavailable("libvlc did not start (plugins missing?): apt install "
                                      "vlc-plugin-base")
        self._players = [self._instance.media_player_new() for _ in range(2)]
        self._tokens = [0, 0]
        self._active: int | None = None
        self._retiring: int | None = None  # the old player, stopped once the new one plays
        self._preloaded: tuple[int, Playable] | None = None
        for index, player in enumerate(self._players):
            manager = player.event_manager()
            for vlc_event, kind in ((vlc.EventType.MediaPlayerPlaying, "playing"),
                                    (vlc.EventType.MediaPlayerEndReached, "ended"),
                                    (vlc.EventType.MediaPlayerEncounteredError, "error")):
                manager.event_attach(vlc_event, self._handler(index, kind))
            if not self.headless:
                player.set_fullscreen(True)

    def _handler(self, index: int, kind: str) -> Callable[[Any], None]:
        def queue_it(_event: Any) -> None:  # on a libvlc thread: queue, nothing more
            self._events.put(Event(kind, self._tokens[index], time.time(),  # type: ignore[arg-type]
                                   time.monotonic()))
        return queue_it

    def _media(self, item: Playable) -> Any:
        media = self._instance.media_new_path(str(item.path))
        if item.kind == "image":
            media.add_option(f":image-duration={item.duration_s:g}")
        media.parse_with_options(self._vlc.MediaParseFlag.local, PARSE_TIMEOUT_MS)
        return media

    def _idle(self) -> int:
        return 0 if self._active is None else 1 - self._active

    def preload(self, item: Playable) -> None:
        """Open `item` on the idle player, ready to start."""
        with self._lock:
            idle = self._idle()
            if idle == self._retiring:
                self._players[idle].stop()
                self._retiring = None
            self._players[idle].set_media(self._media(item))
            self._preloaded = (idle, item)

    def start(self, item: Playable) -> int:
        """Start `item` on the idle player (at once if it was preloaded); its token."""
        with self._lock:
            idle = self._idle()
            if self._preloaded != (idle, item):
                if idle == self._retiring:
                    self._players[idle].stop()
                self._players[idle].set_media(self._media(item))
            self._preloaded = None
            self._token += 1
            self._tokens[idle] = self._token
            self._retiring, self._active = self._active, idle
            if self._players[idle].play() == -1:
                self._events.put(Event("error", self._token, time.time(), time.monotonic()))
            return self._token

    def next_event(self, timeout_s: float) -> Event | None:
        """The next event; the old player is stopped once the new one plays."""
        try:
            event = self._events.get(timeout=timeout_s)
        except queue.Empty:
            return None
        if event.kind == "playing" and event.token == self._token:
            with self._lock:
                if self._retiring is not None:
                    self._players[self._retiring].stop()
                    self._tokens[self._retiring] = 0
                    self._retiring = None
        return event

    def position_ms(self) -> int | None:
        """libvlc's time of the active player (it advances for still images too)."""
        with self._lock:
            if self._active is None:
                return None
            t = self._players[self._active].get_time()
        return None if t is None or t < 0 else int(t)

    def snapshot(self, path: Path) -> bool:
        """A PNG of the active player's current picture."""
        with self._lock:
            if self._active is None:
                return False
            done = self._players[self._active].video_take_snapshot(0, str(path), 0, 0)
        return bool(done == 0 and path.is_file() and path.stat().st_size > 0)

    def restart(self) -> None:
        """Release libvlc entirely and start a fresh instance."""
        log.warning("restarting the VLC renderer")
        self._release()
        with self._lock:
            self._token += 1
            self._build()

    def _release(self) -> None:
        with self._lock:
            for player in self._players:
                player.stop()
                player.release()
            self._instance.release()

    def close(self) -> None:
        """Stop and free libvlc."""
        self._release()
