"""Charts drawn on the server as inline SVG: no script, nothing fetched, readable without
colour.

A chart is a `<figure>` holding the SVG (`role="img"` with its `<title>` and a `<desc>` saying
what it shows and its highest value) and the same numbers as a table in a `<details>`, for
screen readers and for anyone who wants the figures. Colours come from classes styled in
`static/app.css` (`.chart .bar`, `.chart .dot`), never from attributes the CSP would care about.

- `bars`: one bar per label (plays per day, spend per hour), with a y axis of round ticks and as
  many x labels as fit;
- `dots`: points on a plane of longitude and latitude (where the venues are), sized by a count.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 16, 44  # room for the axes' labels
LABEL_PX = 58  # the width an x label needs, so that labels never overlap
_ids = itertools.count(1)


@dataclass(frozen=True)
class Bar:
    """One bar: its label on the x axis and its value."""

    label: str
    value: float


@dataclass(frozen=True)
class Dot:
    """One point: where it is, how many it stands for, and what it is."""

    lon: float
    lat: float
    count: int
    label: str


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 × a power of ten at or above `value` (0 stays 1)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power + 1e-9 * power:
            return float(step * power)
    return float(10 * power)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "chart"


def _plain(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def bars(title: str, data: Sequence[Bar], *, unit: str = "",
         fmt: Callable[[float], str] = _plain, x_title: str = "", y_title: str = "") -> Markup:
    """A bar chart of `data` (in order), with its table; `fmt` writes a value for people."""
    chart_id = f"chart-{_slug(title)}-{next(_ids)}"
    values = [max(0.0, float(b.value)) for b in data]
    top = nice_ceiling(max(values, default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    highest = max(range(len(values)), key=lambda i: values[i]) if values else None
    desc = (f"{len(data)} bars; the highest is {escape(data[highest].label)} with "
            f"{escape(fmt(values[highest]))}{escape(unit)}." if highest is not None
            else "No data.")
    parts = [f'<svg class="chart" id="{chart_id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-labelledby="{chart_id}-t {chart_id}-d" preserveAspectRatio="xMidYMid meet">',
             f'<title id="{chart_id}-t">{escape(title)}</title>',
             f'<desc id="{chart_id}-d">{desc}</desc>']
    for i in range(5):  # the y axis: 0, ¼, ½, ¾ and the top, as grid lines with labels
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{escape(fmt(value))}</text>')
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" '
                 f'y2="{TOP + plot_h}"/>')
    if data:
        slot = plot_w / len(data)
        every = max(1, math.ceil(LABEL_PX / slot))
        for i, (bar, value) in enumerate(zip(data, values, strict=True)):
            h = plot_h * value / top
            x = LEFT + i * slot + slot * 0.15
            parts.append(f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" '
                         f'width="{max(slot * 0.7, 1):.1f}" height="{h:.1f}">'
                         f'<title>{escape(bar.label)}: {escape(fmt(value))}{escape(unit)}'
                         '</title></rect>')
            if i % every == 0:
                parts.append(f'<text class="tick" x="{LEFT + (i + 0.5) * slot:.1f}" '
                             f'y="{TOP + plot_h + 16}" text-anchor="middle">'
                             f'{escape(bar.label)}</text>')
    if x_title:
        parts.append(f'<text class="axis-title" x="{LEFT + plot_w / 2:.1f}" '
                     f'y="{HEIGHT - 6}" text-anchor="middle">{escape(x_title)}</text>')
    if y_title:
        parts.append(f'<text class="axis-title" x="12" y="{TOP + plot_h / 2:.1f}" '
                     f'text-anchor="middle" transform="rotate(-90 12 {TOP + plot_h / 2:.1f})">'
                     f'{escape(y_title)}</text>')
    parts.append("</svg>")
    rows = "".join(f"<tr><th scope=\"row\">{escape(b.label)}</th>"
                   f"<td class=\"num\">{escape(fmt(v))}{escape(unit)}</td></tr>"
                   for b, v in zip(data, values, strict=True))
    table = (f'<details class="chart-table"><summary>{escape(title)} as a table</summary>'
             f'<div class="table-wrap"><table><thead><tr><th scope="col">'
             f'{escape(x_title or "Label")}</th><th scope="col" class="num">'
             f'{escape(y_title or "Value")}</th></tr></thead><tbody>{rows}</tbody></table>'
             '</div></details>')
    return Markup(f'<figure class="chart-figure">{"".join(parts)}{table}</figure>')  # noqa: S704 - built of escaped parts


def dots(title: str, data: Sequence[Dot], *, count_title: str = "Screens") -> Markup:
    """Points by longitude and latitude over the box that holds them (no map tiles: those
    need an internet connection), with their table."""
    chart_id = f"chart-{_slug(title)}-{next(_ids)}"
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    lons = [d.lon for d in data] or [0.0]
    lats = [d.lat for d in data] or [0.0]
    pad_lon = max((max(lons) - min(lons)) * 0.1, 0.01)
    pad_lat = max((max(lats) - min(lats)) * 0.1, 0.01)
    lo_lon, hi_lon = min(lons) - pad_lon, max(lons) + pad_lon
    lo_lat, hi_lat = min(lats) - pad_lat, max(lats) + pad_lat
    most = max((d.count for d in data), default=1) or 1

    def x(lon: float) -> float:
        return LEFT + plot_w * (lon - lo_lon) / (hi_lon - lo_lon)

    def y(lat: float) -> float:
        return TOP + plot_h - plot_h * (lat - lo_lat) / (hi_lat - lo_lat)

    desc = f"{len(data)} places between latitudes {lo_lat:.2f} and {hi_lat:.2f}." if data \
        else "No places."
    parts = [f'<svg class="chart map" id="{chart_id}" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'role="img" aria-labelledby="{chart_id}-t {chart_id}-d">',
             f'<title id="{chart_id}-t">{escape(title)}</title>',
             f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
             f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/>']
    for i in (0, 2, 4):
        lon = lo_lon + (hi_lon - lo_lon) * i / 4
        lat = lo_lat + (hi_lat - lo_lat) * i / 4
        parts.append(f'<text class="tick" x="{x(lon):.1f}" y="{TOP + plot_h + 16}" '
                     f'text-anchor="middle">{lon:.2f}°</text>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y(lat) + 4:.1f}" '
                     f'text-anchor="end">{lat:.2f}°</text>')
    parts.append(f'<text class="axis-title" x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" '
                 'text-anchor="middle">Longitude</text>')
    for d in data:
        r = 4 + 8 * math.sqrt(d.count / most)
        parts.append(f'<circle class="dot" cx="{x(d.lon):.1f}" cy="{y(d.lat):.1f}" '
                     f'r="{r:.1f}"><title>{escape(d.label)}: {d.count}</title></circle>')
    parts.append("</svg>")
    rows = "".join(f"<tr><th scope=\"row\">{escape(d.label)}</th><td class=\"num\">{d.lat:.2f}"
                   f"</td><td class=\"num\">{d.lon:.2f}</td><td class=\"num\">{d.count}</td>"
                   "</tr>" for d in data)
    table = (f'<details class="chart-table"><summary>{escape(title)} as a table</summary>'
             '<div class="table-wrap"><table><thead><tr><th scope="col">Place</th>'
             '<th scope="col" class="num">Latitude</th><th scope="col" class="num">Longitude'
             f'</th><th scope="col" class="num">{escape(count_title)}</th></tr></thead>'
             f'<tbody>{rows}</tbody></table></div></details>')
    return Markup(f'<figure class="chart-figure">{"".join(parts)}{table}</figure>')  # noqa: S704 - built of escaped parts
