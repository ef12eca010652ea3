"""The app's own life: what it sets up on start and gives back on shutdown."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient


def test_startup_objects_are_kept_from_the_collector_while_serving(app):
    # frozen while serving (full collections skip them), given back on shutdown so a process
    # that starts apps again keeps nothing of this one
    gc.unfreeze()
    with TestClient(app) as client:
        assert gc.get_freeze_count() > 10_000
        assert client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() == 0
