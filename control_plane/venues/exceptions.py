"""Errors of the venues domain."""

from __future__ import annotations

from control_plane.errors import NotFound


class VenueNotFound(NotFound):
    code = "venue_not_found"


class ScreenNotFound(NotFound):
    code = "screen_not_found"
