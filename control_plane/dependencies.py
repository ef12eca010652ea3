"""App-wide objects as typed dependencies: a handler declares what it needs in its signature.

`create_app` (`app.py`) builds each object once on `app.state`, which stays their single source:
these functions only read it, per request, so tests that build several apps (or swap one of an
app's objects) keep working. A domain's own objects (its limiters, the broker) are served the
same way from that domain's `dependencies.py`. The functions are `async` because they only read
the app: run on the event loop, they cost no thread hop, as a plain `def` dependency would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from control_plane.auth.ratelimit import SlidingWindowLimiter
from control_plane.jobs.queue import JobQueue
from control_plane.settings import Settings
from control_plane.storage.base import ObjectStore


def limiter_on_app(name: str, doc: str) -> Callable[[Request], Awaitable[SlidingWindowLimiter]]:
    """A dependency serving the limiter `create_app` keeps as `app.state.<name>`."""

    async def limiter(request: Request) -> SlidingWindowLimiter:
        found: SlidingWindowLimiter = getattr(request.app.state, name)
        return found

    limiter.__name__, limiter.__doc__ = f"get_{name}", doc
    return limiter


async def get_app_settings(request: Request) -> Settings:
    """The settings this app was built with (not necessarily the environment's)."""
    settings: Settings = request.app.state.settings
    return settings


async def get_sessionmaker(request: Request) -> sessionmaker[Session]:
    """The app's session factory, for work that opens its session itself (`DbSession` else)."""
    sessions: sessionmaker[Session] = request.app.state.sessionmaker
    return sessions


async def get_object_store(request: Request) -> ObjectStore:
    """The app's object store (local directory or S3)."""
    store: ObjectStore = request.app.state.object_store
    return store


async def raw_body(request: Request) -> bytes:
    """The request body exactly as sent (webhooks' signatures are over these bytes)."""
    return await request.body()


async def get_job_queue(request: Request) -> JobQueue:
    """The app's job queue."""
    queue: JobQueue = request.app.state.jobs
    return queue


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessionmaker)]
ObjectStoreDep = Annotated[ObjectStore, Depends(get_object_store)]
JobQueueDep = Annotated[JobQueue, Depends(get_job_queue)]
