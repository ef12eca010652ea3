"""The database away while proof of play comes in: the control plane runs on PostgreSQL through
a TCP proxy that the test cuts (a database server gone, a network between them down). The API
answers 503 `database_unavailable` with `Retry-After` in API.md's error body; the agent keeps
its journal, backs off and sends it all once the database is back: nothing lost, nothing twice.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from control_plane import migrate
from control_plane.app import create_app
from tests import media_samples
from tests.conftest import new_postgres_database
from tests.helpers import bearer
from tests.player_agent.conftest import Proxy, RunningAgent, agent_settings, until


@pytest.fixture
def db_proxy() -> Iterator[tuple[Proxy, str]]:
    """A fresh PostgreSQL database, migrated, and a proxy to its server; (proxy, its URL)."""
    with new_postgres_database() as url:
        migrate.upgrade(url)
        parsed = make_url(url)
        proxy = Proxy(parsed.port or 5432)
        try:
            yield proxy, parsed.set(port=proxy.port).render_as_string(hide_password=False)
        finally:
            proxy.cut()


@pytest.fixture
def db_url(db_proxy: tuple[Proxy, str]) -> str:
    """The control plane's database: PostgreSQL through the proxy."""
    return db_proxy[1]


def test_database_away_answers_503_with_retry_after_then_serves_again(settings, db_proxy):
    proxy = db_proxy[0]
    batch = {"batch_id": "b-outage", "records": [],
             "signature": base64.b64encode(b"\0" * 64).decode()}
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/device/pop", headers=bearer("adsd_unknown_0123456789"), json=batch)
        assert r.status_code == 401, r.text  # the database is asked who the device is
        proxy.cut()
        for _ in range(2):  # the pool's connection is dropped, then none can be made
            r = client.post("/v1/device/pop", headers=bearer("adsd_unknown_0123456789"), json=batch)
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"] == "5"
            assert r.json() == {"error": {
                "code": "database_unavailable", "details": {"retry_after_s": 5},
                "message": "the database cannot be reached right now; try again later"}}
        proxy.restore()
        r = client.post("/v1/device/pop", headers=bearer("adsd_unknown_0123456789"), json=batch)
        assert r.status_code == 401, r.text  # the database answers again: the token is unknown


@pytest.mark.long
def test_database_away_during_ingestion_answers_503_and_the_agent_loses_nothing(
        stack, db_proxy, tmp_path):
    proxy = db_proxy[0]
    with RunningAgent(agent_settings(stack, tmp_path / "agent")) as running:
        agent = running.paired(stack).agent
        stack.campaign(media_samples.png(tmp_path), duration_s=5)
        until(lambda: len(stack.pops()) >= 1, 60, "a play reported")

        proxy.cut()
        try:
            outage(stack, agent)
        except BaseException:
            proxy.restore()  # for the fixtures' cleaning up
            raise
        proxy.restore()
        until(lambda: agent.journal.stats()["backlog"] <= 1, 60, "the backlog sent")
    journaled = agent.playback.plays
    records = stack.pops()
    assert len(records) == journaled  # every play journaled is on the server
    assert len({r["play_id"] for r in records}) == len(records)  # and none twice


def outage(stack, agent) -> None:
    """What the API and the agent do while the database is away."""
    token = agent.credentials.device_token
    with httpx.Client(base_url=stack.url, timeout=30) as http:  # a connection of its own
        r = http.post("/v1/device/pop", headers=bearer(token), json={
            "batch_id": "b-outage", "records": [],
            "signature": base64.b64encode(b"\0" * 64).decode()})
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == "5"
    assert r.json()["error"]["code"] == "database_unavailable"
    assert set(r.json()["error"]) == {"code", "message", "details"}
    # the agent plays on, journals, and is told to wait
    until(lambda: agent.journal.stats()["backlog"] >= 2
          and (agent.session.uploader.stats()["failures"] >= 2), 30, "a backlog kept")
    assert "database_unavailable" in agent.session.uploader.stats()["last_error"]
    assert agent.session.uploader.retry_after_s == 5
