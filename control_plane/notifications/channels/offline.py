"""A channel without its provider's key: it records the message it would have sent (the
`offline_messages` table, readable by super-admins, and the log) instead of sending. It takes
batches too, as the email channel does, so a fan-out without Resend's key follows the same path
as one with it."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from control_plane.notifications.channels.base import Message, Refused
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
        return self._record([message])[0]

    def send_batch(self, messages: Sequence[Message], *, key: str) -> list[str | Refused]:
        """Record them all (in one transaction); none is refused."""
        return list(self._record(messages))

    def _record(self, messages: Sequence[Message]) -> list[str]:
        keys = [f"offline-{m.delivery_id}" for m in messages]
        with self.sessions() as session:
            found = set(session.scalars(select(OfflineMessage.id).where(
                OfflineMessage.id.in_(keys))))
            for key, message in zip(keys, messages, strict=True):
                if key not in found:
                    found.add(key)
                    session.add(OfflineMessage(
                        id=key, channel=self.channel, to=message.to, subject=message.subject,
                        body=message.text,
                        data={"link": message.link, "headers": message.headers}))
            session.commit()
        for message in messages:
            log.info("notifications offline: would have sent %s to %s: %s", self.channel,
                     message.to, message.subject)
        return keys
