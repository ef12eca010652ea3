"""The broker restarted under a running fleet: the test's own Mosquitto (the control plane's
embedded one, on this test's port, with its persistence) is killed with -9, or stopped cleanly,
and started again. The agent and the control plane's bridge reconnect and subscribe again; a
change made after the restart reaches the agent over MQTT (its HTTP poll is an hour away); and
the screen's retained playlist announcement is on its topic for whoever subscribes next, even
after a crash lost what the broker had not saved."""

from __future__ import annotations

import json
import os
import signal
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from control_plane.devices.bridge import MqttBridge
from control_plane.devices.broker import EmbeddedBroker
from shared import topics
from tests import media_samples
from tests.live import free_port
from tests.player_agent.conftest import RunningAgent, agent_settings, until


def retained_version(host: str, port: int, username: str, password: str,
                     screen_id: str) -> str | None:
    """The version in the retained announcement on the screen's playlist topic, as a newly
    connecting device would receive it (its own account: it may read its own topics only)."""
    got: list[str] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{os.getpid()}")
    client.username_pw_set(username, password)

    def on_connect(c, _userdata, _flags, reason, _props):
        if reason.is_failure:
            done.set()
        else:
            c.subscribe(topics.playlist(screen_id), qos=1)

    def on_message(_c, _userdata, msg):
        if msg.retain:
            got.append(json.loads(msg.payload)["version"])
        done.set()

    client.on_connect, client.on_message = on_connect, on_message
    client.connect(host, port)
    client.loop_start()
    try:
        done.wait(3)
    finally:
        client.disconnect()
        client.loop_stop()
    return got[0] if got else None


@pytest.mark.long  # make test has test_a_bridge_that_lost_the_broker_hears_of_its_return
@pytest.mark.parametrize("how", ["kill -9", "clean"])
def test_after_a_broker_restart_agents_resubscribe_and_retained_playlists_arrive(
        stack, tmp_path, how):
    broker = stack.app.state.broker
    with RunningAgent(agent_settings(stack, tmp_path / "agent", poll_interval_s=3600.0,
                                     poll_jitter_s=0.0)) as running:
        agent = running.paired(stack).agent
        until(lambda: agent.session.mqtt.connected.is_set(), 30, "the agent on MQTT")
        bridge = stack.app.state.bridge
        creds = agent.credentials.mqtt
        mqtt_port = stack.mqtt_proxy.port
        first = agent.session.syncer.version
        assert retained_version("127.0.0.1", mqtt_port, creds.username, creds.password,
                                stack.screen["id"]) == first
        agent_connects, bridge_connects = agent.session.mqtt.connects, bridge.client.connects

        if how == "kill -9":
            os.kill(broker._proc.pid, signal.SIGKILL)
            broker._proc.wait(timeout=10)
        else:
            broker._proc.send_signal(signal.SIGTERM)
            broker._proc.wait(timeout=10)
        until(lambda: not agent.session.mqtt.connected.is_set(), 10, "the agent disconnected")
        broker.start()  # as its supervisor would
        until(lambda: agent.session.mqtt.connects > agent_connects, 60, "the agent back")
        until(lambda: bridge.client.connects > bridge_connects, 60, "the bridge back")

        # what the broker holds for the next device to subscribe is still the current playlist
        assert until(lambda: retained_version("127.0.0.1", mqtt_port, creds.username,
                                              creds.password, stack.screen["id"]), 20,
                     "a retained announcement") == first
        # and a change now reaches the agent by MQTT alone
        polls = agent.session.syncer.polls
        stack.campaign(media_samples.png(tmp_path))
        until(lambda: agent.session.syncer.version != first, 60, "the new playlist")
        assert agent.session.syncer.polls <= polls + 2  # announced, not found by polling
        assert retained_version("127.0.0.1", mqtt_port, creds.username, creds.password,
                                stack.screen["id"]) == agent.session.syncer.version


def test_a_bridge_that_lost_the_broker_hears_of_its_return(tmp_path):
    # what the long test above rests on: a crash loses the retained message, and the bridge's
    # reconnect callbacks (which put the playlists back) run once the broker is back
    broker = EmbeddedBroker(tmp_path, port=free_port())
    broker.start()
    bridge = MqttBridge(broker.url, username="svc", password="pw")
    try:
        broker.set_service(username="svc", password="pw")
        broker.set_device(username="dev", password="pw", screen_id="scr_1")
        back = threading.Event()
        bridge.on_reconnect(back.set)
        assert bridge.start()
        topic = topics.playlist("scr_1")
        assert bridge.publish(topic, json.dumps({"version": "v1"}), retain=True)
        assert retained_version("127.0.0.1", broker.port, "dev", "pw", "scr_1") == "v1"
        assert not back.wait(1.0)  # the first connection is no return
        os.kill(broker._proc.pid, signal.SIGKILL)
        broker._proc.wait(timeout=10)
        broker.start()
        assert back.wait(30), "the bridge did not say the broker was back"
        assert retained_version("127.0.0.1", broker.port, "dev", "pw", "scr_1") is None
    finally:
        bridge.stop()
        broker.stop()
