"""Remote commands reach a live agent over MQTT and are acknowledged with their result:
identify (between two items: a paid play is never cut for it), screenshot (uploaded and linked
from the command), resync, clear_cache, reboot; an expired command is ignored and a command
delivered twice runs once."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime, timedelta

from PIL import Image

from player_agent import cards
from player_agent.api import DeviceApi
from player_agent.clock import Clock
from player_agent.commands import CommandRunner, Done
from shared.device import Command
from tests import media_samples
from tests.player_agent.conftest import RunningAgent, agent_settings, until


def send(stack, type_: str) -> dict:
    r = stack.http.post(f"/v1/screens/{stack.screen['id']}/commands",
                        headers=stack.owner.headers, json={"type": type_})
    assert r.status_code == 201, r.text
    return r.json()


def finished(stack, command: dict) -> dict:
    def done():
        c = stack.http.get(f"/v1/screens/{stack.screen['id']}/commands/{command['id']}",
                           headers=stack.owner.headers).json()
        return c if c["status"] in ("acked", "failed", "expired") else None
    return until(done, 30, f"{command['type']} to finish")


def test_commands_run_on_a_live_agent_and_say_how_it_went(stack, tmp_path):
    flag = tmp_path / "rebooted"
    reboot = [sys.executable, "-c", f"open({str(flag)!r}, 'w').write('yes')"]
    with RunningAgent(agent_settings(stack, tmp_path / "agent", reboot_command=reboot,
                                     identify_s=2.0)) as running:
        agent = running.paired(stack).agent
        until(lambda: agent.session.mqtt.connected.is_set(), 30, "MQTT")
        stack.campaign(media_samples.png(tmp_path))
        until(lambda: (agent.playback.now_playing or {}).get("kind") == "campaign", 30,
              "the campaign on screen")

        identify = finished(stack, send(stack, "identify"))
        assert identify["status"] == "acked" and identify["result"].startswith("shown for 2 s")
        until(lambda: agent.playback.now_playing["kind"] == "campaign", 10, "back to the ads")

        shot = finished(stack, send(stack, "screenshot"))
        assert shot["status"] == "acked", shot
        png = stack.http.get(shot["screenshot_url"].replace(stack.agent_url, stack.url))
        assert png.status_code == 200
        assert Image.open(io.BytesIO(png.content)).format == "PNG"

        resync = finished(stack, send(stack, "resync"))
        assert resync["result"] == f"playlist {agent.session.syncer.version}"

        stale = agent.cache.path("0" * 64)
        stale.write_bytes(b"left over")
        cleared = finished(stack, send(stack, "clear_cache"))
        assert cleared["status"] == "acked" and not stale.exists()
        assert cleared["details"]["files"] >= 1
        until(lambda: agent.session.syncer.last_sync_at, 10)
        until(lambda: agent.cache.stats()["files"] == 1, 20, "the horizon fetched again")

        rebooted = finished(stack, send(stack, "reboot"))
        assert rebooted["status"] == "acked"
        until(lambda: flag.exists(), 10, "the reboot command run")


def test_identify_waits_for_the_ad_on_screen_to_end_so_its_play_stays_billable(stack, tmp_path):
    with RunningAgent(agent_settings(stack, tmp_path / "agent", identify_s=2.0)) as running:
        agent = running.paired(stack).agent
        until(lambda: agent.session.mqtt.connected.is_set(), 30, "MQTT")
        stack.campaign(media_samples.png(tmp_path), duration_s=5)

        def an_ad_just_started() -> dict | None:
            playing = agent.playback.now_playing or {}
            started = playing.get("started_at")
            fresh = started and datetime.now(UTC) - datetime.fromisoformat(started) < timedelta(
                seconds=1)
            return playing if playing.get("kind") == "campaign" and fresh else None

        ad = until(an_ad_just_started, 60, "an ad starting")
        identify = finished(stack, send(stack, "identify"))

        def the_ads_record() -> dict | None:
            return next((r for r in stack.pops() if abs(
                (datetime.fromisoformat(r["started_at"])
                 - datetime.fromisoformat(ad["started_at"])).total_seconds()) < 0.002), None)

        record = until(the_ads_record, 30, "the ad's proof of play on the server")
        assert record["completed"] is True, record  # billable: played to its end, not cut
        assert abs(record["duration_ms"] - 5000) < 500, record
        # acknowledged once the card was up: after the ad, not over it
        assert identify["status"] == "acked", identify
        assert identify["result"].startswith(f"shown for 2 s after {ad['label']} ended"), identify
        assert identify["details"]["waited_s"] >= 2  # the ad had some 4 s left to play
        card = cards.identify_card(agent.state.cards_dir, agent.programme.screen_size,
                                   screen_name=stack.screen["name"], screen_id=stack.screen["id"],
                                   device_id=agent.credentials.device_id).name
        started = running.player.started
        shown_at = started.index(card)
        assert started[shown_at - 1] == ad["media_sha256"]
        until(lambda: len(started) > shown_at + 1, 10, "the ads again")
        assert started[shown_at + 1] == ad["media_sha256"]


def test_expired_commands_are_ignored_and_repeats_run_once(tmp_path):
    runs: list[str] = []

    def identify(command: Command) -> Done:
        runs.append(command.id)
        return Done("ok")

    api = DeviceApi("http://127.0.0.1:9")  # nothing listens: acks fail quietly
    runner = CommandRunner(api=api, clock=Clock(), seen_file=tmp_path / "seen.json",
                           actions={"identify": identify})
    now = datetime.now(UTC)
    runner.handle(Command(id="old", type="identify", expires_at=now - timedelta(seconds=1)))
    fresh = Command(id="new", type="identify", expires_at=now + timedelta(minutes=5))
    runner.handle(fresh)
    runner.handle(fresh)  # QoS 1 and the HTTP poll may both bring it
    assert runs == ["new"]
    again = CommandRunner(api=api, clock=Clock(), seen_file=tmp_path / "seen.json",
                          actions={"identify": identify})
    again.handle(fresh)  # nor after a restart
    assert runs == ["new"]
    runner.handle(Command(id="x", type="reboot", expires_at=now + timedelta(minutes=5)))
    assert runner.handled[-1] == ("x", "reboot", "failed")  # no action: failed, with a reason
    api.close()


def test_a_command_sent_while_the_broker_is_away_arrives_over_http(stack, tmp_path):
    with RunningAgent(agent_settings(stack, tmp_path / "agent")) as running:
        agent = running.paired(stack).agent
        until(lambda: agent.session.mqtt.connected.is_set(), 30, "MQTT")
        stack.mqtt_proxy.cut()
        until(lambda: not agent.session.mqtt.connected.is_set(), 10, "MQTT lost")
        command = send(stack, "identify")
        assert command["published"] is True  # the broker took it; the agent was not there
        done = finished(stack, command)
        assert done["status"] == "acked"  # polled over HTTP, acknowledged over HTTP
