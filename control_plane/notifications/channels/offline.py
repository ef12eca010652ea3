"""A channel without its provider's key: it records the message it would have sent (the
`offline_messages` table, readable by super-admins, and the log) instead of sending."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from control_plane.notifications.channels.base import Message
from control_plane.notifications.models import OfflineMessage

log = logging.getLogger(__name__)


class OfflineChannel:
    """Records instead of sending; the same delivery recorded once."""

    name = "offline"
    idempotent = True

    def __init__(self, channel: str, sessions: sessionmaker[Session]) -> None:
        self.channel = channel
        self.sessions = sessions

    def send(self, message: Message) -> str:
        key = f"offline-{message.delivery_id}"
        with self.sessions() as session:
            found = session.scalar(select(OfflineMessage.id).where(OfflineMessage.id == key))
            if found is None:
                session.add(OfflineMessage(
                    id=key, channel=self.channel, to=message.to, subject=message.subject,
                    body=message.text, data={"link": message.link, "headers": message.headers}))
                session.commit()
        log.info("notifications offline: would have sent %s to %s: %s", self.channel,
                 message.to, message.subject)
        return key
