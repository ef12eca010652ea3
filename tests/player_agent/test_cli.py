"""`adsbin agent` and `adsbin agent status`: settings from flags over the environment over the
config file that enroll writes; the status of a running agent and of one that is not."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from player_agent.cli import app
from player_agent.journal import Journal
from player_agent.settings import load_settings
from player_agent.state import StateDir
from shared.agent import AgentConfig, AgentCredentials, write_private_json
from shared.device import MqttCredentials
from tests import media_samples
from tests.player_agent.conftest import RunningAgent, agent_settings, until

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_flags_over_environment_over_the_config_file(tmp_path, monkeypatch):
    config = tmp_path / "agent.json"
    write_private_json(config, AgentConfig(server_url="https://file.example", renderer="null",
                                           state_dir=tmp_path / "from-file",
                                           cache_quota_bytes=1234))
    settings = load_settings(config)
    assert (settings.server_url, settings.renderer, settings.cache_quota_bytes) == (
        "https://file.example", "null", 1234)
    monkeypatch.setenv("ADSBIN_AGENT_SERVER_URL", "https://env.example")
    assert load_settings(config).server_url == "https://env.example"
    flagged = load_settings(config, server_url="https://flag.example", state_dir=None)
    assert flagged.server_url == "https://flag.example"
    assert flagged.state_dir == tmp_path / "from-file"  # a flag not given changes nothing


def test_bad_settings_and_a_missing_config_say_what_to_do(tmp_path):
    r = runner.invoke(app, ["--config", str(tmp_path / "nope.json")])
    assert r.exit_code == 2 and "adsbin provision enroll" in r.output
    r = runner.invoke(app, ["--renderer", "mpv", "--state-dir", str(tmp_path)])
    assert r.exit_code == 2 and "invalid agent settings" in r.output


def test_status_of_a_stopped_unit_comes_from_its_state_dir(tmp_path):
    state = StateDir(tmp_path / "state").create()
    state.device_key()  # what an agent leaves behind once it asked for a code
    r = runner.invoke(app, ["status", "--state-dir", str(state.root), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["state"] == "pairing"
    write_private_json(state.credentials_file, AgentCredentials(
        server_url="http://x", device_id="dev_1", screen_id="scr_1", device_token="t",
        mqtt=MqttCredentials(url="mqtt://x:1883", username="u", password="p")))
    Journal(state.journal_file).close()
    report = json.loads(runner.invoke(app, ["status", "--state-dir", str(state.root),
                                            "--json"]).stdout)
    assert report["running"] is False and report["state"] == "paired"
    assert report["screen_id"] == "scr_1" and report["journal"]["backlog"] == 0


def test_status_of_a_dir_where_no_agent_ran_says_so_and_what_to_do(tmp_path):
    for args in (["--state-dir", str(tmp_path / "nope")],
                 ["--state-dir", str(tmp_path / "nope"), "--json"]):
        r = runner.invoke(app, ["status", *args])
        assert r.exit_code == 1, r.output
        assert f"there is no agent state dir {tmp_path / 'nope'}" in r.output
        assert "next:" in r.output and "--state-dir of an agent that has run" in r.output
        assert "pairing" not in r.output  # not mistaken for an unpaired unit
    (tmp_path / "empty").mkdir()
    r = runner.invoke(app, ["status", "--state-dir", str(tmp_path / "empty")])
    assert r.exit_code == 1 and "no agent has run with the state dir" in r.output


def test_status_names_the_campaign_on_screen_and_says_what_shows(stack, tmp_path):
    state = tmp_path / "agent"
    # half the loop unsold: the built-in card (no house content) plays between the ads
    campaign = stack.campaign(media_samples.png(tmp_path), duration_s=5, share_of_voice=0.5)
    seen: set[str] = set()
    with RunningAgent(agent_settings(stack, state)) as running:
        running.paired(stack)
        deadline = time.monotonic() + 60
        while {"campaign", "card"} - seen and time.monotonic() < deadline:
            report = json.loads(runner.invoke(app, ["status", "--state-dir", str(state),
                                                    "--json"]).stdout)
            playing = report.get("now_playing") or {}
            if playing.get("kind") == "campaign":
                assert playing["campaign_id"] == campaign["id"]
                assert playing["label"].startswith(f"campaign {campaign['id']} (creative ")
                assert report["showing"] == f"the schedule: {playing['label']}", report
                seen.add("campaign")
            elif playing.get("label") == "built-in card":
                assert report["showing"].startswith("the built-in card"), report
                seen.add("card")
            time.sleep(0.25)
        assert seen == {"campaign", "card"}
        until(lambda: (StateDir(state).read_status() or {}).get("now_playing", {}).get("kind")
              == "campaign", 30, "the ad in the status file")
        table = runner.invoke(app, ["status", "--state-dir", str(state)]).stdout
        assert f"campaign {campaign['id']} (creative " in table and "showing" in table


def test_status_of_a_running_agent_shows_its_code_then_its_screen(stack, tmp_path):
    state = tmp_path / "agent"
    with RunningAgent(agent_settings(stack, state)) as running:
        code = running.code()
        until(lambda: (StateDir(state).read_status() or {}).get("pairing_code"), 10)
        table = runner.invoke(app, ["status", "--state-dir", str(state)]).stdout
        assert "running" in table and "yes" in table and code in table
        running.paired(stack)
        until(lambda: (StateDir(state).read_status() or {}).get("screen_id"), 10)
        report = json.loads(runner.invoke(app, ["status", "--state-dir", str(state),
                                                "--json"]).stdout)
        assert report["running"] and report["screen_id"] == stack.screen["id"]
        assert report["mqtt_connected"] and report["sync"]["playlist_version"]


def test_the_agent_runs_under_adsbin_and_as_a_module():
    for argv in ([sys.executable, "-m", "player_agent", "--help"],
                 [str(Path(sys.executable).parent / "adsbin"), "agent", "--help"]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                              env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
        assert done.returncode == 0, done.stderr
        assert "--state-dir" in done.stdout and "status" in done.stdout
