"""The playlist a screen plays (`adsbin.playlist/v1`): written by the schedule worker to
`playlists/<screen_id>.json`, served to the device, announced over MQTT.

A timeline of windows, each with a loop of items played over and over from the window's start to
its end; the media list says what to download, by sha256, from a URL the device fetches with its
token. `version` is the sha256 of the canonical content (everything but `version` and
`generated_at`), so an unchanged schedule has an unchanged version and a poll costs a 304.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from shared.device import Wire

SCHEMA = "adsbin.playlist/v1"
# An item with this in place of a hash shows the agent's own built-in card (a venue with no house
# content); it has no file to fetch and no play to prove.
BUILTIN_CARD = "builtin:default-card"


class PlaylistMedia(Wire):
    """One file to have in the cache."""

    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    size_bytes: int = Field(ge=0)
    mime: str
    duration_ms: int | None = None
    url: str


class PlaylistItem(Wire):
    """One entry of a loop: a creative (or house content) for `slots` slots."""

    kind: Literal["campaign", "house"]
    campaign_id: str | None = None
    creative_id: str
    media_sha256: str
    duration_s: int
    slots: int


class PlaylistWindow(Wire):
    """From `start` to `end`, play `loop` again and again."""

    start: datetime
    end: datetime
    loop: list[PlaylistItem]


class Playlist(Wire):
    """What one screen plays over the horizon."""

    schema_: Literal["adsbin.playlist/v1"] = Field("adsbin.playlist/v1", alias="schema")
    screen_id: str
    version: str = ""
    generated_at: datetime
    valid_from: datetime
    valid_until: datetime
    loop_s: int
    slot_s: int
    media: list[PlaylistMedia]
    timeline: list[PlaylistWindow]
    house: list[PlaylistItem] = Field(default_factory=list,
                                      description="What to play outside the timeline")


def canonical(playlist: Playlist) -> bytes:
    """The bytes the version is the hash of: sorted keys, no whitespace, no volatile fields."""
    content: dict[str, Any] = playlist.model_dump(mode="json", by_alias=True,
                                                  exclude={"version", "generated_at"})
    return json.dumps(content, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def with_version(playlist: Playlist) -> Playlist:
    """The playlist with its `version` set from its content."""
    return playlist.model_copy(update={"version": hashlib.sha256(canonical(playlist))
                                       .hexdigest()})
