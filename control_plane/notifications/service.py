"""Notifications: domain events become one notification per recipient, delivered per channel.

    event ──subscriptions.py──▶ notify(kind, org, text, link, event id)
          ──▶ a Notification per recipient (once per event: its dedupe key)
          ──▶ a Delivery per channel the recipient has on and an address for
          ──▶ one `notifications.deliver` job each ──▶ the channel's backend

Recipients follow roles: the admins of the org the event is about (its members once they opt
in), or the super-admins for platform events; channels follow the user's preferences, with
defaults per kind (`catalog.py`). A delivery is claimed before it is sent. A send that fails for
a reason that may pass (5xx, 429, a timeout) is retried by the queue with exponential backoff
and jitter, and not before the provider's Retry-After when it gave one; the delivery is `dead`
after the last try with its reason kept; any other refusal is `failed` at once. A worker
that dies mid-send leaves its claim to expire: the sweep (hourly, with the scheduler) sends
again only on a channel whose provider dedupes on our key (`idempotent`); on the others the
delivery is `failed` as interrupted, since it may have gone out, so nobody is told twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from control_plane.db import new_id, utcnow
from control_plane.jobs.queue import JobContext, JobQueue, RetryLater, registry
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
IN_CHUNK = 900  # ids per IN (...): under every database's limit on bound parameters
NOTIFY_TRIES = 5  # transactions of one event lost to the same event told at once elsewhere


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


def _addresses(session: Session, user_ids: Sequence[str],
               channels: set[Channel]) -> dict[tuple[str, Channel], list[str]]:
    """The push subscriptions and confirmed numbers of these users, read in a few queries
    (email addresses come with the recipient)."""
    found: dict[tuple[str, Channel], list[str]] = {}
    for start in range(0, len(user_ids), IN_CHUNK):
        chunk = list(user_ids[start:start + IN_CHUNK])
        if Channel.push in channels:
            for user_id, subscription_id in session.execute(
                    select(PushSubscription.user_id, PushSubscription.id)
                    .where(PushSubscription.user_id.in_(chunk))
                    .order_by(PushSubscription.created_at, PushSubscription.id)):
                found.setdefault((user_id, Channel.push), []).append(subscription_id)
        if Channel.sms in channels:
            for user_id, e164 in session.execute(
                    select(PhoneNumber.user_id, PhoneNumber.e164).where(
                        PhoneNumber.user_id.in_(chunk), PhoneNumber.confirmed_at.is_not(None))):
                found.setdefault((user_id, Channel.sms), []).append(e164)
    return found


def sms_numbers(*, session: Session, user_id: str) -> list[str]:
    """The confirmed phone number of a user, if any (`phones.py` confirms them)."""
    return list(session.scalars(select(PhoneNumber.e164).where(
        PhoneNumber.user_id == user_id, PhoneNumber.confirmed_at.is_not(None))))


# --- telling ------------------------------------------------------------------------------

def notify(*, session: Session, queue: JobQueue | None, kind: str, org_id: str | None,
           title: str, body: str, link: str | None, dedupe_key: str) -> list[str]:
    """Tell everyone concerned, once per `dedupe_key` (committed); the deliveries queued."""
    found = KINDS[kind]
    key = dedupe_key[:120]
    people = recipients(session=session, kind=found, org_id=org_id)
    chosen = _choices(session, [p.user_id for p in people], kind)
    wanted = {p.user_id: channels_for(found, p, chosen) for p in people}
    addresses = _addresses(session, [p.user_id for p in people if wanted[p.user_id]],
                           {c for channels in wanted.values() for c in channels})
    # Everyone's rows in one transaction, with their jobs: an event told to ten thousand
    # people costs a few statements, not a flush per person. When the same event is told at
    # the same moment by another process, the unique (dedupe_key, user_id) stops the second
    # transaction: it reads who was told meanwhile and tries again without them.
    for attempt in range(NOTIFY_TRIES):
        told = set(session.scalars(select(Notification.user_id).where(
            Notification.dedupe_key == key)))  # the event delivered again
        notifications: list[dict[str, Any]] = []
        deliveries: list[dict[str, Any]] = []
        now = utcnow()
        for person in people:
            if person.user_id in told:
                continue
            told.add(person.user_id)  # a person listed twice is told once
            notification_id = new_id("ntf")
            notifications.append({"id": notification_id, "user_id": person.user_id,
                                  "org_id": org_id, "kind": kind, "dedupe_key": key,
                                  "title": title[:300], "body": body, "link": link,
                                  "created_at": now})
            for channel in wanted[person.user_id]:
                for address in ([person.email] if channel == Channel.email and person.email
                                else addresses.get((person.user_id, channel), [])):
                    deliveries.append({"id": new_id("dlv"), "notification_id": notification_id,
                                       "channel": channel.value, "address": address,
                                       "status": DeliveryStatus.queued, "attempts": 0,
                                       "created_at": now, "updated_at": now})
        queued = [d["id"] for d in deliveries]
        try:
            if notifications:
                session.execute(insert(Notification), notifications)
            if deliveries:
                session.execute(insert(Delivery), deliveries)
            jobs = queue.record_many(DELIVER_JOB, [(d, {"delivery_id": d}) for d in queued],
                                     session=session) if queue is not None else []
            session.commit()
        except IntegrityError:  # the same event, told twice at once
            session.rollback()
            if attempt == NOTIFY_TRIES - 1:
                raise
            continue
        if queue is not None:
            queue.start_many(jobs)
        return queued
    raise AssertionError("unreachable")


# --- sending ------------------------------------------------------------------------------

class SendLater(RetryLater):
    """A send failed for a reason that may pass: the queue tries again later, not before the
    provider's Retry-After (`retry_after_s`) when it gave one."""


# The claim and the success of each send, built once: a fan-out runs them thousands of times.
_deliveries = cast(Table, Delivery.__table__)
_CLAIM = (update(_deliveries)
          .where(_deliveries.c.id == bindparam("delivery_id"),
                 or_(_deliveries.c.status == DeliveryStatus.queued,
                     (_deliveries.c.status == DeliveryStatus.sending)
                     & (_deliveries.c.claimed_until < bindparam("now"))
                     & _deliveries.c.channel.in_(bindparam("again", expanding=True))))
          .values(status=DeliveryStatus.sending, attempts=_deliveries.c.attempts + 1,
                  claimed_until=bindparam("until"), updated_at=bindparam("now"))
          .returning(_deliveries.c.channel, _deliveries.c.address,
                     _deliveries.c.notification_id))
_SENT = (update(_deliveries).where(_deliveries.c.id == bindparam("delivery_id"))
         .values(status=DeliveryStatus.sent, provider=bindparam("provider"),
                 provider_message_id=bindparam("provider_id"), sent_at=bindparam("now"),
                 updated_at=bindparam("now"), claimed_until=None, last_error=None))


def _message(session: Session, delivery_id: str, channel: str, address: str,
             notification_id: str, settings: Any) -> Message:
    title, body, link, kind, user_id = session.execute(
        select(Notification.title, Notification.body, Notification.link, Notification.kind,
               Notification.user_id).where(Notification.id == notification_id)).one()
    if link and link.startswith("/"):
        link = f"{settings.public_url}{link}"
    text = body + (f"\n\n{link}" if link else "")
    to, keys = address, {}
    if channel == Channel.push.value:
        subscription = session.get(PushSubscription, address)
        if subscription is not None:
            to, keys = subscription.endpoint, {"p256dh": subscription.p256dh,
                                               "auth": subscription.auth}
    return Message(delivery_id=delivery_id, to=to, subject=title, text=text, link=link,
                   kind=kind, user_id=user_id, keys=keys)


def deliver(*, session: Session, channels: dict[Channel, ChannelBackend], settings: Any,
            delivery_id: str) -> DeliveryStatus:
    """Claim a delivery and send it once; where it stands after. `SendLater` when the
    provider could not take it now."""
    # Each delivery is a job: a few plain statements rather than loaded objects, which a
    # fan-out to thousands of people would pay for thousands of times.
    now = utcnow()
    again = [c.value for c, backend in channels.items() if backend.idempotent]
    claimed = session.connection().execute(_CLAIM, {
        "delivery_id": delivery_id, "now": now, "again": again,
        "until": now + timedelta(seconds=CLAIM_S)}).one_or_none()
    if claimed is None:
        session.rollback()
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            return DeliveryStatus.failed
        if delivery.status == DeliveryStatus.sending and delivery.claimed_until is not None \
                and delivery.claimed_until < now:  # its sender died, on a channel that may not
            _settle(session, delivery_id, DeliveryStatus.failed,  # send twice
                    "interrupted while sending; not sent again, so that it cannot arrive twice")
            return DeliveryStatus.failed
        return DeliveryStatus(delivery.status)  # sent, settled, or held by another attempt
    channel, address, notification_id = claimed
    message = _message(session, delivery_id, channel, address, notification_id, settings)
    session.commit()  # the claim; no transaction is held while the provider is called
    backend = channels[Channel(channel)]
    try:
        provider_id = backend.send(message)
    except Transient as exc:
        _set(session, delivery_id, status=DeliveryStatus.queued, last_error=exc.reason[:2000],
             claimed_until=None)
        raise SendLater(exc.reason, retry_after_s=exc.retry_after_s) from exc
    except Gone as exc:
        if channel == Channel.push.value:  # the browser unsubscribed: forget it
            session.execute(delete(PushSubscription).where(PushSubscription.id == address))
        _settle(session, delivery_id, DeliveryStatus.failed, exc.reason)
        return DeliveryStatus.failed
    except Refused as exc:
        _settle(session, delivery_id, DeliveryStatus.failed, exc.reason)
        return DeliveryStatus.failed
    sent_at = utcnow()
    session.connection().execute(_SENT, {"delivery_id": delivery_id, "provider": backend.name,
                                         "provider_id": provider_id, "now": sent_at})
    session.commit()
    return DeliveryStatus.sent


def _set(session: Session, delivery_id: str, **values: Any) -> None:
    session.execute(update(Delivery).where(Delivery.id == delivery_id)
                    .values(updated_at=utcnow(), **values)
                    .execution_options(synchronize_session=False))
    session.commit()


def _settle(session: Session, delivery_id: str, status: DeliveryStatus, reason: str) -> None:
    _set(session, delivery_id, status=status, last_error=reason[:2000], claimed_until=None)


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
            _settle(session, delivery.id, DeliveryStatus.dead,
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
