"""Errors of the engagement domain."""

from __future__ import annotations

from control_plane.errors import Invalid, NotFound


class TrackedLinkNotFound(NotFound):
    code = "tracked_link_not_found"


class InvalidLandingUrl(Invalid):
    code = "invalid_landing_url"
