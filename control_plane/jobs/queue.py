"""The job queue: handlers registered by name, run by huey consumers, tracked in the `jobs` table.

huey carries only a job id; the job's kind, payload, attempts and errors live in our database, so
the API can show the status of the thing a job works on, whichever backend runs it (huey on
SQLite in the data dir by default, on Redis with `ADSBIN_QUEUE_URL=redis://…`). A failing handler
is retried with exponential backoff up to its attempt limit; then the job is `failed`, its error
is kept, and the handler's `on_failure` leaves a clear error on the thing it processed. A handler
told by a provider when to come back (a Retry-After) raises `RetryLater`: the next attempt is
not before then (at most `RETRY_AFTER_MAX_S`), nor before the backoff.

A consumer takes a job out of huey's queue before running it, so a process killed meanwhile
would take the job with it. Each process therefore renews a lease on the jobs it runs (their
`updated_at`, every quarter of `ADSBIN_JOB_LEASE_S`); a job still `running` whose lease ran out
was left by a dead process, and `requeue_abandoned` (every scheduler tick) queues it again,
once, whichever scheduler finds it first. Handlers are written to be run again (at least once).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from huey import Huey, RedisHuey, SqliteHuey
from huey.consumer import Consumer
from huey.exceptions import RetryTask
from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from control_plane.db import UTCDateTime, new_id, utcnow
from control_plane.errors import AppError
from control_plane.jobs.models import Job, JobStatus
from control_plane.payments.base import PaymentProvider
from control_plane.ports import MqttPublisher
from control_plane.settings import Settings
from control_plane.storage.base import ObjectStore

log = logging.getLogger(__name__)
ERROR_MAX_CHARS = 2000
RETRY_AFTER_MAX_S = 3600.0  # a provider asking for longer is tried again after an hour anyway


class RetryLater(Exception):
    """A failure that may pass; `retry_after_s`, how long the next attempt must wait at
    least (the provider's Retry-After), if known."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class JobContext:
    """What a handler may use: settings, database sessions, the object store, the queue."""

    settings: Settings
    sessionmaker: sessionmaker[Session]
    object_store: ObjectStore
    queue: JobQueue | None = None
    bridge: MqttPublisher | None = None  # the MQTT bridge, when this process runs one
    payments: PaymentProvider | None = None  # the payment provider (Stripe, or offline)
    channels: dict[str, Any] | None = None  # notification channels' backends, by channel

    def use_bridge(self, bridge: MqttPublisher | None) -> None:
        """Hand handlers the bridge this process started (None: devices only poll over HTTP)."""
        # not a constructor argument: the queue is made with the app, the bridge in its lifespan
        self.bridge = bridge


# The statements around every job, built once (a job costs little more than its handler).
_jobs = cast(Table, Job.__table__)
_START = (update(_jobs)
          .where(_jobs.c.id == bindparam("job_id"),
                 _jobs.c.status.not_in([JobStatus.succeeded, JobStatus.failed]))
          .values(status=JobStatus.running, attempts=_jobs.c.attempts + 1,
                  updated_at=bindparam("now"))
          .returning(_jobs.c.kind, _jobs.c.payload, _jobs.c.attempts, _jobs.c.max_attempts))
_FINISH = (update(_jobs).where(_jobs.c.id == bindparam("job_id"))
           .values(status=bindparam("status"), last_error=bindparam("error"),
                   updated_at=bindparam("now"),
                   finished_at=func.coalesce(bindparam("finished_at", type_=UTCDateTime()),
                                             _jobs.c.finished_at)))

Handler = Callable[[JobContext, dict[str, Any]], None]
FailureHandler = Callable[[JobContext, dict[str, Any], str], None]


@dataclass(frozen=True)
class JobKind:
    """A registered kind of job."""

    name: str
    handler: Handler
    max_attempts: int
    on_failure: FailureHandler | None = None


@dataclass
class Registry:
    """Job kinds by name; domains register theirs when their module is imported."""

    kinds: dict[str, JobKind] = field(default_factory=dict)
    hourly: list[str] = field(default_factory=list)  # asked for by the scheduler every tick
    frequent: list[str] = field(default_factory=list)  # and every minor tick (a minute)

    def job(self, name: str, *, max_attempts: int = 5, on_failure: FailureHandler | None = None,
            hourly: bool = False, every_minute: bool = False) -> Callable[[Handler], Handler]:
        """Register the decorated function as the handler of jobs named `name` (`hourly`: the
        scheduler queues one on every tick, `every_minute` on every minor tick too, unless
        one is waiting)."""

        def register(handler: Handler) -> Handler:
            self.kinds[name] = JobKind(name, handler, max_attempts, on_failure)
            if (hourly or every_minute) and name not in self.hourly:
                self.hourly.append(name)
            if every_minute and name not in self.frequent:
                self.frequent.append(name)
            return handler

        return register


registry = Registry()


def make_huey(settings: Settings) -> Huey:
    """The huey instance the settings name: SQLite in the data dir, or Redis."""
    if settings.queue_url:
        if not settings.queue_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"ADSBIN_QUEUE_URL must be a redis:// URL, not "
                             f"{settings.queue_url!r}")
        return RedisHuey(settings.queue_name, url=settings.queue_url, results=False)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(settings.queue_name, filename=str(settings.data_dir / "queue.db"),
                      results=False)


POLL_MAX_S = 0.1


class JobQueue:
    """Enqueue jobs by name, and run them (in a consumer) against the `jobs` table."""

    def __init__(self, context: JobContext, *, kinds: Registry = registry) -> None:
        self.context = context
        context.queue = self
        self.kinds = kinds
        self.huey = make_huey(context.settings)
        self._task = self.huey.task(name="adsbin.run_job")(self._run)
        self._held: set[str] = set()  # the jobs this process runs now, their leases renewed
        self._held_lock = threading.Lock()
        self._renewer: threading.Thread | None = None

    def enqueue(self, kind: str, *, subject: str | None = None,
                session: Session | None = None, **payload: Any) -> str:
        """Record a job and queue it; its id. With `session`, the caller commits the record."""
        job_kind = self.kinds.kinds.get(kind)
        if job_kind is None:
            raise ValueError(f"no job kind {kind!r} is registered")
        job = Job(kind=kind, subject=subject, payload=payload,
                  max_attempts=job_kind.max_attempts)
        if session is None:
            with self.context.sessionmaker() as own:
                own.add(job)
                own.commit()
        else:
            session.add(job)
            session.commit()
        self._task(job.id)
        return job.id

    def record_many(self, kind: str, jobs: Sequence[tuple[str | None, dict[str, Any]]], *,
                    session: Session) -> list[str]:
        """Record jobs of one kind, (subject, payload) each, in the caller's transaction; their
        ids, to hand to `start_many` once the caller committed. Many jobs cost one statement
        (a notification to ten thousand people queues ten thousand deliveries)."""
        job_kind = self.kinds.kinds.get(kind)
        if job_kind is None:
            raise ValueError(f"no job kind {kind!r} is registered")
        now = utcnow()
        rows: list[dict[str, Any]] = [
            {"id": new_id("job"), "kind": kind, "subject": subject, "payload": payload,
             "status": JobStatus.queued, "attempts": 0, "max_attempts": job_kind.max_attempts,
             "created_at": now, "updated_at": now}
            for subject, payload in jobs]
        if rows:
            session.execute(insert(Job), rows)
        return [row["id"] for row in rows]

    def start_many(self, job_ids: Sequence[str]) -> None:
        """Hand recorded (and committed) jobs to the consumers."""
        for job_id in job_ids:
            self._task(job_id)

    def enqueue_once(self, kind: str, *, subject: str | None = None,
                     session: Session | None = None, **payload: Any) -> str | None:
        """Queue a job unless one of this kind is waiting to start (a burst of asks costs one
        run); its id, or None. `session` (optional) is the one to look with."""
        query = select(Job.id).where(Job.kind == kind, Job.status == JobStatus.queued).limit(1)
        if session is None:
            with self.context.sessionmaker() as own:
                waiting = own.scalar(query)
        else:
            waiting = session.scalar(query)
        return None if waiting is not None else self.enqueue(kind, subject=subject, **payload)

    def _backoff_s(self, attempts: int, retry_after_s: float | None = None) -> float:
        """Exponential backoff with jitter (half of it random), so that jobs that failed
        together (a provider's outage) do not all come back at the same moment; never less
        than the wait the failure asked for (capped at `RETRY_AFTER_MAX_S`)."""
        settings = self.context.settings
        delay = min(settings.job_retry_base_s * 2 ** (attempts - 1), settings.job_retry_max_s)
        backoff = float(delay * (0.5 + random.random() / 2))  # noqa: S311 (not a secret)
        if retry_after_s is None or retry_after_s <= 0:
            return backoff
        return max(backoff, min(float(retry_after_s), RETRY_AFTER_MAX_S))

    def _run(self, job_id: str) -> None:
        # One statement starts the job and reads it (a job is a few statements around its
        # handler: ten thousand notifications are ten thousand jobs).
        with self.context.sessionmaker() as session:
            started = session.connection().execute(
                _START, {"job_id": job_id, "now": utcnow()}).one_or_none()
            session.commit()
        if started is None:
            return  # deleted, or a duplicate delivery of a finished job
        self._hold(job_id)
        try:
            self._run_started(job_id, *started)
        finally:
            with self._held_lock:
                self._held.discard(job_id)

    def _run_started(self, job_id: str, kind_name: str, payload: dict[str, Any],
                     attempts: int, max_attempts: int) -> None:
        payload = dict(payload)
        kind = self.kinds.kinds.get(kind_name)
        try:
            if kind is None:
                raise LookupError(f"no handler for job kind {kind_name!r} in this process")
            kind.handler(self.context, payload)
        except Exception as exc:
            error = (exc.message if isinstance(exc, AppError)
                     else f"{type(exc).__name__}: {exc}")[:ERROR_MAX_CHARS]
            log.warning("job %s (%s) attempt %d failed: %s", job_id, payload, attempts, error,
                        exc_info=log.isEnabledFor(logging.DEBUG))
            # A domain error says the input is wrong: trying again cannot make it right.
            final = attempts >= max_attempts or kind is None or isinstance(exc, AppError)
            self._finish(job_id, JobStatus.failed if final else JobStatus.retrying, error)
            if final:
                if kind is not None and kind.on_failure is not None:
                    try:
                        kind.on_failure(self.context, payload, error)
                    except Exception:
                        log.error("on_failure of job %s failed:\n%s", job_id,
                                  traceback.format_exc())
                return
            asked = exc.retry_after_s if isinstance(exc, RetryLater) else None
            raise RetryTask(error, delay=self._backoff_s(attempts, asked)) from exc
        self._finish(job_id, JobStatus.succeeded, None)

    def _hold(self, job_id: str) -> None:
        """Renew the lease of `job_id` while this process runs it."""
        with self._held_lock:
            self._held.add(job_id)
            if self._renewer is None:
                self._renewer = threading.Thread(target=self._renew, daemon=True,
                                                 name="adsbin-job-leases")
                self._renewer.start()

    def _renew(self) -> None:
        """Every quarter lease, mark the held jobs as alive; ends once none is held."""
        while True:
            time.sleep(self.context.settings.job_lease_s / 4)
            with self._held_lock:
                held = list(self._held)
                if not held:
                    self._renewer = None
                    return
            try:
                with self.context.sessionmaker() as session:
                    session.execute(update(_jobs).where(_jobs.c.id.in_(held),
                                                        _jobs.c.status == JobStatus.running)
                                    .values(updated_at=utcnow()))
                    session.commit()
            except Exception as exc:  # the database away a moment: renewed next time
                log.warning("could not renew the leases of %d running job(s): %s",
                            len(held), exc)

    def requeue_abandoned(self, *, limit: int = 1000) -> list[str]:
        """Queue again the jobs a dead process left running (no lease renewed for
        `ADSBIN_JOB_LEASE_S`); their ids. Each is taken back by one conditional update, so two
        schedulers never queue it twice."""
        cutoff = utcnow() - timedelta(seconds=self.context.settings.job_lease_s)
        stale = (_jobs.c.status == JobStatus.running, _jobs.c.updated_at < cutoff)
        taken: list[str] = []
        with self.context.sessionmaker() as session:
            for job_id in session.scalars(select(_jobs.c.id).where(*stale).limit(limit)).all():
                won = session.execute(update(_jobs).where(_jobs.c.id == job_id, *stale)
                                      .values(status=JobStatus.queued, updated_at=utcnow()))
                if won.rowcount:  # type: ignore[attr-defined]
                    taken.append(job_id)
            session.commit()
        for job_id in taken:
            log.warning("job %s was left running by a process that stopped; queued again",
                        job_id)
            self._task(job_id)
        return taken

    def _finish(self, job_id: str, status: JobStatus, error: str | None) -> None:
        now = utcnow()
        with self.context.sessionmaker() as session:
            session.connection().execute(_FINISH, {
                "job_id": job_id, "status": status, "error": error, "now": now,
                "finished_at": now if status in (JobStatus.succeeded, JobStatus.failed)
                else None})
            session.commit()

    def close(self) -> None:
        """Let go of the queue's storage (huey's SQLite file stays open otherwise, one handle
        per queue: a process that makes many apps, as tests do, would run out; paho's
        select() fails for handles past 1023 already)."""
        self.huey.storage.close()

    def consumer(self, *, workers: int = 2, embedded: bool = False) -> Consumer:
        """A huey consumer of this queue; `embedded` ones leave signal handling to the host."""
        consumer_class = EmbeddedConsumer if embedded else Consumer
        # an idle worker looks for work at least every POLL_MAX_S: a job queued on a quiet
        # queue (an approval's rebuild) starts within that, not after huey's backoff of seconds
        return consumer_class(self.huey, workers=workers, worker_type="thread", periodic=False,
                              initial_delay=0.02, max_delay=POLL_MAX_S,
                              check_worker_health=False)


class EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """A consumer that runs inside another server (uvicorn owns the signals there)."""

    def _set_signal_handlers(self) -> None:
        pass


def get_job(*, session: Session, job_id: str) -> Job | None:
    """The job with this id, if any."""
    return session.get(Job, job_id)


def latest_job(*, session: Session, subject: str) -> Job | None:
    """The newest job about `subject` (e.g. "media:med_x"), if any."""
    return session.scalar(select(Job).where(Job.subject == subject)
                          .order_by(Job.created_at.desc(), Job.id.desc()).limit(1))


@dataclass(frozen=True)
class QueueHealth:
    """How the queue stands: jobs by status, how long the oldest waiting one has waited, when
    a job last finished, and the latest jobs that failed for good."""

    by_status: dict[str, int]
    oldest_waiting_at: datetime | None
    last_finished_at: datetime | None
    failures: list[Job]


def health(*, session: Session, failures: int = 10) -> QueueHealth:
    """The queue's health, read from the `jobs` table (whichever backend carries the ids)."""
    by_status = {str(status): int(count) for status, count in session.execute(
        select(Job.status, func.count()).group_by(Job.status))}
    waiting = (JobStatus.queued, JobStatus.retrying)
    oldest = session.scalar(select(func.min(Job.created_at)).where(Job.status.in_(waiting)))
    finished = session.scalar(select(func.max(Job.finished_at)))
    failed = list(session.scalars(select(Job).where(Job.status == JobStatus.failed)
                                  .order_by(Job.finished_at.desc(), Job.id).limit(failures)))
    return QueueHealth(by_status, oldest, finished, failed)
