"""kill -9 at the worst moments, with the agent as its own process: during a download, again
and again (the file is resumed, verified or fetched again, never played torn), during a play
(the server ends with one incomplete record for it) and inside the journal's own writes, again
and again (strace kills the agent as a write of the journal syncs to disk): nothing lost,
nothing counted twice. The 20-times versions are marked long."""

from __future__ import annotations

import itertools
import os
import random
import shutil
import signal
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
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


def downloading(part: Path, timeout_s: float) -> None:
    """Wait until 20 kB more went into `part` than it held at its smallest since the call (a
    resumed download grows it; one that failed its hash starts it again from nothing)."""
    low = part.stat().st_size if part.exists() else 0

    def grown() -> bool:
        nonlocal low
        size = part.stat().st_size if part.exists() else 0
        low = min(low, size)
        return size > low + 20_000

    until(grown, timeout_s, "the download under way again")


@pytest.mark.parametrize("kills", [2, pytest.param(20, marks=pytest.mark.long)])
def test_kill_9_during_a_download_again_and_again_never_plays_a_torn_file(stack, tmp_path,
                                                                          kills):
    state = tmp_path / "agent"
    proc = start_paired(stack, state)
    stack.api_proxy.rate_bytes_s = 200_000 if kills <= 2 else 80_000  # a slow venue link
    stack.campaign(noise_png(tmp_path))
    parts = state / "cache"
    part = until(lambda: next((p for p in parts.glob("*.part") if p.stat().st_size > 100_000),
                              None), 60, "a download under way")
    sha = part.name.removesuffix(".part")
    for n in range(kills):
        if n:  # resumed from what the .part holds (Range), or from 0 once it fails its hash
            proc = agent_process(stack, state)
            downloading(part, 60)
        kill9(proc)
        assert not (parts / sha).exists()  # never under its own name before it is whole
        if n % 2 == 0:  # and a torn write left garbage in what was received
            with part.open("r+b") as f:
                f.seek(50_000)
                f.write(b"\0" * 1000)
    stack.api_proxy.rate_bytes_s = None

    proc = start_paired(stack, state)
    try:
        until(lambda: (parts / sha).exists(), 60, "the file fetched again")
        assert sha256_file(parts / sha) == sha
        whole_at = datetime.fromtimestamp((parts / sha).stat().st_mtime, UTC)
        until(lambda: (status(state).get("now_playing") or {}).get("media_sha256") == sha, 30,
              "the file on screen")
    finally:
        stop(proc)
    assert not list(parts.glob("*.part"))
    pops = stack.pops()
    assert pops and all(r["media_sha256"] == sha for r in pops)
    # nothing played it before it was whole: every play of it began after it was in place
    assert all(datetime.fromisoformat(r["started_at"]) > whole_at - timedelta(seconds=1)
               for r in pops)


def open_play(state: Path) -> tuple[str, int] | None:
    with sqlite3.connect(state / "journal.db") as db:
        return db.execute("SELECT play_id, started_ms FROM plays WHERE record IS NULL "
                          "AND campaign_id IS NOT NULL").fetchone()


@pytest.mark.long  # make test kills inside the journal's writes instead (a play opened, closed)
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


def journal_ids(state: Path) -> set[str]:
    """The plays the journal holds (read-only: no checkpoint, nothing changed under the agent)."""
    with sqlite3.connect(f"file:{state / 'journal.db'}?mode=ro", uri=True) as db:
        return {play_id for (play_id,) in db.execute("SELECT play_id FROM plays")}


def killed_inside_a_journal_sync(stack, state: Path, nth: int) -> subprocess.Popen[bytes]:
    """The agent under strace, killed (SIGKILL, by strace) as one of its threads enters its
    `nth` fsync/fdatasync of the journal's write-ahead log: in the middle of a commit (recovery
    at start, a play opened or closed, a batch formed, an acknowledged batch deleted)."""
    return agent_process(stack, state, wrapper=(
        STRACE, "-f", "-qq", "-o", os.devnull,
        "-P", str(state / "journal.db-wal"), "-e", "trace=fsync,fdatasync",
        "-e", f"inject=fsync,fdatasync:signal=KILL:when={nth}"))


STRACE = shutil.which("strace") or "/usr/bin/strace"


@pytest.mark.parametrize("kills", [2, pytest.param(20, marks=pytest.mark.long)])
def test_kill_9_inside_journal_writes_loses_no_play_and_counts_none_twice(stack, tmp_path,
                                                                          kills):
    state = tmp_path / "agent"
    proc = start_paired(stack, state)
    campaign = stack.campaign(media_samples.png(tmp_path))
    until(lambda: stack.pops() or open_play(state), 60, "the campaign playing")
    stop(proc)
    seen = journal_ids(state)
    rng = random.Random(20)
    # the short version: in the upload's deletion of an acknowledged batch (so it is sent
    # again) and in a play's opening or closing; the long one anywhere among the first five
    nths = [2, 3] if kills <= 2 else [rng.randint(1, 5) for _ in range(kills)]
    for nth in nths:
        proc = killed_inside_a_journal_sync(stack, state, nth)
        assert proc.wait(timeout=90) != 0, "strace did not kill the agent"
        seen |= journal_ids(state)  # what it had journaled, however far the write got

    proc = start_paired(stack, state)
    try:
        until(lambda: seen <= {r["play_id"] for r in stack.pops()}, 120, "every play reported")
    finally:
        stop(proc)
    records = stack.pops()
    ids = [r["play_id"] for r in records]
    assert len(set(ids)) == len(ids)  # none twice in the store
    assert seen <= set(ids)  # none lost
    delivered = stack.http.get(f"/v1/campaigns/{campaign['id']}",
                               headers=campaign["advertiser_headers"]).json()["plays"]
    assert delivered == sum(r["campaign_id"] == campaign["id"] for r in records)  # none twice
    assert sum(not r["completed"] for r in records) >= 1  # a play the kills cut says so
    assert journal_ids(state) == set()  # all acknowledged, so all deleted
