"""Notifications: domain events become one notification per recipient, delivered per channel.

    event ──subscriptions.py──▶ notify(kind, org, text, link, event id)
          ──▶ a Notification per recipient (once per event: its dedupe key)
          ──▶ a Delivery per channel the recipient has on and an address for
          ──▶ one `notifications.deliver` job each ──▶ the channel's backend

Recipients follow roles: the admins of the org the event is about (its members once they opt
in), or the super-admins for platform events; channels follow the user's preferences, with
defaults per kind (`catalog.py`). A delivery is claimed before it is sent. A send that fails for
a reason that may pass (5xx, 429, a timeout) is retried by the queue with exponential backoff
and jitter, and the delivery is `dead` after the last try with its reason kept; any other
refusal is `failed` at once. A worker that dies mid-send leaves its claim to expire: the sweep
(hourly, with the scheduler) sends again only on a channel whose provider dedupes on our key
(`idempotent`); on the others the delivery is `failed` as interrupted, since it may have gone
out, so nobody is told twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from control_plane.db import utcnow
from control_plane.jobs.queue import JobContext, JobQueue, registry
from control_plane.notifications.catalog import KINDS, Audience, Channel, Kind, defaults
from control_plane.notifications.channels.base import (
    ChannelBackend,
    Gone,
    Message,
    Refused,
    Transient,
)
from control_plane.notifications.exceptions import InvalidPreference, NotificationNotFound
from control_plane.notifications.models import (
    Delivery,
    DeliveryStatus,
    Notification,
    PhoneNumber,
    Preference,
    PushSubscription,
)
from control_plane.notifications.schemas import KindPreference, PreferencesIn
from control_plane.orgs import service as orgs_service

log = logging.getLogger(__name__)

DELIVER_JOB = "notifications.deliver"
SWEEP_JOB = "notifications.sweep"
MAX_ATTEMPTS = 8
CLAIM_S = 120.0  # a send holding its delivery longer than this is presumed dead


# --- who, and on which channels -----------------------------------------------------------

@dataclass(frozen=True)
class Recipient:
    user_id: str
    email: str | None
    admin: bool


def recipients(*, session: Session, kind: Kind, org_id: str | None) -> list[Recipient]:
    """Who may receive a kind about an org: its members (admins by default), or the
    super-admins for platform kinds."""
    if kind.audience == Audience.platform:
        return [Recipient(u.id, u.email, True)
                for u in orgs_service.superadmins(session=session)]
    if org_id is None:
        return []
    return [Recipient(m.user_id, m.user.email, m.role == orgs_service.Role.admin)
            for m in orgs_service.list_members(session=session, org_id=org_id)
            if m.user.status == orgs_service.UserStatus.active]


def _choices(session: Session, user_ids: Sequence[str],
             kind: str) -> dict[tuple[str, str], bool]:
    if not user_ids:
        return {}
    return {(p.user_id, p.channel): p.enabled for p in session.scalars(select(Preference).where(
        Preference.user_id.in_(list(user_ids)), Preference.kind == kind))}


def channels_for(kind: Kind, recipient: Recipient,
                 chosen: dict[tuple[str, str], bool]) -> list[Channel]:
    """The channels a recipient gets a kind on: their choice, else the default."""
    base = defaults(kind, admin=recipient.admin)
    return [c for c in Channel if chosen.get((recipient.user_id, c.value), base[c])]


def _addresses(session: Session, recipient: Recipient, channel: Channel) -> list[str]:
    if channel == Channel.email:
        return [recipient.email] if recipient.email else []
    if channel == Channel.push:
        return list(session.scalars(select(PushSubscription.id).where(
            PushSubscription.user_id == recipient.user_id)))
    return sms_numbers(session=session, user_id=recipient.user_id)


def sms_numbers(*, session: Session, user_id: str) -> list[str]:
    """The confirmed phone number of a user, if any (`phones.py` confirms them)."""
    return list(session.scalars(select(PhoneNumber.e164).where(
        PhoneNumber.user_id == user_id, PhoneNumber.confirmed_at.is_not(None))))


# --- telling ------------------------------------------------------------------------------

def notify(*, session: Session, queue: JobQueue | None, kind: str, org_id: str | None,
           title: str, body: str, link: str | None, dedupe_key: str) -> list[str]:
    """Tell everyone concerned, once per `dedupe_key` (committed); the deliveries queued."""
    found = KINDS[kind]
    people = recipients(session=session, kind=found, org_id=org_id)
    chosen = _choices(session, [p.user_id for p in people], kind)
    queued: list[str] = []
    for person in people:
        if session.scalar(select(Notification.id).where(
                Notification.dedupe_key == dedupe_key, Notification.user_id == person.user_id)):
            continue  # told already (the event delivered again)
        notification = Notification(user_id=person.user_id, org_id=org_id, kind=kind,
                                    dedupe_key=dedupe_key[:120], title=title[:300], body=body,
                                    link=link)
        session.add(notification)
        session.flush()
        for channel in channels_for(found, person, chosen):
            for address in _addresses(session, person, channel):
                delivery = Delivery(notification_id=notification.id, channel=channel.value,
                                    address=address, status=DeliveryStatus.queued)
                session.add(delivery)
                session.flush()
                queued.append(delivery.id)
        try:
            session.commit()
        except IntegrityError:  # the same event, delivered twice at once
            session.rollback()
            queued = [q for q in queued if session.get(Delivery, q) is not None]
    if queue is not None:
        for delivery_id in queued:
            queue.enqueue(DELIVER_JOB, subject=delivery_id, delivery_id=delivery_id)
    return queued


# --- sending ------------------------------------------------------------------------------

class SendLater(RuntimeError):
    """A send failed for a reason that may pass: the queue tries again later."""


def _message(session: Session, delivery: Delivery, settings: Any) -> Message:
    notification = session.get(Notification, delivery.notification_id)
    assert notification is not None
    link = notification.link
    if link and link.startswith("/"):
        link = f"{settings.public_url}{link}"
    text = notification.body + (f"\n\n{link}" if link else "")
    to, keys = delivery.address, {}
    if delivery.channel == Channel.push.value:
        subscription = session.get(PushSubscription, delivery.address)
        if subscription is not None:
            to, keys = subscription.endpoint, {"p256dh": subscription.p256dh,
                                               "auth": subscription.auth}
    return Message(delivery_id=delivery.id, to=to, subject=notification.title, text=text,
                   link=link, kind=notification.kind, user_id=notification.user_id, keys=keys)


def deliver(*, session: Session, channels: dict[Channel, ChannelBackend], settings: Any,
            delivery_id: str) -> DeliveryStatus:
    """Claim a delivery and send it once; where it stands after. `SendLater` when the
    provider could not take it now."""
    now = utcnow()
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return DeliveryStatus.failed
    backend = channels[Channel(delivery.channel)]
    if delivery.status == DeliveryStatus.sending and delivery.claimed_until is not None \
            and delivery.claimed_until < now and not backend.idempotent:
        _settle(session, delivery, DeliveryStatus.failed,
                "interrupted while sending; not sent again, so that it cannot arrive twice")
        return DeliveryStatus.failed
    taken = session.execute(update(Delivery).where(
        Delivery.id == delivery_id,
        or_(Delivery.status == DeliveryStatus.queued,
            (Delivery.status == DeliveryStatus.sending) & (Delivery.claimed_until < now)))
        .values(status=DeliveryStatus.sending, attempts=Delivery.attempts + 1,
                claimed_until=now + timedelta(seconds=CLAIM_S), updated_at=now)).rowcount  # type: ignore[attr-defined]
    session.commit()
    if not taken:
        session.refresh(delivery)
        return DeliveryStatus(delivery.status)  # sent, settled, or held by another attempt
    session.refresh(delivery)
    message = _message(session, delivery, settings)
    session.commit()  # no transaction is held while the provider is called
    try:
        provider_id = backend.send(message)
    except Transient as exc:
        delivery.status, delivery.last_error = DeliveryStatus.queued, exc.reason[:2000]
        delivery.claimed_until, delivery.updated_at = None, utcnow()
        session.commit()
        raise SendLater(exc.reason) from exc
    except Gone as exc:
        if delivery.channel == Channel.push.value:  # the browser unsubscribed: forget it
            subscription = session.get(PushSubscription, delivery.address)
            if subscription is not None:
                session.delete(subscription)
        _settle(session, delivery, DeliveryStatus.failed, exc.reason)
        return DeliveryStatus.failed
    except Refused as exc:
        _settle(session, delivery, DeliveryStatus.failed, exc.reason)
        return DeliveryStatus.failed
    delivery.status, delivery.provider = DeliveryStatus.sent, backend.name
    delivery.provider_message_id, delivery.sent_at = provider_id, utcnow()
    delivery.claimed_until, delivery.updated_at, delivery.last_error = None, utcnow(), None
    session.commit()
    return DeliveryStatus.sent


def _settle(session: Session, delivery: Delivery, status: DeliveryStatus, reason: str) -> None:
    delivery.status, delivery.last_error = status, reason[:2000]
    delivery.claimed_until, delivery.updated_at = None, utcnow()
    session.commit()


def _channels(context: JobContext) -> dict[Channel, ChannelBackend]:
    found = context.channels
    if found is None:
        raise RuntimeError("this process has no notification channels")
    return {Channel(name): backend for name, backend in found.items()}


def _gave_up(context: JobContext, payload: dict[str, Any], error: str) -> None:
    with context.sessionmaker() as session:
        delivery = session.get(Delivery, str(payload["delivery_id"]))
        if delivery is not None and delivery.status in (DeliveryStatus.queued,
                                                        DeliveryStatus.sending):
            _settle(session, delivery, DeliveryStatus.dead,
                    f"gave up after {delivery.attempts} attempts: {error}")


@registry.job(DELIVER_JOB, max_attempts=MAX_ATTEMPTS, on_failure=_gave_up)
def _deliver_job(context: JobContext, payload: dict[str, Any]) -> None:
    with context.sessionmaker() as session:
        deliver(session=session, channels=_channels(context), settings=context.settings,
                delivery_id=str(payload["delivery_id"]))


@registry.job(SWEEP_JOB, max_attempts=1, hourly=True)
def _sweep_job(context: JobContext, payload: dict[str, Any]) -> None:
    """Deliveries whose send died with its worker: sent again where that is safe (see the
    module's docstring), and queued ones whose job was lost queued again."""
    stale = utcnow() - timedelta(seconds=CLAIM_S)
    with context.sessionmaker() as session:
        ids = list(session.scalars(select(Delivery.id).where(or_(
            (Delivery.status == DeliveryStatus.sending) & (Delivery.claimed_until < utcnow()),
            (Delivery.status == DeliveryStatus.queued) & (Delivery.updated_at < stale)))
            .limit(10_000)))
    for delivery_id in ids:
        with context.sessionmaker() as session:
            try:
                deliver(session=session, channels=_channels(context),
                        settings=context.settings, delivery_id=delivery_id)
            except SendLater:
                continue


# --- what users see and choose ------------------------------------------------------------

def preferences(*, session: Session, user_id: str) -> list[KindPreference]:
    """Every kind with the user's channels (their choice, else the default for an admin)."""
    chosen = {(p.kind, p.channel): p.enabled for p in session.scalars(
        select(Preference).where(Preference.user_id == user_id))}
    out = []
    for kind in KINDS.values():
        base = defaults(kind, admin=True)
        on = {c: chosen.get((kind.key, c.value), base[c]) for c in Channel}
        out.append(KindPreference(kind=kind.key, title=kind.title, urgent=kind.urgent,
                                  email=on[Channel.email], sms=on[Channel.sms],
                                  push=on[Channel.push]))
    return out


def set_preferences(*, session: Session, user_id: str,
                    preferences_in: PreferencesIn) -> list[KindPreference]:
    """Switch channels per kind (committed); unknown kinds change nothing (422)."""
    unknown = sorted(set(preferences_in.preferences) - KINDS.keys())
    if unknown:
        raise InvalidPreference("unknown kinds of notification",
                                details={"unknown": unknown, "kinds": sorted(KINDS)})
    for kind, switches in preferences_in.preferences.items():
        for channel, enabled in switches.model_dump(exclude_none=True).items():
            found = session.get(Preference, (user_id, kind, channel))
            if found is None:
                session.add(Preference(user_id=user_id, kind=kind, channel=channel,
                                       enabled=enabled))
            else:
                found.enabled = enabled
    session.commit()
    return preferences(session=session, user_id=user_id)


def notifications_of(*, session: Session, user_id: str,
                     limit: int = 50) -> tuple[list[tuple[Notification, list[Delivery]]], int]:
    """A user's notifications, newest first, with their deliveries; and how many are unread."""
    found = list(session.scalars(select(Notification).where(Notification.user_id == user_id)
                                 .order_by(Notification.created_at.desc(), Notification.id)
                                 .limit(limit)))
    deliveries: dict[str, list[Delivery]] = {}
    if found:
        for d in session.scalars(select(Delivery).where(
                Delivery.notification_id.in_([n.id for n in found]))
                .order_by(Delivery.created_at)):
            deliveries.setdefault(d.notification_id, []).append(d)
    unread = int(session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0)
    return [(n, deliveries.get(n.id, [])) for n in found], unread


def mark_read(*, session: Session, user_id: str, notification_id: str) -> Notification:
    """Mark one of the user's notifications read (committed)."""
    found = session.get(Notification, notification_id)
    if found is None or found.user_id != user_id:
        raise NotificationNotFound("notification not found")
    if found.read_at is None:
        found.read_at = utcnow()
        session.commit()
    return found
