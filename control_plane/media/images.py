"""The image resizing plugin: renditions sized for screens, and a thumbnail, made with Pillow.

EXIF orientation is applied to the pixels and every piece of metadata (EXIF, GPS, XMP, ICC) is
left behind, so nothing a camera recorded travels to a public screen. Opaque pictures become
JPEG, pictures with transparency PNG (flattened nowhere: a screen decides its background).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

THUMBNAIL_WIDTH = 320
JPEG_QUALITY = 88


@dataclass(frozen=True)
class ImageOutput:
    """One rendered file."""

    name: str
    path: Path
    mime: str
    width: int
    height: int
    size: int
    sha256: str


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P"
                                                  and "transparency" in image.info)


def _save(image: Image.Image, path_stem: Path, name: str) -> ImageOutput:
    if _has_alpha(image):
        path, mime = path_stem.with_suffix(".png"), "image/png"
        image.convert("RGBA").save(path, "PNG", optimize=True)
    else:
        path, mime = path_stem.with_suffix(".jpg"), "image/jpeg"
        image.convert("RGB").save(path, "JPEG", quality=JPEG_QUALITY, optimize=True,
                                  progressive=True)
    data = path.read_bytes()
    return ImageOutput(name, path, mime, image.width, image.height, len(data),
                       hashlib.sha256(data).hexdigest())


def _upright(source: Path) -> Image.Image:
    with Image.open(source) as opened:
        image = ImageOps.exif_transpose(opened)
        image.load()
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    # A fresh image from raw pixels carries no info dict: no EXIF, ICC or XMP survives.
    return Image.frombytes(image.mode, image.size, image.tobytes())


def render(source: Path, *, width: int, height: int, fit: str, workdir: Path,
           name: str) -> ImageOutput:
    """The picture sized to exactly width×height, letterboxed or cropped to cover."""
    image = _upright(source)
    if fit == "cover":
        sized = ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)
    else:
        background = (0, 0, 0, 0) if image.mode == "RGBA" else (0, 0, 0)
        sized = ImageOps.pad(image, (width, height), Image.Resampling.LANCZOS,
                             color=background)
    return _save(sized, workdir / name, name)


def thumbnail(source: Path, *, workdir: Path) -> ImageOutput:
    """A small upright preview, THUMBNAIL_WIDTH wide, aspect kept."""
    image = _upright(source)
    height = max(1, round(image.height * THUMBNAIL_WIDTH / image.width))
    return _save(image.resize((THUMBNAIL_WIDTH, height), Image.Resampling.LANCZOS),
                 workdir / "thumbnail", "thumbnail")
