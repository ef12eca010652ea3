"""Remote commands to screens: queued, published QoS 1 with an id and a TTL, acknowledged.

A command is `queued` until the device says it received it (`delivered`), then `acked` or
`failed` when it has run; one nobody acknowledged before its TTL is `expired`. Acks come over
MQTT (the screen's `acks` topic) or HTTP, through the same function. A screenshot command carries
a signed upload URL; its ack links the picture, which the screen then shows as its latest.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.db import utcnow
from control_plane.devices.exceptions import CommandFinished, CommandNotFound
from control_plane.devices.models import Command
from control_plane.devices.schemas import CommandRead
from control_plane.storage.base import ObjectStore
from shared.device import Command as CommandMessage
from shared.device import CommandAck, CommandType

UPLOAD_URL_TTL_S = 600
SCREENSHOT_URL_TTL_S = 3600
FINAL = ("acked", "failed", "expired")


def screenshot_key(command: Command) -> str:
    """Where a screenshot command's picture is uploaded."""
    return f"screenshots/{command.screen_id}/{command.id}.png"


def create(*, session: Session, screen_id: str, device_id: str, type: CommandType,
           ttl_s: int, user_id: str | None) -> Command:
    """A queued command for the screen's device; committed."""
    command = Command(screen_id=screen_id, device_id=device_id, type=type, created_by=user_id,
                      expires_at=utcnow() + timedelta(seconds=ttl_s))
    session.add(command)
    session.flush()
    if type == "screenshot":
        command.screenshot_key = screenshot_key(command)
    session.commit()
    return command


def message(command: Command, store: ObjectStore,
            screen_name: str | None = None) -> CommandMessage:
    """What the device receives for a command (identify also carries the screen's name)."""
    upload_url = store.signed_url(command.screenshot_key, method="PUT",
                                  content_type="image/png",
                                  expires_in_s=UPLOAD_URL_TTL_S) if command.screenshot_key else None
    return CommandMessage(id=command.id, type=command.type,
                          expires_at=command.expires_at, upload_url=upload_url,
                          screen_name=screen_name if command.type == "identify" else None)


def expire_due(session: Session, command: Command) -> Command:
    """Mark the command expired if its TTL passed unacknowledged (committed if so)."""
    if command.status not in FINAL and command.expires_at <= utcnow():
        command.status = "expired"
        command.finished_at = utcnow()
        session.commit()
    return command


def get(*, session: Session, command_id: str) -> Command:
    """The command (expired first if due), or `CommandNotFound`."""
    command = session.get(Command, command_id)
    if command is None:
        raise CommandNotFound("command not found")
    return expire_due(session, command)


def pending(*, session: Session, device_id: str) -> list[Command]:
    """The device's commands still to run, oldest first (the HTTP poll fallback)."""
    commands = session.scalars(select(Command).where(
        Command.device_id == device_id, Command.status.in_(("queued", "delivered")))
        .order_by(Command.created_at, Command.id)).all()
    return [c for c in commands if expire_due(session, c).status not in FINAL]


def acknowledge(*, session: Session, device_id: str, ack: CommandAck,
                store: ObjectStore) -> Command:
    """Apply a device's ack (MQTT or HTTP) to its own command; committed."""
    command = session.get(Command, ack.command_id)
    if command is None or command.device_id != device_id:
        raise CommandNotFound("command not found")
    expire_due(session, command)
    if command.status in FINAL:
        if command.status == ack.status:
            return command  # a repeated ack (QoS 1 may deliver twice) changes nothing
        raise CommandFinished(f"this command is {command.status} already",
                              details={"status": command.status})
    now = utcnow()
    if ack.status == "delivered":
        command.status = "delivered"
        command.delivered_at = command.delivered_at or now
    else:
        if command.screenshot_key and ack.status == "acked" \
                and not store.exists(command.screenshot_key):
            ack = ack.model_copy(update={"status": "failed",
                                         "result": "the screenshot was not uploaded"})
        command.status = ack.status
        command.delivered_at = command.delivered_at or now
        command.finished_at = now
        command.result = ack.result
        command.details = ack.details or {}
    session.commit()
    return command


def latest_screenshot(*, session: Session, screen_id: str) -> Command | None:
    """The screen's newest acknowledged screenshot, if any."""
    return session.scalar(select(Command).where(
        Command.screen_id == screen_id, Command.type == "screenshot", Command.status == "acked")
        .order_by(Command.finished_at.desc(), Command.id.desc()).limit(1))


def read(command: Command, store: ObjectStore) -> CommandRead:
    """The API shape of a command (an acked screenshot with a signed URL of its picture)."""
    url = (store.signed_url(command.screenshot_key, expires_in_s=SCREENSHOT_URL_TTL_S)
           if command.screenshot_key and command.status == "acked" else None)
    return CommandRead(id=command.id, screen_id=command.screen_id, type=command.type,
                       status=command.status, created_at=command.created_at,
                       expires_at=command.expires_at, delivered_at=command.delivered_at,
                       finished_at=command.finished_at, result=command.result,
                       details=command.details, screenshot_url=url)


def recent(*, session: Session, screen_id: str, limit: int = 10) -> list[Command]:
    """The screen's latest commands, newest first (each expired first if due)."""
    commands = session.scalars(select(Command).where(Command.screen_id == screen_id)
                               .order_by(Command.created_at.desc(), Command.id.desc())
                               .limit(limit)).all()
    return [expire_due(session, c) for c in commands]
