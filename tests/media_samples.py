"""Sample media files that tests make for themselves: nothing is downloaded or checked in.

Images come from Pillow (or, for the decompression bomb, from a PNG written byte by byte);
videos come from ffmpeg's lavfi sources (`testsrc` picture, `sine` sound), a second or two long
and small, so each file takes well under a second to make. Every function takes a directory
and returns the path of the file it wrote there.
"""

from __future__ import annotations

import functools
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

from PIL import Image, ImageDraw

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
_TIMEOUT_S = 30


class EncoderMissing(RuntimeError):
    """The installed ffmpeg cannot encode what a sample needs; tests skip with this reason."""


@functools.cache
def ffmpeg_encoders() -> frozenset[str]:
    """Names of the encoders the installed ffmpeg has (`ffmpeg -encoders`)."""
    out = subprocess.run([FFMPEG, "-hide_banner", "-encoders"], check=True, capture_output=True,
                         text=True, timeout=_TIMEOUT_S).stdout
    # Lines look like " V....D libx264   libx264 H.264 / AVC ..."; the header ends at "------".
    body = out.split("------", 1)[-1]
    return frozenset(line.split()[1] for line in body.splitlines() if len(line.split()) > 1)


def mp4_video_codec() -> str:
    """The codec `mp4()` encodes with: h264 when libx264 is there, else ffmpeg's own mpeg4."""
    return "h264" if "libx264" in ffmpeg_encoders() else "mpeg4"


def _ffmpeg(*args: str) -> None:
    cmd = [FFMPEG, "-y", "-hide_banner", "-loglevel", "error", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT_S)
    if done.returncode != 0:
        # CalledProcessError's message leaves out stderr, which is the only useful part.
        raise RuntimeError(f"ffmpeg failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr}")


def _drawing(size: tuple[int, int]) -> Image.Image:
    """An RGB picture with a marker in its top-left corner, so orientation is visible."""
    w, h = size
    im = Image.new("RGB", size, (30, 60, 120))
    draw = ImageDraw.Draw(im)
    for x in range(0, w, max(w // 16, 1)):
        draw.line([(x, 0), (w - x, h)], fill=(200, 200, 40), width=2)
    draw.ellipse([w // 4, h // 4, 3 * w // 4, 3 * h // 4], outline=(255, 255, 255), width=4)
    draw.rectangle([0, 0, max(w // 8, 1), max(h // 8, 1)], fill=(255, 0, 0))
    return im


def png(dir: Path, size: tuple[int, int] = (640, 360)) -> Path:
    """A real PNG with drawn content."""
    path = dir / "picture.png"
    _drawing(size).save(path, format="PNG")
    return path


def jpeg_with_exif_rotation(dir: Path, size: tuple[int, int] = (640, 360),
                            orientation: int = 6) -> Path:
    """A JPEG stored as `size` whose EXIF Orientation (6: turn 90° clockwise) changes its display.

    It carries other EXIF too (Make, Model, Software, DateTime) for metadata-stripping tests.
    """
    path = dir / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    exif[0x010F] = "ADSBIN Test Camera Co."  # Make
    exif[0x0110] = "Sample-1"  # Model
    exif[0x0131] = "tests/media_samples.py"  # Software
    exif[0x0132] = "2024:01:02 03:04:05"  # DateTime
    _drawing(size).save(path, format="JPEG", quality=85, exif=exif.tobytes())
    return path


def mp4(dir: Path, seconds: float = 2.0, size: tuple[int, int] = (320, 240), fps: int = 25,
        audio: bool = True) -> Path:
    """An MP4 of H.264 (mpeg4 if libx264 is missing; see `mp4_video_codec`) and AAC audio."""
    return _encode_mp4(dir / "clip.mp4", seconds, size, fps, audio)


def _encode_mp4(path: Path, seconds: float, size: tuple[int, int], fps: int,
                audio: bool) -> Path:
    if mp4_video_codec() == "h264":
        video = ["-c:v", "libx264", "-preset", "ultrafast"]
    else:
        video = ["-c:v", "mpeg4", "-q:v", "5"]
    inputs = ["-f", "lavfi", "-i", f"testsrc=size={size[0]}x{size[1]}:rate={fps}"]
    if audio:
        inputs += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    _ffmpeg(*inputs, "-t", str(seconds), *video, "-pix_fmt", "yuv420p",
            *(["-c:a", "aac"] if audio else []), "-movflags", "+faststart", str(path))
    return path


def mov_other_codec(dir: Path, seconds: float = 1.0, size: tuple[int, int] = (320, 240)) -> Path:
    """A QuickTime .mov of Apple ProRes (proxy), the kind an editing suite exports."""
    if "prores_ks" not in ffmpeg_encoders():
        raise EncoderMissing("this ffmpeg has no prores_ks encoder")
    path = dir / "edit.mov"
    _ffmpeg("-f", "lavfi", "-i", f"testsrc=size={size[0]}x{size[1]}:rate=25", "-t", str(seconds),
            "-c:v", "prores_ks", "-profile:v", "0", "-pix_fmt", "yuv422p10le", str(path))
    return path


def rotated_mp4(dir: Path, rotation: int = 90) -> Path:
    """An MP4 (320×240 stored) whose display matrix says: turn `rotation`° clockwise to show it.

    The matrix is written into the track header here rather than by ffmpeg, because what
    ffmpeg's `rotate` metadata means changed sign between versions: with 5.1's stream copy,
    `rotate=90` comes out as 90° counterclockwise, the opposite of 4.x. A phone's portrait
    video carries the same matrix as `rotation=90` here.
    """
    if rotation % 90:
        raise ValueError("rotation must be a multiple of 90")
    path = _encode_mp4(dir / "rotated.mp4", 1.0, (320, 240), 25, audio=False)
    data = bytearray(path.read_bytes())
    offset = _video_tkhd_matrix_offset(bytes(data))
    w, h = 320, 240
    one = 0x10000
    a, b, c, d, tx, ty = {
        0: (one, 0, 0, one, 0, 0),
        90: (0, one, -one, 0, h * one, 0),
        180: (-one, 0, 0, -one, w * one, h * one),
        270: (0, -one, one, 0, 0, w * one),
    }[rotation % 360]
    data[offset:offset + 36] = struct.pack(">9i", a, b, 0, c, d, 0, tx, ty, 0x40000000)
    path.write_bytes(data)
    return path


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """ISO BMFF boxes in data[start:end] as (type, payload start, box end)."""
    found = []
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[start + 8:start + 16])[0], 16
        elif size == 0:
            size = end - start
        found.append((kind, start + header, start + size))
        start += size
    return found


def _video_tkhd_matrix_offset(data: bytes) -> int:
    """Where the display matrix of the video track's header (tkhd) starts."""
    for kind, begin, end in _boxes(data, 0, len(data)):
        if kind != b"moov":
            continue
        for trak, t_begin, t_end in _boxes(data, begin, end):
            if trak != b"trak":
                continue
            children = {k: (b, e) for k, b, e in _boxes(data, t_begin, t_end)}
            mdia = {k: (b, e) for k, b, e in _boxes(data, *children[b"mdia"])}
            hdlr_begin = mdia[b"hdlr"][0]
            if data[hdlr_begin + 8:hdlr_begin + 12] != b"vide":
                continue
            tkhd = children[b"tkhd"][0]
            # version 0 has 32-bit times and duration, version 1 64-bit ones; then 16 bytes of
            # reserved/layer/group/volume before the matrix.
            return tkhd + 4 + (32 if data[tkhd] == 1 else 20) + 16
    raise ValueError("no video track in this MP4")


def corrupt_png(dir: Path, how: str = "garble") -> Path:
    """A PNG with a valid signature and header whose image data is broken.

    `how="garble"` overwrites bytes in the middle of the image data (the file keeps its
    length and its IEND); `how="truncate"` cuts the file off halfway.
    """
    path = dir / "broken.png"
    noise = Image.frombytes("RGB", (128, 128), os.urandom(128 * 128 * 3))  # incompressible
    noise.save(path, format="PNG")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    if how == "garble":
        data[middle:middle + 256] = b"garbage!" * 32  # same length: only the content breaks
    elif how == "truncate":
        del data[middle:]
    else:
        raise ValueError(f"unknown corruption {how!r}")
    path.write_bytes(data)
    return path


def text_named_mp4(dir: Path) -> Path:
    """A plain text file that calls itself clip.mp4."""
    path = dir / "clip.mp4"
    path.write_text("This is not a video, whatever the file name says.\n" * 40)
    return path


def decompression_bomb(dir: Path, size: tuple[int, int] = (20000, 20000)) -> Path:
    """A PNG a few tens of kB on disk whose header declares `size` pixels, all black.

    Written byte by byte (1-bit greyscale, zeros compress about 1000:1) because Pillow would
    need a byte per pixel in memory to make it.
    """
    w, h = size
    path = dir / "bomb.png"

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    row = b"\x00" * (1 + (w + 7) // 8)  # filter byte "none", then the packed bits
    packer = zlib.compressobj(9)
    rows_per_step = 1024
    parts = [packer.compress(row * min(rows_per_step, h - y)) for y in range(0, h, rows_per_step)]
    parts.append(packer.flush())
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)  # bit depth 1, greyscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))
    return path


def empty(dir: Path) -> Path:
    """A zero-length file."""
    path = dir / "empty.mp4"
    path.write_bytes(b"")
    return path


def webm(dir: Path, seconds: float = 1.0) -> Path:
    """A WebM of VP9 (VP8 if libvpx-vp9 is missing), no audio; EncoderMissing without libvpx."""
    encoders = ffmpeg_encoders()
    codec = "libvpx-vp9" if "libvpx-vp9" in encoders else "libvpx" if "libvpx" in encoders else None
    if codec is None:
        raise EncoderMissing("this ffmpeg has neither libvpx-vp9 nor libvpx")
    path = dir / "clip.webm"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", str(seconds),
            "-c:v", codec, "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", str(path))
    return path


def audio_only_mp4(dir: Path, seconds: float = 1.0) -> Path:
    """An MP4 (brand isom, like any video) that holds only an AAC sound track."""
    path = dir / "sound.mp4"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
            "-c:a", "aac", str(path))
    return path
