"""The agent's HTTP client of the device API (API.md, "Device API").

One `transport.Client` per agent (the standard library's http.client: the agent's only HTTP
stack); every call either returns what the server meant or raises one of:

    ApiError            the server answered, with an API.md error body (status, code)
    ├── Unauthorized    401: the device token is revoked — the unit must pair again
    Offline             no answer at all (DNS, refused, timeout): try again later
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from player_agent.transport import Client, Response, TransportError
from shared.device import (
    Command,
    CommandAck,
    Heartbeat,
    HeartbeatAck,
    PairingRequest,
    PairingStatus,
    PairingTicket,
)
from shared.playlist import Playlist
from shared.pop import PopBatch, PopReceipt

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
DOWNLOAD_CHUNK_BYTES = 256 * 1024

log = logging.getLogger(__name__)


class Offline(Exception):
    """The control plane could not be reached."""


class ApiError(Exception):
    """The control plane answered with an error."""

    def __init__(self, status: int, code: str, message: str,
                 retry_after_s: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s  # the server's Retry-After (a 503, a 429), if any


class Unauthorized(ApiError):
    """The device token was refused: unpaired or revoked."""


class IntegrityError(Exception):
    """A download did not match its sha256 or size."""


class DeviceApi:
    """Calls of the device API, authenticated with the device token once there is one."""

    def __init__(self, server_url: str, *, token: str | None = None) -> None:
        self.server_url = server_url.rstrip("/")
        self._token = token
        self._http = Client(connect_timeout_s=CONNECT_TIMEOUT_S, read_timeout_s=READ_TIMEOUT_S,
                            headers={"User-Agent": "adsbin-agent"})

    def set_token(self, token: str | None) -> None:
        """Authenticate later calls with this device token."""
        self._token = token

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def _url(self, url: str) -> str:
        """A path on the server, or an absolute URL as it is (what httpx's base_url did)."""
        return url if url.startswith(("http://", "https://")) else self.server_url + url

    def _send(self, method: str, path: str, *, headers: dict[str, str] | None = None,
              json: Any = None) -> Response:
        headers = {**self._headers(), **(headers or {})}
        try:
            response = self._http.request(method, self._url(path), headers=headers,
                                          json_body=json)
        except TransportError as exc:
            raise Offline(f"{self.server_url} unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise _error(response)
        return response

    # --- pairing ---------------------------------------------------------------------------

    def request_pairing(self, request: PairingRequest, *,
                        operator_token: str | None = None) -> PairingTicket:
        """Ask for a pairing code to show; with `operator_token` (a venue admin's or
        technician's sign-in), on their behalf, outside the per-address limit."""
        headers = {"Authorization": f"Bearer {operator_token}"} if operator_token else {}
        r = self._send("POST", "/v1/device/pairings", headers=headers,
                       json=request.model_dump(mode="json", by_alias=True))
        return PairingTicket.model_validate(r.json())

    def poll_pairing(self, pairing_id: str) -> PairingStatus:
        """Whether the code was claimed (credentials once) or expired."""
        return PairingStatus.model_validate(
            self._send("GET", f"/v1/device/pairings/{pairing_id}").json())

    # --- sync ------------------------------------------------------------------------------

    def playlist(self, etag: str | None) -> Playlist | None:
        """The screen's playlist, or None when unchanged since `etag` (a 304, no body)."""
        headers = {"If-None-Match": f'"{etag}"'} if etag else {}
        r = self._send("GET", "/v1/device/playlist", headers=headers)
        if r.status_code == 304:
            return None
        try:
            return Playlist.model_validate_json(r.content)
        except ValidationError as exc:
            raise ApiError(r.status_code, "invalid_playlist", str(exc)) from exc

    def download(self, url: str, dest: Path, *, sha256: str, size_bytes: int,
                 on_bytes: Callable[[int], None] | None = None) -> None:
        """Fetch `url` into `dest`, resuming what a `.part` beside it holds; verified, atomic."""
        part = dest.with_name(dest.name + ".part")
        digest = hashlib.sha256()
        have = part.stat().st_size if part.exists() else 0
        if have > size_bytes:
            part.unlink()
            have = 0
        if have:
            with part.open("rb") as f:
                for block in iter(lambda: f.read(DOWNLOAD_CHUNK_BYTES), b""):
                    digest.update(block)
        headers = {"Range": f"bytes={have}-"} if have else {}
        if have < size_bytes or size_bytes == 0:
            try:
                with self._http.stream("GET", self._url(url),
                                       headers={**self._headers(), **headers}) as r:
                    if r.status_code >= 400 and r.status_code != 416:
                        raise _error(r.read())
                    if have and r.status_code != 206:  # the server ignored Range: start over
                        have, digest = 0, hashlib.sha256()
                    mode = "ab" if have else "wb"
                    with part.open(mode) as f:
                        for block in r.iter_bytes(DOWNLOAD_CHUNK_BYTES):
                            f.write(block)
                            digest.update(block)
                            if on_bytes:
                                on_bytes(len(block))
                        f.flush()
                        os.fsync(f.fileno())
            except TransportError as exc:
                raise Offline(f"download of {sha256[:12]} interrupted: {exc}") from exc
        got = part.stat().st_size
        if got != size_bytes or digest.hexdigest() != sha256:
            part.unlink(missing_ok=True)
            raise IntegrityError(f"{sha256[:12]}: got {got} bytes hashing to "
                                 f"{digest.hexdigest()[:12]}, want {size_bytes} bytes")
        os.replace(part, dest)

    # --- proof of play, health, commands ---------------------------------------------------

    def post_pop(self, batch: PopBatch) -> PopReceipt:
        """Upload a signed batch of plays; the server's receipt."""
        r = self._send("POST", "/v1/device/pop", json=batch.model_dump(mode="json",
                                                                       by_alias=True))
        return PopReceipt.model_validate(r.json())

    def heartbeat(self, beat: Heartbeat) -> HeartbeatAck:
        """The HTTP heartbeat; the server's clock comes back."""
        r = self._send("POST", "/v1/device/heartbeat", json=beat.model_dump(mode="json",
                                                                            by_alias=True))
        return HeartbeatAck.model_validate(r.json())

    def server_time(self) -> datetime:
        """The server's clock (changes nothing on the server)."""
        return HeartbeatAck.model_validate(self._send("GET", "/v1/device/time").json()).server_time

    def pending_commands(self) -> list[Command]:
        """Commands not yet acknowledged (the fallback of the MQTT commands topic)."""
        return [Command.model_validate(c) for c in self._send("GET", "/v1/device/commands").json()]

    def ack(self, ack: CommandAck) -> None:
        """Acknowledge a command over HTTP."""
        self._send("POST", f"/v1/device/commands/{ack.command_id}/ack",
                   json=ack.model_dump(mode="json", exclude={"schema_", "command_id"}))

    def upload(self, url: str, data: bytes, content_type: str) -> None:
        """PUT a file to a signed upload URL (a screenshot); the URL is its own authorization,
        and a bearer token beside it would make S3 refuse the request."""
        try:
            r = self._http.request("PUT", self._url(url), content=data,
                                   headers={"Content-Type": content_type})
        except TransportError as exc:
            raise Offline(f"upload to {url.split('?')[0]} failed: {exc}") from exc
        if r.status_code >= 400:
            raise _error(r)


def _error(response: Response) -> ApiError:
    try:
        err = response.json()["error"]
        code, message = str(err["code"]), str(err["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", response.text[:200] or response.reason_phrase
    try:
        retry_after_s: float | None = float(response.headers.get("Retry-After", ""))
    except ValueError:
        retry_after_s = None  # absent, or an HTTP date, which the server never sends
    cls = Unauthorized if response.status_code == 401 else ApiError
    return cls(response.status_code, code, message, retry_after_s)
