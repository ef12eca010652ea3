"""What to play next, from the playlist and the time (pure: no I/O, no clock of its own).

Inside a window, items play in loop order, back to back. The position is anchored on the clock
only when it has to be — at start-up, on entering a new window, or when a new playlist is
swapped in — by finding the slot of the loop the clock is in (the loop repeats from the
window's start). Outside the timeline, or when the horizon has run out, the house items rotate.
Items whose file is not playable are skipped; when nothing is playable the caller shows its
built-in card.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.playlist import Playlist, PlaylistItem, PlaylistWindow


@dataclass(frozen=True)
class Cursor:
    """Where in which playlist the last item came from."""

    version: str
    window_start: datetime | None  # None: the house rotation
    index: int


def window_at(playlist: Playlist, now: datetime) -> PlaylistWindow | None:
    """The window playing at `now`, if any (none past the playlist's horizon)."""
    if now >= playlist.valid_until:
        return None
    for window in playlist.timeline:
        if window.start <= now < window.end:
            return window
    return None


def index_at(window: PlaylistWindow, now: datetime, slot_s: int) -> int:
    """The item whose slots the clock is in, counting loops from the window's start."""
    lengths = [max(item.slots, 1) * slot_s for item in window.loop]
    loop_s = sum(lengths)
    if loop_s <= 0:
        return 0
    offset = (now - window.start).total_seconds() % loop_s
    for index, length in enumerate(lengths):
        if offset < length:
            return index
        offset -= length
    return len(lengths) - 1


def _first_playable(items: list[PlaylistItem], start: int,
                    playable: set[str]) -> int | None:
    for step in range(len(items)):
        index = (start + step) % len(items)
        if items[index].media_sha256 in playable:
            return index
    return None


def next_item(playlist: Playlist | None, now: datetime, cursor: Cursor | None,
              playable: set[str]) -> tuple[PlaylistItem | None, Cursor | None]:
    """The item to play after `cursor` at `now`, and the new cursor; (None, None): show a card."""
    if playlist is None:
        return None, None
    window = window_at(playlist, now)
    if window is not None and window.loop:
        same = (cursor is not None and cursor.version == playlist.version
                and cursor.window_start == window.start)
        start = cursor.index + 1 if same and cursor else index_at(window, now, playlist.slot_s)
        index = _first_playable(window.loop, start, playable)
        if index is not None:
            return window.loop[index], Cursor(playlist.version, window.start, index)
    if playlist.house:
        same = (cursor is not None and cursor.version == playlist.version
                and cursor.window_start is None)
        index = _first_playable(playlist.house, cursor.index + 1 if same and cursor else 0,
                                playable)
        if index is not None:
            return playlist.house[index], Cursor(playlist.version, None, index)
    return None, None


def horizon_left_s(playlist: Playlist | None, now: datetime) -> float:
    """Seconds of schedule the agent holds from `now` (0 when it has run out)."""
    if playlist is None:
        return 0.0
    return max(0.0, (playlist.valid_until - now).total_seconds())
