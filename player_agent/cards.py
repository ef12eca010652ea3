"""Full-screen cards the agent draws itself with Pillow and plays like any image: the pairing
code, the identify card, and the built-in card shown when there is nothing else (never black).

Each is written once per distinct content (the file name is a hash of what is drawn), so showing
a card again costs no drawing, and the renderer only ever sees ordinary PNG files. Pillow is
imported only to draw one: a paired unit playing its schedule, or showing a card it drew on an
earlier run, never loads it (some 4 MB of the agent's memory).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import ImageFont

BACKGROUND = (14, 18, 32)
INK = (236, 239, 244)
DIM = (150, 160, 180)
ACCENT = (255, 196, 0)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    return ImageFont.load_default(size=max(size, 8))


def render_card(dest_dir: Path, size: tuple[int, int], lines: list[tuple[str, float, str]],
                ) -> Path:
    """Draw `lines` of (text, height as a fraction of the screen, colour name) centred."""
    colours = {"ink": INK, "dim": DIM, "accent": ACCENT}
    key = hashlib.sha256(json.dumps([size, lines]).encode()).hexdigest()[:24]
    path = dest_dir / f"card-{key}.png"
    if path.is_file():
        return path
    from PIL import Image, ImageDraw

    dest_dir.mkdir(parents=True, exist_ok=True)
    width, height = size
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    fonts = [_font(int(height * frac)) for _, frac, _ in lines]
    boxes = [draw.textbbox((0, 0), text, font=font) for (text, _, _), font in
             zip(lines, fonts, strict=True)]
    gap = height // 30
    total = sum(b[3] - b[1] for b in boxes) + gap * (len(lines) - 1)
    y = (height - total) // 2
    for (text, _, colour), font, box in zip(lines, fonts, boxes, strict=True):
        w, h = box[2] - box[0], box[3] - box[1]
        draw.text(((width - w) // 2 - box[0], y - box[1]), text, font=font, fill=colours[colour])
        y += h + gap
    tmp = path.with_suffix(".tmp")
    image.save(tmp, format="PNG")
    tmp.replace(path)
    return path


def pairing_card(dest_dir: Path, size: tuple[int, int], *, code: str, server_url: str) -> Path:
    """The code to claim, where, and how."""
    return render_card(dest_dir, size, [
        ("Pair this screen", 0.06, "dim"),
        (code, 0.2, "accent"),
        (f"Enter this code for the screen at {server_url}", 0.035, "ink"),
        ("or run: adsbin provision claim --code " + code + " --screen <screen id>", 0.03,
         "dim"),
    ])


def identify_card(dest_dir: Path, size: tuple[int, int], *, screen_name: str | None,
                  screen_id: str, device_id: str) -> Path:
    """Which screen this is, for the person standing in front of it."""
    return render_card(dest_dir, size, [
        (screen_name or "This screen", 0.1, "accent"),
        (f"screen {screen_id}", 0.045, "ink"),
        (f"device {device_id}", 0.035, "dim"),
    ])


def builtin_card(dest_dir: Path, size: tuple[int, int], *, message: str) -> Path:
    """What plays when nothing else can: never a black screen."""
    return render_card(dest_dir, size, [
        ("ADSBIN", 0.12, "accent"),
        (message, 0.04, "dim"),
    ])
