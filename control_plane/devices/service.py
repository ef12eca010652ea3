"""Pairing display units to screens, their credentials, and what their heartbeats say.

An unpaired agent asks for a code (short, unambiguous: no 0/O, 1/I) and shows it; a venue admin
or technician claims it for a screen; the agent's next poll receives, once, its device id, a
device token and broker credentials. Only hashes of the token are stored; the broker keeps its
own hash of the MQTT password. Unpairing revokes both at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select, update
from sqlalchemy.orm import Session

from control_plane import events
from control_plane.auth.ratelimit import SlidingWindowLimiter
from control_plane.db import utcnow
from control_plane.devices.accounts import BrokerAccounts
from control_plane.devices.exceptions import (
    NotPaired,
    PairingCodeExpired,
    PairingCodeUnknown,
    PairingCodeUsed,
    PairingNotFound,
    ScreenAlreadyPaired,
)
from control_plane.devices.models import Device as Device
from control_plane.devices.models import DeviceStatus, Pairing
from control_plane.errors import RateLimited, Unauthenticated
from shared.device import Heartbeat, MqttCredentials, PairingRequest, PairingStatus

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, no 1/I
CODE_LENGTH = 6
POLL_AFTER_S = 3
DEVICE_TOKEN_PREFIX = "adsd_"  # noqa: S105 - a marker, not a secret
OFFLINE_AFTER_INTERVALS = 1.5
# A device not heard from for this long is away: the schedule stops counting on its screen
# (scheduling's dormancy), and when it is heard from again its screen is back (`ScreenBack`).
ABSENT_AFTER = timedelta(hours=1)


def normalize_code(code: str) -> str:
    """The code as stored (`K7P-4QX`), from whatever a person typed (`k7p 4qx`)."""
    raw = "".join(c for c in code.upper() if c.isalnum())
    return f"{raw[:3]}-{raw[3:]}" if len(raw) == CODE_LENGTH else raw


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def request_pairing(*, session: Session, request: PairingRequest, ttl_s: int) -> Pairing:
    """A new pairing code for an unpaired agent; committed."""
    for _ in range(10):
        code = normalize_code("".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)))
        if session.scalar(select(Pairing.id).where(Pairing.code == code)) is None:
            break
    else:  # pragma: no cover - a billion codes; ten collisions in a row means a broken RNG
        raise RuntimeError("could not find a free pairing code")
    pairing = Pairing(id=f"pair_{secrets.token_urlsafe(24)}", code=code,
                      fingerprint=request.fingerprint, public_key=request.public_key,
                      display=request.display.model_dump(), agent_version=request.agent_version,
                      expires_at=utcnow() + timedelta(seconds=ttl_s))
    session.add(pairing)
    session.commit()
    return pairing


def active_device(*, session: Session, screen_id: str) -> Device | None:
    """The device paired to the screen now, if any."""
    return session.scalar(select(Device).where(Device.screen_id == screen_id,
                                               Device.status == DeviceStatus.active))


def claim(*, session: Session, code: str, screen_id: str, org_id: str,
          user_id: str | None) -> Device:
    """Pair the agent showing `code` to the screen; the new device. Committed.

    Distinct errors for an unknown, expired or used code and for a screen already paired; the
    claim is a conditional update, so two people claiming one code cannot both win.
    """
    pairing = session.scalar(select(Pairing).where(Pairing.code == normalize_code(code)))
    if pairing is None:
        raise PairingCodeUnknown("no agent is showing this code; check the screen and retype it")
    if pairing.claimed_at is not None:
        raise PairingCodeUsed("this code was used already; restart the agent for a new one")
    if pairing.expires_at <= utcnow():
        raise PairingCodeExpired("this code has expired; the agent shows a new one shortly")
    if active_device(session=session, screen_id=screen_id) is not None:
        raise ScreenAlreadyPaired("this screen is paired already; unpair it first")
    device = Device(screen_id=screen_id, org_id=org_id, fingerprint=pairing.fingerprint,
                    public_key=pairing.public_key, display=pairing.display,
                    agent_version=pairing.agent_version)
    session.add(device)
    session.flush()
    won = session.execute(update(Pairing).where(Pairing.id == pairing.id,
                                                Pairing.claimed_at.is_(None))
                          .values(claimed_at=utcnow(), claimed_by=user_id, screen_id=screen_id,
                                  device_id=device.id)).rowcount  # type: ignore[attr-defined]
    if not won:
        session.rollback()
        raise PairingCodeUsed("this code was used already; restart the agent for a new one")
    events.record(session, events.DevicePaired(device_id=device.id, screen_id=screen_id,
                                               org_id=org_id))
    session.commit()
    return device


def poll(*, session: Session, pairing_id: str, broker: BrokerAccounts,
         mqtt_url: str) -> PairingStatus:
    """The pairing's state; right after the claim, once, the device's credentials. Committed."""
    pairing = session.get(Pairing, pairing_id)
    if pairing is None:
        raise PairingNotFound("no such pairing; ask for a new code")
    if pairing.claimed_at is None:
        status = "expired" if pairing.expires_at <= utcnow() else "pending"
        return PairingStatus(status=status, expires_at=pairing.expires_at,
                             poll_after_s=POLL_AFTER_S if status == "pending" else None)
    delivered = session.execute(update(Pairing).where(Pairing.id == pairing.id,
                                                      Pairing.delivered_at.is_(None))
                                .values(delivered_at=utcnow())).rowcount  # type: ignore[attr-defined]
    answer = PairingStatus(status="claimed", expires_at=pairing.expires_at,
                           device_id=pairing.device_id, screen_id=pairing.screen_id)
    device = session.get(Device, pairing.device_id) if pairing.device_id else None
    if not delivered or device is None or device.status != DeviceStatus.active:
        session.commit()
        return answer
    prefix = secrets.token_hex(8)
    token = f"{DEVICE_TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    password = secrets.token_urlsafe(32)
    device.token_prefix, device.token_hash = prefix, _hash(token)
    device.mqtt_password_hash = _hash(password)
    broker.set_device(username=device.id, password=password, screen_id=device.screen_id)
    session.commit()
    return answer.model_copy(update={
        "device_token": token,
        "mqtt": MqttCredentials(url=mqtt_url, username=device.id, password=password)})


def unpair(*, session: Session, screen_id: str, broker: BrokerAccounts) -> Device:
    """Revoke the screen's device: its token and broker login stop working now. Committed."""
    device = active_device(session=session, screen_id=screen_id)
    if device is None:
        raise NotPaired("this screen has no paired device")
    device.status = DeviceStatus.revoked
    device.revoked_at = utcnow()
    device.online = False
    device.token_hash = device.mqtt_password_hash = None
    session.commit()
    broker.remove_device(username=device.id)
    return device


def authenticate(*, session: Session, token: str) -> Device:
    """The active device a device token belongs to; 401 otherwise."""
    prefix = token.removeprefix(DEVICE_TOKEN_PREFIX).split("_", 1)[0]
    device = session.scalar(select(Device).where(Device.token_prefix == prefix)) \
        if token.startswith(DEVICE_TOKEN_PREFIX) else None
    if (device is None or device.status != DeviceStatus.active or device.token_hash is None
            or not secrets.compare_digest(device.token_hash, _hash(token))):
        raise Unauthenticated("the device token is not valid (revoked, or never issued); "
                              "pair the device again", code="invalid_device_token",
                              headers={"WWW-Authenticate": "Bearer"})
    return device


def _seen(session: Session, device: Device) -> None:
    """The device was heard from now; a screen that was away is back (an event)."""
    now = utcnow()
    if device.last_seen_at is None or now - device.last_seen_at > ABSENT_AFTER:
        events.record(session, events.ScreenBack(screen_id=device.screen_id,
                                                 device_id=device.id,
                                                 away_since=device.last_seen_at))
    device.online = True
    device.last_seen_at = now


def claim_limited(*, session: Session, code: str, screen_id: str, org_id: str,
                  user_id: str | None, client: str, per_client: SlidingWindowLimiter,
                  per_screen: SlidingWindowLimiter) -> Device:
    """`claim`, refused (`RateLimited`) while this client or this screen has made too many
    wrong guesses; only wrong guesses count, so pairing a room of screens is no brute force."""
    limits = ((per_client, client, "failed pairing attempts from here"),
              (per_screen, screen_id, "failed pairing attempts for this screen"))
    for limiter, key, what in limits:
        wait_s = limiter.wait_s(key)
        if wait_s is not None:
            raise RateLimited.after(wait_s, what)
    try:
        return claim(session=session, code=code, screen_id=screen_id, org_id=org_id,
                     user_id=user_id)
    except (PairingCodeUnknown, PairingCodeExpired, PairingCodeUsed):
        for limiter, key, _ in limits:
            limiter.hit(key)
        raise


def record_heartbeat(*, session: Session, device: Device, heartbeat: Heartbeat) -> None:
    """What a heartbeat says about the device; it is online. Committed."""
    _seen(session, device)
    device.agent_version = heartbeat.agent_version
    device.health = heartbeat.model_dump(mode="json", by_alias=True)
    session.commit()


def mark_online(*, session: Session, device_id: str) -> None:
    """The device connected to the broker. Committed."""
    device = session.get(Device, device_id)
    if device is not None:
        _seen(session, device)
        session.commit()


def mark_offline(*, session: Session, device_id: str) -> None:
    """The device's broker session ended (its last will): offline. Committed."""
    session.execute(update(Device).where(Device.id == device_id).values(online=False))
    session.commit()


@dataclass(frozen=True)
class ScreenState:
    """What the API shows of a screen's device."""

    status: str  # online | offline | unpaired
    last_seen_at: datetime | None
    now_playing: dict[str, Any] | None
    agent_version: str | None


def _status(online: bool, last_seen_at: datetime | None, heartbeat_interval_s: float,
            now: datetime) -> str:
    """Online while connected and heard from within one and a half heartbeats; offline else."""
    fresh = last_seen_at is not None and (now - last_seen_at).total_seconds() <= \
        OFFLINE_AFTER_INTERVALS * heartbeat_interval_s
    return "online" if online and fresh else "offline"


def screen_state(*, session: Session, screen_id: str, heartbeat_interval_s: float) -> ScreenState:
    """Online, offline or unpaired, with the last heartbeat's facts."""
    device = active_device(session=session, screen_id=screen_id)
    if device is None:
        return ScreenState("unpaired", None, None, None)
    return ScreenState(_status(device.online, device.last_seen_at, heartbeat_interval_s,
                               utcnow()), device.last_seen_at,
                       device.health.get("now_playing"), device.agent_version or None)


@dataclass(frozen=True, slots=True)
class Liveness:
    """A paired screen's status (online or offline) as `screen_state` says it, without the
    last heartbeat's details."""

    status: str
    last_seen_at: datetime | None
    agent_version: str | None


def liveness(*, session: Session, heartbeat_interval_s: float,
             screen_ids: list[str]) -> dict[str, Liveness]:
    """The liveness of these screens, by screen id, in one query (unpaired screens are
    absent)."""
    now = utcnow()
    found: dict[str, Liveness] = {}
    for i in range(0, len(screen_ids), 1000):
        found.update((screen_id, Liveness(_status(online, seen, heartbeat_interval_s, now), seen,
                                          version or None))
                     for screen_id, online, seen, version in session.execute(
                         select(Device.screen_id, Device.online, Device.last_seen_at,
                                Device.agent_version)
                         .where(Device.status == DeviceStatus.active,
                                Device.screen_id.in_(screen_ids[i:i + 1000]))))
    return found


def paired_counts(*, session: Session, heartbeat_interval_s: float) -> dict[str, int]:
    """How many paired screens are online and offline (as `screen_state` says it), counted by
    the database."""
    paired, online = session.execute(
        select(func.count(), func.sum(case((_online(heartbeat_interval_s), 1), else_=0)))
        .where(Device.status == DeviceStatus.active)).one()
    return {"online": int(online or 0), "offline": int(paired or 0) - int(online or 0)}


def _online(heartbeat_interval_s: float) -> ColumnElement[bool]:
    cutoff = utcnow() - timedelta(seconds=OFFLINE_AFTER_INTERVALS * heartbeat_interval_s)
    return and_(Device.online.is_(True), Device.last_seen_at >= cutoff)


def online_by_screen(*, session: Session, heartbeat_interval_s: float) -> dict[str, bool]:
    """Whether each paired screen is online (as `screen_state` says it), by screen id, judged
    by the database in one query: the whole fleet's status without reading its timestamps
    (unpaired screens are absent)."""
    return {screen_id: bool(online) for screen_id, online in session.execute(
        select(Device.screen_id, _online(heartbeat_interval_s))
        .where(Device.status == DeviceStatus.active))}


@dataclass(frozen=True)
class Presence:
    """When a screen's device was last heard from, and since when it is paired."""

    last_seen_at: datetime | None
    paired_at: datetime


def presence(*, session: Session) -> dict[str, Presence]:
    """Every paired screen's presence, by screen id (unpaired screens are absent)."""
    return {screen_id: Presence(seen, paired) for screen_id, seen, paired in session.execute(
        select(Device.screen_id, Device.last_seen_at, Device.created_at)
        .where(Device.status == DeviceStatus.active))}
