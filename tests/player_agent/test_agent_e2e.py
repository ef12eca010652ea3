"""The agent against a real control plane and Mosquitto on loopback (null renderer): pairing,
sync, playback, proof of play counted once per play, outages of the control plane and of the
broker, and unpairing."""

from __future__ import annotations

import json
import queue
import stat
import time
from collections import Counter

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from shared import topics
from tests import media_samples
from tests.player_agent.conftest import RunningAgent, agent_settings, until


def campaign_starts(running: RunningAgent, sha: str) -> int:
    return sum(1 for name in running.player.started if name == sha)


def test_pairs_plays_and_the_server_gets_exactly_one_record_per_play(stack, tmp_path):
    state = tmp_path / "agent"
    with RunningAgent(agent_settings(stack, state)) as running:
        agent = running.agent
        code = running.code()
        until(lambda: agent.playback.now_playing
              and agent.playback.now_playing["label"] == "pairing card", 10, "the code on screen")
        assert agent.status()["pairing_code"] == code
        stack.claim(code)
        until(lambda: agent.session and agent.session.mqtt.connected.is_set(), 30, "MQTT")
        for secret in (state / "credentials.json", state / "device_key.pem"):
            assert stat.S_IMODE(secret.stat().st_mode) == 0o600

        stack.campaign(media_samples.png(tmp_path))
        playlist = until(lambda: agent.programme.playlist if agent.programme.playlist
                         and agent.programme.playlist.media else None, 30, "the campaign")
        sha = playlist.media[0].sha256
        until(lambda: campaign_starts(running, sha) >= 3, 40, "three plays")
    plays = campaign_starts(running, sha)
    records = stack.pops()
    assert Counter(r["play_id"] for r in records).most_common(1)[0][1] == 1
    assert len(records) == plays  # every play once, nothing lost, nothing twice
    assert all(r["media_sha256"] == sha for r in records)
    complete = [r for r in records if r["completed"]]
    assert len(complete) >= plays - 1  # only the play cut by the stop may be incomplete
    assert all(abs(r["duration_ms"] - 5000) < 300 for r in complete)
    assert agent.cache.downloads == 1  # each hash fetched once
    assert agent.session is None and agent.playback.stats()["plays"] >= plays


def test_the_control_plane_away_changes_nothing_on_screen_and_the_backlog_arrives_once(
        stack, tmp_path):
    with RunningAgent(agent_settings(stack, tmp_path / "agent")) as running:
        agent = running.paired(stack).agent
        stack.campaign(media_samples.png(tmp_path))
        sha = until(lambda: agent.programme.playlist.media and
                    agent.programme.playlist.media[0].sha256, 30, "the campaign")
        until(lambda: campaign_starts(running, sha) >= 1, 30, "a first play")

        stack.api_proxy.cut()  # the control plane is gone for the agent
        before = campaign_starts(running, sha)
        until(lambda: campaign_starts(running, sha) >= before + 2, 30, "plays while offline")
        assert agent.journal.stats()["backlog"] >= 1
        assert agent.session.uploader.last_error  # it tried, and says why it could not
        stack.api_proxy.restore()
        until(lambda: agent.journal.stats()["backlog"] <= 1, 30, "the backlog sent")
    records = stack.pops()
    assert len(records) == len({r["play_id"] for r in records}) == campaign_starts(running, sha)


def subscribe_announcements(stack, credentials) -> tuple[mqtt.Client, queue.Queue[dict]]:
    """Watch the screen's playlist topic with the device's own login (another client id)."""
    inbox: queue.Queue[dict] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                         client_id=f"{credentials.mqtt.username}-test-watch")
    client.username_pw_set(credentials.mqtt.username, credentials.mqtt.password)
    client.on_message = lambda c, u, msg: inbox.put(json.loads(msg.payload) | {
        "arrived": time.monotonic()})
    client.connect("127.0.0.1", stack.app.state.settings.mqtt_port)
    client.loop_start()
    client.subscribe(topics.playlist(credentials.screen_id), qos=1)
    return client, inbox


def test_broker_down_changes_arrive_by_polling_and_broker_up_in_under_a_second(
        stack, tmp_path):
    with RunningAgent(agent_settings(stack, tmp_path / "agent", poll_interval_s=4.0,
                                     poll_jitter_s=0.5)) as running:
        agent = running.paired(stack).agent
        until(lambda: agent.session.mqtt.connected.is_set(), 30, "MQTT")
        stack.mqtt_proxy.cut()  # the broker is gone for the agent
        until(lambda: not agent.session.mqtt.connected.is_set(), 10, "MQTT lost")
        campaign = stack.campaign(media_samples.png(tmp_path))
        until(lambda: any(i.campaign_id == campaign["id"] for w in
                          agent.programme.playlist.timeline for i in w.loop), 30,
              "the change, by polling")
        assert agent.session.syncer.polls >= 2

        stack.mqtt_proxy.restore()
        until(lambda: agent.session.mqtt.connected.is_set(), 40, "MQTT back")
        watcher, inbox = subscribe_announcements(stack, agent.credentials)
        try:
            retained = inbox.get(timeout=10)
            assert retained["version"] == agent.session.syncer.version
            r = stack.http.post(f"/v1/campaigns/{campaign['id']}/pause",
                                headers=campaign["advertiser_headers"])
            assert r.status_code == 200, r.text
            changed = inbox.get(timeout=30)
            until(lambda: agent.session.syncer.version == changed["version"], 5,
                  "the new version adopted")
            applied_s = time.monotonic() - changed["arrived"]
            assert applied_s < 1.0, applied_s
        finally:
            watcher.disconnect()
            watcher.loop_stop()


def test_unpairing_revokes_the_unit_which_shows_a_new_code(stack, tmp_path):
    with RunningAgent(agent_settings(stack, tmp_path / "agent")) as running:
        agent = running.paired(stack).agent
        first_device = agent.credentials.device_id
        r = stack.http.delete(f"/v1/screens/{stack.screen['id']}/device",
                              headers=stack.owner.headers)
        assert r.status_code == 204
        until(lambda: agent.credentials is None and agent.pairing and agent.pairing.ticket,
              30, "a new pairing code")
        assert not (tmp_path / "agent" / "credentials.json").exists()
        stack.claim(agent.pairing.ticket.code)  # and it can be paired again, without a restart
        until(lambda: agent.credentials and agent.session, 30, "paired again")
        assert agent.credentials.device_id != first_device
