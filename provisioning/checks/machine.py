"""Checks of the display unit itself: free disk, the display's resolution, and VLC playback.

The VLC check plays a real clip (package data: H.264 + AAC in MP4, 160×90, one second) with the
same headless options the agent uses without a display, and asks libvlc how many frames it
decoded: libvlc reports "Ended" even for a file it could not decode at all.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from provisioning.checks.base import CheckResult, Status, Target

GIB = 1024**3
MIB = 1024**2
DISK_WARN_BYTES = 2 * GIB  # a few days of new creatives
DISK_FAIL_BYTES = 500 * MIB  # less than one long HD video
XRANDR_TIMEOUT_S = 5
VLC_TIMEOUT_S = 10.0
VLC_POLL_S = 0.02
VLC_OPTIONS = ("--intf=dummy", "--vout=dummy", "--aout=dummy", "--quiet",
               "--no-video-title-show")
VLC_PACKAGES = "apt install libvlc5 vlc-plugin-base"


def _existing(path: Path) -> Path:
    """The path itself or its nearest existing parent (the state dir may not exist yet)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _size(n: float) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / MIB:.0f} MiB"


def disk(target: Target, *, warn_below: int = DISK_WARN_BYTES,
         fail_below: int = DISK_FAIL_BYTES) -> CheckResult:
    """Free space on the state dir's filesystem, where the media cache lives."""
    where = _existing(target.state_dir)
    usage = shutil.disk_usage(where)
    detail = f"{_size(usage.free)} free of {_size(usage.total)} on {where}"
    if usage.free < fail_below:
        return CheckResult("disk", Status.FAIL, f"{detail}: under {_size(fail_below)}, media "
                                                "cannot be cached — free some space",
                           usage.free)
    if usage.free < warn_below:
        return CheckResult("disk", Status.WARN, f"{detail}: under {_size(warn_below)}",
                           usage.free)
    return CheckResult("disk", Status.PASS, detail, usage.free)


def parse_xrandr(text: str) -> str | None:
    """The current size of the X screen from `xrandr --current` ("1920x1080"), if it says."""
    match = re.search(r"current (\d+) x (\d+)", text)
    return f"{match[1]}x{match[2]}" if match else None


def _xrandr(display: str) -> str | None:
    xrandr = shutil.which("xrandr")
    if not xrandr:
        return None
    try:
        done = subprocess.run([xrandr, "--current"], capture_output=True, text=True,  # noqa: S603
                              timeout=XRANDR_TIMEOUT_S, check=False,
                              env={**os.environ, "DISPLAY": display})
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_xrandr(done.stdout) if done.returncode == 0 else None


def drm_resolution(sys_root: Path) -> tuple[str, str] | None:
    """(connector, "WxH") of the first connected DRM connector's preferred mode."""
    for status in sorted(sys_root.glob("class/drm/card*-*/status")):
        try:
            if status.read_text().strip() != "connected":
                continue
            modes = status.with_name("modes").read_text().split()
        except OSError:
            continue
        if modes:  # the kernel lists the preferred mode first
            return status.parent.name, modes[0]
    return None


def framebuffer_resolution(sys_root: Path) -> str | None:
    """The size of /dev/fb0 ("1920x1080"), if there is one."""
    try:
        width, height = (sys_root / "class/graphics/fb0/virtual_size").read_text().split(",")
    except (OSError, ValueError):
        return None
    return f"{int(width)}x{int(height)}"


def display(target: Target, *, environ: Mapping[str, str] | None = None,
            sys_root: Path = Path("/sys")) -> CheckResult:
    """The display's resolution: X (xrandr), then DRM connectors, then the framebuffer."""
    env = os.environ if environ is None else environ
    if env.get("DISPLAY") and (size := _xrandr(env["DISPLAY"])):
        return CheckResult("display", Status.PASS, f"{size} on X display {env['DISPLAY']}", size)
    if drm := drm_resolution(sys_root):
        connector, size = drm
        return CheckResult("display", Status.PASS, f"{size} on {connector} (DRM)", size)
    if size := framebuffer_resolution(sys_root):
        return CheckResult("display", Status.PASS, f"{size} on framebuffer fb0", size)
    return CheckResult("display", Status.WARN, "resolution unknown: no X display, no connected "
                                               "DRM connector, no framebuffer (headless?)")


def vlc_playback(target: Target, *, clip: Path | None = None,
                 timeout_s: float = VLC_TIMEOUT_S) -> CheckResult:
    """Play the test clip to its end with python-vlc, headless, and count decoded frames."""
    with resources.as_file(resources.files("provisioning") / "data" / "check.mp4") as packaged:
        clip = clip or packaged
        if not clip.is_file():  # else libvlc would report a missing file as a decoding failure
            return CheckResult("vlc", Status.FAIL, f"the test clip {clip} is missing: reinstall "
                                                   "adsbin (it ships as package data)")
        return _play(clip, timeout_s)


def _play(clip: Path, timeout_s: float) -> CheckResult:
    try:
        import vlc
    except (ImportError, OSError, NotImplementedError) as exc:  # python-vlc without libvlc
        return CheckResult("vlc", Status.FAIL, f"libvlc is missing ({exc}) — {VLC_PACKAGES}")
    instance = vlc.Instance(list(VLC_OPTIONS))
    if instance is None:
        return CheckResult("vlc", Status.FAIL, f"libvlc did not start (plugins missing?) — "
                                               f"{VLC_PACKAGES}")
    version = vlc.libvlc_get_version().decode(errors="replace")
    player = instance.media_player_new()
    media = instance.media_new_path(str(clip))
    try:
        player.set_media(media)
        started = time.monotonic()
        if player.play() != 0:
            return CheckResult("vlc", Status.FAIL, f"libvlc {version} refused to play {clip}")
        done = (vlc.State.Ended, vlc.State.Error, vlc.State.Stopped)
        while (state := player.get_state()) not in done:
            if time.monotonic() - started > timeout_s:
                return CheckResult("vlc", Status.FAIL, f"libvlc {version} did not finish the "
                                                       f"1 s test clip within {timeout_s:g} s "
                                                       f"(stuck in {state})")
            time.sleep(VLC_POLL_S)
        seconds = round(time.monotonic() - started, 2)
        stats = vlc.MediaStats()
        media.get_stats(stats)
        frames, audio = int(stats.decoded_video), int(stats.decoded_audio)
    finally:
        player.stop()
        player.release()
        media.release()
        instance.release()
    if state != vlc.State.Ended or frames == 0:
        return CheckResult("vlc", Status.FAIL, f"libvlc {version} could not decode the H.264/AAC "
                                               f"test clip ({state}, {frames} frames) — "
                                               f"{VLC_PACKAGES}")
    return CheckResult("vlc", Status.PASS, f"libvlc {version} played the test clip to its end in "
                                           f"{seconds} s ({frames} video frames, {audio} audio "
                                           "blocks decoded)", seconds)
