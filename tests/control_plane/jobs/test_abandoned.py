"""A job whose worker dies while running it (kill -9) is queued again once its lease runs out,
and runs to its end elsewhere; a job that runs long in a live worker keeps its lease and is not
queued twice."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import redis

from control_plane.db import make_engine, make_sessionmaker
from control_plane.jobs.models import JobStatus
from control_plane.jobs.queue import JobContext, JobQueue, Registry, get_job
from control_plane.storage.registry import make_object_store
from tests.helpers import until, with_settings

REDIS_URL = "redis://127.0.0.1:6379/0"
LEASE_S = 0.8

# A worker of its own: runs the job kind "test.slow", which never ends there.
WORKER = textwrap.dedent("""
    import sys, threading
    from control_plane.db import make_engine, make_sessionmaker
    from control_plane.jobs.queue import JobContext, JobQueue, Registry
    from control_plane.settings import Settings
    from control_plane.storage.registry import make_object_store

    settings = Settings.model_validate_json(sys.stdin.read())
    kinds = Registry()

    @kinds.job("test.slow")
    def slow(ctx, payload):
        print("started", flush=True)
        threading.Event().wait()

    context = JobContext(settings, make_sessionmaker(make_engine(settings.database_url)),
                         make_object_store(settings))
    JobQueue(context, kinds=kinds).consumer(workers=1).run()
""")


@pytest.fixture
def queue_settings(settings):
    name = f"adsbin-test-{secrets.token_hex(4)}"
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is part of this machine and must be up: {exc}")
    yield with_settings(settings, queue_name=name, queue_url=REDIS_URL, job_lease_s=LEASE_S)
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"*{name}*"):
        client.delete(key)


def _queue(settings, handler):
    kinds = Registry()
    kinds.job("test.slow")(handler)
    context = JobContext(settings, make_sessionmaker(make_engine(settings.database_url)),
                         make_object_store(settings))
    return JobQueue(context, kinds=kinds)


def _status(queue, job_id):
    with queue.context.sessionmaker() as session:
        return get_job(session=session, job_id=job_id)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # scale mode's database
def test_a_job_left_by_a_killed_worker_runs_again_elsewhere(queue_settings):
    ran = threading.Event()
    queue = _queue(queue_settings, lambda ctx, payload: ran.set())
    worker = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        worker.stdin.write(queue_settings.model_dump_json())
        worker.stdin.close()
        job_id = queue.enqueue("test.slow", subject="media:med_1")
        assert worker.stdout.readline().strip() == "started"
        assert _status(queue, job_id).status == JobStatus.running
        time.sleep(LEASE_S * 1.5)
        assert queue.requeue_abandoned() == []  # the worker is alive: its lease is renewed
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    time.sleep(LEASE_S * 1.2)
    assert queue.requeue_abandoned() == [job_id]
    assert queue.requeue_abandoned() == []  # taken back once
    consumer = queue.consumer(workers=1, embedded=True)
    consumer.start()
    try:
        assert ran.wait(10)
        job = until(lambda: (j := _status(queue, job_id)).status == JobStatus.succeeded and j,
                    10, "the job done")
        assert job.attempts == 2  # the killed attempt and this one
    finally:
        consumer.stop(graceful=True)
        queue.close()
