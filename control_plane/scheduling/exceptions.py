"""Errors of the scheduling domain."""

from __future__ import annotations

from control_plane.errors import NotFound


class NoPlaylist(NotFound):
    code = "no_playlist"


class PublishFailed(RuntimeError):
    """Some screens' playlists could not be written or announced; they are asked for again.

    Not an AppError: it never reaches a client, it makes the rebuild job fail and retry."""
