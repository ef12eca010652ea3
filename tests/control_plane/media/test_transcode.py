"""FfmpegTranscoder on real files the tests make: sizes, codecs, layout, rotation, failures.

Every output is checked with ffprobe/Pillow directly, not only through what `transcode` says.
"""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from control_plane.media.exceptions import TranscodeFailed
from control_plane.media.probe import MediaInfo, probe_file
from control_plane.media.transcode import (
    FfmpegTranscoder,
    VideoOutput,
    VideoTarget,
    clean_stderr,
    file_digest,
    is_fit,
    poster_offset_s,
)
from tests import media_samples as samples

LANDSCAPE = VideoTarget(1280, 720, "letterbox")
PORTRAIT_COVER = VideoTarget(720, 1280, "cover")


def _ffprobe_video(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams",
                          str(path)], check=True, capture_output=True, timeout=30).stdout
    return json.loads(out)


def _top_level_boxes(path: Path) -> list[bytes]:
    data = path.read_bytes()
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        boxes.append(kind)
        pos += size if size else len(data)
    return boxes


def _frame(path: Path, at_s: float, out: Path, *, autorotate: bool = True) -> Image.Image:
    """One decoded frame as RGB, the way a player would show it (or as stored)."""
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
           *([] if autorotate else ["-noautorotate"]), "-ss", f"{at_s:.3f}", "-i", str(path),
           "-frames:v", "1", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)
    with Image.open(out) as im:
        return im.convert("RGB")


def _difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> tuple[MediaInfo, list[VideoOutput]]:
    """A 2 s 320×240 MP4 with sound, converted once for the tests that only read outputs."""
    tmp = tmp_path_factory.mktemp("converted")
    source = samples.mp4(tmp, seconds=2.0, size=(320, 240))
    info = probe_file(source)
    return info, FfmpegTranscoder().transcode(source, info, [LANDSCAPE, PORTRAIT_COVER],
                                              tmp / "out")


# --- what a good conversion makes ----------------------------------------------------------

def test_each_target_becomes_an_h264_aac_mp4_of_exactly_its_size(converted):
    info, outputs = converted
    videos = [o for o in outputs if o.role == "video"]
    assert [o.target for o in videos] == [LANDSCAPE, PORTRAIT_COVER]
    for output in videos:
        assert output.target is not None
        assert output.path.name == f"{output.target.name}.mp4"
        assert (output.width, output.height) == (output.target.width, output.target.height)
        streams = _ffprobe_video(output.path)["streams"]
        video = next(s for s in streams if s["codec_type"] == "video")
        audio = next(s for s in streams if s["codec_type"] == "audio")
        assert (video["codec_name"], video["profile"], video["pix_fmt"]) == \
            ("h264", "High", "yuv420p")
        assert (video["width"], video["height"]) == (output.target.width, output.target.height)
        assert (audio["codec_name"], audio["sample_rate"], audio["channels"]) == \
            ("aac", "48000", 2)
        assert video["r_frame_rate"] == video["avg_frame_rate"] == "30/1"
        assert output.duration_ms is not None and info.duration_ms is not None
        assert abs(output.duration_ms - info.duration_ms) <= info.duration_ms * 0.05
        assert output.mime == "video/mp4"


def test_outputs_are_faststart(converted):
    for output in converted[1]:
        if output.role == "video":
            boxes = _top_level_boxes(output.path)
            assert boxes.index(b"moov") < boxes.index(b"mdat"), boxes


def test_size_and_sha256_are_of_the_files(converted):
    for output in converted[1]:
        assert (output.size, output.sha256) == file_digest(output.path)
        assert output.size == output.path.stat().st_size


def test_letterbox_pads_black_and_cover_fills_the_screen(converted, tmp_path):
    outputs = {o.target.name: o for o in converted[1] if o.target is not None}
    boxed = _frame(outputs[LANDSCAPE.name].path, 0.5, tmp_path / "boxed.png")
    # 320×240 (4:3) in 1280×720: 960×720 in the middle, 160 px black bars left and right.
    for bar in (boxed.crop((0, 0, 150, 720)), boxed.crop((1130, 0, 1280, 720))):
        assert max(ImageStat.Stat(bar).mean) < 20
    assert max(ImageStat.Stat(boxed.crop((200, 0, 1080, 720))).mean) > 40
    covered = _frame(outputs[PORTRAIT_COVER.name].path, 0.5, tmp_path / "covered.png")
    for edge in (covered.crop((0, 0, 720, 40)), covered.crop((0, 1240, 720, 1280))):
        assert max(ImageStat.Stat(edge).mean) > 20  # picture, not bars, to every edge


def test_poster_and_thumbnail_are_jpegs_of_the_right_size(converted):
    by_role = {o.role: o for o in converted[1] if o.role != "video"}
    assert set(by_role) == {"poster", "thumbnail"}
    for role, size in (("poster", (320, 240)), ("thumbnail", (320, 240))):
        output = by_role[role]
        with Image.open(output.path) as im:
            assert (im.format, im.size) == ("JPEG", size)
        assert (output.mime, output.width, output.height) == ("image/jpeg", *size)
        assert output.target is None and output.duration_ms is None


def test_prores_mov_becomes_h264(tmp_path):
    try:
        source = samples.mov_other_codec(tmp_path)
    except samples.EncoderMissing as exc:
        pytest.fail(f"the bootstrap installs Debian's ffmpeg, which has this encoder: {exc}")
    info = probe_file(source)
    outputs = FfmpegTranscoder().transcode(source, info, [VideoTarget(640, 360)], tmp_path / "o")
    out = probe_file(outputs[0].path)
    assert (out.mime, out.video_codec, out.audio_codec) == ("video/mp4", "h264", "aac")
    assert (out.width, out.height, out.rotation) == (640, 360, 0)
    streams = _ffprobe_video(outputs[0].path)["streams"]
    assert next(s for s in streams if s["codec_type"] == "video")["pix_fmt"] == "yuv420p"


def test_rotated_video_comes_out_upright_without_a_rotation_flag(tmp_path):
    source = samples.rotated_mp4(tmp_path, rotation=90)  # 320×240 stored, 240×320 shown
    info = probe_file(source)
    target = VideoTarget(720, 1280, "letterbox")
    outputs = FfmpegTranscoder().transcode(source, info, [target], tmp_path / "out")
    video, poster, thumbnail = outputs
    streams = _ffprobe_video(video.path)["streams"]
    stream = next(s for s in streams if s["codec_type"] == "video")
    assert (stream["width"], stream["height"]) == (720, 1280)
    assert "side_data_list" not in stream and "rotate" not in stream.get("tags", {})
    assert probe_file(video.path).rotation == 0
    assert (poster.width, poster.height) == (240, 320)
    assert (thumbnail.width, thumbnail.height) == (320, 427)

    # The stored frame turned 90° clockwise is what must be on screen; turned the other
    # way it must not match. (Transpose.ROTATE_270 is 270° counterclockwise: 90° clockwise.)
    at = poster_offset_s(info.duration_ms)
    stored = _frame(source, at, tmp_path / "stored.png", autorotate=False)
    assert stored.size == (320, 240)
    upright = stored.transpose(Image.Transpose.ROTATE_270)
    wrong = stored.transpose(Image.Transpose.ROTATE_90)
    with Image.open(poster.path) as im:
        shown = im.convert("RGB")
    assert _difference(shown, upright) * 3 < _difference(shown, wrong)
    # In the video: 240×320 scaled to 720×960, 160 px bars above and below.
    picture = _frame(video.path, at, tmp_path / "out.png").crop((0, 160, 720, 1120))
    picture = picture.resize((240, 320), Image.Resampling.BILINEAR)
    assert _difference(picture, upright) * 3 < _difference(picture, wrong)


def test_a_silent_source_gets_a_silent_aac_track(tmp_path):
    source = samples.mp4(tmp_path, seconds=1.0, audio=False)
    info = probe_file(source)
    assert info.audio_codec is None
    (video, *_) = FfmpegTranscoder().transcode(source, info, [VideoTarget(320, 180)], tmp_path)
    out = probe_file(video.path)
    assert out.audio_codec == "aac"
    assert out.duration_ms is not None and abs(out.duration_ms - 1000) <= 50


def test_duplicate_targets_are_made_once(tmp_path):
    source = samples.mp4(tmp_path, seconds=1.0, audio=False)
    info = probe_file(source)
    same = VideoTarget(320, 180, "cover")
    outputs = FfmpegTranscoder().transcode(source, info, [same, VideoTarget(320, 180, "cover"),
                                                          same], tmp_path / "out")
    assert [o.role for o in outputs] == ["video", "poster", "thumbnail"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == \
        ["320x180-cover.mp4", "poster.jpg", "thumbnail.jpg"]


# --- what fails, and how it says so --------------------------------------------------------

def _hand_made_info(**overrides: object) -> MediaInfo:
    fields: dict = dict(kind="video", mime="video/mp4", width=320, height=240, rotation=0,
                        duration_ms=2000, video_codec="h264", audio_codec="aac")
    fields.update(overrides)
    return MediaInfo(**fields)


def test_a_text_file_fails_with_a_clean_message(tmp_path):
    source = samples.text_named_mp4(tmp_path)
    with pytest.raises(TranscodeFailed) as caught:
        FfmpegTranscoder().transcode(source, _hand_made_info(), [LANDSCAPE], tmp_path / "out")
    exc = caught.value
    assert (exc.status_code, exc.code) == (422, "transcode_failed")
    assert exc.message.startswith("making the 1280x720-letterbox rendition failed: ")
    assert exc.message.endswith("moov atom not found / clip.mp4: Invalid data found when "
                                "processing input")
    assert str(tmp_path) not in exc.message
    assert not any((tmp_path / "out").iterdir())  # no half-written file is left behind


def test_a_truncated_mp4_fails(tmp_path):
    source = samples.mp4(tmp_path, seconds=2.0)
    info = probe_file(source)
    data = source.read_bytes()
    source.write_bytes(data[: len(data) // 2])  # probe_file would refuse it; bypassed here
    with pytest.raises(TranscodeFailed, match=r"failed|came out wrong") as caught:
        FfmpegTranscoder().transcode(source, info, [VideoTarget(320, 240)], tmp_path / "out")
    assert str(tmp_path) not in caught.value.message
    assert not (tmp_path / "out" / "320x240-letterbox.mp4").exists()


def test_an_image_is_not_transcoded(tmp_path):
    with pytest.raises(TranscodeFailed, match="only videos"):
        FfmpegTranscoder().transcode(samples.png(tmp_path), _hand_made_info(kind="image"),
                                     [LANDSCAPE], tmp_path)


def test_a_timeout_is_reported(tmp_path):
    source = samples.mp4(tmp_path, seconds=1.0)
    with pytest.raises(TranscodeFailed, match="took longer than"):
        FfmpegTranscoder(timeout_s=0.001).transcode(source, probe_file(source), [LANDSCAPE],
                                                    tmp_path / "out")


@pytest.mark.parametrize("size", [(321, 240), (0, 240), (320, 9000)])
def test_targets_must_be_even_and_sane(size):
    with pytest.raises(ValueError, match="even"):
        VideoTarget(*size)


def test_stderr_loses_server_paths():
    text = ("noise\n[mov,mp4 @ 0x5d6a] file:/srv/adsbin/var/tmp/media-x1/original: Invalid "
            "data found\nError opening /opt/other/place/input.mov\n")
    cleaned = clean_stderr(text, [Path("/srv/adsbin/var/tmp/media-x1/original")])
    assert cleaned == "noise / original: Invalid data found / Error opening input.mov"
    assert clean_stderr("frame rate 30/1 at 1/30/2") == "frame rate 30/1 at 1/30/2"


def test_fit_is_letterbox_or_cover():
    assert is_fit("cover") and not is_fit("stretch")
    with pytest.raises(ValueError, match="fit must be"):
        VideoTarget(320, 240, "stretch")  # type: ignore[arg-type]
