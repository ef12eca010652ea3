"""From a screen's plan to the playlist it plays (`adsbin.playlist/v1`).

Each creative is played from its rendition sized for the screen (else the original): `Files`
works that out once per media and size for the whole build, not once per item. Windows that
follow one another with the same loop go out as one when the first lasts a whole number of
loops: the agent plays the loop on across the boundary exactly as it would have restarted it
there (`player_agent/schedule.py` counts loops from a window's start), so nothing plays
differently, and an always-open screen's 48 hourly windows of the same loop are one window to
hash, store and download.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from control_plane.db import utcnow
from control_plane.media.service import Media
from control_plane.scheduling.inputs import DEFAULT_CARD_SHA256, Params
from control_plane.scheduling.plan import ScreenPlan, SlotItem, Window
from shared.playlist import Playlist, PlaylistItem, PlaylistMedia, PlaylistWindow, with_version


class Files:
    """The file each media is played from at each display size, worked out once per build."""

    def __init__(self, media: Mapping[str, Media], public_url: str) -> None:
        self.media = media
        self.public_url = public_url
        self._found: dict[tuple[str, int, int], PlaylistMedia] = {}

    def get(self, media_id: str, width: int, height: int) -> PlaylistMedia:
        """The rendition of `media_id` for a `width` × `height` display, else the original."""
        key = (media_id, width, height)
        found = self._found.get(key)
        if found is None:
            media = self.media[media_id]
            name = f"{width}x{height}-{media.fit}"
            rendition = next((r for r in media.renditions if r.name == name), None)
            sha, size, mime, duration = (
                (rendition.sha256, rendition.size_bytes, rendition.mime, rendition.duration_ms)
                if rendition else (media.sha256, media.size_bytes, media.mime,
                                   media.info.get("duration_ms")))
            found = self._found[key] = PlaylistMedia(
                sha256=sha, size_bytes=size, mime=mime, duration_ms=duration,
                url=f"{self.public_url}/v1/device/media/{sha}")
        return found


def merged(windows: Sequence[Window], slot_s: int
           ) -> list[tuple[datetime, datetime, tuple[SlotItem, ...]]]:
    """(start, end, loop) of the windows, those that follow one another with the same loop as
    one where the first lasts a whole number of loops (as the agent counts a loop's length)."""
    out: list[tuple[datetime, datetime, tuple[SlotItem, ...]]] = []
    length_s = 0  # of the last one's loop
    for window in windows:
        if out:
            start, end, loop = out[-1]
            if (end == window.start and loop == window.loop and length_s
                    and (end - start).total_seconds() % length_s == 0):
                out[-1] = (start, window.end, loop)
                continue
        out.append((window.start, window.end, window.loop))
        length_s = sum(max(item.slots, 1) for item in window.loop) * slot_s
    return out


def to_playlist(plan: ScreenPlan, screen_id: str, size: tuple[int, int], files: Files,
                params: Params) -> Playlist:
    """The playlist of one screen of display `size`: each creative's rendition sized for it."""
    used: dict[str, PlaylistMedia] = {}
    items: dict[SlotItem, PlaylistItem] = {}

    def item_for(item: SlotItem) -> PlaylistItem:
        found = items.get(item)
        if found is None:
            sha = item.media_sha256
            if sha != DEFAULT_CARD_SHA256:
                file = files.get(item.media_sha256, *size)
                sha = used.setdefault(file.sha256, file).sha256
            found = items[item] = PlaylistItem(
                kind=item.kind, campaign_id=item.campaign_id, creative_id=item.creative_id,
                media_sha256=sha, duration_s=item.duration_s, slots=item.slots)
        return found

    timeline = [PlaylistWindow(start=start, end=end, loop=[item_for(i) for i in loop])
                for start, end, loop in merged(plan.windows, params.slot_s)]
    start = params.now.replace(minute=0, second=0, microsecond=0)
    return with_version(Playlist(
        screen_id=screen_id, generated_at=utcnow(), valid_from=start,
        valid_until=start + timedelta(hours=params.horizon_h), loop_s=params.loop_s,
        slot_s=params.slot_s, media=sorted(used.values(), key=lambda m: m.sha256),
        timeline=timeline))
