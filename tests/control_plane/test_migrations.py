"""The same Alembic migrations run up and down on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from control_plane import migrate
from control_plane.db import (
    SQLITE_BUSY_TIMEOUT_MS,
    SQLITE_CACHE_KIB,
    SQLITE_CHECKPOINT_PAGES,
    SQLITE_WAL_LIMIT_BYTES,
    make_engine,
)
from control_plane.models import Base


def test_upgrade_downgrade_upgrade(empty_db_url):
    url = empty_db_url
    engine = make_engine(url)
    try:
        migrate.upgrade(url)
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert {"orgs", "users", "memberships", "api_keys"} <= set(inspect(engine)
                                                                   .get_table_names())
        migrate.downgrade(url, "base")
        assert migrate.current_revision(engine) is None
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(url)
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert not migrate.pending(url)
    finally:
        engine.dispose()


def test_models_and_migrations_agree(db_url):
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                    Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"models differ from migrations; write a migration: {diff}"


def test_migration_names_follow_the_convention():
    import re
    from pathlib import Path

    import control_plane.migrations as pkg

    names = [p.stem for p in (Path(pkg.__file__).parent / "versions").glob("*.py")]
    assert names and all(re.fullmatch(r"\d{8}_[a-z0-9_]+", n) for n in names), names


def test_sqlite_connections_are_set_up_for_a_server(tmp_path):
    # WAL (readers never wait for the writer), foreign keys, a busy timeout, and the cache and
    # checkpoint interval that keep a proof-of-play batch's commit cheap (see db.py)
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            def pragma(name: str) -> object:
                return conn.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
            assert pragma("synchronous") == 1  # NORMAL
            assert pragma("busy_timeout") == SQLITE_BUSY_TIMEOUT_MS
            assert pragma("cache_size") == -SQLITE_CACHE_KIB
            assert pragma("wal_autocheckpoint") == SQLITE_CHECKPOINT_PAGES
            assert pragma("journal_size_limit") == SQLITE_WAL_LIMIT_BYTES
    finally:
        engine.dispose()
