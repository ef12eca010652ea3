"""The renderer interface: start an item (preloaded when it can be), report when it really
started and ended, say how far it got, take a screenshot, start over when it hangs.

Events carry the wall-clock time they happened at (the renderer's own callback time, not when
the agent got round to reading them), so proof of play and the gap figures measure playback,
not the agent's loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol


class RendererUnavailable(RuntimeError):
    """The renderer cannot run here (libvlc missing, no plugins)."""


@dataclass(frozen=True)
class Playable:
    """A local file to show: an image for `duration_s`, or a video to its end."""

    path: Path
    kind: Literal["image", "video"]
    duration_s: float
    label: str = ""


@dataclass(frozen=True)
class Event:
    """Something the renderer saw happen to the item started as `token`."""

    kind: Literal["playing", "ended", "error"]
    token: int
    wall_s: float  # time.time() when it happened
    mono_s: float  # time.monotonic() when it happened


class MediaPlayer(Protocol):
    """What the playback loop needs of a renderer."""

    def preload(self, item: Playable) -> None:
        """Get `item` ready so that starting it next is immediate."""

    def start(self, item: Playable) -> int:
        """Start `item` now (replacing what plays once it is up); its token."""

    def next_event(self, timeout_s: float) -> Event | None:
        """The next event, or None after `timeout_s`."""

    def position_ms(self) -> int | None:
        """How far the current item has played, if anything plays."""

    def snapshot(self, path: Path) -> bool:
        """Write a PNG of what is on screen to `path`; whether it worked."""

    def restart(self) -> None:
        """Throw the renderer away and make a new one (the watchdog's remedy)."""

    def close(self) -> None:
        """Stop playing and free everything."""
