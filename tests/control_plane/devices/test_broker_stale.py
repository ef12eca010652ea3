"""A control plane killed with -9 orphans its embedded Mosquitto, which keeps the port and the
plugin's state; the next start on the same data dir ends that broker and starts its own, instead
of failing with the port taken (found by tests/control_plane/test_restart_during_upload.py)."""

from __future__ import annotations

import os
import signal
import subprocess

from control_plane.devices.broker import EmbeddedBroker, _running
from tests.live import free_port


def test_a_broker_a_crashed_run_left_behind_is_ended_at_the_next_start(tmp_path):
    port = free_port()
    crashed = EmbeddedBroker(tmp_path, port=port)
    crashed.start()
    orphan = crashed._proc.pid
    crashed._disconnect_admin()  # the process that ran it is gone: nothing of it stops it
    crashed._proc = None
    sleeper = subprocess.Popen(["sleep", "30"])  # a stranger whose pid the file may name later
    try:
        restarted = EmbeddedBroker(tmp_path, port=port)
        restarted.start()
        try:
            assert not _running(orphan)
            assert restarted._proc.pid != orphan and _running(restarted._proc.pid)
            device_user = "dev-1"
            restarted.set_device(username=device_user, password="pw", screen_id="scr_1")
        finally:
            restarted.stop()
        # a pid file naming a process that is not our broker is left alone
        (tmp_path / "broker" / "mosquitto.pid").write_text(str(sleeper.pid))
        again = EmbeddedBroker(tmp_path, port=port)
        again.start()
        again.stop()
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()
        if _running(orphan):
            os.kill(orphan, signal.SIGKILL)
