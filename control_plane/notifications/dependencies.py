"""FastAPI dependencies of notifications: the app's SMS backend and the limits of phone
confirmation codes (made in `app.py`, read from `app.state`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from control_plane.notifications import phones
from control_plane.notifications.catalog import Channel
from control_plane.notifications.channels.base import ChannelBackend


async def get_sms_backend(request: Request) -> ChannelBackend:
    """The app's SMS backend (made with the other channels in `app.py`)."""
    backend: ChannelBackend = request.app.state.channels[Channel.sms]
    return backend


SmsBackend = Annotated[ChannelBackend, Depends(get_sms_backend)]


async def get_code_limits(request: Request) -> phones.CodeLimits:
    """Confirmation codes asked for, per user and per number (counted in the database)."""
    found: phones.CodeLimits = request.app.state.phone_code_limiter
    return found


CodeLimiter = Annotated[phones.CodeLimits, Depends(get_code_limits)]
