"""Notification tests run on the proof-of-play network of the reporting tests."""

from tests.control_plane.reporting.conftest import network

__all__ = ["network"]
