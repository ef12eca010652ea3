"""HTTP routes of the media domain: uploads (multipart or direct to storage) and reads."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Response, UploadFile, status
from fastapi import Path as PathParam

from control_plane.auth.dependencies import CurrentPrincipal, require_org_context
from control_plane.auth.policy import Action, Principal, Resource, authorize
from control_plane.db import DbSession, utcnow
from control_plane.dependencies import JobQueueDep, ObjectStoreDep, SettingsDep
from control_plane.jobs.queue import JobQueue
from control_plane.media import handling as media_handling
from control_plane.media import service as media_service
from control_plane.media.exceptions import MediaNotFound
from control_plane.media.models import Fit, Media
from control_plane.media.schemas import (
    MediaPage,
    MediaRead,
    UploadComplete,
    UploadCreate,
    UploadTicket,
)
from control_plane.settings import Settings
from control_plane.storage.base import ObjectStore
from control_plane.storage.exceptions import ObjectNotFound

router = APIRouter(prefix="/v1/media", tags=["media"])
MediaId = Annotated[str, PathParam(max_length=40)]


def _read(store: ObjectStore, session: DbSession, media: Media) -> MediaRead:
    return media_handling.read(session=session, store=store, media=media)


def _creator(principal: Principal = Depends(require_org_context)) -> Principal:
    authorize(principal, Resource.media, Action.create)
    return principal


Creator = Annotated[Principal, Depends(_creator)]


def _ingest(session: DbSession, principal: Principal, spooled: media_service.Spooled,
            filename: str, fit: Fit, response: Response, *, settings: Settings,
            store: ObjectStore, queue: JobQueue) -> MediaRead:
    assert principal.org_id is not None
    media, created = media_service.ingest(
        session=session, store=store, queue=queue, settings=settings, org_id=principal.org_id,
        user_id=principal.user_id, spooled=spooled, filename=filename, fit=fit)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return _read(store, session, media)


@router.post("", response_model=MediaRead, status_code=status.HTTP_201_CREATED,
             responses={200: {"model": MediaRead,
                              "description": "These bytes were uploaded before"}},
             summary="Upload an image or a video (multipart)")
def upload(response: Response, session: DbSession, principal: Creator,
           settings: SettingsDep, store: ObjectStoreDep, queue: JobQueueDep,
           file: Annotated[UploadFile, File(description="The image or video")],
           fit: Annotated[Fit, Form()] = Fit.letterbox) -> MediaRead:
    assert principal.org_id is not None
    media, created = media_handling.receive(
        session=session, store=store, queue=queue, settings=settings, org_id=principal.org_id,
        user_id=principal.user_id, file=file.file, filename=file.filename or "", fit=fit)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return _read(store, session, media)


@router.post("/uploads", response_model=UploadTicket, status_code=status.HTTP_201_CREATED,
             summary="A signed URL to upload a file straight to storage")
def create_upload(body: UploadCreate, principal: Creator, settings: SettingsDep,
                  store: ObjectStoreDep) -> UploadTicket:
    assert principal.org_id is not None
    upload_id, key = media_service.new_upload_key(principal.org_id)
    ttl = settings.upload_url_ttl_s
    url = store.signed_url(key, method="PUT", expires_in_s=ttl, content_type=body.content_type)
    headers = {"Content-Type": body.content_type} if body.content_type else {}
    return UploadTicket(upload_id=upload_id, url=url, headers=headers,
                        expires_at=utcnow() + timedelta(seconds=ttl))


@router.post("/uploads/{upload_id}/complete", response_model=MediaRead,
             status_code=status.HTTP_201_CREATED,
             summary="Validate a file uploaded to its signed URL and make it a media asset")
def complete_upload(upload_id: Annotated[str, PathParam(max_length=40, pattern=r"^upl_[\w-]+$")],
                    response: Response, session: DbSession, principal: Creator,
                    body: UploadComplete, settings: SettingsDep, store: ObjectStoreDep,
                    queue: JobQueueDep) -> MediaRead:
    assert principal.org_id is not None
    key = f"uploads/{principal.org_id}/{upload_id}"
    with tempfile.TemporaryDirectory(dir=media_handling.spool_dir(settings)) as tmp:
        try:
            chunks = store.iter_bytes(key)
        except ObjectNotFound as exc:
            raise MediaNotFound(
                "nothing was uploaded for this upload id (or it was completed already)",
                code="upload_not_found") from exc
        try:
            spooled = media_service.spool(chunks, path=Path(tmp) / "upload",
                                          limit=media_service.upload_limit(settings))
            return _ingest(session, principal, spooled, body.filename, body.fit, response,
                           settings=settings, store=store, queue=queue)
        finally:
            store.delete(key)  # accepted or refused, the upload object is done with


@router.get("", response_model=MediaPage, summary="The org's media")
def list_media(session: DbSession, store: ObjectStoreDep,
               principal: Principal = Depends(require_org_context)) -> MediaPage:
    authorize(principal, Resource.media, Action.read)
    org_id = None if principal.is_superadmin else principal.org_id
    return MediaPage(items=[_read(store, session, m)
                            for m in media_service.list_media(session=session, org_id=org_id)])


@router.get("/{media_id}", response_model=MediaRead, summary="Status, metadata, renditions")
def get_media(media_id: MediaId, session: DbSession, store: ObjectStoreDep,
              principal: CurrentPrincipal) -> MediaRead:
    media = media_service.get_media(session=session, media_id=media_id)
    authorize(principal, Resource.media, Action.read, owner_org_id=media.org_id)
    return _read(store, session, media)
