"""A screen's published playlist: kept in the database beside its plan (`screen_plans`), and
announced on the screen's retained MQTT `playlist` topic.

The row is the truth; the MQTT message (version and URL) only makes a change reach an online
screen in well under a second. Devices also poll `GET /v1/device/playlist` with
`If-None-Match`, so a lost message costs latency, not correctness.

Playlists live in the database, not as one object each in the object store: a build writes a
thousand of them in one statement, in the transaction that keeps their plans, where a thousand
files (or S3 PUTs) took seconds; and an API process answers a device's poll from one row.
"""

from __future__ import annotations

import json
import logging
import zlib
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.scheduling.models import ScreenPlanRow
from shared.playlist import Playlist

log = logging.getLogger(__name__)
ANNOUNCE_SCHEMA = "adsbin.playlist-announce/v1"


@dataclass(frozen=True)
class Published:
    """A screen's playlist as it was published: its version and its JSON (zlib)."""

    version: str
    stored: bytes

    @property
    def body(self) -> bytes:
        """The playlist's JSON, as served."""
        return zlib.decompress(self.stored)

    def playlist(self) -> Playlist | None:
        """The playlist parsed (None if it does not parse)."""
        try:
            return Playlist.model_validate_json(self.body)
        except ValidationError:
            log.error("a stored playlist of version %s does not parse", self.version)
            return None


def body_of(playlist: Playlist) -> bytes:
    """What is stored of a playlist (and served as it is)."""
    return zlib.compress(playlist.model_dump_json(by_alias=True).encode(), 1)


def read(*, session: Session, screen_id: str) -> Published | None:
    """The screen's published playlist, or None if it has none."""
    found = session.execute(select(ScreenPlanRow.version, ScreenPlanRow.playlist_zlib)
                            .where(ScreenPlanRow.screen_id == screen_id)).first()
    if found is None or found.playlist_zlib is None:
        return None
    return Published(found.version, found.playlist_zlib)


def announcement_of(screen_id: str, version: str, public_url: str) -> bytes:
    """The announcement of a screen's playlist by its version."""
    return json.dumps({"schema": ANNOUNCE_SCHEMA, "screen_id": screen_id, "version": version,
                       "url": f"{public_url}/v1/device/playlist"}, sort_keys=True).encode()
