"""The app's own life: what it sets up on start and gives back on shutdown."""

from __future__ import annotations

import gc
import time

from fastapi.testclient import TestClient


def test_startup_objects_are_kept_from_the_collector_while_serving(app):
    # frozen while serving (full collections skip them), given back on shutdown so a process
    # that starts apps again keeps nothing of this one
    gc.unfreeze()
    with TestClient(app) as client:
        assert gc.get_freeze_count() > 10_000
        assert client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() == 0


def test_a_request_that_finds_every_connection_taken_answers_503_soon(settings):
    """Connections per process are a setting (as many as the request threads by default); a
    request still without one after `database_pool_timeout_s` is told to come back, not kept."""
    from control_plane.app import create_app
    from tests.helpers import signup

    default = create_app(settings).state.engine.pool
    assert (default.size(), default._max_overflow) == (20, 20)
    app = create_app(settings.model_copy(update={
        "database_pool_size": 1, "database_max_overflow": 0, "database_pool_timeout_s": 0.3}))
    with TestClient(app) as client:
        account = signup(client, "advertiser")
        held = app.state.engine.connect()  # the one connection, taken
        try:
            t = time.monotonic()
            r = client.get("/v1/campaigns", headers=account.headers)
            assert time.monotonic() - t < 5
        finally:
            held.close()
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "database_unavailable"
        assert r.headers["Retry-After"]
        assert client.get("/v1/campaigns", headers=account.headers).status_code == 200
