"""Everyone's own pages: profile, notification preferences and push, members and invitations,
API keys, the organisation to act in, a forgotten password."""

from __future__ import annotations

from fastapi import APIRouter

from control_plane.dashboard.web import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)
