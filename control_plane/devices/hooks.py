"""HTTP auth hooks for an external broker (EMQX's HTTP authenticator and authorizer).

With `ADSBIN_MQTT_URL` pointing at an EMQX cluster, the broker asks these endpoints who may log
in and which topics they may use; the answers follow the same rules as the embedded Mosquitto's
ACLs, read from the database (devices log in with their id and the password pairing gave them).
The broker authenticates itself with the `X-Adsbin-Hook-Secret` header.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated

from fastapi import APIRouter, Header

from control_plane.db import DbSession
from control_plane.dependencies import SettingsDep
from control_plane.devices.models import Device, DeviceStatus
from control_plane.devices.schemas import AclRequest, AuthRequest, HookAnswer
from control_plane.errors import NotFound, Unauthenticated
from control_plane.settings import Settings
from shared import topics

router = APIRouter(prefix="/v1/mqtt", tags=["broker hooks"])


def _check_secret(settings: Settings, secret: str | None) -> None:
    expected = settings.mqtt_auth_hook_secret
    if expected is None:
        raise NotFound("the broker hooks are off (set ADSBIN_MQTT_AUTH_HOOK_SECRET)",
                       code="hooks_not_configured")
    if not secret or not secrets.compare_digest(secret, expected.get_secret_value()):
        raise Unauthenticated("a wrong hook secret", code="invalid_hook_secret")


def _is_service(settings: Settings, username: str, password: str | None) -> bool:
    if username != settings.mqtt_service_username or settings.mqtt_service_password is None:
        return False
    return password is None or secrets.compare_digest(
        password, settings.mqtt_service_password.get_secret_value())


HookSecret = Annotated[str | None, Header(alias="X-Adsbin-Hook-Secret")]


@router.post("/auth", response_model=HookAnswer, summary="May this client log in?")
def auth(body: AuthRequest, session: DbSession, settings: SettingsDep,
         secret: HookSecret = None) -> HookAnswer:
    _check_secret(settings, secret)
    if _is_service(settings, body.username, body.password):
        return HookAnswer(result="allow")
    device = session.get(Device, body.username)
    ok = (device is not None and device.status == DeviceStatus.active
          and device.mqtt_password_hash is not None
          and secrets.compare_digest(device.mqtt_password_hash,
                                     hashlib.sha256(body.password.encode()).hexdigest()))
    return HookAnswer(result="allow" if ok else "deny")


@router.post("/acl", response_model=HookAnswer, summary="May this client use this topic?")
def acl(body: AclRequest, session: DbSession, settings: SettingsDep,
        secret: HookSecret = None) -> HookAnswer:
    _check_secret(settings, secret)
    if _is_service(settings, body.username, None):
        # the API processes and workers share their subscriptions ($share/<group>/<filter>)
        topic = body.topic.split("/", 2)[2] if body.topic.startswith("$share/") \
            and body.topic.count("/") >= 2 else body.topic
        under = topic.startswith(topics.PREFIX.split("/screens")[0] + "/")
        writes_wildcard = body.action == "publish" and ("+" in topic or "#" in topic)
        return HookAnswer(result="allow" if under and not writes_wildcard else "deny")
    device = session.get(Device, body.username)
    parsed = topics.parse(body.topic)
    if device is None or device.status != DeviceStatus.active or parsed is None:
        return HookAnswer(result="deny")
    leaves = topics.SERVER_TO_DEVICE if body.action == "subscribe" else topics.DEVICE_TO_SERVER
    mine = parsed[0] == device.screen_id and parsed[1] in leaves
    return HookAnswer(result="allow" if mine else "deny")
