"""`adsbin simulate` as a fleet of worker processes: the units pair, play and report, and at the
end every unit's journal is set against the server's plays — a play lost or doubled is named and
the command fails."""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import delete
from typer.testing import CliRunner

from control_plane.cli import app as cli
from control_plane.reporting.models import PopPlay
from player_agent import fleet, fleet_ledger, fleet_report
from player_agent.settings import AgentSettings
from player_agent.state import StateDir
from tests import media_samples
from tests.helpers import PASSWORD
from tests.player_agent.test_simulate import fleet_screens


def simulate(stack, state_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [
        "simulate", "--server", stack.agent_url, "--email", stack.owner.email, "--password",
        PASSWORD, "--state-dir", str(state_dir), "--every", "1", "--upload-interval", "0.5",
        "--poll-interval", "3", *args])
    return result.exit_code, result.output


def test_two_processes_pair_play_and_every_journal_matches_the_server(stack, tmp_path):
    stack.campaign(media_samples.png(tmp_path))  # asap on every screen: ads back to back
    since_ms = int(time.time() * 1000) - 1000
    code, output = simulate(stack, tmp_path / "fleet", "--screens", "4", "--per-process", "2",
                            "--seconds", "6")
    assert code == 0, output
    assert "4 units in 2 processes" in output
    assert "paired 4, online (MQTT) 4" in output
    assert f"pid {os.getpid()}" in output  # the control plane: here, this test's process
    assert "connections (TCP connections established to port" in output  # $SYS is closed
    assert "every unit's journal matches the server" in output
    screens = fleet_screens(stack)
    records = [r for s in screens for r in stack.pops(s["id"])]
    assert len(records) >= 4 and f"{len(records)} plays journaled = accepted" in output
    journaled = [p for s in screens for p in fleet_ledger.read(
        tmp_path / "fleet" / s["name"], since_ms=since_ms).journaled]
    assert Counter(journaled) == Counter(r["play_id"] for r in records)
    assert {p.name for p in (tmp_path / "fleet").glob("worker-*.log")} == {
        "worker-0.log", "worker-1.log"}

    # the server loses one play; one unit's journal holds another twice: both are named
    lost = records[0]
    with stack.app.state.sessionmaker() as session:
        session.execute(delete(PopPlay).where(PopPlay.play_id == lost["play_id"]))
        session.commit()
    doubled = next(r for r in records if r["screen_id"] != lost["screen_id"])
    unit = next(s["name"] for s in screens if s["id"] == doubled["screen_id"])
    db = sqlite3.connect(StateDir(tmp_path / "fleet" / unit).journal_file)
    with db:
        db.execute("INSERT INTO fleet_ledger SELECT * FROM fleet_ledger WHERE play_id = ?",
                   (doubled["play_id"],))
    db.close()
    options = fleet.FleetOptions(server_url=stack.agent_url, screens=4,
                                 settings=AgentSettings(state_dir=tmp_path / "fleet"),
                                 email=stack.owner.email, password=PASSWORD, seconds=None)
    comparison = fleet.check(options, screens, since_ms=since_ms)
    assert not comparison.ok
    assert {(d.kind, d.play_id) for d in comparison.differences} == {
        ("lost", lost["play_id"]), ("journaled twice", doubled["play_id"])}
    console = Console(record=True, width=200)
    assert not fleet_report.show_comparison(comparison, console)
    said = console.export_text()
    assert "1 play(s) lost: journaled, not in the journal any more" in said
    assert f"{unit}: play {doubled['play_id']} journaled twice" in said


def unit(name: str, journaled: list[str],
         backlog: tuple[str, ...] = ()) -> fleet_ledger.UnitJournal:
    return fleet_ledger.UnitJournal(name, f"scr_{name}", journaled, frozenset(backlog), 0)


def test_the_comparison_names_each_kind_of_difference():
    server = {"scr_a": ["p1", "p2", "p2", "p9"], "scr_b": ["q1"]}
    result = fleet_ledger.compare([unit("a", ["p1", "p2", "p3", "p4"], backlog=("p4",)),
                                   unit("b", ["q1"])], server)
    assert (result.units, result.journaled, result.accepted) == (2, 5, 3)
    assert {(d.kind, d.play_id) for d in result.differences} == {
        ("accepted twice", "p2"), ("unknown", "p9"), ("lost", "p3"), ("unsent", "p4")}
    assert not result.ok
    clean = fleet_ledger.compare([unit("b", ["q1"])], server)
    assert clean.ok and clean.lines() == []


def test_paho_waits_with_poll_on_descriptors_select_refuses(tmp_path):
    """A worker's 200 units hold ~1,800 descriptors; select() takes none above 1,023."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 1100:
        pytest.skip("this machine allows too few open files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1100), hard))
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1030)]
    try:
        a, b = socket.socketpair()
        assert a.fileno() > 1023
        with pytest.raises(ValueError, match="filedescriptor out of range"):
            __import__("select").select([a], [], [], 0)
        assert fleet._PollSelect.select([a], [a], [], 0) == ([], [a], [])
        b.send(b"x")
        assert fleet._PollSelect.select([a], [], [], 1) == ([a], [], [])
        b.close()  # a hang-up reads as readable, as select() says
        a.recv(1)
        assert fleet._PollSelect.select([a], [], [], 1) == ([a], [], [])
        a.close()
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.long
def test_a_fleet_of_300_in_two_processes_for_two_minutes(stack, tmp_path):
    """The short test's fleet at a size where one process could not hold it (paho's select());
    `adsbin simulate --screens 1000 --minutes 10` beside `make run` is the full one (README)."""
    stack.campaign(media_samples.png(tmp_path))
    code, output = simulate(stack, tmp_path / "fleet", "--screens", "300", "--per-process",
                            "150", "--minutes", "2")
    assert code == 0, output
    assert "paired 300, online (MQTT) 300" in output
    assert "every unit's journal matches the server" in output
