"""Video conversion: each uploaded video becomes one MP4 per screen size, a poster and a thumbnail.

Screens in venues are cheap players, so every rendition is the most boring file there is: H.264
high profile in yuv420p, AAC 48 kHz stereo, constant 30 fps, `moov` before `mdat` (playback
starts before the download ends), no rotation flag (the picture is turned during encoding, so
a player that ignores display matrices still shows it upright), and exactly the screen's size:
"letterbox" fits the whole picture and pads black, "cover" fills the screen and crops the
overflow. A source without sound gets a silent AAC track, so every file a player loops has the
same two streams and no player has to handle the missing-audio case differently.

`VideoTranscoder` is the interface; `FfmpegTranscoder` is the embedded default, running the local
ffmpeg. Coconut (control_plane/media/coconut.py) is the hosted one; it is asynchronous, so its
interface is split into submit and notification. Nothing here is trusted blindly: every video
produced is probed again and must have the promised size, codecs and duration.
"""

from __future__ import annotations

import hashlib
import math
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TypeGuard, get_args

from PIL import Image

from control_plane.media.exceptions import MediaRejected, TranscodeFailed
from control_plane.media.probe import MediaInfo, probe_file

POSTER_MAX_SIDE = 1920
THUMBNAIL_WIDTH = 320
MAX_SIDE = 8192  # H.264 level 6.2 tops out at 8192×4320
_STDERR_LINES = 3
# (max pixels, kbit/s): a cap so a noisy source cannot blow a screen's bandwidth at CRF 23.
_MAXRATES = [(640 * 360, 1500), (1280 * 720, 4000), (1920 * 1080, 8000), (2560 * 1440, 12000),
             (math.inf, 20000)]


Fit = Literal["letterbox", "cover"]


def is_fit(value: object) -> TypeGuard[Fit]:
    """Whether `value` is a fit a target accepts (narrows a plain `str` for the type checker)."""
    return value in get_args(Fit)


@dataclass(frozen=True)
class VideoTarget:
    """One output size, and how the picture is fitted into it."""

    width: int
    height: int
    fit: Fit = "letterbox"

    def __post_init__(self) -> None:
        # yuv420p halves the chroma planes: odd sizes cannot be encoded exactly.
        for side in (self.width, self.height):
            if not (isinstance(side, int) and 2 <= side <= MAX_SIDE and side % 2 == 0):
                raise ValueError(f"a video size must be even and 2..{MAX_SIDE} pixels, "
                                 f"not {self.width}×{self.height}")
        if not is_fit(self.fit):
            raise ValueError(f"fit must be 'letterbox' or 'cover', not {self.fit!r}")

    @property
    def name(self) -> str:
        """A stable name for file names and keys, e.g. "1920x1080-letterbox"."""
        return f"{self.width}x{self.height}-{self.fit}"


@dataclass(frozen=True)
class VideoOutput:
    """One file a conversion produced, with the facts the asset record needs."""

    target: VideoTarget | None  # None for the poster and the thumbnail
    role: Literal["video", "poster", "thumbnail"]
    path: Path
    mime: str
    width: int
    height: int
    size: int
    sha256: str
    duration_ms: int | None


class VideoTranscoder(Protocol):
    """Turns one source video into the renditions for `targets`, a poster and a thumbnail."""

    def transcode(self, source: Path, info: MediaInfo, targets: list[VideoTarget],
                  workdir: Path) -> list[VideoOutput]:
        """Write every output into `workdir`; raise `TranscodeFailed` if one cannot be made."""
        ...


def unique_targets(targets: Sequence[VideoTarget]) -> list[VideoTarget]:
    """`targets` without repeats (same name), in their first order."""
    return list({t.name: t for t in targets}.values())  # a dict keeps first insertion order


def poster_size(width: int, height: int) -> tuple[int, int]:
    """The poster's size: the display size, scaled down so the long side is at most 1920."""
    scale = min(1.0, POSTER_MAX_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def poster_offset_s(duration_ms: int | None) -> float:
    """When the poster frame is taken: 10% in, but never later than 1 s."""
    return min(duration_ms / 10_000, 1.0) if duration_ms else 0.0


def maxrate_kbps(target: VideoTarget) -> int:
    """The bitrate cap of a rendition (kbit/s), by its pixel count."""
    pixels = target.width * target.height
    return next(rate for limit, rate in _MAXRATES if pixels <= limit)


def file_digest(path: Path) -> tuple[int, str]:
    """(size, sha256 hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class FfmpegTranscoder:
    """The embedded transcoder: the local ffmpeg, one process per output, no shell."""

    def __init__(self, *, ffmpeg: str = "ffmpeg", ffprobe: str = "ffprobe",
                 timeout_s: float = 1800, frame_rate: int = 30, threads: int = 0) -> None:
        self.ffmpeg = ffmpeg
        self.ffprobe = ffprobe
        self.timeout_s = timeout_s
        self.frame_rate = frame_rate
        self.threads = threads  # 0: ffmpeg picks (one per core)

    def transcode(self, source: Path, info: MediaInfo, targets: list[VideoTarget],
                  workdir: Path) -> list[VideoOutput]:
        """Every rendition of `targets` (repeats made once), then the poster and thumbnail."""
        if info.kind != "video":
            raise TranscodeFailed("only videos are converted; this file is an image")
        workdir.mkdir(parents=True, exist_ok=True)
        outputs = [self._video(source, info, t, workdir) for t in unique_targets(targets)]
        poster = self._poster(source, info, workdir)
        return [*outputs, poster, _thumbnail(poster, workdir)]

    def video_args(self, info: MediaInfo, target: VideoTarget) -> list[str]:
        """The ffmpeg arguments after the inputs, up to (not including) the output file."""
        w, h, fps = target.width, target.height, self.frame_rate
        if target.fit == "letterbox":
            fit = (f"scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2,"
                   f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black")
        else:
            fit = f"scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h}"
        rate = maxrate_kbps(target)
        # fps first: a 60 fps source loses half its frames before they are scaled, not after.
        args = ["-map", "0:V:0", "-map", "0:a:0" if info.audio_codec else "1:a:0",
                "-vf", f"fps={fps},{fit},setsar=1,format=yuv420p",
                "-fps_mode", "cfr",  # ffmpeg >= 5.1; -vsync cfr before that
                "-c:v", "libx264", "-profile:v", "high", "-pix_fmt", "yuv420p",
                "-preset", "veryfast", "-crf", "23",
                "-maxrate", f"{rate}k", "-bufsize", f"{2 * rate}k",
                "-c:a", "aac", "-ar", "48000", "-ac", "2", "-b:a", "128k",
                "-af", "aresample=async=1",  # keeps sound in sync over timestamp gaps
                "-map_metadata", "-1", "-map_chapters", "-1",  # no GPS or camera tags leak out
                "-movflags", "+faststart", "-f", "mp4"]
        if not info.audio_codec:
            args.append("-shortest")  # the silent track is endless: stop with the picture
        if self.threads:
            args += ["-threads", str(self.threads)]
        return args

    def _video(self, source: Path, info: MediaInfo, target: VideoTarget,
               workdir: Path) -> VideoOutput:
        path = workdir / f"{target.name}.mp4"
        part = workdir / f".{target.name}.mp4.part"
        inputs = ["-i", f"file:{source}"]
        if not info.audio_codec:
            inputs += ["-f", "lavfi", "-i", "anullsrc=channel_layout=stereo:sample_rate=48000"]
        what = f"the {target.name} rendition"
        self._run([*inputs, *self.video_args(info, target), f"file:{part}"], what, source, part)
        try:
            out = probe_file(part, max_video_duration_s=math.inf, ffprobe=self.ffprobe)
        except MediaRejected as exc:
            part.unlink(missing_ok=True)
            raise TranscodeFailed(f"{what} came out unreadable: {exc.message}") from exc
        problem = self._mismatch(info, target, out)
        if problem:
            part.unlink(missing_ok=True)
            raise TranscodeFailed(f"{what} came out wrong: {problem}",
                                  details={"target": target.name, "output": out.as_dict()})
        part.replace(path)
        size, sha256 = file_digest(path)
        return VideoOutput(target=target, role="video", path=path, mime="video/mp4",
                           width=out.width, height=out.height, size=size, sha256=sha256,
                           duration_ms=out.duration_ms)

    def _mismatch(self, info: MediaInfo, target: VideoTarget, out: MediaInfo) -> str | None:
        if (out.width, out.height, out.rotation) != (target.width, target.height, 0):
            return (f"{out.width}×{out.height} rotated {out.rotation}°, expected "
                    f"{target.width}×{target.height} upright")
        if (out.video_codec, out.audio_codec) != ("h264", "aac"):
            return f"codecs {out.video_codec}/{out.audio_codec}, expected h264/aac"
        if info.duration_ms and out.duration_ms is not None:
            # ±5%, but at least two frames: a 0.3 s clip cannot be held to 15 ms.
            slack = max(info.duration_ms * 0.05, 2000 / self.frame_rate)
            if abs(out.duration_ms - info.duration_ms) > slack:
                return f"it lasts {out.duration_ms} ms, the source {info.duration_ms} ms"
        return None

    def _poster(self, source: Path, info: MediaInfo, workdir: Path) -> VideoOutput:
        path = workdir / "poster.jpg"
        part = workdir / ".poster.jpg.part"
        w, h = poster_size(info.width, info.height)
        # -ss before -i seeks by the index, without decoding everything before it.
        self._run(["-ss", f"{poster_offset_s(info.duration_ms):.3f}", "-i", f"file:{source}",
                   "-map", "0:V:0", "-frames:v", "1", "-vf", f"scale={w}:{h},setsar=1",
                   "-q:v", "3", "-map_metadata", "-1", "-f", "image2", "-update", "1",
                   f"file:{part}"], "the poster", source, part)
        if not part.is_file() or part.stat().st_size == 0:
            part.unlink(missing_ok=True)
            raise TranscodeFailed("the poster could not be made: the video has no frame there")
        part.replace(path)
        return _image_output(path, "poster")

    def _run(self, args: list[str], what: str, source: Path, output: Path) -> None:
        cmd = [self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
        try:  # a missing ffmpeg binary is the server's fault: let FileNotFoundError through
            done = subprocess.run(cmd, capture_output=True, timeout=self.timeout_s)  # noqa: S603
        except subprocess.TimeoutExpired as exc:
            output.unlink(missing_ok=True)
            raise TranscodeFailed(f"making {what} took longer than {self.timeout_s:g} s") from exc
        if done.returncode != 0:
            output.unlink(missing_ok=True)
            reason = clean_stderr(done.stderr.decode(errors="replace"), [source, output])
            raise TranscodeFailed(f"making {what} failed: {reason or 'ffmpeg gave no reason'}",
                                  details={"exit_code": done.returncode})


# Absolute paths ffmpeg may print (its own temp files, other inputs): keep the last part only.
_ABS_PATH = re.compile(r"(?<![\w.])(?:file:)?(?:/[^\s/'\":]+)+/(?=[^\s/'\":]+)")
# "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d692a6fd80] ": which component spoke, and its address.
_CONTEXT = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*", re.MULTILINE)


def clean_stderr(text: str, paths: Sequence[Path] = ()) -> str:
    """The last lines of ffmpeg's stderr, one line, without server paths."""
    for p in paths:
        text = text.replace(f"file:{p}", p.name).replace(str(p), p.name)
    text = _CONTEXT.sub("", _ABS_PATH.sub("", text))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " / ".join(lines[-_STDERR_LINES:])[-500:]


def _image_output(path: Path, role: Literal["poster", "thumbnail"]) -> VideoOutput:
    with Image.open(path) as im:
        width, height = im.size
    size, sha256 = file_digest(path)
    return VideoOutput(target=None, role=role, path=path, mime="image/jpeg", width=width,
                       height=height, size=size, sha256=sha256, duration_ms=None)


def _thumbnail(poster: VideoOutput, workdir: Path) -> VideoOutput:
    """320 px wide from the poster: the frame is already decoded, upright and scaled."""
    path = workdir / "thumbnail.jpg"
    height = max(1, round(THUMBNAIL_WIDTH * poster.height / poster.width))
    try:
        with Image.open(poster.path) as im:
            small = im.convert("RGB").resize((THUMBNAIL_WIDTH, height), Image.Resampling.LANCZOS)
        small.save(path, format="JPEG", quality=85, optimize=True)
    except OSError as exc:
        raise TranscodeFailed("the thumbnail could not be made from the poster") from exc
    return _image_output(path, "thumbnail")
