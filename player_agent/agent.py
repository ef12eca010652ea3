"""The agent: playback always, a paired session (sync, proof of play, MQTT, commands) once it
has credentials, and housekeeping (heartbeats, clock, status file, systemd watchdog).

Playback starts first and never waits for the network: it plays the last adopted playlist from
cache, or a card. Pairing runs until someone claims the code; a token the server later refuses
(the screen was unpaired) ends the session and the unit shows a new code, without a restart.
"""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from player_agent import __version__, cards, health, systemd
from player_agent.api import ApiError, DeviceApi, Offline
from player_agent.cache import MediaCache
from player_agent.clock import Clock
from player_agent.commands import CommandRunner, Done
from player_agent.journal import Journal
from player_agent.mqtt import AgentMqtt
from player_agent.pairing import Pairing
from player_agent.playback import Playback
from player_agent.programme import Programme
from player_agent.render import MediaPlayer, make_player
from player_agent.settings import AgentSettings
from player_agent.state import StateDir
from player_agent.sync import Syncer
from player_agent.uploader import PopUploader
from shared.agent import AgentCredentials
from shared.device import Command, Display, Heartbeat

STATUS_EVERY_S = 1.0  # how often the status is looked at (and written if it changed)
STATUS_REFRESH_S = 10.0  # written at least this often, so readers know the agent runs
DEFAULT_DISPLAY = (1920, 1080)
STOP_FLUSH_S = 5.0
STOP_SEND_S = 20.0  # a stopping unit's tries at sending its journal (systemd waits 90 s)
ACK_MARGIN_S = 5.0  # an ack this close to the command's expiry might reach the server too late

log = logging.getLogger(__name__)


class Session:
    """What runs while the unit is paired."""

    def __init__(self, agent: Agent, credentials: AgentCredentials) -> None:
        s = agent.settings
        self.credentials = credentials
        self.stop = threading.Event()
        agent.api.set_token(credentials.device_token)
        self.syncer = Syncer(api=agent.api, cache=agent.cache, programme=agent.programme,
                             state=agent.state, screen_id=credentials.screen_id,
                             interval_s=s.poll_interval_s, jitter_s=s.poll_jitter_s,
                             retry_min_s=s.retry_min_s, retry_max_s=s.retry_max_s,
                             on_revoked=agent.revoked.set)
        self.uploader = PopUploader(api=agent.api, journal=agent.journal,
                                    key=agent.state.device_key(),
                                    device_id=credentials.device_id,
                                    batch_size=s.pop_batch_size, interval_s=s.pop_upload_interval_s,
                                    retry_min_s=s.retry_min_s, retry_max_s=s.retry_max_s,
                                    on_revoked=agent.revoked.set)
        self.mqtt = AgentMqtt(credentials.mqtt, screen_id=credentials.screen_id,
                              device_id=credentials.device_id)
        self.commands = CommandRunner(api=agent.api, clock=agent.clock, mqtt=self.mqtt,
                                      seen_file=agent.state.root / "commands_seen.json",
                                      actions=agent.command_actions(self))
        self.mqtt.on("playlist", self._announced)
        self.mqtt.on("commands", self.commands.receive)
        self.threads = [
            threading.Thread(target=self.syncer.run, args=(self.stop,), name="sync", daemon=True),
            threading.Thread(target=self.uploader.run, args=(self.stop,), name="pop",
                             daemon=True),
            threading.Thread(target=self.commands.run, args=(self.stop, s.poll_interval_s),
                             name="commands", daemon=True),
        ]

    def _announced(self, payload: bytes) -> None:
        try:
            version = json.loads(payload).get("version")
        except (ValueError, AttributeError):
            version = None
        self.syncer.request(str(version) if version else None)

    def start(self) -> None:
        """Connect and start the session's threads."""
        self.mqtt.start()
        for thread in self.threads:
            thread.start()

    def close(self, *, flush: bool, revoked: threading.Event | None = None) -> None:
        """Stop the threads; with `flush`, send the journal, trying again for up to
        STOP_SEND_S while the server is busy (a fleet stopping at once; what is not sent stays
        journaled for the next start)."""
        self.stop.set()
        self.syncer.wake.set()
        self.uploader.wake.set()
        for thread in self.threads:
            thread.join(timeout=STOP_FLUSH_S)
        if flush:
            self.uploader.flush_before_stop(STOP_SEND_S, revoked=revoked)
        self.mqtt.stop()


class Agent:
    """One display unit's agent."""

    def __init__(self, settings: AgentSettings, *, player: MediaPlayer | None = None,
                 operator_token: str | None = None) -> None:
        self.settings = settings
        self.operator_token = operator_token  # pairing on an operator's behalf (simulate)
        self.state = StateDir(settings.state_dir).create()
        self._lock = self.state.lock()
        self.clock = Clock(self.state.root / "clock.json")
        self.cache = MediaCache(self.state.cache_dir, quota_bytes=settings.cache_quota_bytes,
                                parallel=settings.max_parallel_downloads)
        self.journal = Journal(self.state.journal_file, max_records=settings.journal_max_records)
        recovered = self.journal.recover()
        if recovered:
            log.warning("%d play(s) cut short by the last stop are reported as incomplete",
                        recovered)
        self.display = Display(width_px=settings.display_width_px or DEFAULT_DISPLAY[0],
                               height_px=settings.display_height_px or DEFAULT_DISPLAY[1])
        self.player = player or make_player(settings)
        self.programme = Programme(cache=self.cache, clock=self.clock,
                                   cards_dir=self.state.cards_dir,
                                   screen_size=(self.display.width_px, self.display.height_px),
                                   card_s=settings.card_s)
        self.api = DeviceApi(settings.server_url)
        self.credentials = self.state.credentials()
        if self.credentials is not None:
            saved = self.state.playlist()
            if saved is not None and saved.screen_id == self.credentials.screen_id:
                self.programme.adopt(saved)  # play on at once, before any network
        self.playback = Playback(player=self.player, programme=self.programme,
                                 journal=self.journal, clock=self.clock,
                                 screen_id=lambda: self.credentials.screen_id
                                 if self.credentials else None,
                                 stall_s=settings.stall_s,
                                 start_timeout_s=settings.start_timeout_s)
        self.stop_event = threading.Event()
        self.revoked = threading.Event()
        self.session: Session | None = None
        self.pairing: Pairing | None = None
        self.started_mono = time.monotonic()

    # --- running ---------------------------------------------------------------------------

    def run(self) -> None:
        """Run until `stop()`."""
        threads = [threading.Thread(target=self.playback.run, name="playback", daemon=True),
                   threading.Thread(target=self._housekeeping, name="housekeeping",
                                    daemon=True)]
        for thread in threads:
            thread.start()
        systemd.notify("READY=1", "STATUS=playing")
        try:
            while not self.stop_event.is_set():
                if self.credentials is None:
                    self.pairing = Pairing(api=self.api, state=self.state,
                                           programme=self.programme, clock=self.clock,
                                           display=self.display, agent_version=__version__,
                                           retry_min_s=self.settings.retry_min_s,
                                           retry_max_s=self.settings.retry_max_s,
                                           operator_token=self.operator_token)
                    self.credentials = self.pairing.run(self.stop_event)
                    self.operator_token = self.pairing.operator_token  # None once refused
                    self.pairing = None
                    continue
                self.session = Session(self, self.credentials)
                self.session.start()
                while not (self.stop_event.is_set() or self.revoked.is_set()):
                    self.stop_event.wait(0.5)
                session, self.session = self.session, None
                if self.stop_event.is_set():
                    self._stop_playback(threads)  # closes the last play, so the flush has it
                session.close(flush=not self.revoked.is_set(), revoked=self.revoked)
                if self.revoked.is_set():
                    self._forget_pairing()
        finally:
            self._stop_playback(threads)
            self.player.close()
            self.journal.close()
            self.api.close()
            self._lock.close()
            systemd.notify("STOPPING=1")

    def stop(self) -> None:
        """Ask `run()` to return."""
        self.stop_event.set()

    def _stop_playback(self, threads: list[threading.Thread]) -> None:
        self.playback.stop()
        for thread in threads:
            thread.join(timeout=STOP_FLUSH_S)

    def _forget_pairing(self) -> None:
        log.warning("this unit was unpaired: showing a new pairing code")
        self.revoked.clear()
        self.credentials = None
        self.api.set_token(None)
        self.state.forget_credentials()
        self.state.playlist_file.unlink(missing_ok=True)
        self.programme.reset()

    def _housekeeping(self) -> None:
        next_beat = next_clock = next_watchdog = next_status = 0.0
        written: dict[str, Any] | None = None
        watchdog_s = systemd.watchdog_interval_s()
        while not self.stop_event.wait(STATUS_EVERY_S):
            now = time.monotonic()
            session = self.session
            if session is not None and now >= next_clock:
                next_clock = now + self.settings.clock_check_interval_s
                self._measure_clock()
            if session is not None and now >= next_beat:
                next_beat = now + self.settings.heartbeat_interval_s
                self.send_heartbeat(session)
            if watchdog_s and now >= next_watchdog:
                next_watchdog = now + watchdog_s
                if now - self.playback.progress_mono < 2 * watchdog_s:
                    systemd.notify("WATCHDOG=1")  # only while playback makes progress
            status = self.status()
            if {**status, "uptime_s": None} == written and now < next_status:
                continue  # unchanged: rewritten every ten seconds, not every second
            try:
                self.state.write_status(status)
                written, next_status = {**status, "uptime_s": None}, now + STATUS_REFRESH_S
            except OSError as exc:  # a full disk: the heartbeat still says so, and this goes on
                log.warning("the status file could not be written: %s", exc)

    def _measure_clock(self) -> None:
        try:
            offset = self.clock.measure(self.api.server_time)
        except (Offline, ApiError) as exc:
            log.debug("clock check: %s", exc)
            return
        if abs(offset) > 2000:
            log.warning("this unit's clock is %+.1f s off the server's; plays are corrected",
                        offset / 1000)

    def heartbeat(self) -> Heartbeat:
        """The unit's health now."""
        return Heartbeat(sent_at=self.clock.now(), agent_version=__version__,
                         now_playing=self.playback.now_playing,
                         cache=self.cache.stats(),
                         disk_free_bytes=health.disk_free_bytes(self.state.root),
                         temperature_c=health.temperature_c(), uptime_s=health.uptime_s(),
                         clock_offset_ms=self.clock.offset_ms)

    def send_heartbeat(self, session: Session) -> str:
        """Send a heartbeat over MQTT, or HTTP when the broker is away; which one it took."""
        beat = self.heartbeat()
        if session.mqtt.publish("heartbeat", beat.model_dump_json(by_alias=True), qos=0):
            return "mqtt"
        try:
            self.clock.measure(lambda: self.api.heartbeat(beat).server_time)
        except (Offline, ApiError) as exc:
            log.info("heartbeat not sent: %s", exc)
            return "none"
        return "http"

    # --- commands --------------------------------------------------------------------------

    def command_actions(self, session: Session) -> dict[Any, Any]:
        """What each command type does on this unit."""
        def resync(_: Command) -> Done:
            session.syncer.request()
            if not session.syncer.wait_synced(60):
                raise RuntimeError("the sync did not finish within 60 s")
            return Done(f"playlist {session.syncer.version or 'none'}",
                        {"playlist_version": session.syncer.version,
                         "error": session.syncer.last_error})

        def screenshot(command: Command) -> Done:
            if not command.upload_url:
                raise RuntimeError("the command carries no upload URL")
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "screenshot.png"
                if not self.player.snapshot(path):
                    raise RuntimeError("the renderer could not take a snapshot")
                data = path.read_bytes()
            self.api.upload(command.upload_url, data, "image/png")
            return Done(f"uploaded {len(data)} bytes", {"bytes": len(data)})

        def identify(command: Command) -> Done:
            creds = session.credentials
            card = cards.identify_card(self.state.cards_dir, self.programme.screen_size,
                                       screen_name=command.screen_name,
                                       screen_id=creds.screen_id,
                                       device_id=creds.device_id)
            return self._show_interlude(command, session, card)

        def clear_cache(_: Command) -> Done:
            playing = (self.playback.now_playing or {}).get("media_sha256")
            files, freed = self.cache.clear(keep={playing} if playing else set())
            session.syncer.request()  # fetch the horizon again
            return Done(f"removed {files} files ({freed} bytes)", {"files": files,
                                                                   "bytes": freed})

        def reboot(_: Command) -> Done:
            command = self.settings.reboot_command

            def run_it() -> None:
                subprocess.Popen(command)  # noqa: S603 - the operator's own setting

            return Done(f"rebooting with: {' '.join(command)}", after_ack=run_it)

        return {"resync": resync, "screenshot": screenshot, "identify": identify,
                "clear_cache": clear_cache, "reboot": reboot}

    def _show_interlude(self, command: Command, session: Session, card: Path) -> Done:
        """Put `card` up once the item playing ends, acknowledged when it is up (before the
        command expires, or it fails: the server would refuse a later ack)."""
        seconds = self.settings.identify_s
        asked = time.monotonic()
        before = (self.playback.now_playing or {}).get("label")
        interlude = self.programme.identify(card, seconds)
        left_s = (command.expires_at - self.clock.now()).total_seconds() - ACK_MARGIN_S
        while not interlude.shown.wait(0.2):
            if not (session.stop.is_set() or time.monotonic() - asked > left_s):
                continue
            # too late: withdrawn, unless the playback loop took it just now and puts it up
            if self.programme.withdraw(interlude) or not interlude.shown.wait(
                    self.settings.start_timeout_s):
                raise RuntimeError("the item playing did not end before the command expired: "
                                   "the identify card was not shown")
        waited_s = round((interlude.shown_mono or asked) - asked, 1)
        after = f" after {before} ended ({waited_s:g} s later)" if waited_s >= 0.5 else ""
        return Done(f"shown for {seconds:g} s{after}",
                    {"shown_for_s": seconds, "waited_s": waited_s, "after": before})

    # --- status ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Everything `adsbin agent status` shows."""
        session = self.session
        pairing = self.pairing
        ticket = pairing.ticket if pairing else None
        now_playing = self.playback.now_playing
        return {
            "version": __version__,
            "server_url": self.settings.server_url,
            "state": "paired" if self.credentials else "pairing",
            "pairing_code": ticket.code if ticket else None,
            "pairing_expires_at": ticket.expires_at.isoformat() if ticket else None,
            "device_id": self.credentials.device_id if self.credentials else None,
            "screen_id": self.credentials.screen_id if self.credentials else None,
            "now_playing": now_playing,
            # from the play on screen, in one read: what is on screen and why never disagree
            "showing": (now_playing or {}).get("showing", "starting"),
            "playback": self.playback.stats(),
            "sync": session.syncer.stats() if session else None,
            "mqtt_connected": bool(session and session.mqtt.connected.is_set()),
            # refused_credentials: the broker refused the login and the agent stopped retrying
            "mqtt_state": session.mqtt.state.value if session else None,
            "pop": session.uploader.stats() if session else None,
            "cache": self.cache.stats(),
            "journal": self.journal.stats(),
            "clock_offset_ms": self.clock.offset_ms,
            "uptime_s": round(time.monotonic() - self.started_mono, 1),
        }
