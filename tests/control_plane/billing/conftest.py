"""Billing tests run on the proof-of-play network of the reporting tests (its fixtures)."""

from tests.control_plane.reporting.conftest import broker_network, network

__all__ = ["broker_network", "network"]
