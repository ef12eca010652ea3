"""HTTP routes of remote commands: venue staff send and watch them; devices list and ack them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from control_plane.auth.dependencies import CurrentPrincipal
from control_plane.auth.policy import Action, Resource, authorize
from control_plane.db import DbSession
from control_plane.dependencies import ObjectStoreDep, SettingsDep
from control_plane.devices import commands as commands_service
from control_plane.devices.dependencies import Bridge, CurrentDevice
from control_plane.devices.exceptions import CommandNotFound
from control_plane.devices.messaging import send_command
from control_plane.devices.schemas import AckBody, CommandCreate, CommandRead
from control_plane.venues import service as venues_service
from shared.device import Command as CommandMessage
from shared.device import CommandAck

screens_api = APIRouter(prefix="/v1/screens", tags=["venues"])
device_api = APIRouter(prefix="/v1/device", tags=["device"])
Id = Annotated[str, Path(max_length=64)]
@screens_api.post("/{screen_id}/commands", response_model=CommandRead,
                  status_code=status.HTTP_201_CREATED, summary="Send a command to a screen")
def send(screen_id: Id, body: CommandCreate, session: DbSession, principal: CurrentPrincipal,
         settings: SettingsDep, store: ObjectStoreDep, bridge: Bridge) -> CommandRead:
    screen = venues_service.get_screen(session=session, screen_id=screen_id)
    authorize(principal, Resource.screen, Action.manage, owner_org_id=screen.org_id)
    command, published = send_command(
        session=session, bridge=bridge, store=store, screen_id=screen.id,
        screen_name=screen.name, type=body.type, ttl_s=body.ttl_s or settings.command_ttl_s,
        user_id=principal.user_id)
    return commands_service.read(command, store).model_copy(update={"published": published})


@screens_api.get("/{screen_id}/commands/{command_id}", response_model=CommandRead,
                 summary="A command and its status")
def get_command(screen_id: Id, command_id: Id, session: DbSession,
                principal: CurrentPrincipal, store: ObjectStoreDep) -> CommandRead:
    screen = venues_service.get_screen(session=session, screen_id=screen_id)
    authorize(principal, Resource.screen, Action.read, owner_org_id=screen.org_id)
    command = commands_service.get(session=session, command_id=command_id)
    if command.screen_id != screen.id:
        raise CommandNotFound("command not found")
    return commands_service.read(command, store)


@device_api.get("/commands", response_model=list[CommandMessage],
                response_model_by_alias=True, summary="Commands still to run (poll fallback)")
def pending(device: CurrentDevice, session: DbSession,
            store: ObjectStoreDep) -> list[CommandMessage]:
    name = venues_service.get_screen(session=session, screen_id=device.screen_id).name
    return [commands_service.message(c, store, name)
            for c in commands_service.pending(session=session, device_id=device.id)]


@device_api.post("/commands/{command_id}/ack", response_model=CommandRead,
                 summary="HTTP fallback of an ack on the acks topic")
def ack(command_id: Id, body: AckBody, device: CurrentDevice, session: DbSession,
        store: ObjectStoreDep) -> CommandRead:
    command = commands_service.acknowledge(
        session=session, device_id=device.id, store=store,
        ack=CommandAck(command_id=command_id, status=body.status,
                       result=body.result, details=body.details))
    return commands_service.read(command, store)
