"""Video conversion by Coconut (when ADSBIN_COCONUT_API_KEY is set) wired into the pipeline.

The processing job submits a Coconut job whose input is a signed URL of the original and whose
outputs land in our bucket next to it; the media stays `processing`. Coconut's notification hits
`POST /v1/webhooks/coconut`, which believes nothing it is told: the token must match the media
and the job's state is read back from Coconut's API. A completed job queues `media.coconut_finish`,
which reads each output from the bucket (hash, size, probed dimensions) and marks the media ready.
Coconut writes to S3 only, so it needs `ADSBIN_STORAGE_URL=s3://…`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import boto3

from control_plane.jobs.queue import JobContext, registry
from control_plane.media import service as media_service
from control_plane.media.coconut import CoconutTranscoder
from control_plane.media.exceptions import TranscodeFailed
from control_plane.media.models import Media
from control_plane.media.probe import MediaInfo, probe_file
from control_plane.media.transcode import VideoTarget, file_digest, is_fit
from control_plane.settings import Settings
from control_plane.storage.base import ObjectStore
from control_plane.storage.s3 import S3ObjectStore
from control_plane.storage.signing import load_or_create_secret

INPUT_URL_TTL_S = 6 * 3600  # Coconut may queue a job for a while before it fetches the input


def coconut_for(settings: Settings, store: ObjectStore) -> CoconutTranscoder | None:
    """The Coconut client when its API key is set, else None (local ffmpeg converts)."""
    if settings.coconut_api_key is None:
        return None
    if not isinstance(store, S3ObjectStore):
        raise TranscodeFailed("Coconut writes its outputs to S3: set ADSBIN_STORAGE_URL=s3://… "
                              "or unset ADSBIN_COCONUT_API_KEY to convert with local ffmpeg")
    credentials = boto3.Session().get_credentials()
    storage: dict[str, Any] = {"service": "s3", "bucket": store.bucket,
                               "region": settings.s3_region}
    if credentials is not None:
        frozen = credentials.get_frozen_credentials()
        storage["credentials"] = {"access_key_id": frozen.access_key,
                                  "secret_access_key": frozen.secret_key}
    if settings.s3_endpoint_url:
        storage["endpoint"] = settings.s3_endpoint_url
    return CoconutTranscoder(
        api_key=settings.coconut_api_key.get_secret_value(), base_url=settings.coconut_base_url,
        notification_url=f"{settings.public_url}/v1/webhooks/coconut",
        webhook_secret=load_or_create_secret(settings.keys_dir / "coconut-webhook.secret"),
        storage=storage)


def output_prefix(store: S3ObjectStore, media: Media) -> str:
    """Where in the bucket Coconut writes this media's outputs."""
    return f"{store.prefix}media/{media.sha256}/{media.fit}/"


def submit(ctx: JobContext, coconut: CoconutTranscoder, media: Media,
           targets: list[tuple[int, int]]) -> str:
    """Create the Coconut job for a video and remember its id on the media; the job id."""
    store = ctx.object_store
    assert isinstance(store, S3ObjectStore)
    fit = media.fit if is_fit(media.fit) else "letterbox"
    job_id = coconut.submit(
        media_id=media.id, info=MediaInfo(**media.info),
        input_url=store.signed_url(media.original_key, expires_in_s=INPUT_URL_TTL_S),
        targets=[VideoTarget(w, h, fit) for w, h in targets],
        output_prefix=output_prefix(store, media))
    with ctx.sessionmaker() as session:
        row = session.get(Media, media.id)
        if row is not None:
            row.info = {**row.info, "transcoder": {"provider": "coconut", "job_id": job_id}}
            session.commit()
    return job_id


def coconut_job_id(media: Media) -> str | None:
    """The Coconut job converting this media, if any."""
    transcoder = media.info.get("transcoder") or {}
    return transcoder.get("job_id") if transcoder.get("provider") == "coconut" else None


def _finish_failed(ctx: JobContext, payload: dict[str, Any], error: str) -> None:
    with ctx.sessionmaker() as session:
        media_service.mark_failed(session=session, media_id=payload["media_id"], error=error)


@registry.job("media.coconut_finish", max_attempts=5, on_failure=_finish_failed)
def finish(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Record the outputs Coconut wrote to the bucket as renditions; the media is ready."""
    store = ctx.object_store
    assert isinstance(store, S3ObjectStore)
    outputs: dict[str, str] = payload["outputs"]
    rows = []
    tmp_root = ctx.settings.data_dir / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root, prefix="coconut-") as work:
        for name, bucket_key in sorted(outputs.items()):
            key = bucket_key.removeprefix(store.prefix)
            path = Path(work) / _safe_name(name)
            store.download(key, path)
            info = probe_file(path)
            size, sha256 = file_digest(path)
            role = "video" if info.kind == "video" else (
                name if name in ("poster", "thumbnail") else "image")
            rows.append({"role": role, "name": name, "width": info.width,
                         "height": info.height, "mime": info.mime, "size_bytes": size,
                         "sha256": sha256, "duration_ms": info.duration_ms, "key": key})
    if not any(r["role"] == "video" for r in rows):
        raise TranscodeFailed("Coconut finished without producing a video")
    with ctx.sessionmaker() as session:
        media_service.mark_ready(session=session, media_id=payload["media_id"], rows=rows)


def _safe_name(name: str) -> str:
    """A name Coconut reported, reduced to characters safe in a local file name."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:100] or "output"
