"""Sending deliveries: a claim, one send (or one batch of emails), and what is written after;
the jobs that run them, and the sweep that picks up what a dead worker left.

The rules are `service.py`'s: a delivery is claimed before it is sent, and never sent twice,
even when a worker dies mid-send. Each send is a few plain statements rather than loaded
objects (a fan-out to thousands of people pays for them thousands of times); a batch pays for
them once per hundred emails, and writes each delivery's own outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Boolean, Table, bindparam, delete, or_, select, update
from sqlalchemy.orm import Session

from control_plane.db import new_id, utcnow
from control_plane.jobs.queue import JobContext, JobQueue, RetryLater, registry
from control_plane.notifications.catalog import Channel
from control_plane.notifications.channels.base import (
    BatchBackend,
    ChannelBackend,
    Gone,
    Message,
    Refused,
    Transient,
)
from control_plane.notifications.models import (
    Delivery,
    DeliveryStatus,
    Notification,
    PushSubscription,
)

log = logging.getLogger(__name__)

DELIVER_JOB = "notifications.deliver"
DELIVER_BATCH_JOB = "notifications.deliver_batch"
EMAIL_BATCH_MAX = 100  # emails per batch job and request (Resend's limit); 1 sends each alone
SWEEP_JOB = "notifications.sweep"
MAX_ATTEMPTS = 8
CLAIM_S = 120.0  # a send holding its delivery longer than this is presumed dead


def sends_batches(queue: JobQueue) -> bool:
    """Whether this process's email backend sends batches."""
    backend = (queue.context.channels or {}).get(Channel.email.value)
    return EMAIL_BATCH_MAX > 1 and isinstance(backend, BatchBackend)


def record_jobs(queue: JobQueue, session: Session,
                 deliveries: Sequence[dict[str, Any]]) -> list[str]:
    """The deliveries' jobs, recorded in the caller's transaction: the emails by batches of up
    to `EMAIL_BATCH_MAX` when the email backend sends batches, everything else alone."""
    emails = [d["id"] for d in deliveries if d["channel"] == Channel.email.value] \
        if sends_batches(queue) else []
    batches = [chunk for start in range(0, len(emails), EMAIL_BATCH_MAX)
               if len(chunk := emails[start:start + EMAIL_BATCH_MAX]) > 1]
    together = {delivery_id for chunk in batches for delivery_id in chunk}
    alone = [d["id"] for d in deliveries if d["id"] not in together]
    return (queue.record_many(DELIVER_JOB, [(d, {"delivery_id": d}) for d in alone],
                              session=session)
            + queue.record_many(DELIVER_BATCH_JOB,
                                [(None, {"delivery_ids": chunk}) for chunk in batches],
                                session=session))


# --- sending ------------------------------------------------------------------------------

class SendLater(RetryLater):
    """A send failed for a reason that may pass: the queue tries again later, not before the
    provider's Retry-After (`retry_after_s`) when it gave one."""


# The claim and the success of each send, built once: a fan-out runs them thousands of times.
_deliveries = cast(Table, Delivery.__table__)
_CLAIM = (update(_deliveries)
          .where(_deliveries.c.id == bindparam("delivery_id"),
                 _deliveries.c.batch_key.is_(None),  # a batch's deliveries go with their batch
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


_TOLD = select(Notification.title, Notification.body, Notification.link, Notification.kind,
               Notification.user_id)


def _message(session: Session, delivery_id: str, channel: str, address: str,
             notification_id: str, settings: Any) -> Message:
    told = session.execute(_TOLD.where(Notification.id == notification_id)).one()
    return _compose(session, settings, delivery_id, channel, address, *told)


def _compose(session: Session, settings: Any, delivery_id: str, channel: str, address: str,
             title: str, body: str, link: str | None, kind: str, user_id: str) -> Message:
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
        if delivery.batch_key is not None:  # its batch sends it (`deliver_batch`)
            return DeliveryStatus(delivery.status)
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


# --- sending emails together -------------------------------------------------------------

_batch_ids = _deliveries.c.id.in_(bindparam("ids", expanding=True))
_BATCH_KEY = select(_deliveries.c.batch_key).where(
    _batch_ids, _deliveries.c.batch_key.is_not(None)).limit(1)
_CLAIMED = (_deliveries.c.id, _deliveries.c.address, _deliveries.c.notification_id)
# A first claim takes the deliveries never tried (no key has been given for them yet) and
# stores the new batch key on each; a later one, exactly those that bear the key.
_CLAIM_NEW_BATCH = (update(_deliveries)
                    .where(_batch_ids, _deliveries.c.batch_key.is_(None),
                           _deliveries.c.channel == Channel.email.value,
                           _deliveries.c.status == DeliveryStatus.queued,
                           _deliveries.c.attempts == 0)
                    .values(status=DeliveryStatus.sending, attempts=_deliveries.c.attempts + 1,
                            claimed_until=bindparam("until"), updated_at=bindparam("now"),
                            batch_key=bindparam("key"))
                    .returning(*_CLAIMED))
_CLAIM_BATCH_AGAIN = (update(_deliveries)
                      .where(_deliveries.c.batch_key == bindparam("key"),
                             or_(_deliveries.c.status == DeliveryStatus.queued,
                                 (_deliveries.c.status == DeliveryStatus.sending)
                                 & (_deliveries.c.claimed_until < bindparam("now"))
                                 & bindparam("again", type_=Boolean())))
                      .values(status=DeliveryStatus.sending,
                              attempts=_deliveries.c.attempts + 1,
                              claimed_until=bindparam("until"), updated_at=bindparam("now"))
                      .returning(*_CLAIMED))
_INTERRUPTED = (update(_deliveries)
                .where(_deliveries.c.batch_key == bindparam("key"),
                       _deliveries.c.status == DeliveryStatus.sending,
                       _deliveries.c.claimed_until < bindparam("now"))
                .values(status=DeliveryStatus.failed, claimed_until=None,
                        updated_at=bindparam("now"),
                        last_error="interrupted while sending; not sent again, so that it "
                                   "cannot arrive twice"))
_BATCH_SET = (update(_deliveries).where(_batch_ids)
              .values(status=bindparam("status"), last_error=bindparam("reason"),
                      claimed_until=None, updated_at=bindparam("now")))
_SETTLE_ONE = (update(_deliveries).where(_deliveries.c.id == bindparam("delivery_id"))
            .values(status=bindparam("status"), last_error=bindparam("reason"),
                    claimed_until=None, updated_at=bindparam("now")))


def deliver_batch(*, session: Session, channels: dict[Channel, ChannelBackend], settings: Any,
                  delivery_ids: Sequence[str]) -> dict[str, DeliveryStatus]:
    """Claim these email deliveries together and send them in one request under their batch
    key (see the module's docstring); where each claimed one stands after. `SendLater` when
    the provider could not take the batch now."""
    backend = channels[Channel.email]
    if not isinstance(backend, BatchBackend):
        raise TypeError(f"the email backend {backend.name!r} does not send batches")
    if len(delivery_ids) > EMAIL_BATCH_MAX:
        raise ValueError(f"a batch holds at most {EMAIL_BATCH_MAX} emails")
    now = utcnow()
    conn = session.connection()
    found = conn.execute(_BATCH_KEY, {"ids": list(delivery_ids)}).scalar()
    key = found or new_id("bat")
    values = {"ids": list(delivery_ids), "key": key, "now": now, "again": backend.idempotent,
              "until": now + timedelta(seconds=CLAIM_S)}
    # in the order of their ids: UPDATE … RETURNING gives rows in no set order, and a batch
    # sent again must be the very same request, or Resend refuses its key (409)
    claimed = sorted(conn.execute(_CLAIM_BATCH_AGAIN if found else _CLAIM_NEW_BATCH,
                                  values).all(), key=lambda row: row.id)
    if not claimed:
        if found and not backend.idempotent:  # its sender died, and the provider would not
            conn.execute(_INTERRUPTED, values)  # know the batch again: not sent twice
        session.commit()
        return {}
    ids = [row.id for row in claimed]
    told = {row[0]: row[1:] for row in session.execute(
        select(Notification.id, *_TOLD.selected_columns)
        .where(Notification.id.in_({row.notification_id for row in claimed})))}
    messages = [_compose(session, settings, row.id, Channel.email.value, row.address,
                         *told[row.notification_id]) for row in claimed]
    session.commit()  # the claim; no transaction is held while the provider is called
    try:
        outcome = backend.send_batch(messages, key=key)
    except Transient as exc:  # all of them again later, together, under the same key
        _set_batch(session, ids, DeliveryStatus.queued, exc.reason)
        raise SendLater(exc.reason, retry_after_s=exc.retry_after_s) from exc
    except Refused as exc:
        _set_batch(session, ids, DeliveryStatus.failed, exc.reason)
        return dict.fromkeys(ids, DeliveryStatus.failed)
    sent_at = utcnow()
    sent = [{"delivery_id": delivery_id, "provider": backend.name, "provider_id": answer,
             "now": sent_at} for delivery_id, answer in zip(ids, outcome, strict=True)
            if isinstance(answer, str)]
    refused = [{"delivery_id": delivery_id, "status": DeliveryStatus.failed,
                "reason": answer.reason[:2000], "now": sent_at}
               for delivery_id, answer in zip(ids, outcome, strict=True)
               if isinstance(answer, Refused)]
    conn = session.connection()
    if sent:
        conn.execute(_SENT, sent)
    if refused:
        conn.execute(_SETTLE_ONE, refused)
    session.commit()  # the whole batch's outcome at once
    return {delivery_id: (DeliveryStatus.sent if isinstance(answer, str)
                          else DeliveryStatus.failed)
            for delivery_id, answer in zip(ids, outcome, strict=True)}


def _set_batch(session: Session, ids: Sequence[str], status: DeliveryStatus,
               reason: str) -> None:
    session.connection().execute(_BATCH_SET, {"ids": list(ids), "status": status,
                                              "reason": reason[:2000], "now": utcnow()})
    session.commit()


# --- the jobs -----------------------------------------------------------------------------

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


def _batch_gave_up(context: JobContext, payload: dict[str, Any], error: str) -> None:
    """Each delivery the batch tried, `dead` with the reason (one it never claimed is left
    to the sweep)."""
    with context.sessionmaker() as session:
        left = session.execute(select(Delivery.id, Delivery.attempts).where(
            Delivery.id.in_([str(i) for i in payload["delivery_ids"]]),
            Delivery.batch_key.is_not(None),
            Delivery.status.in_([DeliveryStatus.queued, DeliveryStatus.sending]))).all()
        if left:
            now = utcnow()
            session.connection().execute(_SETTLE_ONE, [
                {"delivery_id": delivery_id, "status": DeliveryStatus.dead, "now": now,
                 "reason": f"gave up after {attempts} attempts: {error}"[:2000]}
                for delivery_id, attempts in left])
        session.commit()


@registry.job(DELIVER_JOB, max_attempts=MAX_ATTEMPTS, on_failure=_gave_up)
def _deliver_job(context: JobContext, payload: dict[str, Any]) -> None:
    with context.sessionmaker() as session:
        deliver(session=session, channels=_channels(context), settings=context.settings,
                delivery_id=str(payload["delivery_id"]))


@registry.job(DELIVER_BATCH_JOB, max_attempts=MAX_ATTEMPTS, on_failure=_batch_gave_up)
def _deliver_batch_job(context: JobContext, payload: dict[str, Any]) -> None:
    ids = [str(i) for i in payload["delivery_ids"]]
    channels = _channels(context)
    if not isinstance(channels.get(Channel.email), BatchBackend):
        # queued by a process whose email backend sent batches: each goes alone instead
        if context.queue is None:
            raise RuntimeError("this process has no queue to send the batch's emails alone")
        with context.sessionmaker() as session:
            jobs = context.queue.record_many(DELIVER_JOB, [(i, {"delivery_id": i}) for i in ids],
                                             session=session)
            session.commit()
        context.queue.start_many(jobs)
        return
    with context.sessionmaker() as session:
        deliver_batch(session=session, channels=channels, settings=context.settings,
                      delivery_ids=ids)


@registry.job(SWEEP_JOB, max_attempts=1, hourly=True)
def _sweep_job(context: JobContext, payload: dict[str, Any]) -> None:
    """Deliveries whose send died with its worker: sent again where that is safe (see the
    module's docstring), and queued ones whose job was lost queued again: a batch's together
    under its key, emails never tried in new batches, the others alone."""
    stale = utcnow() - timedelta(seconds=CLAIM_S)
    channels = _channels(context)
    with context.sessionmaker() as session:
        found = session.execute(select(
            Delivery.id, Delivery.batch_key, Delivery.channel, Delivery.attempts,
            Delivery.status).where(or_(
                (Delivery.status == DeliveryStatus.sending) & (Delivery.claimed_until < utcnow()),
                (Delivery.status == DeliveryStatus.queued) & (Delivery.updated_at < stale)))
            .order_by(Delivery.created_at, Delivery.id).limit(10_000)).all()
    batches: dict[str, list[str]] = {}
    untried: list[str] = []
    alone: list[str] = []
    batching = isinstance(channels.get(Channel.email), BatchBackend) and EMAIL_BATCH_MAX > 1
    for row in found:
        if row.batch_key is not None:
            if batching:
                batches.setdefault(row.batch_key, []).append(row.id)
            else:  # sent alone, it would be under another key: it might arrive twice
                log.warning("delivery %s belongs to a batch, and the email backend no longer "
                            "sends batches; left as it is", row.id)
        elif batching and row.channel == Channel.email.value \
                and row.status == DeliveryStatus.queued and row.attempts == 0:
            untried.append(row.id)
        else:
            alone.append(row.id)
    groups = [*batches.values(), *(untried[start:start + EMAIL_BATCH_MAX]
                                   for start in range(0, len(untried), EMAIL_BATCH_MAX))]
    for ids in groups:
        with context.sessionmaker() as session:
            try:
                deliver_batch(session=session, channels=channels, settings=context.settings,
                              delivery_ids=ids)
            except SendLater:
                continue
    for delivery_id in alone:
        with context.sessionmaker() as session:
            try:
                deliver(session=session, channels=channels,
                        settings=context.settings, delivery_id=delivery_id)
            except SendLater:
                continue
