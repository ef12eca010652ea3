"""HTTP routes of the device fleet: the device API (pairing, heartbeat) and screen pairing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import StreamingResponse

from control_plane.auth.dependencies import CurrentPrincipal, Tokens, get_principal
from control_plane.auth.policy import Action, Resource, allowed, authorize
from control_plane.auth.ratelimit import SlidingWindowLimiter
from control_plane.auth.tokens import TokenService
from control_plane.db import DbSession, utcnow
from control_plane.dependencies import SettingsDep
from control_plane.devices import service as devices_service
from control_plane.devices.dependencies import (
    Broker,
    ClaimClientLimiter,
    ClaimScreenLimiter,
    CurrentDevice,
    DeviceMqttUrl,
    OperatorPairingLimiter,
    PairingRequestLimiter,
)
from control_plane.devices.schemas import ClaimRequest, ClaimResult
from control_plane.errors import Forbidden, RateLimited
from control_plane.venues import service as venues_service
from shared.device import Heartbeat, HeartbeatAck, PairingRequest, PairingStatus, PairingTicket

# pairing codes a minute one signed-in operator may ask for on behalf of units: a fleet tool
# pairing a few hundred screens at once, far more than a unit ever needs, still a bound (its
# limiter is made in app.py with the others)
OPERATOR_PAIRING_REQUESTS_PER_MINUTE = 600

device_api = APIRouter(prefix="/v1/device", tags=["device"])
screens_api = APIRouter(prefix="/v1/screens", tags=["venues"])
Id = Annotated[str, Path(max_length=64)]


def _refuse_if_waiting(wait_s: float | None, what: str) -> None:
    if wait_s is not None:
        raise RateLimited.after(wait_s, what)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limit_pairing_request(request: Request, session: DbSession, tokens: TokenService, *,
                           anonymous: SlidingWindowLimiter,
                           operators: SlidingWindowLimiter) -> None:
    """Anonymous requests count per address; one sent with the bearer token of someone who
    may pair screens (a venue admin or technician, e.g. `adsbin simulate` for its units)
    counts toward that person's own, larger budget instead."""
    if not request.headers.get("authorization"):
        _refuse_if_waiting(anonymous.hit(_client(request)), "pairing requests")
        return
    principal = get_principal(request, session, tokens)  # or 401
    if not allowed(principal, Resource.screen, Action.manage):
        raise Forbidden("your role may not pair screens: ask without a token, as a unit does",
                        details={"role": principal.role, "org_kind": principal.org_kind})
    _refuse_if_waiting(operators.hit(f"user:{principal.user_id}"),
                       "pairing requests from your account")


@device_api.post("/pairings", response_model=PairingTicket, status_code=status.HTTP_201_CREATED,
                 summary="An unpaired agent asks for a pairing code",
                 description="Anonymous, as a unit asks, limited per address "
                             "(ADSBIN_PAIRING_REQUESTS_PER_MINUTE). A venue admin or technician "
                             "asking on behalf of units sends their bearer token: those requests "
                             "count per person "
                             f"({OPERATOR_PAIRING_REQUESTS_PER_MINUTE} a minute), not per address.")
def request_pairing(body: PairingRequest, request: Request, session: DbSession,
                    settings: SettingsDep, tokens: Tokens, anonymous: PairingRequestLimiter,
                    operators: OperatorPairingLimiter) -> PairingTicket:
    _limit_pairing_request(request, session, tokens, anonymous=anonymous, operators=operators)
    ttl = settings.pairing_code_ttl_s
    pairing = devices_service.request_pairing(session=session, request=body, ttl_s=ttl)
    return PairingTicket(pairing_id=pairing.id, code=pairing.code,
                         expires_at=pairing.expires_at, poll_after_s=devices_service.POLL_AFTER_S)


@device_api.get("/pairings/{pairing_id}", response_model=PairingStatus,
                response_model_exclude_none=True,
                summary="Pending, claimed (credentials once) or expired")
def poll_pairing(pairing_id: Id, session: DbSession, broker: Broker,
                 mqtt_url: DeviceMqttUrl) -> PairingStatus:
    return devices_service.poll(session=session, pairing_id=pairing_id, broker=broker,
                                mqtt_url=mqtt_url)


@device_api.post("/heartbeat", response_model=HeartbeatAck,
                 summary="HTTP fallback of the MQTT heartbeat")
def heartbeat(body: Heartbeat, device: CurrentDevice, session: DbSession) -> HeartbeatAck:
    devices_service.record_heartbeat(session=session, device=device, heartbeat=body)
    return HeartbeatAck(server_time=utcnow())


@device_api.get("/time", response_model=HeartbeatAck,
                summary="The server's clock, to measure the offset (changes nothing)")
def server_time(_: CurrentDevice) -> HeartbeatAck:
    return HeartbeatAck(server_time=utcnow())


SPEEDTEST_MAX_BYTES = 64 * 1024 * 1024
SPEEDTEST_CHUNK = 64 * 1024


@device_api.get("/speedtest", summary="Incompressible bytes to time a download (diagnostics)",
                response_class=StreamingResponse)
def speedtest(_: CurrentDevice,
              size: Annotated[int, Query(ge=1, le=SPEEDTEST_MAX_BYTES)] = 8 * 1024 * 1024,
              ) -> StreamingResponse:
    chunk = os.urandom(SPEEDTEST_CHUNK)  # random once: the link is measured, not the CPU

    def body() -> Iterator[bytes]:
        left = size
        while left > 0:
            yield chunk[:left]
            left -= SPEEDTEST_CHUNK

    return StreamingResponse(body(), media_type="application/octet-stream",
                             headers={"Content-Length": str(size), "Cache-Control": "no-store"})


@screens_api.post("/{screen_id}/pair", response_model=ClaimResult,
                  summary="Claim the pairing code an agent shows, for this screen")
def pair(screen_id: Id, body: ClaimRequest, request: Request, session: DbSession,
         principal: CurrentPrincipal, per_client: ClaimClientLimiter,
         per_screen: ClaimScreenLimiter) -> ClaimResult:
    screen = venues_service.get_screen(session=session, screen_id=screen_id)
    authorize(principal, Resource.screen, Action.manage, owner_org_id=screen.org_id)
    device = devices_service.claim_limited(
        session=session, code=body.code, screen_id=screen.id, org_id=screen.org_id,
        user_id=principal.user_id, client=_client(request), per_client=per_client,
        per_screen=per_screen)
    return ClaimResult(screen_id=screen.id, device_id=device.id, display=device.display,
                       agent_version=device.agent_version)


@screens_api.delete("/{screen_id}/device", status_code=status.HTTP_204_NO_CONTENT,
                    summary="Unpair: revoke the device's token and broker login now")
def unpair(screen_id: Id, session: DbSession, principal: CurrentPrincipal,
           broker: Broker) -> None:
    screen = venues_service.get_screen(session=session, screen_id=screen_id)
    authorize(principal, Resource.screen, Action.manage, owner_org_id=screen.org_id)
    devices_service.unpair(session=session, screen_id=screen.id, broker=broker)
