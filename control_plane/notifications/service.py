"""Notifications: domain events become one notification per recipient, delivered per channel.

    event ──subscriptions.py──▶ notify(kind, org, text, link, event id)
          ──▶ a Notification per recipient (once per event: its dedupe key)
          ──▶ a Delivery per channel the recipient has on and an address for
          ──▶ one `notifications.deliver` job each (SMS, push, a lone email), or
              one `notifications.deliver_batch` job per 100 emails ──▶ the channel's backend

Recipients follow roles: the admins of the org the event is about (its members once they opt
in), or the super-admins for platform events; channels follow the user's preferences, with
defaults per kind (`catalog.py`). A delivery is claimed before it is sent. A send that fails for
a reason that may pass (5xx, 429, a timeout) is retried by the queue with exponential backoff
and jitter, and not before the provider's Retry-After when it gave one; the delivery is `dead`
after the last try with its reason kept; any other refusal is `failed` at once. A worker
that dies mid-send leaves its claim to expire: the sweep (hourly, with the scheduler) sends
again only on a channel whose provider dedupes on our key (`idempotent`); on the others the
delivery is `failed` as interrupted, since it may have gone out, so nobody is told twice.

The emails of one event go out in batches when the email backend sends them (`BatchBackend`,
Resend's batch endpoint: its rate limit counts requests). A delivery's key with the provider is
fixed by its first claim: its own id when it is sent alone, else the batch key that the claim
stores on every delivery of the batch. Every later attempt (a retry, the sweep after a worker
died) takes the same path: a batch claims exactly the deliveries that bear its key and sends
them under it, so the provider sees the same request again and sends nothing more; the set
never grows (a delivery the first claim could not take, or one tried alone before, is left to
the sweep, which sends it alone). A batch's outcome is written for all of its deliveries in one
transaction, and each keeps its own status, attempts, error and provider id.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from control_plane.db import new_id, utcnow
from control_plane.jobs.queue import JobQueue
from control_plane.notifications import sending
from control_plane.notifications.catalog import KINDS, Audience, Channel, Kind, defaults
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

# How a delivery is sent lives in `sending.py`; these are this domain's service all the same.
SendLater = sending.SendLater
deliver = sending.deliver
deliver_batch = sending.deliver_batch

log = logging.getLogger(__name__)

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
            jobs = sending.record_jobs(queue, session, deliveries) if queue is not None else []
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
