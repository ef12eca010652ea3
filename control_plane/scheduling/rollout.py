"""Rolling a build out: each screen's playlist kept and announced soon after its plan is made,
then the plans kept for the timelines.

The build plans screens one after another (`engine.plan_each`); the first screens' playlists go
out while the last are still being planned. Each playlist is written into its screen's row of
`screen_plans` a batch at a time (at most `BATCH`, and at least every `FLUSH_S` once one is
waiting), each batch committed and then announced on MQTT, so that no device is told of a
version it cannot read yet. A playlist whose version is the one the screen already has is not
written or announced again; the versions are read from `screen_plans` in one query.

The plans, explanations included, are packed and written once every playlist is out: they serve
the timeline, not the screens, so they do not delay them. A crash in between leaves those rows
with the previous build's plan until the job's retry, which finds the versions published and
writes only the plans. A crash between a batch's commit and its announcements costs those
screens only latency: their next poll reads the new version, and the broker's retained messages
are put back from the rows (`published_versions`).
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from control_plane.ports import MqttPublisher
from control_plane.scheduling import publication
from control_plane.scheduling.models import ScreenPlanRow
from control_plane.scheduling.plan import ScreenPlan, SlotItem, Window
from shared import topics
from shared.playlist import Playlist

log = logging.getLogger(__name__)
BATCH = 500
FLUSH_S = 0.05


class Rollout:
    """The playlists of one build on their way out, then their plans."""

    def __init__(self, *, session: Session, bridge: MqttPublisher | None, public_url: str,
                 built_at: datetime) -> None:
        self.session, self.bridge, self.public_url = session, bridge, public_url
        self.built_at = built_at
        self.kept: set[str] = set()  # screens with a row
        self.known: dict[str, str] = {}  # their published versions
        for screen_id, version, published in session.execute(select(
                ScreenPlanRow.screen_id, ScreenPlanRow.version,
                ScreenPlanRow.playlist_zlib.is_not(None))):
            self.kept.add(screen_id)
            if published:
                self.known[screen_id] = version
        self.changed = 0
        self.unannounced = 0  # playlists written but not announced (the broker away)
        self._plans: list[ScreenPlan] = []  # of screens with a row: kept once all are out
        self._pending: list[dict[str, Any]] = []  # playlists to write and announce
        self._since = time.monotonic()

    def add(self, plan: ScreenPlan, playlist: Playlist) -> None:
        """Send this screen's playlist on its way unless the screen has it already (the batch
        goes out when it is full or has waited `FLUSH_S`); its plan is kept at the end."""
        screen_id = playlist.screen_id
        if self.known.get(screen_id) != playlist.version:
            row = {"screen_id": screen_id, "version": playlist.version,
                   "built_at": self.built_at, "playlist_zlib": publication.body_of(playlist)}
            if screen_id not in self.kept:  # a new row: its plan goes with it
                row["plan_zlib"] = zlib.compress(packed(plan), 1)
            self._pending.append(row)
        if screen_id in self.kept:
            self._plans.append(plan)
        if self._pending and (len(self._pending) >= BATCH
                              or time.monotonic() - self._since >= FLUSH_S):
            self._flush()

    def finish(self) -> int:
        """Write and announce what is left, then keep the plans; how many playlists
        changed."""
        self._flush()
        session = self.session
        for k in range(0, len(self._plans), BATCH):
            session.execute(update(ScreenPlanRow), [  # by primary key, a batch at once
                {"screen_id": plan.screen_id, "built_at": self.built_at,
                 "plan_zlib": zlib.compress(packed(plan), 1)}
                for plan in self._plans[k:k + BATCH]])
        session.commit()
        return self.changed

    def _flush(self) -> None:
        session, pending = self.session, self._pending
        self._pending = []
        self._since = time.monotonic()
        if not pending:
            return
        new = [r for r in pending if "plan_zlib" in r]
        if new:
            session.execute(insert(ScreenPlanRow), new)
        if len(new) < len(pending):
            session.execute(update(ScreenPlanRow), [r for r in pending if "plan_zlib" not in r])
        session.commit()
        self.changed += len(pending)
        if self.bridge is None:
            return
        for row in pending:
            try:
                self.bridge.publish(topics.playlist(row["screen_id"]), publication.announcement_of(
                    row["screen_id"], row["version"], self.public_url), qos=1, retain=True,
                    wait_s=None)
            except Exception:  # the screen's next poll reads it; the others are told
                log.exception("schedule: the playlist of screen %s was not announced",
                              row["screen_id"])
                self.unannounced += 1


PACKING = 1


def packed(plan: ScreenPlan) -> bytes:
    """The plan as compact JSON: each distinct item once, windows as [start, end (Unix
    seconds), item indices, explanations]; a few times cheaper to write than `plan.to_json`,
    which the build does for every screen."""
    items: dict[SlotItem, int] = {}
    windows = [[int(w.start.timestamp()), int(w.end.timestamp()),
                [items.setdefault(i, len(items)) for i in w.loop], w.explain]
               for w in plan.windows]
    return json.dumps({"packing": PACKING, "items": [
        [i.kind, i.campaign_id, i.creative_id, i.media_sha256, i.duration_s, i.slots]
        for i in items], "windows": windows,
                       "exclusions": plan.exclusions}, separators=(",", ":"),
                      ensure_ascii=False).encode()


def unpacked(screen_id: str, raw: bytes) -> ScreenPlan:
    """The plan `packed` wrote."""
    data = json.loads(raw)
    items = [SlotItem(*i) for i in data["items"]]
    return ScreenPlan(screen_id, tuple(
        Window(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC),
               tuple(items[k] for k in loop), tuple(explain))
        for start, end, loop, explain in data["windows"]),
        {k: tuple(v) for k, v in data["exclusions"].items()})


def last_plan(*, session: Session, screen_id: str) -> tuple[ScreenPlan, datetime] | None:
    """The screen's plan as the last build published it, and when it was built (None: no
    build has published it yet)."""
    row = session.get(ScreenPlanRow, screen_id)
    if row is None:
        return None
    return unpacked(row.screen_id, zlib.decompress(row.plan_zlib)), row.built_at


def published_versions(*, session: Session) -> list[tuple[str, str]]:
    """(screen id, version) of every playlist the builds published, as their kept plans say."""
    return [(str(s), str(v)) for s, v in session.execute(
        select(ScreenPlanRow.screen_id, ScreenPlanRow.version)
        .where(ScreenPlanRow.playlist_zlib.is_not(None)))]


def is_kept(*, session: Session, screen_id: str) -> bool:
    """Whether a build kept a plan for the screen."""
    return session.get(ScreenPlanRow, screen_id) is not None


def forget(*, session: Session, screen_ids: list[str]) -> bool:
    """Drop these screens' kept plans and playlists (deleted screens; a plan kept without its
    playlist, so that the next build publishes it); whether there were any. The caller
    commits."""
    if not screen_ids:
        return False
    dropped = session.execute(delete(ScreenPlanRow).where(
        ScreenPlanRow.screen_id.in_(screen_ids))).rowcount  # type: ignore[attr-defined]
    return bool(dropped)
