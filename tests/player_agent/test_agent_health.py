"""Health: heartbeats over MQTT show on the screen (online, now playing, version); with the
broker gone they go over HTTP; systemd hears READY=1, and WATCHDOG=1 only while playback makes
progress; the facts a heartbeat carries are real or absent."""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import datetime
from pathlib import Path

from player_agent import health
from player_agent.render.null import NullPlayer
from tests import media_samples
from tests.player_agent.conftest import RunningAgent, agent_settings, until


def screen(stack) -> dict:
    return stack.http.get(f"/v1/screens/{stack.screen['id']}", headers=stack.owner.headers).json()


def test_heartbeats_over_mqtt_then_http_when_the_broker_is_away(stack, tmp_path):
    with RunningAgent(agent_settings(stack, tmp_path / "agent")) as running:
        agent = running.paired(stack).agent
        stack.campaign(media_samples.png(tmp_path))
        shown = until(lambda: (s := screen(stack))["status"] == "online"
                      and (s.get("now_playing") or {}).get("kind") == "campaign" and s, 30,
                      "the screen online, playing the campaign")
        assert shown["agent_version"] == "0.1.0"
        assert agent.send_heartbeat(agent.session) == "mqtt"

        stack.mqtt_proxy.cut()
        until(lambda: not agent.session.mqtt.connected.is_set(), 10, "MQTT lost")
        assert agent.send_heartbeat(agent.session) == "http"
        seen = datetime.fromisoformat(screen(stack)["last_seen_at"])
        until(lambda: datetime.fromisoformat(screen(stack)["last_seen_at"]) > seen, 10,
              "HTTP heartbeats keep the screen seen")
        assert screen(stack)["status"] == "online"


class StuckPlayer(NullPlayer):
    """A renderer that, once stuck, never plays again, restart or not (a wedged GPU driver)."""

    stuck = False

    def start(self, item):
        if self.stuck:
            with self._lock:
                self._token += 1
                return self._token
        return super().start(item)

    def position_ms(self):
        return 0 if self.stuck else super().position_ms()


def test_systemd_hears_ready_and_a_watchdog_tied_to_playback_progress(stack, tmp_path,
                                                                       monkeypatch):
    sock_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(sock_path))
    listener.settimeout(0.2)
    heard: list[tuple[float, str]] = []
    done = threading.Event()

    def listen() -> None:
        while not done.is_set():
            try:
                heard.append((time.monotonic(), listener.recv(4096).decode()))
            except TimeoutError:
                continue

    monkeypatch.setenv("NOTIFY_SOCKET", str(sock_path))
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # WatchdogSec=1: a ping every 0.5 s
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    player = StuckPlayer()
    try:
        with RunningAgent(agent_settings(stack, tmp_path / "agent", stall_s=1.0,
                                         start_timeout_s=1.0), player=player) as running:
            until(lambda: any("READY=1" in m for _, m in heard), 10, "READY=1")
            until(lambda: sum("WATCHDOG=1" in m for _, m in heard) >= 3, 10, "watchdog pings")
            player.stuck = True
            player.hang()
            stuck_at = time.monotonic()
            until(lambda: running.agent.playback.restarts >= 2, 15, "renderer restarts")
            time.sleep(2.5)
            late = [t for t, m in heard if "WATCHDOG=1" in m and t > stuck_at + 2.0]
            assert late == []  # no progress, no pings: systemd would restart the agent
    finally:
        done.set()
        thread.join()
        listener.close()
    assert any("STOPPING=1" in m for _, m in heard)


def test_health_facts_are_read_or_absent(tmp_path):
    zones = tmp_path / "thermal"
    for n, milli in enumerate(("45000", "61500", "garbage")):
        (zones / f"thermal_zone{n}").mkdir(parents=True)
        (zones / f"thermal_zone{n}" / "temp").write_text(milli)
    assert health.temperature_c(zones) == 61.5
    assert health.temperature_c(tmp_path / "none") is None
    assert health.disk_free_bytes(tmp_path) > 0
    assert health.disk_free_bytes(Path("/no/such/dir")) is None
    uptime = tmp_path / "uptime"
    uptime.write_text("12345.67 99.0\n")
    assert health.uptime_s(uptime) == 12345.67
    assert health.uptime_s(tmp_path / "missing") is None


def test_a_refused_mqtt_login_stops_the_retries_and_shows_in_the_status(stack, tmp_path):
    with RunningAgent(agent_settings(stack, tmp_path / "agent")) as running:
        agent = running.paired(stack).agent
        until(lambda: agent.session.mqtt.connected.is_set(), 30, "MQTT")
        assert agent.status()["mqtt_state"] == "connected"
        creds = agent.credentials
        # The broker account's password changes under the agent (its HTTP token stays good):
        # the broker ends its session, and its next login is refused.
        stack.app.state.broker.set_device(username=creds.mqtt.username, password="rotated",
                                          screen_id=creds.screen_id)
        until(lambda: agent.status()["mqtt_state"] == "refused_credentials", 15,
              "the refusal in the status")
        assert not agent.status()["mqtt_connected"]
        assert agent.send_heartbeat(agent.session) == "http"  # HTTP carries on without MQTT
