"""What a route does with media, the API's and the dashboard's alike: receive an uploaded file
(spooled to the data folder, then ingested), and read media as people see it (its renditions
at signed URLs, its latest processing job)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session

from control_plane.jobs.queue import JobQueue, latest_job
from control_plane.media import service as media_service
from control_plane.media.models import Fit as Fit  # for the pages that take a fit
from control_plane.media.models import Media, MediaStatus
from control_plane.media.schemas import JobRead, MediaError, MediaRead, RenditionRead
from control_plane.settings import Settings
from control_plane.storage.base import ObjectStore

URL_TTL_S = 3600


def read(*, session: Session, store: ObjectStore, media: Media) -> MediaRead:
    """The media as the API shows it: renditions at URLs signed for an hour, the latest job."""
    job = latest_job(session=session, subject=f"media:{media.id}")
    return MediaRead(
        id=media.id, org_id=media.org_id, sha256=media.sha256, kind=media.kind, mime=media.mime,
        size_bytes=media.size_bytes, filename=media.filename, fit=Fit(media.fit),
        status=MediaStatus(media.status),
        error=MediaError(code=media.error_code, message=media.error_message or "")
        if media.error_code else None,
        metadata=media.info,
        renditions=[RenditionRead(role=r.role, name=r.name, width=r.width, height=r.height,
                                  mime=r.mime, size_bytes=r.size_bytes, sha256=r.sha256,
                                  duration_ms=r.duration_ms,
                                  url=store.signed_url(r.key, expires_in_s=URL_TTL_S))
                    for r in media.renditions],
        job=JobRead(id=job.id, status=job.status, attempts=job.attempts,
                    last_error=job.last_error) if job else None,
        created_at=media.created_at)


def spool_dir(settings: Settings) -> Path:
    """Where uploads are spooled before they are checked (in the data folder)."""
    path: Path = settings.data_dir / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def receive(*, session: Session, store: ObjectStore, queue: JobQueue, settings: Settings,
            org_id: str, user_id: str | None, file: BinaryIO, filename: str,
            fit: Fit) -> tuple[Media, bool]:
    """An uploaded file, spooled within the upload limit and ingested for the org;
    (media, whether it is new). Committed."""
    with tempfile.TemporaryDirectory(dir=spool_dir(settings)) as tmp:
        spooled = media_service.spool(file, path=Path(tmp) / "upload",
                                      limit=media_service.upload_limit(settings))
        return media_service.ingest(session=session, store=store, queue=queue,
                                    settings=settings, org_id=org_id, user_id=user_id,
                                    spooled=spooled, filename=filename, fit=fit)
