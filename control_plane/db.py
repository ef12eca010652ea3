"""The database: one SQLAlchemy 2.0 engine per process; SQLite (WAL) by default, PostgreSQL at
scale.

Tables of every domain hang off `Base.metadata`, whose naming convention gives constraints stable
names so that the same Alembic migrations run on both engines.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, String, TypeDecorator, create_engine, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_CACHE_KIB = 16 * 1024  # page cache per connection
SQLITE_CHECKPOINT_PAGES = 10_000  # write the log back into the database every ~40 MiB
SQLITE_WAL_LIMIT_BYTES = 64 * 1024 * 1024

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, in UTC, timezone-aware."""
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """An opaque, URL-safe id with a readable type prefix, e.g. `org_3kT9...`."""
    return f"{prefix}_{secrets.token_urlsafe(12)}"


def id_column_type() -> String:
    """The column type of every opaque id."""
    return String(40)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # A batch of plays dirties a page of the play-id index per play (the ids are random), so
    # with SQLite's defaults (2 MiB of cache, a checkpoint every 1,000 pages) most of a commit
    # went to copying the log back into the database: a bigger cache and a checkpoint every
    # ~40 MiB of log doubled the insert rate (bench/bench_pop_ingest.py's baseline, 23k → 45k
    # rows/s). The log is cut back to 64 MiB after a checkpoint; the cache is per connection.
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_LIMIT_BYTES}")
    cursor.close()


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    """An engine for `database_url`, with SQLite tuned for a concurrent web server."""
    if database_url.startswith("sqlite"):
        if ":memory:" in database_url or database_url.rstrip("/") == "sqlite:":
            for pooling in ("pool_size", "max_overflow", "pool_timeout"):  # one connection
                kwargs.pop(pooling, None)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
        engine = create_engine(database_url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(database_url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """The session factory every request and job uses."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def get_db(request: Request) -> Iterator[Session]:
    """A session for one request, closed (and rolled back if uncommitted) when it ends.

    The close runs after the response went out: a connection the database dropped meanwhile
    (its ROLLBACK fails) is the pool's to discard, not an error of a request already answered,
    which would also end the client's keep-alive connection without an answer to its next one.
    """
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        try:
            session.close()
        except OperationalError as exc:
            log.warning("a request's database connection was lost as it closed: %s",
                        str(exc).splitlines()[0])


DbSession = Annotated[Session, Depends(get_db)]
