"""Publishing a screen's playlist: to the object store when its content changed, then announced
on the screen's retained MQTT `playlist` topic.

The object at `playlists/<screen_id>.json` is the truth; the MQTT message (version and URL) only
makes a change reach an online screen in well under a second. Devices also poll
`GET /v1/device/playlist` with `If-None-Match`, so a lost message costs latency, not correctness.
"""

from __future__ import annotations

import json
import logging

from pydantic import ValidationError

from control_plane.ports import MqttPublisher
from control_plane.storage.base import ObjectStore
from control_plane.storage.exceptions import ObjectNotFound
from shared import topics
from shared.playlist import Playlist

log = logging.getLogger(__name__)
ANNOUNCE_SCHEMA = "adsbin.playlist-announce/v1"


def playlist_key(screen_id: str) -> str:
    """Where a screen's playlist is stored."""
    return f"playlists/{screen_id}.json"


def read(store: ObjectStore, screen_id: str) -> Playlist | None:
    """The screen's published playlist, or None if it has none (or it does not parse)."""
    try:
        raw = store.get(playlist_key(screen_id))
    except ObjectNotFound:
        return None
    try:
        return Playlist.model_validate_json(raw)
    except ValidationError:
        log.error("the stored playlist of %s does not parse; it will be rebuilt", screen_id)
        return None


def announcement(playlist: Playlist, public_url: str) -> bytes:
    """The retained MQTT message that tells a screen a new version exists."""
    return announcement_of(playlist.screen_id, playlist.version, public_url)


def announcement_of(screen_id: str, version: str, public_url: str) -> bytes:
    """The announcement of a screen's playlist by its version."""
    return json.dumps({"schema": ANNOUNCE_SCHEMA, "screen_id": screen_id, "version": version,
                       "url": f"{public_url}/v1/device/playlist"}, sort_keys=True).encode()


def publish(store: ObjectStore, bridge: MqttPublisher | None, playlist: Playlist, *,
            public_url: str) -> bool:
    """Store and announce the playlist if its version changed; whether it did."""
    current = read(store, playlist.screen_id)
    if current is not None and current.version == playlist.version:
        return False
    put(store, bridge, playlist, public_url=public_url)
    return True


def put(store: ObjectStore, bridge: MqttPublisher | None, playlist: Playlist, *,
        public_url: str) -> None:
    """Store and announce the playlist (the caller knows its version is new)."""
    body = playlist.model_dump_json(by_alias=True).encode()
    store.put(playlist_key(playlist.screen_id), body, content_type="application/json")
    if bridge is not None:
        bridge.publish(topics.playlist(playlist.screen_id), announcement(playlist, public_url),
                       qos=1, retain=True, wait_s=None)
