"""Media assets: taking uploads in (streamed, hashed, validated, stored once), and reading them.

An upload is spooled to a temporary file while its sha256 is computed, then probed; only a file
that passes becomes an object at `media/<sha256>/original` (stored once, however many times or
orgs upload it) and a `processing` media row, and a job makes its renditions. A rejected file
leaves nothing behind: the spool is deleted and nothing was stored.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from control_plane import events
from control_plane.jobs.queue import JobQueue
from control_plane.media.exceptions import MediaNotFound, MediaTooLarge
from control_plane.media.models import Fit, Rendition
from control_plane.media.models import Media as Media
from control_plane.media.models import MediaStatus as MediaStatus
from control_plane.media.probe import MediaInfo, probe_file, sniff_mime
from control_plane.settings import Settings
from control_plane.storage.base import ObjectStore
from control_plane.upcalls import NotProvided, Upcall

SPOOL_CHUNK = 1 << 20
DEFAULT_TARGETS: tuple[tuple[int, int], ...] = ((1920, 1080), (1080, 1920), (1280, 720))


@dataclass(frozen=True)
class Spooled:
    """An upload written to a temporary file, with its hash and size."""

    path: Path
    sha256: str
    size: int


def upload_limit(settings: Settings) -> int:
    """The largest upload of any kind."""
    return max(settings.max_image_bytes, settings.max_video_bytes)


def spool(source: BinaryIO | Iterable[bytes], *, path: Path, limit: int) -> Spooled:
    """Copy the upload to `path`, hashing as it goes; `MediaTooLarge` past `limit` bytes."""
    digest = hashlib.sha256()
    size = 0
    chunks: Iterable[bytes] = (iter(lambda: source.read(SPOOL_CHUNK), b"")
                               if hasattr(source, "read") else source)
    with path.open("wb") as out:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise MediaTooLarge(f"uploads are limited to {limit} bytes",
                                    details={"limit_bytes": limit})
            digest.update(chunk)
            out.write(chunk)
    return Spooled(path, digest.hexdigest(), size)


def _check_kind_limit(settings: Settings, spooled: Spooled) -> None:
    with spooled.path.open("rb") as f:
        mime = sniff_mime(f.read(64)) or ""
    limit = settings.max_image_bytes if mime.startswith("image/") else settings.max_video_bytes
    if spooled.size > limit:
        kind = "images" if mime.startswith("image/") else "videos"
        raise MediaTooLarge(f"{kind} are limited to {limit} bytes",
                            details={"limit_bytes": limit, "size_bytes": spooled.size})


def probe(settings: Settings, spooled: Spooled) -> MediaInfo:
    """Validate the spooled upload (type, size per kind, integrity); what it is."""
    if spooled.size == 0:
        return probe_file(spooled.path)  # raises EmptyMedia with the standard message
    _check_kind_limit(settings, spooled)
    return probe_file(spooled.path, max_image_pixels=settings.max_image_pixels,
                      max_video_duration_s=settings.max_video_duration_s)


def original_key(sha256: str) -> str:
    """Where the original bytes of a content hash are stored."""
    return f"media/{sha256}/original"


def ingest(*, session: Session, store: ObjectStore, queue: JobQueue, settings: Settings,
           org_id: str, user_id: str | None, spooled: Spooled, filename: str,
           fit: Fit) -> tuple[Media, bool]:
    """Validate and store an upload for the org; (media, whether it is new). Committed.

    The same bytes with the same fit uploaded again by the same org return the existing media.
    """
    info = probe(settings, spooled)
    existing = _find(session, org_id, spooled.sha256, fit)
    if existing is not None:
        return existing, False
    key = original_key(spooled.sha256)
    if not store.exists(key):
        store.put_file(key, spooled.path, content_type=info.mime)
    media = Media(org_id=org_id, sha256=spooled.sha256, kind=info.kind, mime=info.mime,
                  size_bytes=spooled.size, filename=filename[:255], fit=fit,
                  status=MediaStatus.processing, info=info.as_dict(), original_key=key,
                  created_by=user_id)
    session.add(media)
    try:
        session.commit()
    except IntegrityError:  # the same upload raced in on another request
        session.rollback()
        raced = _find(session, org_id, spooled.sha256, fit)
        assert raced is not None
        return raced, False
    queue.enqueue("media.process", subject=f"media:{media.id}", media_id=media.id)
    return media, True


def _find(session: Session, org_id: str, sha256: str, fit: str) -> Media | None:
    return session.scalar(select(Media).where(Media.org_id == org_id, Media.sha256 == sha256,
                                              Media.fit == fit))


def get_media(*, session: Session, media_id: str) -> Media:
    """The media with this id, or `MediaNotFound`."""
    media = session.get(Media, media_id)
    if media is None:
        raise MediaNotFound("media not found")
    return media


def get_many(*, session: Session, media_ids: Iterable[str],
             with_renditions: bool = False) -> list[Media]:
    """The media among these ids that exist (`with_renditions`: their renditions read in one
    more query, not one per media)."""
    query = select(Media).where(Media.id.in_(list(media_ids)))
    if with_renditions:
        query = query.options(selectinload(Media.renditions))
    return list(session.scalars(query))


def video_lengths_ms(*, session: Session, media_ids: Iterable[str]) -> dict[str, int]:
    """The length of each of these media that is a video of known length, in ms."""
    return {media_id: int(info["duration_ms"]) for media_id, info in session.execute(
        select(Media.id, Media.info).where(Media.id.in_(media_ids), Media.kind == "video"))
        if info.get("duration_ms")}


def list_media(*, session: Session, org_id: str | None) -> list[Media]:
    """The org's media (every org's when None), newest first."""
    query = select(Media).order_by(Media.created_at.desc(), Media.id)
    if org_id is not None:
        query = query.where(Media.org_id == org_id)
    return list(session.scalars(query))


@Upcall
def display_sizes(*, session: Session) -> set[tuple[int, int]]:
    """Every distinct display size of the network's screens."""
    # venues own the screens and build on media (house content): they answer this
    raise NotProvided("control_plane.venues.service provides media's display sizes")


def rendition_targets(*, session: Session) -> list[tuple[int, int]]:
    """The display sizes renditions are made for: every screen's, or a default set until
    screens exist."""
    sizes = display_sizes(session=session)
    return sorted(sizes) if sizes else list(DEFAULT_TARGETS)


def request_renditions(*, session: Session, queue: JobQueue, size: tuple[int, int]) -> int:
    """Send the ready media that lack a rendition of `size` back through processing; how many.
    """
    width, height = size
    wanted = {fit: f"{width}x{height}-{fit}" for fit in Fit}
    have = {tuple(row) for row in session.execute(select(Rendition.media_id, Rendition.name)
                               .where(Rendition.name.in_(wanted.values())))}
    missing = [m.id for m in session.scalars(select(Media).where(
        Media.status == MediaStatus.ready)) if (m.id, wanted[Fit(m.fit)]) not in have]
    for media_id in missing:
        queue.enqueue("media.process", subject=f"media:{media_id}", media_id=media_id)
    return len(missing)


def mark_ready(*, session: Session, media_id: str, rows: list[dict[str, Any]]) -> None:
    """Replace the media's renditions with `rows` (in one transaction); it is ready. Committed.
    """
    media = session.get(Media, media_id)
    if media is None:
        return
    media.renditions.clear()
    session.flush()
    media.renditions.extend(Rendition(media_id=media.id, **row) for row in rows)
    media.status = MediaStatus.ready
    media.error_code = media.error_message = None
    session.commit()


def mark_failed(*, session: Session, media_id: str, error: str) -> None:
    """Leave the processing error on the media, which is `failed` from now on. Committed."""
    media = session.get(Media, media_id)
    if media is None:
        return
    if media.status != MediaStatus.failed:  # failing again tells nobody again
        events.record(session, events.MediaFailed(media_id=media.id, org_id=media.org_id,
                                                  filename=media.filename, error=error[:500]))
    media.status = MediaStatus.failed
    media.error_code = "processing_failed"
    media.error_message = error
    session.commit()


def is_ready_media_of(*, session: Session, media_id: str, org_id: str) -> bool:
    """Whether the media exists, belongs to the org and is ready to play."""
    media = session.get(Media, media_id)
    return media is not None and media.org_id == org_id and media.status == MediaStatus.ready


def key_for_sha256(*, session: Session, sha256: str) -> str | None:
    """Where the file with this content hash is stored: a rendition, or an original."""
    key = session.scalar(select(Rendition.key).where(Rendition.sha256 == sha256).limit(1))
    if key is None and session.scalar(select(Media.id).where(Media.sha256 == sha256).limit(1)):
        key = original_key(sha256)
    return key


def new_upload_key(org_id: str) -> tuple[str, str]:
    """(upload id, object key) for a direct-to-storage upload by the org."""
    upload_id = f"upl_{secrets.token_urlsafe(12)}"
    return upload_id, f"uploads/{org_id}/{upload_id}"
