"""kill -9 at the worst moments, with the agent as its own process: during a download (the file
is verified or fetched again, never played corrupt) and during a play (the server ends with one
incomplete record for it: nothing lost, nothing counted twice)."""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image

from player_agent.cache import sha256_file
from player_agent.state import StateDir
from tests import media_samples
from tests.player_agent.conftest import agent_process, until


def status(state: Path) -> dict:
    return StateDir(state).read_status() or {}


def start_paired(stack, state: Path, **changes) -> subprocess.Popen[bytes]:
    proc = agent_process(stack, state, **changes)
    if StateDir(state).credentials() is None:
        code = until(lambda: status(state).get("pairing_code"), 30, "a pairing code")
        stack.claim(code)
    until(lambda: status(state).get("sync") and status(state)["sync"]["playlist_version"], 30,
          "a playlist")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def kill9(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def noise_png(dir: Path) -> Path:
    """A picture that compresses badly, so its rendition takes a while through a slow link."""
    path = dir / "noise.png"
    Image.frombytes("RGB", (1920, 1080), os.urandom(1920 * 1080 * 3)).save(path)
    return path


def test_kill_9_during_a_download_then_the_file_is_verified_or_fetched_again(stack, tmp_path):
    state = tmp_path / "agent"
    proc = start_paired(stack, state)
    stack.api_proxy.rate_bytes_s = 200_000  # a slow venue link
    stack.campaign(noise_png(tmp_path))
    parts = state / "cache"
    part = until(lambda: next((p for p in parts.glob("*.part") if p.stat().st_size > 100_000),
                              None), 60, "a download under way")
    kill9(proc)
    sha = part.name.removesuffix(".part")
    assert not (parts / sha).exists()  # never under its own name before it is whole
    with part.open("r+b") as f:  # and the torn write left garbage in what was received
        f.seek(50_000)
        f.write(b"\0" * 1000)
    stack.api_proxy.rate_bytes_s = None

    proc = start_paired(stack, state)
    try:
        until(lambda: (parts / sha).exists(), 60, "the file fetched again")
        assert sha256_file(parts / sha) == sha
        until(lambda: (status(state).get("now_playing") or {}).get("media_sha256") == sha, 30,
              "the file on screen")
    finally:
        stop(proc)
    assert not list(parts.glob("*.part"))
    assert all(r["media_sha256"] == sha for r in stack.pops())


def open_play(state: Path) -> tuple[str, int] | None:
    with sqlite3.connect(state / "journal.db") as db:
        return db.execute("SELECT play_id, started_ms FROM plays WHERE record IS NULL "
                          "AND campaign_id IS NOT NULL").fetchone()


def test_kill_9_during_a_play_gives_one_incomplete_record_and_no_loss(stack, tmp_path):
    state = tmp_path / "agent"
    proc = start_paired(stack, state)
    stack.campaign(media_samples.png(tmp_path))
    until(lambda: len(stack.pops()) >= 2, 60, "plays reported")
    killed = until(lambda: open_play(state), 30, "a play in progress")
    kill9(proc)

    proc = start_paired(stack, state)
    try:
        until(lambda: killed[0] in {r["play_id"] for r in stack.pops()}, 60,
              "the cut play reported")
        seen = len(stack.pops())
        until(lambda: len(stack.pops()) >= seen + 2, 60, "playing on")
    finally:
        stop(proc)
    records = sorted(stack.pops(), key=lambda r: r["started_at"])
    assert len({r["play_id"] for r in records}) == len(records)  # nothing twice
    cut = [r for r in records if r["play_id"] == killed[0]]
    assert len(cut) == 1 and cut[0]["completed"] is False
    # nothing lost: each play starts where the one before it ended, but across the restart
    for before, after in itertools.pairwise(records):
        gap = (datetime.fromisoformat(after["started_at"])
               - datetime.fromisoformat(before["ended_at"]))
        if before["play_id"] != killed[0]:
            assert gap < timedelta(seconds=1), (before, after)
    with sqlite3.connect(state / "journal.db") as db:  # all acknowledged, so all deleted
        assert db.execute("SELECT count(*) FROM plays").fetchone() == (0,)
