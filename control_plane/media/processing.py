"""The media processing job: renditions for every target screen size, then `ready`.

Images go through the image resizing plugin (Pillow); videos through the video transcoder
(local ffmpeg by default). Outputs are stored next to the original, under the content hash and
the fit, and the media's rendition rows are replaced in one transaction. A failure that retrying
cannot fix (a domain error) fails the job at once; `on_failure` writes the error on the media.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from control_plane.jobs.queue import JobContext, registry
from control_plane.media import hosted, images
from control_plane.media import service as media_service
from control_plane.media.models import Media
from control_plane.media.probe import MediaInfo


def _suffix(mime: str) -> str:
    return {"image/jpeg": ".jpg", "image/png": ".png", "video/mp4": ".mp4"}.get(mime, "")


# (role, name, output): output has path, mime, width, height, size, sha256
Produced = list[tuple[str, str, Any]]


def _image_outputs(source: Path, media: Media, targets: list[tuple[int, int]],
                   workdir: Path) -> Produced:
    outputs: Produced = []
    for width, height in targets:
        name = f"{width}x{height}-{media.fit}"
        outputs.append(("image", name, images.render(source, width=width, height=height,
                                                     fit=media.fit, workdir=workdir, name=name)))
    outputs.append(("thumbnail", "thumbnail", images.thumbnail(source, workdir=workdir)))
    return outputs


def _video_outputs(source: Path, media: Media, targets: list[tuple[int, int]],
                   workdir: Path) -> Produced:
    from control_plane.media.transcode import FfmpegTranscoder, VideoTarget, is_fit

    info = MediaInfo(**media.info)
    fit = media.fit if is_fit(media.fit) else "letterbox"
    video_targets = [VideoTarget(w, h, fit) for w, h in targets]
    outputs = FfmpegTranscoder().transcode(source, info, video_targets, workdir)
    return [(o.role, o.target.name if o.target is not None else o.role, o) for o in outputs]


@registry.job("media.process", max_attempts=3,
              on_failure=lambda ctx, payload, error: mark_failed(ctx, payload["media_id"],
                                                                 error))
def process_media(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Make and store the renditions of one media asset, then mark it ready."""
    with ctx.sessionmaker() as session:
        media = session.get(Media, payload["media_id"])
        if media is None:
            return
        targets = media_service.rendition_targets(session=session)
    if media.kind == "video":
        coconut = hosted.coconut_for(ctx.settings, ctx.object_store)
        if coconut is not None:  # Coconut converts; its notification finishes the media
            hosted.submit(ctx, coconut, media, targets)
            return
    tmp_root = ctx.settings.data_dir / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root, prefix="media-") as work:
        workdir = Path(work)
        source = workdir / "original"
        ctx.object_store.download(media.original_key, source)
        make = _image_outputs if media.kind == "image" else _video_outputs
        produced = make(source, media, targets, workdir)
        rows = []
        for role, name, output in produced:
            key = f"media/{media.sha256}/{media.fit}/{name}{_suffix(output.mime)}"
            ctx.object_store.put_file(key, output.path, content_type=output.mime)
            rows.append({"role": role, "name": name, "width": output.width,
                         "height": output.height, "mime": output.mime,
                         "size_bytes": output.size, "sha256": output.sha256,
                         "duration_ms": getattr(output, "duration_ms", None), "key": key})
    with ctx.sessionmaker() as session:
        media_service.mark_ready(session=session, media_id=payload["media_id"], rows=rows)


def mark_failed(ctx: JobContext, media_id: str, error: str) -> None:
    """Leave the job's error on the media, which is `failed` from now on."""
    with ctx.sessionmaker() as session:
        media_service.mark_failed(session=session, media_id=media_id, error=error)
