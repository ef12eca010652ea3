"""FastAPI dependencies of the device fleet: the calling device, the broker's accounts, the
MQTT bridge, the broker address devices are given, and the pairing limiters.

The device is found by its token (the device API of every domain takes it from here). The others
are made once per app in `app.py` and read here from `app.state` (as `control_plane.
dependencies` does for the app-wide objects), `async` because reading them costs no thread hop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from control_plane.auth.ratelimit import SlidingWindowLimiter
from control_plane.db import DbSession
from control_plane.dependencies import limiter_on_app
from control_plane.devices import service as devices_service
from control_plane.devices.accounts import BrokerAccounts
from control_plane.devices.models import Device
from control_plane.errors import Unauthenticated
from control_plane.ports import MqttPublisher


def current_device(request: Request, session: DbSession) -> Device:
    """The device whose token authenticates this call."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("send Authorization: Bearer <device_token>",
                              headers={"WWW-Authenticate": "Bearer"})
    return devices_service.authenticate(session=session, token=token.strip())


async def get_broker(request: Request) -> BrokerAccounts:
    """The broker's accounts: the embedded Mosquitto's, or an external broker's rules."""
    broker: BrokerAccounts = request.app.state.broker
    return broker


async def get_bridge(request: Request) -> MqttPublisher | None:
    """The MQTT bridge this process runs, None when it runs none (devices poll over HTTP)."""
    bridge: MqttPublisher | None = request.app.state.bridge
    return bridge


async def get_mqtt_device_url(request: Request) -> str:
    """The broker's address as devices reach it (ADSBIN_MQTT_DEVICE_URL, or the broker's)."""
    url: str = request.app.state.mqtt_device_url
    return url


CurrentDevice = Annotated[Device, Depends(current_device)]
Broker = Annotated[BrokerAccounts, Depends(get_broker)]
Bridge = Annotated[MqttPublisher | None, Depends(get_bridge)]
DeviceMqttUrl = Annotated[str, Depends(get_mqtt_device_url)]
PairingRequestLimiter = Annotated[SlidingWindowLimiter, Depends(limiter_on_app(
    "pairing_request_limiter", "Anonymous pairing requests per client address."))]
OperatorPairingLimiter = Annotated[SlidingWindowLimiter, Depends(limiter_on_app(
    "operator_pairing_limiter",
    "Pairing requests per signed-in operator asking on behalf of units."))]
ClaimClientLimiter = Annotated[SlidingWindowLimiter, Depends(limiter_on_app(
    "claim_client_limiter", "Failed pairing claims per client address."))]
ClaimScreenLimiter = Annotated[SlidingWindowLimiter, Depends(limiter_on_app(
    "claim_screen_limiter", "Failed pairing claims per screen."))]
