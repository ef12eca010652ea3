"""probe_file on real files the tests make: what each is, and every way one is turned away."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from PIL import Image

from control_plane.errors import Invalid, PayloadTooLarge, UnsupportedMedia
from control_plane.media.exceptions import (
    CorruptMedia,
    EmptyMedia,
    MediaRejected,
    MediaTooLarge,
    UnsupportedMediaType,
)
from control_plane.media.probe import probe_file, sniff_mime
from tests import media_samples as samples


def _webm(dir: Path) -> Path:
    try:
        return samples.webm(dir)
    except samples.EncoderMissing as exc:
        pytest.fail(f"the bootstrap installs Debian's ffmpeg, which has this encoder: {exc}")


def _rejected(exc: MediaRejected, cls: type[MediaRejected], status: int, code: str) -> None:
    assert type(exc) is cls
    assert (exc.status_code, exc.code) == (status, code)


# --- what a good file is -------------------------------------------------------------------

def test_png_is_an_image_of_its_size(tmp_path):
    info = probe_file(samples.png(tmp_path, size=(640, 360)))
    assert (info.kind, info.mime, info.width, info.height, info.rotation) == \
        ("image", "image/png", 640, 360, 0)
    assert info.duration_ms is info.video_codec is info.container is None


@pytest.mark.parametrize(("orientation", "display", "rotation"), [
    (1, (640, 360), 0),
    (3, (640, 360), 180),
    (6, (360, 640), 90),
    (8, (360, 640), 270),
])
def test_jpeg_display_size_follows_exif_orientation(tmp_path, orientation, display, rotation):
    path = samples.jpeg_with_exif_rotation(tmp_path, size=(640, 360), orientation=orientation)
    with Image.open(path) as stored:
        assert stored.size == (640, 360)
    info = probe_file(path)
    assert info.mime == "image/jpeg"
    assert (info.width, info.height, info.rotation) == (*display, rotation)


def test_the_bytes_decide_the_type_not_the_name(tmp_path):
    path = samples.jpeg_with_exif_rotation(tmp_path, orientation=1).rename(tmp_path / "x.png")
    assert probe_file(path).mime == "image/jpeg"


def test_mp4_reports_codecs_duration_size_and_rate(tmp_path):
    info = probe_file(samples.mp4(tmp_path, seconds=2.0, size=(320, 240), fps=25))
    assert (info.kind, info.mime) == ("video", "video/mp4")
    assert info.video_codec == samples.mp4_video_codec()
    assert info.audio_codec == "aac"
    assert info.duration_ms is not None and abs(info.duration_ms - 2000) <= 100
    assert (info.width, info.height, info.rotation) == (320, 240, 0)
    assert info.frame_rate == pytest.approx(25)
    assert info.container is not None and "mp4" in info.container.split(",")


def test_mp4_without_audio_says_so(tmp_path):
    info = probe_file(samples.mp4(tmp_path, seconds=1.0, audio=False))
    assert info.audio_codec is None and info.video_codec == samples.mp4_video_codec()


def test_mov_is_quicktime_with_its_own_codec(tmp_path):
    try:
        path = samples.mov_other_codec(tmp_path)
    except samples.EncoderMissing as exc:
        pytest.fail(f"the bootstrap installs Debian's ffmpeg, which has this encoder: {exc}")
    info = probe_file(path)
    assert (info.mime, info.video_codec, info.audio_codec) == ("video/quicktime", "prores", None)
    assert (info.width, info.height) == (320, 240)


@pytest.mark.parametrize(("rotation", "display"), [
    (90, (240, 320)), (180, (320, 240)), (270, (240, 320)),
])
def test_rotated_mp4_reports_the_clockwise_turn_and_display_size(tmp_path, rotation, display):
    info = probe_file(samples.rotated_mp4(tmp_path, rotation=rotation))
    assert info.rotation == rotation
    assert (info.width, info.height) == display


def test_webm(tmp_path):
    info = probe_file(_webm(tmp_path))
    assert (info.mime, info.audio_codec) == ("video/webm", None)
    assert info.video_codec in ("vp9", "vp8")
    assert info.duration_ms is not None and abs(info.duration_ms - 1000) <= 100


def test_info_is_json_able(tmp_path):
    info = probe_file(samples.mp4(tmp_path, seconds=1.0))
    assert json.loads(json.dumps(info.as_dict()))["video_codec"] == info.video_codec


# --- what is turned away -------------------------------------------------------------------

@pytest.mark.parametrize("how", ["garble", "truncate"])
def test_broken_png_is_corrupt(tmp_path, how):
    with pytest.raises(CorruptMedia) as caught:
        probe_file(samples.corrupt_png(tmp_path, how=how))
    _rejected(caught.value, CorruptMedia, 422, "corrupt_media")
    assert isinstance(caught.value, Invalid)


def test_truncated_jpeg_is_corrupt_though_verify_passes(tmp_path):
    path = samples.jpeg_with_exif_rotation(tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    with Image.open(path) as im:
        im.verify()  # Pillow's verify() alone lets it through...
    with pytest.raises(CorruptMedia):  # ...decoding does not
        probe_file(path)


@pytest.mark.parametrize("faststart", [True, False])
def test_truncated_mp4_is_corrupt(tmp_path, faststart):
    path = samples.mp4(tmp_path, seconds=2.0)
    data = path.read_bytes()
    if not faststart:  # move the index (moov) behind the media data, where a cut loses it
        moov = data.index(b"moov") - 4
        moov_end = moov + int.from_bytes(data[moov:moov + 4], "big")
        data = data[:moov] + data[moov_end:] + data[moov:moov_end]
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptMedia) as caught:
        probe_file(path)
    assert caught.value.details["bytes"] == len(data) // 2


def test_truncated_webm_is_corrupt(tmp_path):
    path = _webm(tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorruptMedia):
        probe_file(path)


def test_mp4_without_a_video_stream_is_corrupt(tmp_path):
    with pytest.raises(CorruptMedia, match="no video stream"):
        probe_file(samples.audio_only_mp4(tmp_path))


def test_garbage_after_a_video_header_is_corrupt(tmp_path):
    path = tmp_path / "fake.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 64)
    with pytest.raises(CorruptMedia):
        probe_file(path)


def test_text_named_mp4_is_unsupported(tmp_path):
    with pytest.raises(UnsupportedMediaType) as caught:
        probe_file(samples.text_named_mp4(tmp_path))
    _rejected(caught.value, UnsupportedMediaType, 415, "unsupported_media")
    assert isinstance(caught.value, UnsupportedMedia)
    assert "not an image or video this platform plays" in caught.value.message
    assert caught.value.details["found"] is None


def test_a_known_format_we_do_not_play_is_named(tmp_path):
    path = tmp_path / "clip.avi"
    path.write_bytes(b"RIFF\x00\x10\x00\x00AVI LIST" + b"\x00" * 100)
    with pytest.raises(UnsupportedMediaType, match="video/x-msvideo"):
        probe_file(path)


def test_decompression_bomb_is_refused_from_its_header(tmp_path):
    path = samples.decompression_bomb(tmp_path, size=(20000, 20000))
    assert path.stat().st_size < 1_000_000
    started = time.perf_counter()
    with pytest.raises(MediaTooLarge) as caught:
        probe_file(path)
    assert time.perf_counter() - started < 1.0
    _rejected(caught.value, MediaTooLarge, 413, "too_large")
    assert isinstance(caught.value, PayloadTooLarge)
    assert caught.value.details == {"pixels": 400_000_000, "limit": 50_000_000}


@pytest.mark.parametrize("size", [(20000, 20000), (10000, 10000)])
def test_pillows_own_bomb_limit_still_holds_above_ours(tmp_path, size):
    # 400 Mpx makes Pillow refuse (DecompressionBombError); 100 Mpx makes it warn.
    path = samples.decompression_bomb(tmp_path, size=size)
    started = time.perf_counter()
    with pytest.raises(MediaTooLarge) as caught:
        probe_file(path, max_image_pixels=10**12)
    assert time.perf_counter() - started < 1.0
    assert caught.value.details["pixels"] == size[0] * size[1]


def test_pixel_limit_applies_to_ordinary_images(tmp_path):
    with pytest.raises(MediaTooLarge) as caught:
        probe_file(samples.png(tmp_path, size=(640, 360)), max_image_pixels=1000)
    assert caught.value.details == {"pixels": 640 * 360, "limit": 1000}


def test_empty_file(tmp_path):
    with pytest.raises(EmptyMedia) as caught:
        probe_file(samples.empty(tmp_path))
    _rejected(caught.value, EmptyMedia, 422, "empty_media")


def test_duration_limit(tmp_path):
    path = samples.mp4(tmp_path, seconds=2.0)
    with pytest.raises(MediaTooLarge) as caught:
        probe_file(path, max_video_duration_s=1)
    assert caught.value.details["limit_s"] == 1
    assert caught.value.details["duration_s"] == pytest.approx(2.0, abs=0.1)
    assert probe_file(path, max_video_duration_s=3).duration_ms is not None


def test_a_probe_that_runs_out_of_time_is_rejected(tmp_path):
    with pytest.raises(CorruptMedia, match="longer than"):
        probe_file(samples.mp4(tmp_path, seconds=1.0), timeout_s=0.000_001)


# --- sniff_mime ----------------------------------------------------------------------------

def _pillow_bytes(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(("head", "mime"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
    (b"GIF89a\x08\x00\x08\x00", "image/gif"),
    (b"GIF87a\x08\x00\x08\x00", "image/gif"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41", "video/mp4"),
    (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", "video/mp4"),
    (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ", "video/quicktime"),
    (b"\x00\x00\x00\x08wide\x00\x03\xc1\x31mdat", "video/quicktime"),
    (b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heic", "image/heic"),
    (b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00M4A isom", "audio/mp4"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm"),
    (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", "video/x-matroska"),
    (b"RIFF\x00\x10\x00\x00AVI LIST", "video/x-msvideo"),
    (b"%PDF-1.7\n", "application/pdf"),
    (b"This is not a video, whatever the file name says.", None),
    (b"I'm free to say anything", None),
    (b"", None),
])
def test_sniff_mime(head, mime):
    assert sniff_mime(head) == mime


@pytest.mark.parametrize(("fmt", "mime"), [
    ("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp"),
])
def test_sniff_mime_of_what_pillow_writes(fmt, mime):
    assert sniff_mime(_pillow_bytes(fmt)[:64]) == mime


def test_sniff_mime_of_what_ffmpeg_writes(tmp_path):
    made = {samples.mp4(tmp_path, seconds=1.0): "video/mp4"}
    try:
        made[samples.mov_other_codec(tmp_path)] = "video/quicktime"
        made[samples.webm(tmp_path)] = "video/webm"
    except samples.EncoderMissing:
        pass
    for path, mime in made.items():
        assert sniff_mime(path.read_bytes()[:64]) == mime, path.name


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_gif_and_webp_probe_as_images(tmp_path, fmt):
    path = tmp_path / "image.bin"
    path.write_bytes(_pillow_bytes(fmt))
    info = probe_file(path)
    assert (info.kind, info.mime, info.width, info.height) == ("image", f"image/{fmt.lower()}",
                                                               8, 8)
