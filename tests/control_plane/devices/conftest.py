"""A real Mosquitto for the device tests: one per session, on a free port, data in a tmp dir."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from control_plane.devices.broker import DYNSEC_PLUGIN, EmbeddedBroker
from tests.live import free_port

MOSQUITTO = "/usr/sbin/mosquitto"


@pytest.fixture(scope="session")
def embedded_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """The started EmbeddedBroker; tests make their own accounts, so they never collide."""
    missing = [p for p in (MOSQUITTO, DYNSEC_PLUGIN) if not Path(p).exists()]
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Mosquitto is required in CI; missing {missing}", pytrace=False)
        pytest.skip(f"Mosquitto is not installed ({missing})")
    with EmbeddedBroker(tmp_path_factory.mktemp("broker-data"), port=free_port(),
                        mosquitto=MOSQUITTO) as broker:
        yield broker
