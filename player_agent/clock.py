"""The device clock, corrected by the offset measured against the control plane.

Display units often boot without a good clock (no RTC battery, NTP blocked by the venue's
network). Proof of play must carry true UTC, so every time the agent writes is the local clock
plus an offset measured from the server's answers (midpoint of the round trip, as NTP does).
The last offset is kept on disk, so a restart without network still corrects the clock.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from player_agent.state import write_atomic

MAX_TRUSTED_RTT_S = 5.0  # a slower round trip says little about the offset


class Clock:
    """UTC now, corrected; and the offset in milliseconds that corrects it."""

    def __init__(self, offset_file: Path | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self._file = offset_file
        self._wall = wall
        self._lock = threading.Lock()
        self._offset_ms = 0
        self.measured_at: float | None = None
        if offset_file is not None:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                self._offset_ms = int(json.loads(offset_file.read_text())["offset_ms"])

    @property
    def offset_ms(self) -> int:
        """Server time minus device time, in milliseconds."""
        with self._lock:
            return self._offset_ms

    def now(self) -> datetime:
        """The corrected time (UTC)."""
        return datetime.fromtimestamp(self._wall(), UTC) + timedelta(milliseconds=self.offset_ms)

    def to_utc(self, wall_s: float, offset_ms: int | None = None) -> datetime:
        """A local `time.time()` reading, corrected (by `offset_ms` if given, else the offset
        now)."""
        offset = self.offset_ms if offset_ms is None else offset_ms
        return datetime.fromtimestamp(wall_s, UTC) + timedelta(milliseconds=offset)

    def measure(self, ask_server: Callable[[], datetime]) -> int:
        """Ask the server for its time and update the offset; the new offset in ms."""
        sent = self._wall()
        server = ask_server()
        received = self._wall()
        if received - sent > MAX_TRUSTED_RTT_S:
            return self.offset_ms
        midpoint = (sent + received) / 2
        offset = round((server.timestamp() - midpoint) * 1000)
        with self._lock:
            self._offset_ms = offset
            self.measured_at = received
        if self._file is not None:
            with contextlib.suppress(OSError):  # a full disk: kept in memory until it has room
                write_atomic(self._file, json.dumps({"offset_ms": offset}).encode(), mode=0o644)
        return offset
