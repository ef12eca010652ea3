"""Fixtures that give tests real components: SQLite and PostgreSQL databases, a live app.

Every test that asks for `client` (or `db_url`) runs twice: on SQLite and on PostgreSQL. The
PostgreSQL database is made fresh for the test session (`adsbin_test_<random>` on the server of
ADSBIN_TEST_POSTGRES_URL) and dropped at the end. When CI=true an unreachable PostgreSQL fails
the run instead of skipping.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from control_plane import migrate
from control_plane.app import create_app
from control_plane.db import make_engine
from control_plane.models import Base
from control_plane.settings import Settings

POSTGRES_URL = os.environ.get("ADSBIN_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI and unreachable: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unreachable ({reason}); set ADSBIN_TEST_POSTGRES_URL")


@contextmanager
def new_postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (`adsbin_test_<random>`), dropped afterwards."""
    admin_url = make_url(POSTGRES_URL)
    name = f"adsbin_test_{secrets.token_hex(4)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        _postgres_unavailable(str(exc).splitlines()[0])
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database for this test session."""
    with new_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each kind that nothing has touched (not even migrations)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        with new_postgres_database() as url:
            yield url


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database of each kind, shared by the session (rows are wiped between tests)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'adsbin.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    migrate.upgrade(url)
    return url


@pytest.fixture
def clean_db(db_url: str) -> Iterator[str]:
    """The database, emptied of rows after the test."""
    yield db_url
    engine = make_engine(db_url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One signing-key folder for the session (RSA key generation is slow)."""
    return tmp_path_factory.mktemp("keys")


@pytest.fixture
def settings(clean_db: str, tmp_path: Path, keys_dir: Path) -> Settings:
    """Settings of an embedded installation in a temporary data dir, on the test database."""
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    (data_dir / "keys").symlink_to(keys_dir, target_is_directory=True)
    return Settings(data_dir=data_dir, database_url=clean_db, public_url="http://testserver",
                    run_worker=False, run_broker=False, run_scheduler=False,
                    job_retry_base_s=0.05, password_hashing="fast",
                    _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    """A control-plane app on the test settings."""
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """An HTTP client of the app (lifespan run)."""
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """A real S3-compatible server (moto_server) on loopback for the session; yields its URL."""
    import subprocess
    import sys
    import time

    import httpx

    from tests.live import free_port

    port = free_port()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3_bucket(moto_s3: str) -> str:
    """A new, empty bucket on the session's S3 server."""
    import boto3

    name = f"adsbin-{secrets.token_hex(4)}"
    boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1").create_bucket(Bucket=name)
    return name
