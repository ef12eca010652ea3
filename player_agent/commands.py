"""Remote commands: received over MQTT (or polled over HTTP when the broker is away), run one at
a time, acknowledged `delivered` on receipt and `acked` or `failed` with a result when done.

A command past its `expires_at` (by the corrected clock) is ignored: the server has already
marked it expired. Ids already handled are remembered on disk, because QoS 1 and the HTTP poll
may both bring the same command, and a restart must not run it again.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from player_agent.api import ApiError, DeviceApi, Offline
from player_agent.clock import Clock
from player_agent.mqtt import AgentMqtt
from player_agent.state import write_atomic
from shared.device import Command, CommandAck, CommandType

REMEMBERED_IDS = 500

log = logging.getLogger(__name__)


@dataclass
class Done:
    """What running a command gave: a result line, details, and what to do after the ack."""

    result: str
    details: dict[str, Any] = field(default_factory=dict)
    after_ack: Callable[[], None] | None = None


Action = Callable[[Command], Done]


class CommandRunner:
    """Runs commands with the actions given for each type."""

    def __init__(self, *, api: DeviceApi, clock: Clock, seen_file: Path,
                 actions: dict[CommandType, Action], mqtt: AgentMqtt | None = None) -> None:
        self.api = api
        self.clock = clock
        self.mqtt = mqtt
        self.actions = actions
        self.seen_file = seen_file
        self._queue: queue.Queue[Command] = queue.Queue()
        self._seen: list[str] = self._load_seen()
        self.handled: list[tuple[str, str, str]] = []  # (id, type, status), for status and tests

    def _load_seen(self) -> list[str]:
        try:
            ids = json.loads(self.seen_file.read_text())
            return [str(i) for i in ids][-REMEMBERED_IDS:]
        except (OSError, ValueError, TypeError):
            return []

    def _remember(self, command_id: str) -> None:
        self._seen = [*self._seen, command_id][-REMEMBERED_IDS:]
        write_atomic(self.seen_file, json.dumps(self._seen).encode())

    def receive(self, payload: bytes) -> None:
        """A message from the commands topic."""
        try:
            self._queue.put(Command.model_validate_json(payload))
        except ValidationError as exc:
            log.warning("ignoring a malformed command: %s", exc)

    def poll(self) -> None:
        """Fetch pending commands over HTTP (when MQTT is not connected)."""
        try:
            for command in self.api.pending_commands():
                self._queue.put(command)
        except (Offline, ApiError) as exc:
            log.debug("command poll: %s", exc)

    def run(self, stop: threading.Event, poll_every_s: float) -> None:
        """Run commands as they come; poll over HTTP while the broker is not connected."""
        next_poll, connects = 0.0, 0
        while not stop.is_set():
            offline = self.mqtt is None or not self.mqtt.connected.is_set()
            if self.mqtt is not None and self.mqtt.connects != connects:
                connects = self.mqtt.connects  # (re)connected: what was sent meanwhile is lost
                next_poll = 0.0                # to MQTT (clean session), so ask over HTTP once
                offline = True
            if offline and time.monotonic() >= next_poll:
                self.poll()
                next_poll = time.monotonic() + poll_every_s
            try:
                command = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self.handle(command)

    def handle(self, command: Command) -> None:
        """Run one command (once), acknowledging it."""
        if command.id in self._seen:
            return
        if command.expires_at <= self.clock.now():
            log.info("ignoring expired command %s (%s)", command.id, command.type)
            self._remember(command.id)
            return
        self._ack(CommandAck(command_id=command.id, status="delivered"))
        action = self.actions.get(command.type)
        done: Done | None = None
        try:
            if action is None:
                raise RuntimeError(f"this agent cannot {command.type}")
            done = action(command)
            ack = CommandAck(command_id=command.id, status="acked", result=done.result[:500],
                             details=done.details)
        except Exception as exc:  # any failure is the command's result, not the agent's end
            log.warning("command %s (%s) failed: %s", command.id, command.type, exc)
            ack = CommandAck(command_id=command.id, status="failed", result=str(exc)[:500])
        self._remember(command.id)
        self._ack(ack)
        self.handled.append((command.id, command.type, ack.status))
        if done is not None and done.after_ack is not None:
            done.after_ack()

    def _ack(self, ack: CommandAck) -> None:
        if self.mqtt is not None and self.mqtt.publish("acks", ack.model_dump_json(by_alias=True)):
            return
        try:
            self.api.ack(ack)
        except (Offline, ApiError) as exc:
            log.warning("could not acknowledge command %s: %s", ack.command_id, exc)
