"""The device's side of scheduling: its playlist (ETag / 304) and the media it names."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Response
from fastapi.responses import RedirectResponse

from control_plane.db import DbSession
from control_plane.dependencies import JobQueueDep, ObjectStoreDep
from control_plane.devices.dependencies import CurrentDevice
from control_plane.errors import NotFound
from control_plane.media import service as media_service
from control_plane.scheduling import publication
from control_plane.scheduling import service as scheduling_service
from control_plane.scheduling.exceptions import NoPlaylist
from shared.playlist import Playlist

router = APIRouter(prefix="/v1/device", tags=["device"])
MEDIA_URL_TTL_S = 3600


def _etag(version: str) -> str:
    return f'"{version}"'


@router.get("/playlist", summary="The screen's playlist (adsbin.playlist/v1); ETag = version",
            responses={200: {"model": Playlist},
                       304: {"description": "Unchanged since If-None-Match"}})
def playlist(device: CurrentDevice, session: DbSession, queue: JobQueueDep,
             if_none_match: Annotated[str | None, Header()] = None) -> Response:
    current = publication.read(session=session, screen_id=device.screen_id)
    if current is None:
        # a plan kept without its playlist (kept before playlists moved into the database):
        # the next build must publish it again
        scheduling_service.republish(session=session, queue=queue, screen_id=device.screen_id)
        raise NoPlaylist("no playlist has been published for this screen yet; play house content")
    etag = _etag(current.version)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(current.body, media_type="application/json", headers=headers)


@router.get("/media/{sha256}", status_code=307, response_class=RedirectResponse,
            summary="A file of the screen's playlist: a redirect to a signed download URL")
def media(sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$")], device: CurrentDevice,
          session: DbSession, store: ObjectStoreDep) -> RedirectResponse:
    published = publication.read(session=session, screen_id=device.screen_id)
    current = published.playlist() if published else None
    entry = next((m for m in current.media if m.sha256 == sha256), None) if current else None
    if entry is None:
        raise NotFound("this file is not in your screen's playlist", code="media_not_found")
    key = media_service.key_for_sha256(session=session, sha256=sha256)
    if key is None:
        raise NotFound("this file is no longer stored", code="media_not_found")
    return RedirectResponse(store.signed_url(key, expires_in_s=MEDIA_URL_TTL_S), status_code=307)
