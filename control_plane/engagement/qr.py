"""The QR code of a short link, made with segno, as PNG or SVG to put into a creative.

Error correction M at least (segno raises it when the version has room to spare), the quiet
zone of four modules the standard asks for, and a scale in pixels (PNG) or user units (SVG)
per module, bounded so that nobody asks us for a gigapixel image.
"""

from __future__ import annotations

import io

import segno

MIN_SCALE, MAX_SCALE, DEFAULT_SCALE = 1, 40, 10
BORDER = 4
ERROR = "m"


def make(content: str) -> segno.QRCode:
    """The QR code of `content`, as every image of it is drawn."""
    return segno.make(content, error=ERROR, micro=False)


def png(content: str, *, scale: int = DEFAULT_SCALE) -> bytes:
    """The QR code as a PNG, `scale` pixels per module."""
    out = io.BytesIO()
    make(content).save(out, kind="png", scale=scale, border=BORDER)
    return out.getvalue()


def svg(content: str, *, scale: int = DEFAULT_SCALE) -> bytes:
    """The QR code as a standalone SVG document, `scale` units per module."""
    out = io.BytesIO()
    make(content).save(out, kind="svg", scale=scale, border=BORDER, xmldecl=True,
                       title="QR code", desc=content)
    return out.getvalue()
