"""An agent whose clock is an hour off, as its own process under libfaketime: it restarts with
the clock gone wrong while the control plane is out of reach, so the offset it saved (about 0)
says nothing of the error and its plays are journaled an hour ahead. Once back, the server
corrects them by the clock's error that each batch shows: none refused as in the future, each in
the hour it really played. (The short version is tests/control_plane/reporting/
test_clock_correction.py.)"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests import media_samples
from tests.player_agent.conftest import agent_process, until
from tests.player_agent.test_agent_crash import start_paired, status, stop

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")

pytestmark = pytest.mark.long


def closed_plays(state: Path) -> int:
    with sqlite3.connect(state / "journal.db") as db:
        return db.execute("SELECT count(*) FROM plays WHERE record IS NOT NULL "
                          "AND campaign_id IS NOT NULL").fetchone()[0]


def test_an_agent_an_hour_ahead_has_its_plays_corrected_into_the_right_hour(
        stack, tmp_path, monkeypatch):
    if not LIBFAKETIME.exists():
        pytest.fail("libfaketime is missing (.ci/bootstrap installs the libfaketime package)")
    state = tmp_path / "agent"
    proc = start_paired(stack, state)
    campaign = stack.campaign(media_samples.png(tmp_path))
    until(lambda: len(stack.pops()) >= 1, 60, "a play reported")
    stop(proc)
    before = {r["play_id"] for r in stack.pops()}

    stack.api_proxy.cut()  # the unit restarts offline: it cannot measure its clock
    monkeypatch.setenv("LD_PRELOAD", str(LIBFAKETIME))
    monkeypatch.setenv("FAKETIME", "+1h")
    monkeypatch.setenv("DONT_FAKE_MONOTONIC", "1")
    restarted = datetime.now(UTC)
    proc = agent_process(stack, state)
    try:
        until(lambda: closed_plays(state) >= 1, 60, "a play journaled offline")
        stack.api_proxy.restore()
        until(lambda: len(stack.pops()) > len(before) + 1, 60, "the offline plays reported")
    finally:
        stop(proc)
    ended = datetime.now(UTC)
    late = [r for r in stack.pops() if r["play_id"] not in before]
    assert late
    assert (status(state).get("pop") or {}).get("rejected", 0) == 0
    for r in late:  # where they really played, not an hour later
        started = datetime.fromisoformat(r["started_at"])
        assert restarted - timedelta(seconds=2) < started < ended, r
        assert abs(r["clock_offset_ms"] + 3_600_000) < 60_000, r
    hours = stack.http.get("/v1/reports/delivery", headers=campaign["advertiser_headers"],
                           params={"group_by": "hour"}).json()["rows"]
    assert sum(row["plays"] for row in hours) == len(before) + len(late)
    assert all(datetime.fromisoformat(row["hour"]) <= ended for row in hours)
