"""The unit's own checks, one by one: disk thresholds, where the resolution comes from, VLC."""

from __future__ import annotations

import shutil
from importlib import resources

from provisioning.checks.base import Status, Target
from provisioning.checks.machine import (
    DISK_FAIL_BYTES,
    DISK_WARN_BYTES,
    disk,
    display,
    parse_xrandr,
    vlc_playback,
)

XRANDR = """\
Screen 0: minimum 320 x 200, current 1920 x 1080, maximum 16384 x 16384
HDMI-1 connected primary 1920x1080+0+0 (normal left inverted right x axis y axis) 598mm x 336mm
   1920x1080     60.00*+  50.00    59.94
   1280x720      60.00    50.00    59.94
DP-1 disconnected (normal left inverted right x axis y axis)
"""


def target(tmp_path):
    return Target(server_url=None, state_dir=tmp_path / "not" / "made" / "yet")


def test_disk_passes_warns_and_fails_on_the_thresholds(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    assert DISK_FAIL_BYTES < DISK_WARN_BYTES
    ok = disk(target(tmp_path), warn_below=0, fail_below=0)
    assert ok.status is Status.PASS and abs(ok.value - free) < 2**30  # others write meanwhile
    assert f"on {tmp_path}" in ok.detail  # the nearest existing parent of the state dir
    warn = disk(target(tmp_path), warn_below=free * 2 + 2**30, fail_below=0)
    assert warn.status is Status.WARN and "GiB free" in warn.detail
    fail = disk(target(tmp_path), warn_below=free * 2 + 2**30, fail_below=free * 2 + 2**30)
    assert fail.status is Status.FAIL and "free some space" in fail.detail


def test_resolution_from_xrandr_drm_or_the_framebuffer(tmp_path):
    assert parse_xrandr(XRANDR) == "1920x1080"
    assert parse_xrandr("Can't open display") is None
    sys_root = tmp_path / "sys"
    headless = display(target(tmp_path), environ={}, sys_root=sys_root)
    assert headless.status is Status.WARN and "headless" in headless.detail

    fb = sys_root / "class" / "graphics" / "fb0"
    fb.mkdir(parents=True)
    (fb / "virtual_size").write_text("1280,720\n")
    from_fb = display(target(tmp_path), environ={}, sys_root=sys_root)
    assert (from_fb.status, from_fb.value) == (Status.PASS, "1280x720")

    for name, status, modes in (("card0-DP-1", "disconnected", ""),
                                ("card0-HDMI-A-1", "connected", "3840x2160\n1920x1080\n")):
        connector = sys_root / "class" / "drm" / name
        connector.mkdir(parents=True)
        (connector / "status").write_text(status + "\n")
        (connector / "modes").write_text(modes)
    from_drm = display(target(tmp_path), environ={}, sys_root=sys_root)
    assert (from_drm.status, from_drm.value) == (Status.PASS, "3840x2160")
    assert "card0-HDMI-A-1" in from_drm.detail


def test_the_packaged_clip_is_tiny_and_vlc_plays_it_to_the_end(tmp_path):
    clip = resources.files("provisioning") / "data" / "check.mp4"
    assert 0 < len(clip.read_bytes()) <= 30_000
    result = vlc_playback(target(tmp_path))
    assert result.status is Status.PASS, result.detail
    assert "to its end" in result.detail and 0 < float(result.value) < 10


def test_vlc_fails_on_a_clip_it_cannot_decode(tmp_path):
    # libvlc says "Ended" for this too: the check must count decoded frames, not trust that
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video\n" * 100)
    result = vlc_playback(target(tmp_path), clip=fake)
    assert result.status is Status.FAIL and "could not decode" in result.detail
    missing = vlc_playback(target(tmp_path), clip=tmp_path / "gone.mp4")
    assert missing.status is Status.FAIL and "is missing" in missing.detail
