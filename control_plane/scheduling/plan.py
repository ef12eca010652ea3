"""What the engine produces for a screen: windows of a repeating loop, and why.

A `Window` is a stretch of time (within one hour, inside opening hours) through which one loop
plays over and over from the window's start; its items' slot counts add up to the loop. The
`explain` lines and the plan's `exclusions` are for people; the playlist a device gets is the
rest, and its version is the hash of exactly that (`canonical()`), so a new pacing figure in an
explanation does not make every screen download an unchanged playlist again.
"""

from __future__ import annotations

import hashlib
import json
import math
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class SlotItem:
    """One item of a loop: a campaign's creative or house content, over `slots` slots."""

    kind: Literal["campaign", "house"]
    campaign_id: str | None
    creative_id: str
    media_sha256: str
    duration_s: int
    slots: int


@dataclass(frozen=True, slots=True)
class Window:
    """A time range (UTC) through which `loop` repeats, with the reasons it looks so."""

    start: datetime
    end: datetime
    loop: tuple[SlotItem, ...]
    explain: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScreenPlan:
    """A screen's windows over the horizon, and why each ineligible campaign is out."""

    screen_id: str
    windows: tuple[Window, ...]
    exclusions: dict[str, tuple[str, ...]]


def rfc3339(instant: datetime) -> str:
    """An instant as RFC 3339 UTC with a 'Z'."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _item(item: SlotItem) -> dict[str, Any]:
    return {"kind": item.kind, "campaign_id": item.campaign_id, "creative_id": item.creative_id,
            "media_sha256": item.media_sha256, "duration_s": item.duration_s,
            "slots": item.slots}


def to_json(plan: ScreenPlan, *, with_explain: bool = False) -> dict[str, Any]:
    """The plan as JSON-ready data; explanations and exclusions only when asked for."""
    windows = []
    for w in plan.windows:
        entry: dict[str, Any] = {"start": rfc3339(w.start), "end": rfc3339(w.end),
                                 "loop": [_item(i) for i in w.loop]}
        if with_explain:
            entry["explain"] = list(w.explain)
        windows.append(entry)
    out: dict[str, Any] = {"screen_id": plan.screen_id, "windows": windows}
    if with_explain:
        out["exclusions"] = {k: list(v) for k, v in plan.exclusions.items()}
    return out


def canonical(plan: ScreenPlan, *, with_explain: bool = False) -> bytes:
    """Sorted-keys, whitespace-free UTF-8 JSON of what the screen plays."""
    return json.dumps(to_json(plan, with_explain=with_explain), sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False).encode()


def version(plan: ScreenPlan) -> str:
    """The playlist version: sha256 hex of the canonical content."""
    return hashlib.sha256(canonical(plan)).hexdigest()


def preview(plan: ScreenPlan, at: datetime) -> Window | None:
    """The window playing at an instant, or None (closed, or outside the horizon)."""
    k = bisect_right([w.start for w in plan.windows], at) - 1
    if k >= 0 and at < plan.windows[k].end:
        return plan.windows[k]
    return None


def loop_count(window: Window, loop_s: int) -> int:
    """How many times the loop starts in the window (a last partial loop counts)."""
    return math.ceil((window.end - window.start).total_seconds() / loop_s)


def plays(window: Window, loop_s: int) -> dict[str, int]:
    """Plays per campaign in the window: its items per loop × the loop's starts."""
    loops, out = loop_count(window, loop_s), dict[str, int]()
    for item in window.loop:
        if item.campaign_id is not None:
            out[item.campaign_id] = out.get(item.campaign_id, 0) + loops
    return out
