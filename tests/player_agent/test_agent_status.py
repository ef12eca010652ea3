"""The status file `adsbin agent status` reads: rewritten when something in it changed, and
every STATUS_REFRESH_S otherwise (not every second: on a unit's SD card that is 86,400 writes
a day), without an fsync (a power cut only loses a status the next start rewrites)."""

from __future__ import annotations

import os
import threading
import time
from types import SimpleNamespace

from player_agent import agent as agent_module
from player_agent.agent import Agent
from player_agent.state import StateDir
from tests.helpers import until


def test_the_status_is_written_when_it_changes_and_refreshed_now_and_then(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(agent_module, "STATUS_EVERY_S", 0.02)
    monkeypatch.setattr(agent_module, "STATUS_REFRESH_S", 1.0)
    state = StateDir(tmp_path)
    writes: list[dict] = []
    shown = {"now_playing": {"kind": "ad"}, "uptime_s": 0.0}
    stop = threading.Event()
    recording = SimpleNamespace(write_status=lambda status: (writes.append(status),
                                                             state.write_status(status)))
    unit = SimpleNamespace(stop_event=stop, session=None, state=recording,
                           playback=SimpleNamespace(progress_mono=time.monotonic()),
                           status=lambda: {**shown, "uptime_s": time.monotonic()})
    thread = threading.Thread(target=Agent._housekeeping, args=(unit,))
    thread.start()
    try:
        until(lambda: len(writes) == 1, 10, "the first status")
        first = time.monotonic()
        time.sleep(0.3)  # ~15 looks, nothing changed but the uptime
        assert len(writes) == 1
        shown["now_playing"] = {"kind": "house"}  # the next item: written at once
        until(lambda: len(writes) == 2, 10, "the changed status")
        assert writes[-1]["now_playing"] == {"kind": "house"} and time.monotonic() - first < 1
        changed = time.monotonic()
        until(lambda: len(writes) == 3, 10, "the refresh")  # nothing changed: refreshed
        assert time.monotonic() - changed >= 0.9 * agent_module.STATUS_REFRESH_S
    finally:
        stop.set()
        thread.join()
    read = state.read_status()
    assert read is not None and read["running"] and read["now_playing"] == {"kind": "house"}


def test_the_status_file_is_not_synced_to_disk_but_the_credentials_are(tmp_path, monkeypatch):
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    state = StateDir(tmp_path)
    state.write_status({"state": "pairing"})
    assert synced == [] and state.read_status()["state"] == "pairing"
    from player_agent.state import write_atomic

    write_atomic(tmp_path / "credentials.json", b"{}")
    assert len(synced) == 1
