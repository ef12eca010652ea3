"""`adsbin simulate`: a fleet of real agents (null renderer) in one process, paired through the
public API, playing and reporting; a second run carries on with the pairings it kept."""

from __future__ import annotations

import base64
import logging
import secrets
import threading
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner

from control_plane.cli import app as cli
from player_agent import simulate
from tests import media_samples
from tests.helpers import PASSWORD, with_settings
from tests.player_agent.conftest import agent_settings, until


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


class TestAFleetBehindOneAddress:
    """More units than the anonymous per-address pairing limit (here 2 a minute, as 50 screens
    against the default 30), on one address, as `adsbin simulate` beside `make run` is."""

    @pytest.fixture
    def settings(self, settings: Any) -> Any:
        return with_settings(settings, pairing_requests_per_minute=2)

    def test_pairs_at_once_and_counts_the_plays_the_server_counts(self, stack, tmp_path,
                                                                   caplog):
        # half the loop unsold: built-in cards (never reported) play between the ads
        stack.campaign(media_samples.png(tmp_path), duration_s=5, share_of_voice=0.5)
        said: list[str] = []
        stop = threading.Event()
        done: dict[str, dict[str, int]] = {}

        def fleet() -> None:
            done["counts"] = simulate.run(
                server_url=stack.agent_url, screens=4,
                settings=agent_settings(stack, tmp_path / "fleet"), email=stack.owner.email,
                password=PASSWORD, seconds=None, every_s=1, stop=stop, say=said.append)

        thread = threading.Thread(target=fleet, daemon=True)
        with caplog.at_level(logging.WARNING, logger="player_agent.pairing"):
            thread.start()
            try:
                until(lambda: any(line.startswith("paired") for line in said), 60, "pairing")
                screens = [s["id"] for s in fleet_screens(stack)]
                until(lambda: sum(1 for sid in screens for r in stack.pops(sid)
                                  if r["campaign_id"]) >= 4, 90, "ads reported")
                lines = len(said)
                until(lambda: len(said) >= lines + 2, 10, "a summary taken since")
            finally:
                stop.set()
                thread.join(timeout=60)
        counts = done["counts"]
        assert "paired 4 new unit(s); 0 kept their pairing" in said
        assert not [r for r in caplog.records if "429" in r.getMessage()]  # none refused
        assert counts["paired"] == 4 and counts["accepted"] >= 4, said
        # every play counted is one sent as proof of play: accepted, or still in the journal
        # (which also holds the play each unit has on screen)
        sent = counts["accepted"] + counts["backlog"]
        assert sent - counts["units"] <= counts["plays"] <= sent, counts
        assert counts["card_plays"] > 0  # counted apart
        assert "built-in card plays, not reported:" in said[-2]
        # and the anonymous limit still holds for a unit nobody vouches for
        codes = [stack.http.post("/v1/device/pairings", json=pairing_request()).status_code
                 for _ in range(3)]
        assert codes == [201, 201, 429]


def test_a_unit_whose_operator_sign_in_is_refused_asks_alone_and_pairs(stack, tmp_path):
    screens = simulate.ensure_screens(stack.http, stack.owner.headers, 1)
    units = simulate.start_units(screens, agent_settings(stack, tmp_path / "fleet"),
                                 operator_token="expired-long-ago")
    try:
        assert simulate.pair_units(stack.http, stack.owner.headers, units) == 1
        until(lambda: units[0].agent.credentials, 30, "the credentials")
    finally:
        simulate.stop_units(units)


def fleet_screens(stack) -> list[dict[str, Any]]:
    """The simulated fleet's screens."""
    venue = next(v for v in stack.http.get("/v1/venues", headers=stack.owner.headers)
                 .json()["items"] if v["name"] == simulate.VENUE_NAME)
    return list(stack.http.get(f"/v1/venues/{venue['id']}/screens",
                               headers=stack.owner.headers).json()["items"])


def pairing_request() -> dict[str, Any]:
    """What an unpaired unit sends."""
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"fingerprint": secrets.token_hex(16), "public_key": base64.b64encode(raw).decode(),
            "display": {"width_px": 1920, "height_px": 1080}, "agent_version": "0.1.0"}


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
