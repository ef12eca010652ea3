"""Domain events: how a domain tells the others that something happened, without knowing them.

    service ──record(session, CampaignChanged(...))──▶ outbox row ─┐ same transaction
            ──session.commit()─────────────────────────────────────┘
    after the commit: one `events.deliver` job is queued (unless one is waiting)
    the job: each pending event, oldest first ──▶ every subscriber of its kind ──▶ marked done

A service records an event with the change it describes, in the same transaction (`record`),
so an event exists exactly when its change does: nothing is lost if the process dies right
after the commit, since the row waits for the next delivery (each commit that records events
queues one; `sweep` queues one for rows left behind, at start-up and with every scheduler tick).
Each subscriber's success is stored apart, so a failing subscriber is retried alone (with the
queue's backoff) and never makes another run twice; after `MAX_ATTEMPTS` the event is given up
on and logged. Delivery is at-least-once: a subscriber that did its work and died before it was
marked sees the event again, so handlers are idempotent (asking for a rebuild twice costs one).

A domain subscribes with `@subscribe(CampaignChanged)` on a function of its own taking
(JobContext, event); its module is imported by the app's wiring (`control_plane.subscribers`),
so every process that delivers knows every subscriber. Events are plain pydantic models named
after what happened, carrying ids and facts, never ORM rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, ForeignKey, Integer, String, Text, event, select, true, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from control_plane.db import Base, UTCDateTime, id_column_type, new_id, utcnow
from control_plane.jobs.queue import JobContext, JobQueue, registry

log = logging.getLogger(__name__)

JOB_KIND = "events.deliver"
MAX_ATTEMPTS = 10
CLAIM_S = 300.0  # a delivery that holds an event longer than this is presumed dead
BATCH = 200
_PENDING_KEY = "adsbin.events.pending"


# --- the events ---------------------------------------------------------------------------

_kinds: dict[str, type[Event]] = {}


class Event(BaseModel):
    """Something that happened in a domain, as its subscribers need to know it."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    kind: ClassVar[str]
    # the outbox row's id, set when the event is delivered: what a subscriber that must act
    # once per event (a notification) keys on
    event_id: str | None = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "kind" in cls.__dict__:  # stored events are read back by their kind
            _kinds[cls.kind] = cls


class CampaignChanged(Event):
    """A campaign was created, edited, given a creative, submitted, reviewed, paused or
    resumed; `change` says which, `state` is where it stands now."""

    kind = "campaign.changed"
    campaign_id: str
    org_id: str
    change: str  # created | updated | creative_added | submitted | approved | rejected |
    #              paused | resumed | budget_spent (its plays spent the budget) | ...
    state: str


class ScreensChanged(Event):
    """Screens were added, changed or removed, or their venue changed (hours, blocked
    categories, house content); `display_sizes` are sizes new to these screens."""

    kind = "screens.changed"
    venue_id: str
    screen_ids: list[str]
    change: str  # screen_created | screen_updated | screen_deleted | venue_updated | ...
    display_sizes: list[tuple[int, int]] = []


class ScreenBack(Event):
    """A screen's device is heard from again after being away (or for the first time)."""

    kind = "screen.back"
    screen_id: str
    device_id: str
    # when it was last heard from before (None: never): which outage ended, for the alert
    # that told of it
    away_since: datetime | None = None


class ModerationDecided(Event):
    """A venue approved or rejected a campaign or creative on its own screens."""

    kind = "moderation.decided"
    venue_id: str
    scope: str
    subject_id: str
    decision: str
    reason: str | None = None


class InvoiceChanged(Event):
    """An invoice was issued, paid, failed to be paid, voided or refunded; `status` is where
    it stands now, `previous` where it stood."""

    kind = "invoice.changed"
    invoice_id: str
    org_id: str
    status: str  # open | paid | payment_failed | void | refunded
    previous: str
    amount_cents: int
    currency: str


class MediaFailed(Event):
    """Processing an uploaded media asset failed for good; it is `failed`."""

    kind = "media.failed"
    media_id: str
    org_id: str
    filename: str
    error: str


class DevicePaired(Event):
    """A venue paired a display unit to one of its screens."""

    kind = "device.paired"
    device_id: str
    screen_id: str
    org_id: str  # the venue org


class PayoutChanged(Event):
    """A payout to a venue org was transferred (`paid`) or refused by the provider
    (`failed`: its lines wait for the next run)."""

    kind = "payout.changed"
    payout_id: str
    org_id: str  # the venue org
    status: str  # paid | failed
    amount_cents: int
    currency: str
    reason: str | None = None


class VerificationRequested(Event):
    """A user's address is to be verified: they signed up, or asked for the link again.
    `requested_at` (epoch seconds) dates the link, which is made from it."""

    kind = "account.verification_requested"
    user_id: str
    requested_at: int


class PasswordResetRequested(Event):
    """Someone asked for a password reset link for an address, which may have no account
    (it is recorded all the same, so that the answer tells nothing)."""

    kind = "account.password_reset_requested"
    email: str
    requested_at: int


class MemberInvited(Event):
    """An org invited an address to join it; the invitation waits for its answer."""

    kind = "org.member_invited"
    invitation_id: str
    org_id: str
    invited_by: str | None = None


E = TypeVar("E", bound=Event)
Handler = Callable[[JobContext, Any], None]
_subscribers: dict[str, dict[str, Handler]] = {}  # event kind -> subscriber name -> handler


def subscribe(event_type: type[E]) -> Callable[[Callable[[JobContext, E], None]],
                                               Callable[[JobContext, E], None]]:
    """Deliver events of this type to the decorated function (named by its module and name,
    which is what its stored deliveries refer to: renaming it delivers past events again)."""

    def register(handler: Callable[[JobContext, E], None]) -> Callable[[JobContext, E], None]:
        name = f"{handler.__module__}.{handler.__qualname__}"
        _subscribers.setdefault(event_type.kind, {})[name] = handler
        return handler

    return register


def subscribers(kind: str) -> dict[str, Handler]:
    """The subscribers of a kind of event in this process, by name."""
    return dict(_subscribers.get(kind, {}))


# --- the outbox ---------------------------------------------------------------------------

class OutboxEvent(Base):
    """An event recorded with its change, kept until every subscriber has had it."""

    __tablename__ = "outbox_events"

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("evt"))
    kind: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EventDelivery(Base):
    """One subscriber has handled one event."""

    __tablename__ = "event_deliveries"

    event_id: Mapped[str] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"),
                                          primary_key=True)
    subscriber: Mapped[str] = mapped_column(String(200), primary_key=True)
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def record(session: Session, event_: Event) -> None:
    """Add the event to the session's transaction; it is delivered once that commits."""
    session.add(OutboxEvent(kind=event_.kind,
                            payload=event_.model_dump(mode="json", exclude={"event_id"})))
    session.info[_PENDING_KEY] = True


def attach(sessions: sessionmaker[Session], queue: JobQueue) -> None:
    """Queue a delivery after every commit of these sessions that recorded events."""

    def after_commit(session: Session) -> None:
        if session.info.pop(_PENDING_KEY, False):
            try:
                kick(queue)
            except Exception:  # the events are stored: the next kick or sweep delivers them
                log.exception("could not queue the delivery of domain events")

    def after_rollback(session: Session) -> None:
        session.info.pop(_PENDING_KEY, None)

    event.listen(sessions, "after_commit", after_commit)
    event.listen(sessions, "after_soft_rollback", lambda session, _tx: after_rollback(session))


def kick(queue: JobQueue) -> None:
    """Queue one delivery job unless one is already waiting to start."""
    queue.enqueue_once(JOB_KIND, subject="events")


def sweep(queue: JobQueue) -> bool:
    """Queue a delivery if events are waiting (their kick was lost); whether any were."""
    with queue.context.sessionmaker() as session:
        waiting = session.scalar(select(OutboxEvent.id).where(
            OutboxEvent.status == "pending").limit(1))
    if waiting is not None:
        kick(queue)
    return waiting is not None


class DeliveryFailed(RuntimeError):
    """Some subscribers failed; their events are retried with the job."""


@registry.job(JOB_KIND, max_attempts=MAX_ATTEMPTS)
def deliver(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Hand every pending event to the subscribers that have not had it yet."""
    failed = 0
    done: set[str] = set()
    while True:
        with ctx.sessionmaker() as session:
            ids = list(session.scalars(
                select(OutboxEvent.id).where(OutboxEvent.status == "pending",
                                             OutboxEvent.id.not_in(done) if done else true())
                .order_by(OutboxEvent.created_at, OutboxEvent.id).limit(BATCH)))
        if not ids:
            break
        for event_id in ids:
            done.add(event_id)
            failed += not _deliver_one(ctx, event_id)
    if failed:
        raise DeliveryFailed(f"{failed} events had a subscriber fail; they are tried again")


def _claim(session: Session, event_id: str) -> bool:
    now = utcnow()
    taken = session.execute(update(OutboxEvent).where(
        OutboxEvent.id == event_id, OutboxEvent.status == "pending",
        (OutboxEvent.claimed_until.is_(None)) | (OutboxEvent.claimed_until < now))
        .values(claimed_until=now + timedelta(seconds=CLAIM_S))).rowcount  # type: ignore[attr-defined]
    session.commit()
    return bool(taken)


def _deliver_one(ctx: JobContext, event_id: str) -> bool:
    """Run the subscribers that have not had this event; whether it is now settled."""
    with ctx.sessionmaker() as session:
        if not _claim(session, event_id):
            return True  # another delivery holds it, or it is settled
        row = session.get(OutboxEvent, event_id)
        assert row is not None
        kind, payload = row.kind, dict(row.payload)
        had = set(session.scalars(select(EventDelivery.subscriber)
                                  .where(EventDelivery.event_id == event_id)))
    event_type = _kinds.get(kind)
    errors = []
    if event_type is None:
        errors.append(f"no event kind {kind!r} in this process")
    else:
        event_ = event_type.model_validate({**payload, "event_id": event_id})
        for name, handler in subscribers(kind).items():
            if name in had:
                continue
            try:
                handler(ctx, event_)
            except Exception as exc:
                log.warning("subscriber %s failed on %s %s: %s", name, kind, event_id, exc,
                            exc_info=True)
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            with ctx.sessionmaker() as session:
                session.add(EventDelivery(event_id=event_id, subscriber=name))
                session.commit()
    with ctx.sessionmaker() as session:
        row = session.get(OutboxEvent, event_id)
        assert row is not None
        row.claimed_until = None
        if not errors:
            row.status, row.delivered_at, row.last_error = "delivered", utcnow(), None
        else:
            row.attempts += 1
            row.last_error = "; ".join(errors)[:2000]
            if row.attempts >= MAX_ATTEMPTS:
                row.status = "failed"
                log.error("giving up on event %s %s after %d attempts: %s", kind, event_id,
                          row.attempts, row.last_error)
        session.commit()
        return not errors or row.status == "failed"
