"""`adsbin simulate`: a fleet of real agents (null renderer) in one process, paired through the
public API, playing and reporting; a second run carries on with the pairings it kept."""

from __future__ import annotations

import threading

import pytest
from typer.testing import CliRunner

from control_plane.cli import app as cli
from player_agent import simulate
from tests import media_samples
from tests.helpers import PASSWORD
from tests.player_agent.conftest import agent_settings


def test_a_fleet_pairs_plays_and_reports_and_a_second_run_carries_on(stack, tmp_path):
    stack.campaign(media_samples.png(tmp_path))  # the whole network: every simulated screen
    settings = agent_settings(stack, tmp_path / "fleet")
    said: list[str] = []

    def run(screens: int, seconds: float) -> dict[str, int]:
        return simulate.run(server_url=stack.agent_url, screens=screens, settings=settings,
                            email=stack.owner.email, password=PASSWORD, seconds=seconds,
                            every_s=1, stop=threading.Event(), say=said.append)

    counts = run(3, 10)
    assert "paired 3 new unit(s); 0 kept their pairing" in said
    assert counts["paired"] == counts["playing"] == counts["mqtt"] == 3
    assert counts["plays"] >= 3 and counts["accepted"] >= 1 and counts["dropped"] == 0
    venue = next(v for v in stack.http.get("/v1/venues", headers=stack.owner.headers)
                 .json()["items"] if v["name"] == simulate.VENUE_NAME)
    screens = stack.http.get(f"/v1/venues/{venue['id']}/screens",
                             headers=stack.owner.headers).json()["items"]
    assert sorted(s["name"] for s in screens) == ["sim-001", "sim-002", "sim-003"]
    for screen in screens:  # each unit's plays reached the server, under its own screen
        assert stack.pops(screen["id"]), screen["name"]

    said.clear()
    counts = run(4, 2)  # one more screen; the first three keep their state dirs and pairing
    assert "paired 1 new unit(s); 3 kept their pairing" in said
    assert counts["paired"] == 4


def test_a_unit_whose_state_was_lost_is_paired_again(stack, tmp_path):
    settings = agent_settings(stack, tmp_path / "fleet")
    kwargs = {"server_url": stack.agent_url, "screens": 1, "email": stack.owner.email,
              "password": PASSWORD, "seconds": 1, "every_s": 0.5, "say": lambda _: None}
    simulate.run(settings=settings, stop=threading.Event(), **kwargs)
    # a new state dir: the screen is still paired to the old unit, which is unpaired first
    fresh = settings.model_copy(update={"state_dir": tmp_path / "other"})
    said: list[str] = []
    counts = simulate.run(settings=fresh, stop=threading.Event(),
                          **(kwargs | {"say": said.append}))
    assert counts["paired"] == 1 and "paired 1 new unit(s); 0 kept their pairing" in said


def test_two_fleets_on_one_state_dir_are_refused(stack, tmp_path):
    settings = agent_settings(stack, tmp_path / "fleet")
    first = simulate.start_units([{"id": "scr_x", "name": "sim-001"}], settings)
    try:
        with pytest.raises(simulate.SimulationError, match="another `adsbin simulate`"):
            simulate.start_units([{"id": "scr_y", "name": "sim-000"},
                                  {"id": "scr_x", "name": "sim-001"}], settings)
    finally:
        simulate.stop_units(first)


@pytest.mark.parametrize(("args", "expected"), [
    (["--password", "wrong"], "cannot sign in as"),
    (["--server", "http://127.0.0.1:9"], "cannot reach http://127.0.0.1:9"),
])
def test_the_command_says_what_to_do_when_it_cannot_start(stack, tmp_path, args, expected):
    result = CliRunner().invoke(cli, ["simulate", "--screens", "2", "--server", stack.agent_url,
                                      "--email", stack.owner.email, "--password", PASSWORD,
                                      "--state-dir", str(tmp_path), *args])
    assert result.exit_code == 1
    assert expected in result.output and "next:" in result.output
