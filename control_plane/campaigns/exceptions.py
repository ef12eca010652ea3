"""Errors of the campaigns domain."""

from __future__ import annotations

from control_plane.errors import Conflict, NotFound


class CampaignNotFound(NotFound):
    code = "campaign_not_found"


class InvalidTransition(Conflict):
    code = "invalid_transition"
