"""What the control plane does with messages devices send over MQTT.

The broker's ACLs already guarantee a message on a screen's topic comes from that screen's
device; these handlers find the device, parse the wire model (ignoring what they do not know)
and apply it through the same service functions the HTTP fallbacks use.
"""

from __future__ import annotations

import logging
import secrets

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from control_plane.devices import commands as commands_service
from control_plane.devices import service as devices_service
from control_plane.devices.accounts import SHARE_GROUP, BrokerAccounts, ExternalBroker
from control_plane.devices.bridge import MqttBridge
from control_plane.devices.exceptions import NotPaired
from control_plane.devices.models import Command as CommandRow
from control_plane.devices.service import Device
from control_plane.errors import AppError
from control_plane.ports import MqttPublisher
from control_plane.settings import Settings
from control_plane.storage.base import ObjectStore
from control_plane.upcalls import NotProvided, Upcall
from shared import topics
from shared.device import Command, CommandAck, CommandType, Heartbeat
from shared.mqtt import ClientState
from shared.pop import PopBatch, PopReceipt

log = logging.getLogger(__name__)
SERVICE_USERNAME = "adsbin-control-plane"


@Upcall
def ingest_pop(*, session: Session, device: Device, batch: PopBatch, settings: Settings,
               transport: str) -> PopReceipt:
    """Verify, check and store a device's signed batch of proof of play; its receipt.
    Committed. An `AppError` (nothing stored) when the device did not sign it."""
    # proof of play is reporting's, which builds on devices (a batch is a device's)
    raise NotProvided("control_plane.reporting.service provides the ingestion of proof of play")


@Upcall
def playlist_announcements(*, session: Session, public_url: str) -> list[tuple[str, bytes]]:
    """Every screen's current playlist announcement, as (topic, payload) to publish retained:
    what the bridge puts back on a broker that restarted and may have lost them."""
    # playlists are scheduling's, which builds on devices
    raise NotProvided("control_plane.scheduling.service provides the playlists' announcements")


def announce_playlists_again(bridge: MqttBridge, sessions: sessionmaker[Session],
                             public_url: str) -> int:
    """Publish every screen's playlist announcement again, retained; how many."""
    with sessions() as session:
        announcements = playlist_announcements(session=session, public_url=public_url)
    for topic, payload in announcements:
        bridge.publish(topic, payload, qos=1, retain=True, wait_s=None)
    log.info("the broker is back: %d playlist announcement(s) published again",
             len(announcements))
    return len(announcements)


class DeviceMessages:
    """Handlers of the `heartbeat`, `status`, `acks` and `pop` topics."""

    def __init__(self, sessions: sessionmaker[Session], store: ObjectStore,
                 settings: Settings) -> None:
        self.sessions = sessions
        self.store = store
        self.settings = settings

    def heartbeat(self, screen_id: str, payload: bytes) -> None:
        """A device's heartbeat: it is online, and this is its health."""
        try:
            beat = Heartbeat.model_validate_json(payload)
        except ValidationError as exc:
            log.warning("ignoring a malformed heartbeat from %s: %s", screen_id, exc)
            return
        with self.sessions() as session:
            device = devices_service.active_device(session=session, screen_id=screen_id)
            if device is not None:
                devices_service.record_heartbeat(session=session, device=device, heartbeat=beat)

    def status(self, screen_id: str, payload: bytes) -> None:
        """`online` when a device connects, `offline` when it leaves or its last will fires."""
        with self.sessions() as session:
            device = devices_service.active_device(session=session, screen_id=screen_id)
            if device is None:
                return
            if payload.strip() == b"offline":
                devices_service.mark_offline(session=session, device_id=device.id)
            elif payload.strip() == b"online":
                devices_service.mark_online(session=session, device_id=device.id)

    def pop(self, screen_id: str, payload: bytes) -> None:
        """A proof-of-play batch: stored exactly as `POST /v1/device/pop` stores it.

        MQTT has no answer to carry the receipt, so the agent still uploads over HTTP until it
        is acknowledged; whatever arrived here first then counts as a duplicate, never twice.
        """
        try:
            batch = PopBatch.model_validate_json(payload)
        except ValidationError as exc:
            log.warning("ignoring a malformed proof-of-play batch from %s: %s", screen_id, exc)
            return
        with self.sessions() as session:
            device = devices_service.active_device(session=session, screen_id=screen_id)
            if device is None:
                return
            try:
                receipt = ingest_pop(session=session, device=device, batch=batch,
                                     settings=self.settings, transport="mqtt")
            except AppError as exc:
                log.warning("proof of play from %s refused: %s", screen_id, exc.message)
                return
            log.info("proof of play from %s over MQTT: %d accepted, %d duplicates, %d rejected",
                     screen_id, receipt.accepted, receipt.duplicates, len(receipt.rejected))

    def ack(self, screen_id: str, payload: bytes) -> None:
        """A device's ack of one of its commands."""
        try:
            ack = CommandAck.model_validate_json(payload)
        except ValidationError as exc:
            log.warning("ignoring a malformed ack from %s: %s", screen_id, exc)
            return
        with self.sessions() as session:
            device = devices_service.active_device(session=session, screen_id=screen_id)
            if device is None:
                return
            try:
                commands_service.acknowledge(session=session, device_id=device.id, ack=ack,
                                             store=self.store)
            except AppError as exc:
                log.info("ack from %s not applied: %s", screen_id, exc.message)


def start_bridge(settings: Settings, broker: BrokerAccounts, url: str,
                 sessions: sessionmaker[Session], store: ObjectStore) -> MqttBridge | None:
    """The running bridge, or None when there are no service credentials for the broker."""
    if settings.mqtt_url is not None or isinstance(broker, ExternalBroker):
        if not (settings.mqtt_service_username and settings.mqtt_service_password):
            log.warning("ADSBIN_MQTT_URL is set without ADSBIN_MQTT_SERVICE_USERNAME/_PASSWORD: "
                        "devices fall back to HTTP for commands and health")
            return None
        username = settings.mqtt_service_username
        password = settings.mqtt_service_password.get_secret_value()
        # several processes share the external broker: each under a client id of its own (one
        # id would have the broker drop the other), and each device message to one of them
        bridge = MqttBridge(url, username=username, password=password,
                            client_id=f"{username}-{secrets.token_hex(4)}",
                            share_group=SHARE_GROUP)
    else:
        username, password = SERVICE_USERNAME, secrets.token_urlsafe(32)
        broker.set_service(username=username, password=password)
        bridge = MqttBridge(url, username=username, password=password)
    messages = DeviceMessages(sessions, store, settings)
    bridge.on("heartbeat", messages.heartbeat)
    bridge.on("status", messages.status)
    bridge.on("acks", messages.ack)
    bridge.on("pop", messages.pop)
    # a broker that restarted may have lost the retained playlists (a crash before it saved)
    bridge.on_reconnect(lambda: announce_playlists_again(bridge, sessions, settings.public_url))
    if not bridge.start() and bridge.state is ClientState.CONNECTING:
        log.warning("the broker at %s did not answer yet; the bridge keeps trying", url)
    return bridge


def publish_command(bridge: MqttPublisher | None, screen_id: str, command: Command) -> bool:
    """Send a command to its screen (QoS 1); whether the broker took it."""
    if bridge is None:
        return False
    return bridge.publish(topics.commands(screen_id),
                          command.model_dump_json(by_alias=True), qos=1)


def send_command(*, session: Session, bridge: MqttPublisher | None, store: ObjectStore,
                 screen_id: str, screen_name: str, type: CommandType, ttl_s: int,
                 user_id: str | None) -> tuple[CommandRow, bool]:
    """Queue a command for the screen's paired device and publish it; the command and whether
    the broker took it at once (devices also poll over HTTP). `NotPaired` without a device."""
    device = devices_service.active_device(session=session, screen_id=screen_id)
    if device is None:
        raise NotPaired("this screen has no paired device to command")
    command = commands_service.create(session=session, screen_id=screen_id, device_id=device.id,
                                      type=type, ttl_s=ttl_s, user_id=user_id)
    published = publish_command(bridge, screen_id,
                                commands_service.message(command, store, screen_name))
    return command, published
