"""The venue owner's and technician's pages: venues, screens (live status, remote commands,
the timeline), pairing, moderation, house content, earnings."""

from __future__ import annotations

from fastapi import APIRouter

from control_plane.dashboard.web import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)
