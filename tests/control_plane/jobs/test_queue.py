"""The job queue on huey+SQLite and huey+Redis (the real server of this machine): jobs run,
retry with backoff, and a job that keeps failing leaves its error on the thing it processed."""

from __future__ import annotations

import secrets
import threading
import time

import pytest
import redis
from fastapi.testclient import TestClient

from control_plane.app import create_app
from control_plane.db import make_engine, make_sessionmaker
from control_plane.jobs.models import JobStatus
from control_plane.jobs.queue import (
    RETRY_AFTER_MAX_S,
    JobContext,
    JobQueue,
    Registry,
    RetryLater,
    get_job,
    latest_job,
)
from control_plane.storage.registry import make_object_store
from tests.helpers import with_settings

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["sqlite", "redis"])
def queue_settings(request, settings):
    name = f"adsbin-test-{secrets.token_hex(4)}"
    if request.param == "sqlite":
        yield with_settings(settings, queue_name=name)
        return
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is part of this machine and must be up: {exc}")
    yield with_settings(settings, queue_name=name, queue_url=REDIS_URL)
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"*{name}*"):
        client.delete(key)


class Recorder:
    """Calls that handlers made, with their times, observable from the test."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, dict]] = []
        self.failures: list[tuple[dict, str]] = []
        self.done = threading.Event()


@pytest.fixture
def running(queue_settings):
    """A queue with test job kinds, and a consumer running on it."""
    kinds = Registry()
    rec = Recorder()

    @kinds.job("test.echo")
    def echo(ctx, payload):
        rec.calls.append((time.monotonic(), payload))
        rec.done.set()

    @kinds.job("test.flaky", max_attempts=5)
    def flaky(ctx, payload):
        rec.calls.append((time.monotonic(), payload))
        if len(rec.calls) < 3:
            raise ConnectionError(f"transient failure #{len(rec.calls)}")
        rec.done.set()

    def note_failure(ctx, payload, error):
        rec.failures.append((payload, error))
        rec.done.set()

    @kinds.job("test.broken", max_attempts=3, on_failure=note_failure)
    def broken(ctx, payload):
        rec.calls.append((time.monotonic(), payload))
        raise ValueError("the file is not a video")

    engine = make_engine(queue_settings.database_url)
    context = JobContext(queue_settings, make_sessionmaker(engine),
                         make_object_store(queue_settings))
    queue = JobQueue(context, kinds=kinds)
    consumer = queue.consumer(workers=2, embedded=True)
    consumer.start()
    try:
        yield queue, rec
    finally:
        consumer.stop(graceful=True)
        engine.dispose()


def _job(queue, job_id):
    with queue.context.sessionmaker() as session:
        return get_job(session=session, job_id=job_id)


def _wait_for(queue, job_id, statuses, timeout_s=15):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = _job(queue, job_id)
        if job.status in statuses:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} still {_job(queue, job_id).status}")


def test_a_job_runs_once_with_its_payload(running):
    queue, rec = running
    job_id = queue.enqueue("test.echo", subject="media:med_1", media_id="med_1", n=3)
    job = _wait_for(queue, job_id, {JobStatus.succeeded})
    assert [payload for _, payload in rec.calls] == [{"media_id": "med_1", "n": 3}]
    assert job.attempts == 1 and job.last_error is None and job.finished_at is not None
    with queue.context.sessionmaker() as session:
        assert latest_job(session=session, subject="media:med_1").id == job_id


def test_transient_failures_are_retried_with_backoff(running):
    queue, rec = running
    job_id = queue.enqueue("test.flaky")
    job = _wait_for(queue, job_id, {JobStatus.succeeded, JobStatus.failed})
    assert job.status == JobStatus.succeeded and job.attempts == 3
    gaps = [b - a for (a, _), (b, _) in zip(rec.calls, rec.calls[1:], strict=False)]
    base = queue.context.settings.job_retry_base_s
    assert gaps[0] >= base * 0.9 and gaps[1] >= base * 2 * 0.9, gaps  # 1×, then 2× the base


def test_a_job_that_keeps_failing_leaves_a_clear_error(running):
    queue, rec = running
    job_id = queue.enqueue("test.broken", subject="media:med_9", media_id="med_9")
    job = _wait_for(queue, job_id, {JobStatus.failed})
    assert job.attempts == 3 and len(rec.calls) == 3
    assert job.last_error == "ValueError: the file is not a video"
    assert rec.done.wait(5)
    assert rec.failures == [({"media_id": "med_9"}, "ValueError: the file is not a video")]


def test_unknown_kinds_are_refused_at_enqueue(running):
    queue, _ = running
    with pytest.raises(ValueError, match="no job kind"):
        queue.enqueue("test.nope")


def test_serve_runs_an_embedded_consumer(settings):
    from control_plane.jobs import queue as queue_module

    seen = threading.Event()

    @queue_module.registry.job("test.embedded")
    def embedded(ctx, payload):
        seen.set()

    try:
        app = create_app(with_settings(settings, run_worker=True,
                                       queue_name=f"emb-{secrets.token_hex(3)}"))
        with TestClient(app):
            job_id = app.state.jobs.enqueue("test.embedded")
            assert seen.wait(10)
            _wait_for(app.state.jobs, job_id, {JobStatus.succeeded})
    finally:
        queue_module.registry.kinds.pop("test.embedded")


def test_a_retry_waits_at_least_what_the_failure_asked_for(queue_settings):
    """A handler told to come back later (a provider's Retry-After) is not run again sooner,
    whatever the backoff; what it asks is capped at an hour."""
    kinds = Registry()
    calls: list[float] = []

    @kinds.job("test.later", max_attempts=3)
    def later(ctx, payload):
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RetryLater("busy", retry_after_s=0.8)

    engine = make_engine(queue_settings.database_url)
    queue = JobQueue(JobContext(queue_settings, make_sessionmaker(engine),
                                make_object_store(queue_settings)), kinds=kinds)
    consumer = queue.consumer(workers=1, embedded=True)
    consumer.start()
    try:
        job_id = queue.enqueue("test.later")
        job = _wait_for(queue, job_id, {JobStatus.succeeded, JobStatus.failed})
    finally:
        consumer.stop(graceful=True)
        engine.dispose()
    assert job.status == JobStatus.succeeded and job.attempts == 2
    assert calls[1] - calls[0] >= 0.8  # the backoff alone would have been 0.05 s
    assert queue._backoff_s(1, 10**9) == RETRY_AFTER_MAX_S
    assert queue._backoff_s(1, None) <= queue_settings.job_retry_base_s


def test_many_jobs_are_recorded_in_the_callers_transaction(running):
    queue, rec = running
    with queue.context.sessionmaker() as session:
        ids = queue.record_many("test.echo", [(f"s:{i}", {"n": i}) for i in range(5)],
                                session=session)
        session.rollback()  # not committed: nothing to run
    with queue.context.sessionmaker() as session:
        assert all(get_job(session=session, job_id=i) is None for i in ids)
        ids = queue.record_many("test.echo", [(f"s:{i}", {"n": i}) for i in range(5)],
                                session=session)
        session.commit()
    queue.start_many(ids)
    for job_id in ids:
        _wait_for(queue, job_id, {JobStatus.succeeded})
    assert sorted(p["n"] for _, p in rec.calls) == [0, 1, 2, 3, 4]
