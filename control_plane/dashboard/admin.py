"""The super-admin's pages: the review queue, organisations and users, the fleet, the system,
the revenue-share policy, billing and payouts."""

from __future__ import annotations

from fastapi import APIRouter

from control_plane.dashboard.web import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)
