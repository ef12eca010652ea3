"""What an uploaded file really is, and whether it is whole, before anything calls it ready.

The bytes decide, never the file name: `sniff_mime` reads the magic numbers at the start, and
only the images and videos this platform plays go further.

Images are read by Pillow in the sniffed format only. The pixel count in the header is held
against a limit before a single pixel is decoded (a decompression bomb is a few kB declaring
gigapixels); then the file is verified and decoded once in full, because `verify()` checks
structure but decodes nothing, so data cut short passes it.

Videos go to ffprobe (no shell, a timeout, the sniffed demuxer forced). ffprobe reads the
index only: an MP4 whose media data was cut off by an interrupted upload probes clean. So
MP4/MOV top-level boxes and the Matroska segment are first checked to fit inside the file.

`rotation` is the clockwise turn that shows the stored picture upright; `width`/`height` are
the dimensions after that turn. Every rejection is a `MediaRejected` with a stable `code`.
"""

from __future__ import annotations

import json
import logging
import subprocess
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import ExifTags, Image

from control_plane.media.exceptions import (
    CorruptMedia,
    EmptyMedia,
    MediaTooLarge,
    UnsupportedMediaType,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaInfo:
    """What probing found; width and height are as displayed, after rotation."""

    kind: Literal["image", "video"]
    mime: str
    width: int
    height: int
    rotation: int
    duration_ms: int | None = None
    container: str | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    frame_rate: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields as a JSON-able dict."""
        return asdict(self)


# mime → Pillow format name
_IMAGE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF",
                  "image/webp": "WEBP"}
# mime → ffprobe demuxer
_VIDEO_DEMUXERS = {"video/mp4": "mov", "video/quicktime": "mov", "video/webm": "matroska",
                   "video/x-matroska": "matroska"}
_MAGIC = [(b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
          (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"), (b"II*\x00", "image/tiff"),
          (b"MM\x00*", "image/tiff"), (b"FLV\x01", "video/x-flv"),
          (b"\x00\x00\x01\xba", "video/mpeg"), (b"%PDF-", "application/pdf"),
          (b"PK\x03\x04", "application/zip")]
# ISO BMFF (ftyp) major brands that are not plain MP4
_ISO_BRANDS = {b"qt  ": "video/quicktime", b"M4A ": "audio/mp4", b"M4B ": "audio/mp4",
               b"M4P ": "audio/mp4", b"heic": "image/heic", b"heix": "image/heic",
               b"mif1": "image/heif", b"msf1": "image/heif", b"avif": "image/avif",
               b"avis": "image/avif"}
# Pre-ftyp QuickTime files start straight with one of these atoms.
_OLD_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"pnot"}
# EXIF Orientation → clockwise turn; the mirrored ones (2, 4, 5, 7) read as exiftool does.
_EXIF_ROTATION = {1: 0, 2: 0, 3: 180, 4: 180, 5: 270, 6: 90, 7: 90, 8: 270}
_MAX_TOP_LEVEL_BOXES = 100_000


def sniff_mime(head: bytes) -> str | None:
    """The media type the first bytes announce (magic numbers only), or None if unknown."""
    head = head[:64]
    box_size = int.from_bytes(head[:4], "big")
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF":
        return {b"WEBP": "image/webp", b"AVI ": "video/x-msvideo"}.get(head[8:12])
    if head[4:8] == b"ftyp" and box_size >= 16:
        brand = head[8:12]
        if brand in _ISO_BRANDS:
            return _ISO_BRANDS[brand]
        if brand.startswith(b"3g"):
            return "video/3gpp2" if brand.startswith(b"3g2") else "video/3gpp"
        # isom, mp41, mp42, avc1, dash, M4V and the many vendor brands: all MP4 to a demuxer
        return "video/mp4"
    if head[4:8] in _OLD_QUICKTIME_ATOMS and box_size >= 8:
        return "video/quicktime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        # The EBML header's DocType tells WebM from general Matroska.
        return "video/webm" if b"webm" in head else "video/x-matroska"
    return None


def probe_file(path: Path, *, max_image_pixels: int = 50_000_000,
               max_video_duration_s: float = 3600, ffprobe: str = "ffprobe",
               timeout_s: float = 30) -> MediaInfo:
    """Identify and check an uploaded file; raise a `MediaRejected` if it cannot be used."""
    size = path.stat().st_size
    if size == 0:
        raise EmptyMedia("the file is empty")
    with path.open("rb") as f:
        mime = sniff_mime(f.read(64))
    if mime in _IMAGE_FORMATS:
        return _probe_image(path, mime, max_image_pixels)
    if mime in _VIDEO_DEMUXERS:
        return _probe_video(path, mime, size, max_video_duration_s, ffprobe, timeout_s)
    found = f"found {mime}" if mime else "its first bytes match no known format"
    raise UnsupportedMediaType(
        f"not an image or video this platform plays ({found})",
        details={"found": mime, "supported": sorted([*_IMAGE_FORMATS, *_VIDEO_DEMUXERS])})


def _too_many_pixels(width: int, height: int, limit: int) -> MediaTooLarge:
    return MediaTooLarge(f"the image has {width}×{height} pixels, more than {limit} in all",
                         details={"pixels": width * height, "limit": limit})


def _probe_image(path: Path, mime: str, max_pixels: int) -> MediaInfo:
    fmt = _IMAGE_FORMATS[mime]
    Image.init()
    if fmt not in Image.OPEN:
        raise UnsupportedMediaType(f"this server cannot read {fmt} images")
    width = height = 0
    try:
        # Pillow warns (and beyond twice that, refuses) at its own global MAX_IMAGE_PIXELS,
        # which a caller's larger limit may pass; either means too many pixels. Other Pillow
        # warnings (odd EXIF, say) are logged, not fatal. Note: catch_warnings is process-wide.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with path.open("rb") as fp:
                # Image.open() would run Pillow's bomb check before we could see the size;
                # the format's own opener reads the header and decodes nothing.
                width, height = Image.OPEN[fmt][0](fp, "").size
            if width * height > max_pixels:
                raise _too_many_pixels(width, height, max_pixels)
            with Image.open(path, formats=[fmt]) as im:
                im.verify()
            with Image.open(path, formats=[fmt]) as im:
                im.load()
                orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(width, height, max_pixels) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # UnidentifiedImageError is an OSError; "truncated" and bad CRCs land here too.
        raise CorruptMedia(f"the {fmt} image is broken or truncated",
                           details={"reason": str(exc)}) from exc
    for w in caught:
        log.info("image %s: %s", path.name, w.message)
    rotation = _EXIF_ROTATION.get(orientation, 0) if isinstance(orientation, int) else 0
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return MediaInfo(kind="image", mime=mime, width=width, height=height, rotation=rotation)


def _probe_video(path: Path, mime: str, size: int, max_duration_s: float, ffprobe: str,
                 timeout_s: float) -> MediaInfo:
    demuxer = _VIDEO_DEMUXERS[mime]
    _check_complete(path, size, demuxer)
    # "file:" keeps a name that starts with "-" or looks like a URL from meaning anything else.
    cmd = [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
           "-f", demuxer, f"file:{path}"]
    try:  # a missing ffprobe binary is the server's fault: let FileNotFoundError through
        done = subprocess.run(cmd, capture_output=True, timeout=timeout_s)  # noqa: S603
    except subprocess.TimeoutExpired as exc:
        raise CorruptMedia(f"reading the video took longer than {timeout_s:g} s") from exc
    reason = done.stderr.decode(errors="replace").replace(str(path), path.name).strip()
    try:
        data = json.loads(done.stdout or b"{}")
    except ValueError:
        data = {}
    if done.returncode != 0 or not isinstance(data, dict):
        raise CorruptMedia("the video cannot be read", details={"reason": reason[-500:]})
    streams = [s for s in data.get("streams") or [] if isinstance(s, dict)]
    # Cover art in an MP4 is a "video" stream too; it is not the picture that plays.
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not (s.get("disposition") or {}).get("attached_pic")), None)
    if video is None:
        raise CorruptMedia("the file has no video stream")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    fmt = data.get("format") or {}
    width, height = _number(video.get("width")), _number(video.get("height"))
    duration = _number(fmt.get("duration")) or _number(video.get("duration"))
    if not (width and height and width > 0 and height > 0):
        raise CorruptMedia("the video has no picture size")
    if not (duration and duration > 0):
        raise CorruptMedia("the video has no duration")
    if duration > max_duration_s:
        raise MediaTooLarge(f"the video lasts {duration:.1f} s, more than {max_duration_s:g} s",
                            details={"duration_s": duration, "limit_s": max_duration_s})
    rotation = _video_rotation(video)
    if rotation in (90, 270):
        width, height = height, width
    return MediaInfo(
        kind="video", mime=mime, width=int(width), height=int(height), rotation=rotation,
        duration_ms=round(duration * 1000), container=fmt.get("format_name"),
        video_codec=video.get("codec_name"),
        audio_codec=audio.get("codec_name") if audio else None,
        frame_rate=_rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate")))


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _rate(value: Any) -> float | None:
    """ffprobe's "25/1" (or "0/0" for unknown) as a float."""
    num, _, den = str(value).partition("/")
    n, d = _number(num), _number(den or "1")
    return n / d if n and d else None


def _video_rotation(stream: dict[str, Any]) -> int:
    for side in stream.get("side_data_list") or []:
        if isinstance(side, dict) and _number(side.get("rotation")) is not None:
            # The display matrix angle is counterclockwise (iPhone portrait: -90).
            return _quarter_turn(-(_number(side["rotation"]) or 0.0))
    rotate = _number((stream.get("tags") or {}).get("rotate"))  # older ffmpeg; clockwise
    return _quarter_turn(rotate) if rotate is not None else 0


def _quarter_turn(degrees: float) -> int:
    return round(degrees / 90) % 4 * 90


def _check_complete(path: Path, size: int, demuxer: str) -> None:
    """Reject a file that ends before its container says it does."""
    with path.open("rb") as f:
        end = _iso_bmff_end(f, size) if demuxer == "mov" else _matroska_end(f.read(256))
    if end is not None and end > size:
        raise CorruptMedia("the file ends early: it looks truncated (an upload cut short?)",
                           details={"bytes": size, "expected_bytes": end})


def _iso_bmff_end(f: Any, size: int) -> int | None:
    pos = 0
    for _ in range(_MAX_TOP_LEVEL_BOXES):
        if pos >= size:
            return pos
        f.seek(pos)
        header = f.read(16)
        if len(header) < 8:
            return None  # a few stray bytes after the last box; players ignore them
        box = int.from_bytes(header[:4], "big")
        if box == 1:
            box = int.from_bytes(header[8:16], "big")
        elif box == 0:
            return None  # "runs to the end of the file"
        if box < 8:
            raise CorruptMedia("the file's box structure is broken", details={"offset": pos})
        pos += box
    return None  # too many boxes to walk; ffprobe has the last word


def _matroska_end(head: bytes) -> int | None:
    """Where the Segment ends, from its declared size; None when unknown (live streams)."""
    try:
        header_size, pos = _ebml_vint(head, 4)
        pos += header_size or 0
        if head[pos:pos + 4] != b"\x18\x53\x80\x67":  # Segment
            return None
        segment_size, data_start = _ebml_vint(head, pos + 4)
    except IndexError:
        return None
    return data_start + segment_size if segment_size is not None else None


def _ebml_vint(data: bytes, pos: int) -> tuple[int | None, int]:
    """An EBML size at data[pos] (None for "unknown"), and where the next field starts."""
    first = data[pos]
    length = 9 - first.bit_length()  # leading zero bits + 1
    if length > 8:
        raise IndexError("not a size")
    value = first & (0xFF >> length)
    for byte in data[pos + 1:pos + length]:
        value = value << 8 | byte
    if pos + length > len(data):
        raise IndexError("size runs past the data read")
    return (None if value == (1 << 7 * length) - 1 else value), pos + length
