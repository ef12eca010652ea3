"""Errors of the scheduling domain."""

from __future__ import annotations

from control_plane.errors import NotFound


class NoPlaylist(NotFound):
    code = "no_playlist"
