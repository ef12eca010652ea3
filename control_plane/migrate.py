"""Alembic, driven from code: `adsbin migrate` and the tests use these, no alembic.ini needed."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from control_plane.db import make_engine


def alembic_config(database_url: str) -> Config:
    """An Alembic config for our migrations against `database_url`."""
    config = Config()
    config.set_main_option("script_location", "control_plane:migrations")
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database up to `revision`."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    """Migrate the database down to `revision`."""
    command.downgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    """The newest migration in the code."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None when it was never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def pending(database_url: str) -> bool:
    """Whether the database is behind the code's migrations."""
    engine = make_engine(database_url)
    try:
        return current_revision(engine) != head_revision()
    finally:
        engine.dispose()
